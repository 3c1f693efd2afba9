//! The CPU backend: decoders and encoders run on the CPU itself, for machines and
//! browsers without a usable GPU (no WebGPU, or a software adapter such as
//! SwiftShader, where WGSL runs far slower than code compiled for the CPU).
//!
//! Unlike [`crate::reference`] (the f64 oracle over f32 weights), it is
//! built for speed: weights stay in 4- and 8-bit blocks ([`matrix`]), each
//! projection's input is quantized to 8 bits so that a weight block's
//! products are integer dot products ([`dot`]; WebAssembly SIMD in the
//! browser), keys and values in f32 or 8-bit blocks. A prompt runs in chunks
//! of tokens, each weight row against four of them at once; a decode step is
//! a chunk of one. Encoders ([`QuantEncoder`]) quantize their weights to
//! 12-bit groups once and run a batch of inputs as one packed matrix.
//!
//! ```
//! use std::sync::Arc;
//! use navaja_core::cpu::{CpuDecoder, CpuDecoderSession};
//! use navaja_core::quant::kv::KvType;
//! use navaja_core::testing::{TinyDecoder, tiny_decoder_gguf};
//!
//! let model = Arc::new(CpuDecoder::from_gguf(&tiny_decoder_gguf(&TinyDecoder::default())?)?);
//! // q8 keys and values where heads are whole blocks of 32; this tiny model's are 16 wide.
//! let kv = CpuDecoderSession::supported_kv(&model, KvType::Q8);
//! assert_eq!(kv, KvType::F32);
//! let mut session = CpuDecoderSession::new(model.clone(), 0, kv)?;
//! let logits = session.forward(&[1, 2, 3])?; // after the last token
//! assert_eq!(logits.len(), model.spec().vocab_size);
//! # Ok::<(), navaja_core::NavajaError>(())
//! ```

pub mod dot;
mod encoder;
mod kv_store;
mod matrix;
mod model;
mod session;
mod top_k;

pub use encoder::{CPU_ENCODER_BATCH_TOKENS, QuantEncoder};
pub use model::CpuDecoder;
pub use session::{CPU_DEFAULT_CONTEXT, CpuDecoderSession};
