//! What every GPU command of the CLI shares: opening the device, loading a
//! decoder or an encoder, a session, and a millisecond clock.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use navaja_core::quant::kv::KvType;
use navaja_core::{NavajaError, Result};
use navaja_gpu::encoder::{Encoder, EncoderOptions, load_encoder_gguf, load_encoder_safetensors};
use navaja_gpu::model::{LoadedDecoder, load_decoder_gguf};
use navaja_gpu::session::{KvWindow, Session, SessionOptions};
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

/// KV cache options shared by the commands that run a session.
#[derive(Args, Debug, Clone)]
pub struct CacheArgs {
    /// How the KV cache stores keys and values: f32, f16, q8 (8-bit blocks) or q4 (4-bit blocks).
    #[arg(long, value_parser = parse_kv)]
    pub kv: Option<KvType>,
    /// Most positions the conversation may reach (default: the model's, at most
    /// 4096; with --kv-window, the model's).
    #[arg(long, default_value_t = 0)]
    pub context: usize,
    /// Keep only the first --kv-sink and the last N positions in the KV cache:
    /// memory stays bounded however long the conversation runs.
    #[arg(long)]
    pub kv_window: Option<usize>,
    /// Positions at the start that a --kv-window always keeps (attention sinks).
    #[arg(long, default_value_t = 4)]
    pub kv_sink: usize,
}

/// clap's parser for a `--kv` value.
pub fn parse_kv(s: &str) -> std::result::Result<KvType, String> {
    KvType::parse(s).map_err(|e| e.to_string())
}

impl CacheArgs {
    pub fn session_options(&self) -> SessionOptions {
        SessionOptions {
            context_length: self.context,
            kv: self.kv,
            window: self.kv_window.map(|recent| KvWindow { sink: self.kv_sink, recent }),
            ..SessionOptions::default()
        }
    }
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
