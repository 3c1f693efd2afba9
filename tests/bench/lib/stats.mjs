// Medians with their spread, as every figure of the suite reports them.

/** `{ median, min, max, runs }` of numbers (null when there are none). */
export function summary(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  return { median: v[Math.floor(v.length / 2)], min: v[0], max: v[v.length - 1], runs: v.length };
}

/** Summaries of every numeric field the runs share. */
export function summarize(runs, fields) {
  return Object.fromEntries(fields.map((f) => [f, summary(runs.map((r) => r[f]))]));
}

export function cosine(a, b) {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return dot / Math.sqrt(na * nb);
}
