//! GPU ops. Each has a CPU reference in `navaja_core::ops` with the same
//! name and a test in `tests/` that compares the two on random data.

pub mod rms_norm;
pub(crate) mod support;

// section: matmul
pub mod bandwidth;
pub mod embedding;
pub mod matmul;
// section: attention
pub mod add;
pub mod attention;
pub mod glu;
pub mod logits;
pub mod rope;
