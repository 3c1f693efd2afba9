//! navaja-gpu: the wgpu side of navaja, identical natively and in the browser.
//!
//! - [`device`]: adapter selection, feature detection, limits, device health.
//! - [`kernels`]: the WGSL of `shaders/`, embedded at compile time, and a
//!   cache of compiled pipelines.
//! - [`buffers`]: uploads and readbacks that respect the adapter's limits.
//! - [`ops`]: one module per GPU op, each tested against its CPU reference
//!   in `navaja_core::ops`.

pub mod buffers;
pub mod device;
pub mod kernels;
pub mod ops;

pub use device::{AdapterSummary, DeviceOptions, GpuDevice, LimitsSummary};
pub use navaja_core::{NavajaError, Result};
