//! Tensor element types and quantization block layouts, identical to ggml's.

pub mod dequant;
mod kquants;
mod legacy;
pub mod types;

pub use types::GgmlType;
