//! navaja-core: everything that needs neither a GPU nor I/O.
//!
//! Today that is the error type shared by every crate and the CPU reference
//! implementations that GPU kernels are tested against. Model formats,
//! tokenizers and sampling will live here too (see docs/ARCHITECTURE.md).

pub mod error;
pub mod ops;

pub use error::{NavajaError, Result};
