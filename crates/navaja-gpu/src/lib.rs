//! navaja-gpu: the wgpu side of navaja, identical natively and in the browser.
//!
//! - [`device`]: adapter selection, feature detection, limits, device health.
//! - [`kernels`]: the WGSL of `shaders/`, embedded at compile time, and a
//!   cache of compiled pipelines.
//! - [`buffers`]: uploads and readbacks that respect the adapter's limits.
//! - [`ops`]: one module per GPU op, each tested against its CPU reference
//!   in `navaja_core::ops`.
//! - [`weights`]: model tensors on the GPU, kept in their quantized blocks.
//! - [`model`]: architectures recording their forward pass (decoders, and BERT encoders).
//! - [`session`]: KV cache and scratch of one conversation; prefill and decode steps.
//! - [`generation`]: sampling loop, stop conditions, streaming, chat.
//! - [`encoder`]: embeddings and reranking with BERT-family encoders, batched.

pub mod buffers;
pub mod device;
pub mod encoder;
pub mod generation;
pub mod kernels;
pub mod kv_cache;
pub mod model;
pub mod ops;
pub mod profile;
pub mod session;
pub mod weights;

pub use device::{AdapterSummary, DeviceOptions, GpuDevice, LimitsSummary};
pub use navaja_core::{NavajaError, Result};
