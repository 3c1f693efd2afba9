//! GGUF, llama.cpp's model file format (versions 2 and 3, little-endian).
//!
//! ```text
//! magic "GGUF" | version u32 | n_tensors u64 | n_kv u64
//! n_kv x (key string, value type u32, value)
//! n_tensors x (name string, n_dims u32, dims u64 x n_dims, type u32, offset u64)
//! padding to `general.alignment` (default 32) | tensor data
//! ```
//!
//! Two ways in, one parser:
//! - [`GgufHeader::parse`] over a complete buffer (native, memory-mapped or
//!   read whole); tensor bytes are then borrowed, never copied.
//! - [`GgufStream`] for bytes arriving in chunks (a browser download): it
//!   parses the header as soon as enough bytes are in, then hands out each
//!   piece of each tensor as it arrives, so weights can go to the GPU without
//!   the whole file ever being held in memory.
//!
//! Untrusted input: every count and length is checked against the bytes that
//! can back it before anything is allocated, and every error says what is
//! wrong and where.

mod cursor;
mod header;
mod stream;
mod value;
mod writer;

#[cfg(test)]
mod tests;

pub use header::{DEFAULT_ALIGNMENT, GgufHeader, TensorInfo};
pub use stream::{GgufStream, MAX_HEADER_BYTES, TensorChunk};
pub use value::{GgufArray, GgufValue, Metadata};
pub use writer::GgufWriter;
