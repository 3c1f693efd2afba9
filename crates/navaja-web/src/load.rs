//! `WasmModelLoad`: a model file on its way in.
//!
//! A GGUF file is first held whole until its header says what it is: a
//! decoder (language model) then streams to the GPU tensor by tensor, as
//! its bytes arrive; an encoder (BERT family: small) is kept whole and
//! loaded at the end. A safetensors encoder (model.safetensors) is kept
//! whole too: its config and tokenizer come as text in the load options.
//! On an engine without a GPU (the CPU backend) a decoder is kept whole as
//! well, and becomes a [`navaja_core::cpu::CpuDecoder`] at the end.

use std::sync::Arc;

use navaja_core::gguf::{GgufHeader, GgufStream};
use navaja_core::model::ModelSpec;
use navaja_core::{NavajaError, Result};
use navaja_gpu::GpuDevice;
use navaja_gpu::model::DecoderStream;
use sha2::{Digest, Sha256};
use wasm_bindgen::prelude::*;

use crate::encoder::EncoderFormat;
use crate::js::{to_js, to_js_error};
use crate::requests::HeaderInfo;

/// Where the bytes of a load go.
pub enum Destination {
    /// A GGUF file whose header is not complete yet: `probe` parses it,
    /// `bytes` keeps everything for whichever loader the header picks.
    /// `gpu`: `None` on the CPU backend.
    Probing { gpu: Option<Arc<GpuDevice>>, file_len: Option<u64>, probe: GgufStream, bytes: Vec<u8> },
    /// A GGUF language model, streaming to the GPU.
    Decoder(Box<DecoderStream>),
    /// An encoder file, kept whole (`spec`: from a GGUF header).
    Encoder { format: EncoderFormat, file_len: Option<u64>, bytes: Vec<u8>, spec: Option<Box<ModelSpec>> },
    /// A GGUF language model for the CPU backend, kept whole.
    CpuDecoder { file_len: Option<u64>, bytes: Vec<u8>, spec: Option<Box<ModelSpec>> },
}

/// What a finished file turned out to be.
pub enum Arrived {
    Decoder(Box<DecoderStream>),
    Encoder { format: EncoderFormat, bytes: Vec<u8> },
    CpuDecoder { bytes: Vec<u8> },
}

fn discard(_: navaja_core::gguf::TensorChunk<'_>) -> Result<()> {
    Ok(())
}

/// The loader `header` asks for, given every byte so far.
fn route(
    gpu: &Option<Arc<GpuDevice>>,
    file_len: Option<u64>,
    header: &GgufHeader,
    bytes: Vec<u8>,
) -> Result<Destination> {
    // A header navaja cannot read as a model is left to the decoder loader,
    // which reports it as it always has.
    match (ModelSpec::from_gguf(header), gpu) {
        (Ok(spec), _) if spec.bert.is_some() => {
            Ok(Destination::Encoder { format: EncoderFormat::Gguf, file_len, bytes, spec: Some(Box::new(spec)) })
        }
        (spec, None) => {
            let spec = spec.ok().map(Box::new);
            let mut bytes = bytes;
            if let Some(len) = file_len.and_then(|l| usize::try_from(l).ok()) {
                bytes.reserve_exact(len.saturating_sub(bytes.len()));
            }
            Ok(Destination::CpuDecoder { file_len, bytes, spec })
        }
        (_, Some(gpu)) => {
            let mut stream = DecoderStream::new(gpu.clone(), file_len);
            stream.push(&bytes)?;
            Ok(Destination::Decoder(Box::new(stream)))
        }
    }
}

impl Destination {
    fn push(self, chunk: &[u8]) -> Result<Destination> {
        match self {
            Destination::Probing { gpu, file_len, mut probe, mut bytes } => {
                bytes.extend_from_slice(chunk);
                probe.push(chunk, &mut discard)?;
                match probe.header() {
                    Some(header) => route(&gpu, file_len, header, bytes),
                    None => Ok(Destination::Probing { gpu, file_len, probe, bytes }),
                }
            }
            Destination::Decoder(mut stream) => {
                stream.push(chunk)?;
                Ok(Destination::Decoder(stream))
            }
            Destination::Encoder { format, file_len, mut bytes, spec } => {
                check_not_beyond(file_len, bytes.len() + chunk.len())?;
                bytes.extend_from_slice(chunk);
                Ok(Destination::Encoder { format, file_len, bytes, spec })
            }
            Destination::CpuDecoder { file_len, mut bytes, spec } => {
                check_not_beyond(file_len, bytes.len() + chunk.len())?;
                bytes.extend_from_slice(chunk);
                Ok(Destination::CpuDecoder { file_len, bytes, spec })
            }
        }
    }

