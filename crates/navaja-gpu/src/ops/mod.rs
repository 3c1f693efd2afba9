//! GPU ops. Each has a CPU reference in `navaja_core::ops` with the same
//! name and a test in `tests/` that compares the two on random data.

pub mod rms_norm;

// section: matmul
// section: attention
