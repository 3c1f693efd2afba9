//! navaja-core: everything that needs neither a GPU nor I/O.
//!
//! - [`error`]: the one error type, with stable codes for the JS API.
//! - [`gguf`], [`safetensors`]: model file readers (streaming and zero-copy).
//! - [`quant`]: ggml tensor types, block layouts and CPU dequantization.
//! - [`model`]: model specs (hyper-parameters) read from metadata.
//! - [`tokenizer`], [`chat`]: text to tokens and back, chat templates.
//! - [`ops`]: CPU reference ops that GPU kernels are tested against.
//! - [`cpu`]: the CPU backend of the decoders (quantized weights, integer dot products).
//! - [`encoder`]: encoder inputs and output configuration (embeddings, reranking).

pub mod chat;
pub mod cpu;
pub mod encoder;
pub mod error;
pub mod gguf;
pub mod model;
pub mod ops;
pub mod quant;
pub mod safetensors;
pub mod tokenizer;

pub use error::{NavajaError, Result};
// Generation and its test oracles.
/// Token sampling, logit penalties and stop strings for generation.
pub mod generate;
/// A plain CPU forward pass of the decoder models: the oracle of the GPU engine.
pub mod reference;
/// Builders of tiny random models (GGUF) for tests.
pub mod testing;
