//! CPU reference implementations of the GPU ops.
//!
//! These are the oracles for the kernel tests in navaja-gpu: written for
//! clarity and accuracy (f64 accumulation), not speed.

pub mod rms_norm;

pub use rms_norm::rms_norm;
// section: matmul
pub mod embedding;
pub mod matmul;
// section: attention
pub mod attention;
pub mod glu;
pub mod logits;
pub mod rope;
