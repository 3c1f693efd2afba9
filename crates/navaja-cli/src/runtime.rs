//! What every GPU command of the CLI shares: opening the device, loading a
//! decoder or an encoder, a session, and a millisecond clock.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use navaja_core::{NavajaError, Result};
use navaja_gpu::encoder::{Encoder, EncoderOptions, load_encoder_gguf, load_encoder_safetensors};
use navaja_gpu::model::{LoadedDecoder, load_decoder_gguf};
use navaja_gpu::session::{Session, SessionOptions};
use navaja_gpu::{DeviceOptions, GpuDevice};

use crate::model_files::{self, ModelFiles};

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

/// Reads an encoder (a GGUF file, or a Hugging Face / sentence-transformers
/// folder) and plans its scratch; returns it with the load time in ms.
pub fn load_encoder(gpu: &Arc<GpuDevice>, path: &Path, opts: &EncoderOptions) -> Result<(Encoder, f64)> {
    let start = Instant::now();
    let loaded = match model_files::open(path)? {
        ModelFiles::Gguf { path, .. } => {
            let file = std::fs::read(&path)
                .map_err(|e| NavajaError::invalid(format!("cannot read {}: {e}", path.display())))?;
            load_encoder_gguf(gpu, &file)?
        }
        ModelFiles::Safetensors { dir, bytes, .. } => {
            let folder = model_files::read_encoder_folder(&dir)?;
            load_encoder_safetensors(gpu, &folder.files(&bytes))?
        }
    };
    let encoder = pollster::block_on(Encoder::new(gpu.clone(), loaded, opts))?;
    Ok((encoder, start.elapsed().as_secs_f64() * 1000.0))
}

/// A model's display name: its file or folder name.
pub fn model_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}
