//! Tensor element types and quantization block layouts, identical to ggml's.

pub mod dequant;
pub mod gpu_layout;
pub mod gpu_split;
mod kquants;
pub mod kv;
mod legacy;
pub mod types;

pub use types::GgmlType;
