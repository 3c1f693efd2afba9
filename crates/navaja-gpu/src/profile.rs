//! Where a forward pass spends its time, op by op (native only; a
//! development tool). With `NAVAJA_PROFILE_OPS=1` in the environment, the
//! model code's `mark(label)` after each op submits what has been recorded
//! so far, waits for the GPU and adds the wait to `label`'s total; `report`
//! prints the totals. Every op then pays a submit-and-wait round trip, so the
//! totals add up to more than an unprofiled pass: compare ops with each other
//! and with the `submit` row (an empty round trip), not with tokens/s.
//! Off (the default, and always in the browser) `mark` costs one branch.

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::collections::BTreeMap;
    use std::sync::{Mutex, OnceLock};
    use std::time::Instant;

    use crate::GpuDevice;

    struct Totals {
        by_label: BTreeMap<&'static str, (f64, u64)>,
    }

    fn state() -> Option<&'static Mutex<Totals>> {
        static STATE: OnceLock<Option<Mutex<Totals>>> = OnceLock::new();
        STATE
            .get_or_init(|| {
                std::env::var_os("NAVAJA_PROFILE_OPS")
                    .filter(|v| v != "0")
                    .map(|_| Mutex::new(Totals { by_label: BTreeMap::new() }))
            })
            .as_ref()
    }

    pub fn enabled() -> bool {
        state().is_some()
    }

    fn round_trip(gpu: &GpuDevice, enc: &mut wgpu::CommandEncoder) -> f64 {
        let next = gpu.device.create_command_encoder(&Default::default());
        let done = std::mem::replace(enc, next).finish();
        let start = Instant::now();
        gpu.queue.submit([done]);
        let _ = gpu.wait_idle();
        start.elapsed().as_secs_f64()
    }

    /// Runs what `enc` holds and books its time under `label`.
    pub fn mark(gpu: &GpuDevice, enc: &mut wgpu::CommandEncoder, label: &'static str) {
        let Some(state) = state() else { return };
        let seconds = round_trip(gpu, enc);
        // An empty round trip, booked under "submit", to subtract by eye.
        let empty = round_trip(gpu, enc);
        let mut totals = state.lock().unwrap_or_else(|e| e.into_inner());
        let entry = totals.by_label.entry(label).or_default();
        entry.0 += seconds;
        entry.1 += 1;
        let entry = totals.by_label.entry("submit").or_default();
        entry.0 += empty;
        entry.1 += 1;
    }

    /// The totals so far, largest first, as one line per label; then clears them.
    pub fn report() -> Vec<String> {
        let Some(state) = state() else { return Vec::new() };
        let mut totals = state.lock().unwrap_or_else(|e| e.into_inner());
        let mut rows: Vec<_> = totals.by_label.iter().map(|(l, &(s, n))| (*l, s, n)).collect();
        rows.sort_by(|a, b| b.1.total_cmp(&a.1));
        let sum: f64 = rows.iter().filter(|r| r.0 != "submit").map(|r| r.1).sum();
        let lines = rows
            .iter()
            .map(|(l, s, n)| {
                format!(
                    "{l:>16} {:>10.1} ms {:>7} calls {:>9.1} us/call {:>5.1}%",
                    s * 1e3,
                    n,
                    s * 1e6 / *n as f64,
                    100.0 * s / sum
                )
            })
            .collect();
        totals.by_label.clear();
        lines
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub use native::{enabled, mark, report};

#[cfg(target_arch = "wasm32")]
pub fn mark(_gpu: &crate::GpuDevice, _enc: &mut wgpu::CommandEncoder, _label: &'static str) {}

#[cfg(target_arch = "wasm32")]
pub fn enabled() -> bool {
    false
}

#[cfg(target_arch = "wasm32")]
pub fn report() -> Vec<String> {
    Vec::new()
}
