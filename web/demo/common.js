// Small helpers shared by the demo pages.
export const $ = (id) => document.getElementById(id);

export function setState(el, state, text) {
  el.dataset.state = state;
  el.textContent = text;
}

export function formatBytes(n) {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(2)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  if (n >= 2 ** 10) return `${(n / 2 ** 10).toFixed(0)} KiB`;
  return `${n} B`;
}

export function showAdapter(info) {
  const rows = [
    ['name', info.name],
    ['backend', info.backend],
    ['type', info.device_type],
    ['shader-f16', info.shader_f16 ? 'yes' : 'no (packed f16 paths)'],
    ['max storage binding', formatBytes(info.limits.max_storage_buffer_binding_size)],
    ['max buffer', formatBytes(info.limits.max_buffer_size)],
  ];
  $('adapter').replaceChildren(...rows.flatMap(([k, v]) => {
    const dt = document.createElement('dt');
    const dd = document.createElement('dd');
    dt.textContent = k;
    dd.textContent = v;
    return [dt, dd];
  }));
}
