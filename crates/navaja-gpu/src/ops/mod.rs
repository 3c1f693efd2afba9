//! GPU ops. Each has a CPU reference in `navaja_core::ops` with the same
//! name and a test in `tests/` that compares the two on random data.

pub mod rms_norm;
pub(crate) mod support;

// Quantized matrix products, embedding gather, read bandwidth.
pub mod bandwidth;
pub mod embedding;
pub mod matmul;
// The rest of a decoder step: RoPE, attention, GLU, add, logits.
pub mod add;
pub mod attention;
pub mod glu;
pub mod kv_write;
pub mod logits;
pub mod rope;
// Encoders (BERT): LayerNorm, plain activations, packed-sequence attention, pooling.
pub mod activation;
pub mod encoder_attention;
pub mod layer_norm;
pub mod pooling;
