//! What every GPU test file shares: the device, opened once per test binary.
//!
//! No adapter is a failure, never a skip: a machine that cannot run the GPU
//! tests must say so loudly.

use std::sync::{Arc, OnceLock};

use navaja_gpu::{DeviceOptions, GpuDevice};

/// The adapter chosen by `NAVAJA_ADAPTER` (or wgpu's default), shared by the tests of one binary.
pub fn gpu() -> &'static Arc<GpuDevice> {
    static GPU: OnceLock<Arc<GpuDevice>> = OnceLock::new();
    GPU.get_or_init(|| {
        Arc::new(pollster::block_on(GpuDevice::new(&DeviceOptions::from_env())).unwrap_or_else(|e| {
            panic!(
                "no GPU adapter for the GPU tests: {e}\n\
                 Run `make test` (it installs lavapipe), or set NAVAJA_ADAPTER to an adapter `navaja devices` lists."
            )
        }))
    })
}
