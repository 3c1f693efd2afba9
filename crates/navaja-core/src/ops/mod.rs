//! CPU reference implementations of the GPU ops.
//!
//! These are the oracles for the kernel tests in navaja-gpu: written for
//! clarity and accuracy (f64 accumulation), not speed.

pub mod rms_norm;

pub use rms_norm::rms_norm;
// Quantized matrix products and embedding gather.
pub mod embedding;
pub mod matmul;
// The rest of a decoder step: RoPE, attention, GLU, add, logits.
pub mod attention;
pub mod glu;
pub mod logits;
pub mod rope;
// Encoders (BERT): LayerNorm, plain activations, packed-sequence attention, pooling.
pub mod activation;
pub mod encoder_attention;
pub mod layer_norm;
pub mod pooling;
