//! A plain CPU forward pass of the decoder models (llama, qwen2, gemma3) over
//! f32 weights dequantized from a GGUF file: the oracle that the GPU engine's
//! logits and tokens are tested against. [`CpuEncoder`] does the same for the
//! BERT family (embeddings and reranker scores).
//!
//! Written to be checked by reading, not to be fast: one code path whose
//! architecture differences all come from [`crate::model::ModelSpec`] fields
//! (biases, RoPE ordering/base/scaling/factors, tied embeddings, gemma3's q/k
//! norms, post-norms, GeGLU, embedding scale and sliding-window layers), f64
//! accumulation in products, norms and softmax. It is validated against an
//! independent numpy forward pass of SmolLM2-135M and the greedy text of
//! Gemma 3 270M (tests/reference_forward.rs).
//!
//! ```
//! use navaja_core::reference::CpuModel;
//! use navaja_core::testing::{TinyDecoder, tiny_decoder_gguf};
//!
//! let bytes = tiny_decoder_gguf(&TinyDecoder::default())?;
//! let model = CpuModel::from_gguf(&bytes)?;
//! let mut session = model.session();
//! let prompt_logits = session.forward(&[1, 2, 3])?; // one row per prompt token
//! let next_logits = session.forward(&[4])?; // continues from the cache
//! assert_eq!(prompt_logits.len(), 3);
//! assert_eq!(next_logits[0].len(), model.spec().vocab_size);
//! # Ok::<(), navaja_core::NavajaError>(())
//! ```

pub(crate) mod bert;
pub(crate) mod math;
pub(crate) mod model;
mod session;

pub use bert::CpuEncoder;
pub use model::{CpuModel, argmax};
pub use session::{CpuCacheOptions, CpuSession};
