//! The CPU backend: decoders run on the CPU itself, for machines and
//! browsers without a usable GPU (no WebGPU, or a software adapter such as
//! SwiftShader, where WGSL runs far slower than code compiled for the CPU).
//!
//! Unlike [`crate::reference`] (the f64 oracle over f32 weights), it is
//! built for speed: weights stay in 4- and 8-bit blocks ([`matrix`]), each
//! projection's input is quantized to 8 bits so that a weight block's
//! products are integer dot products ([`dot`]; WebAssembly SIMD in the
//! browser), f32 keys and values, one token at a time.
//!
//! ```
//! use std::sync::Arc;
//! use navaja_core::cpu::{CpuDecoder, CpuDecoderSession};
//! use navaja_core::testing::{TinyDecoder, tiny_decoder_gguf};
//!
//! let model = Arc::new(CpuDecoder::from_gguf(&tiny_decoder_gguf(&TinyDecoder::default())?)?);
//! let mut session = CpuDecoderSession::new(model.clone(), 0)?;
//! let logits = session.forward(&[1, 2, 3])?; // after the last token
//! assert_eq!(logits.len(), model.spec().vocab_size);
//! # Ok::<(), navaja_core::NavajaError>(())
//! ```

pub mod dot;
mod matrix;
mod model;
mod session;
mod top_k;

pub use model::CpuDecoder;
pub use session::{CPU_DEFAULT_CONTEXT, CpuDecoderSession};
