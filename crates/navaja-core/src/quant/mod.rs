//! Tensor element types and quantization block layouts, identical to ggml's.

pub mod dequant;
pub mod gpu_layout;
mod kquants;
mod legacy;
pub mod types;

pub use types::GgmlType;
