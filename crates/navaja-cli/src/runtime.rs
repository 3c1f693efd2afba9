//! What every GPU command of the CLI shares: opening the device, loading a
//! decoder, a session, and a millisecond clock.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use navaja_core::{NavajaError, Result};
use navaja_gpu::model::{LoadedDecoder, load_decoder_gguf};
use navaja_gpu::session::{Session, SessionOptions};
use navaja_gpu::{DeviceOptions, GpuDevice};

pub fn open_gpu() -> Result<Arc<GpuDevice>> {
    Ok(Arc::new(pollster::block_on(GpuDevice::new(&DeviceOptions::from_env()))?))
}

/// Reads a GGUF decoder from disk and uploads it; returns it with the load time in ms.
pub fn load_decoder(gpu: &GpuDevice, path: &Path) -> Result<(LoadedDecoder, f64)> {
    let start = Instant::now();
    let file = std::fs::read(path).map_err(|e| NavajaError::invalid(format!("cannot read {}: {e}", path.display())))?;
    let loaded = load_decoder_gguf(gpu, &file)?;
    Ok((loaded, start.elapsed().as_secs_f64() * 1000.0))
}

pub fn session(gpu: &Arc<GpuDevice>, loaded: &LoadedDecoder, opts: &SessionOptions) -> Result<Session> {
    pollster::block_on(Session::new(gpu.clone(), loaded.model.clone(), opts))
}

/// Milliseconds since the first call.
pub fn clock() -> impl Fn() -> f64 {
    let start = Instant::now();
    move || start.elapsed().as_secs_f64() * 1000.0
}