    fn finish(self) -> Result<Arrived> {
        match self {
            Destination::Probing { gpu, file_len, probe, bytes } => {
                // The header was still incomplete: the end of the file settles it.
                let header = probe.finish(&mut discard)?;
                let routed = route(&gpu, file_len, &header, bytes)?;
                routed.finish()
            }
            Destination::Decoder(stream) => Ok(Arrived::Decoder(stream)),
            Destination::Encoder { format, file_len, bytes, .. } => {
                check_complete(file_len, bytes.len())?;
                Ok(Arrived::Encoder { format, bytes })
            }
            Destination::CpuDecoder { file_len, bytes, .. } => {
                check_complete(file_len, bytes.len())?;
                Ok(Arrived::CpuDecoder { bytes })
            }
        }
    }

    fn received(&self) -> u64 {
        match self {
            Destination::Probing { bytes, .. }
            | Destination::Encoder { bytes, .. }
            | Destination::CpuDecoder { bytes, .. } => bytes.len() as u64,
            Destination::Decoder(stream) => stream.received(),
        }
    }

    fn spec(&self) -> Option<&ModelSpec> {
        match self {
            Destination::Probing { .. } => None,
            Destination::Decoder(stream) => stream.spec(),
            Destination::Encoder { spec, .. } | Destination::CpuDecoder { spec, .. } => spec.as_deref(),
        }
    }
}

/// `model-format` when more bytes arrive than the file's announced length.
fn check_not_beyond(file_len: Option<u64>, received: usize) -> Result<()> {
    match file_len {
        Some(len) if received as u64 > len => {
            Err(NavajaError::format(format!("received {received} bytes, more than the announced {len}")))
        }
        _ => Ok(()),
    }
}

/// `model-format` when fewer bytes arrived than the file's announced length.
fn check_complete(file_len: Option<u64>, received: usize) -> Result<()> {
    match file_len {
        Some(len) if received as u64 != len => {
            Err(NavajaError::format(format!("truncated model file: {received} of its {len} bytes arrived")))
        }
        _ => Ok(()),
    }
}

/// A model file arriving in pieces; see `WasmEngine::beginLoad`.
#[wasm_bindgen]
pub struct WasmModelLoad {
    /// `None` once a push failed: the load is over.
    destination: Option<Destination>,
    hasher: Sha256,
}

impl WasmModelLoad {
    /// A GGUF file (`gpu`: `None` on the CPU backend).
    pub fn gguf(gpu: Option<Arc<GpuDevice>>, file_len: Option<u64>) -> WasmModelLoad {
        let probe = GgufStream::new(file_len);
        let destination = Destination::Probing { gpu, file_len, probe, bytes: Vec::new() };
        WasmModelLoad { destination: Some(destination), hasher: Sha256::new() }
    }

    pub fn safetensors(file_len: Option<u64>) -> WasmModelLoad {
        let capacity = file_len.and_then(|l| usize::try_from(l).ok()).unwrap_or(0);
        let destination = Destination::Encoder {
            format: EncoderFormat::Safetensors,
            file_len,
            bytes: Vec::with_capacity(capacity),
            spec: None,
        };
        WasmModelLoad { destination: Some(destination), hasher: Sha256::new() }
    }

    /// The complete file, routed to its loader.
    pub fn arrived(self) -> Result<Arrived> {
        self.destination.ok_or_else(|| NavajaError::invalid("this load already failed"))?.finish()
    }
}

#[wasm_bindgen]
impl WasmModelLoad {
    /// Feeds the next bytes of the file; a language model's go to the GPU as
    /// their tensors complete. Fails with `model-format` / `unsupported-model`
    /// as soon as the file shows it cannot be loaded: stop downloading then.
    pub fn push(&mut self, chunk: &[u8]) -> std::result::Result<(), JsValue> {
        self.hasher.update(chunk);
        let destination =
            self.destination.take().ok_or_else(|| to_js_error(NavajaError::invalid("this load already failed")))?;
        self.destination = Some(destination.push(chunk).map_err(to_js_error)?);
        Ok(())
    }

    /// Bytes pushed so far.
    pub fn received(&self) -> f64 {
        self.destination.as_ref().map_or(0, Destination::received) as f64
    }

    /// The model as its header describes it, or `null` before the header is in
    /// (and for a safetensors file, which has none).
    #[wasm_bindgen(js_name = headerInfo)]
    pub fn header_info(&self) -> std::result::Result<JsValue, JsValue> {
        match self.destination.as_ref().and_then(Destination::spec) {
            None => Ok(JsValue::NULL),
            Some(spec) => to_js(&HeaderInfo {
                architecture: spec.architecture.name(),
                name: spec.name.clone(),
                n_layers: spec.n_layers,
                vocab_size: spec.vocab_size,
                context_length: spec.context_length,
            }),
        }
    }

    /// The lowercase hex SHA-256 of every byte pushed so far.
    pub fn sha256(&self) -> String {
        self.hasher.clone().finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}
