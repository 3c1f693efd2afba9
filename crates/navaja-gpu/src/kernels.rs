//! The WGSL kernels of `shaders/`, embedded at compile time, and a cache of
//! their compiled pipelines.
//!
//! A kernel is specialised by prepending constant declarations (for example
//! `const WG: u32 = 256u;`) to its source. Plain text keeps the same WGSL
//! valid for naga (native) and Tint (Chromium) alike, where override-sized
//! workgroup arrays are not supported everywhere.

use std::collections::HashMap;
use std::sync::Mutex;

/// One WGSL file of `shaders/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Kernel {
    pub name: &'static str,
    pub wgsl: &'static str,
    /// Constants the source expects to be prepended, with the value used to
    /// validate it in tests.
    pub constants: &'static [(&'static str, u32)],
}

pub const RMS_NORM: Kernel =
    Kernel { name: "rms_norm", wgsl: include_str!("../../../shaders/rms_norm.wgsl"), constants: &[("WG", 256)] };

// --- matmul, embedding gather and quantized layouts (kernels defined in ops/matmul.rs, ops/embedding.rs) ---

pub use crate::ops::bandwidth::READ_BANDWIDTH;
pub use crate::ops::embedding::{
    EMBEDDING_F16, EMBEDDING_F32, EMBEDDING_Q4_0, EMBEDDING_Q4_1, EMBEDDING_Q4_K, EMBEDDING_Q5_0, EMBEDDING_Q5_K,
    EMBEDDING_Q6_K, EMBEDDING_Q8_0, EMBEDDING_SPLIT_Q4_1, EMBEDDING_SPLIT_Q8_0,
};
pub use crate::ops::matmul::{
    MATMUL_BLOCKS_F16, MATMUL_BLOCKS_F32, MATMUL_BLOCKS_Q4_1, MATMUL_BLOCKS_Q8_0, MATMUL_F16, MATMUL_F32,
    MATMUL_LANES_F16, MATMUL_LANES_F32, MATMUL_LANES_Q4_0, MATMUL_LANES_Q4_1, MATMUL_LANES_Q4_K, MATMUL_LANES_Q5_0,
    MATMUL_LANES_Q5_K, MATMUL_LANES_Q6_K, MATMUL_LANES_Q8_0, MATMUL_Q4_0, MATMUL_Q4_1, MATMUL_Q4_K, MATMUL_Q5_0,
    MATMUL_Q5_K, MATMUL_Q6_K, MATMUL_Q8_0, MATMUL_SPLIT_Q4_1, MATMUL_SPLIT_Q8_0, MATVEC_BLOCKS_Q4_1,
    MATVEC_BLOCKS_Q8_0, MATVEC_F16, MATVEC_F32, MATVEC_Q4_0, MATVEC_Q4_1, MATVEC_Q4_K, MATVEC_Q5_0, MATVEC_Q5_K,
    MATVEC_Q6_K, MATVEC_Q8_0, MATVEC_SPLIT_Q4_1, MATVEC_SPLIT_Q8_0,
};

// --- rope, attention, glu, add, logits (kernels defined in their ops/ modules) ---

pub use crate::ops::add::ADD;
pub use crate::ops::attention::{ATTENTION, ATTENTION_COMBINE, ATTENTION_LANES, ATTENTION_SCORES};
pub use crate::ops::glu::GLU;
pub use crate::ops::kv_write::{KV_QUANTIZE, KV_WRITE};
pub use crate::ops::logits::{
    LOGIT_ADJUST, TOP_K_ARGMAX, TOP_K_FINAL, TOP_K_GATHER, TOP_K_HIST, TOP_K_SELECT, TOP_K_SORT,
};
pub use crate::ops::rope::ROPE;

// --- encoders: LayerNorm, activations, packed attention, pooling (kernels defined in their ops/ modules) ---

pub use crate::ops::activation::UNARY;
pub use crate::ops::encoder_attention::ENCODER_ATTENTION;
pub use crate::ops::layer_norm::LAYER_NORM;
pub use crate::ops::pooling::POOLING;

/// Every kernel, so tests can validate each one without a device.
pub const ALL_KERNELS: &[Kernel] = &[
    RMS_NORM,
    // quantized matrix products, embedding gather, read bandwidth
    MATVEC_F32,
    MATVEC_F16,
    MATVEC_Q4_0,
    MATVEC_Q4_1,
    MATVEC_Q5_0,
    MATVEC_Q8_0,
    MATVEC_Q4_K,
    MATVEC_Q5_K,
    MATVEC_Q6_K,
    MATVEC_BLOCKS_Q4_1,
    MATVEC_BLOCKS_Q8_0,
    MATVEC_SPLIT_Q4_1,
    MATVEC_SPLIT_Q8_0,
    MATMUL_SPLIT_Q4_1,
    MATMUL_SPLIT_Q8_0,
    MATMUL_BLOCKS_F32,
    MATMUL_BLOCKS_F16,
    MATMUL_BLOCKS_Q4_1,
    MATMUL_BLOCKS_Q8_0,
    MATMUL_F32,
    MATMUL_F16,
    MATMUL_Q4_0,
    MATMUL_Q4_1,
    MATMUL_Q5_0,
    MATMUL_Q8_0,
    MATMUL_Q4_K,
    MATMUL_Q5_K,
    MATMUL_Q6_K,
    MATMUL_LANES_F32,
    MATMUL_LANES_F16,
    MATMUL_LANES_Q4_0,
    MATMUL_LANES_Q4_1,
    MATMUL_LANES_Q5_0,
    MATMUL_LANES_Q8_0,
    MATMUL_LANES_Q4_K,
    MATMUL_LANES_Q5_K,
    MATMUL_LANES_Q6_K,
    EMBEDDING_F32,
    EMBEDDING_F16,
    EMBEDDING_Q4_0,
    EMBEDDING_Q4_1,
    EMBEDDING_Q5_0,
    EMBEDDING_Q8_0,
    EMBEDDING_Q4_K,
    EMBEDDING_Q5_K,
    EMBEDDING_Q6_K,
    EMBEDDING_SPLIT_Q4_1,
    EMBEDDING_SPLIT_Q8_0,
    READ_BANDWIDTH,
    // RoPE, attention, GLU, add, logits
    ROPE,
    ATTENTION,
    ATTENTION_COMBINE,
    ATTENTION_LANES,
    ATTENTION_SCORES,
    KV_WRITE,
    KV_QUANTIZE,
    GLU,
    ADD,
    LOGIT_ADJUST,
    TOP_K_ARGMAX,
    TOP_K_SORT,
    TOP_K_HIST,
    TOP_K_SELECT,
    TOP_K_GATHER,
    TOP_K_FINAL,
    // encoders: LayerNorm, activations, packed attention, pooling
    LAYER_NORM,
    UNARY,
    ENCODER_ATTENTION,
    POOLING,
];

/// A kernel with its specialisation constants: the pipeline cache key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KernelVariant {
    pub kernel: Kernel,
    pub entry_point: &'static str,
    pub constants: Vec<(&'static str, u32)>,
}

impl KernelVariant {
    /// The WGSL actually compiled: constant declarations, then the file.
    pub fn source(&self) -> String {
        let mut src = String::new();
        for (name, value) in &self.constants {
            src.push_str(&format!("const {name}: u32 = {value}u;\n"));
        }
        src.push_str(self.kernel.wgsl);
        src
    }
}

/// Compiles each kernel variant once per device and hands out the pipeline.
pub struct KernelRegistry {
    max_invocations: u32,
    pipelines: Mutex<HashMap<KernelVariant, wgpu::ComputePipeline>>,
}

impl KernelRegistry {
    /// `cap`: the most invocations a workgroup should have on this adapter
    /// (see [`crate::device::workgroup_cap`]), below what its limits allow.
    pub fn new(limits: &wgpu::Limits, cap: Option<u32>) -> Self {
        KernelRegistry {
            max_invocations: limits
                .max_compute_invocations_per_workgroup
                .min(limits.max_compute_workgroup_size_x)
                .min(cap.unwrap_or(u32::MAX)),
            pipelines: Mutex::new(HashMap::new()),
        }
    }

    /// The largest power of two no larger than `preferred` that this device
    /// allows as a 1-D workgroup (tree reductions need a power of two).
    pub fn workgroup_size(&self, preferred: u32) -> u32 {
        let cap = preferred.min(self.max_invocations).max(1);
        1 << (31 - cap.leading_zeros())
    }

    /// The pipeline of `variant`, compiled on first use. Compilation errors
    /// surface through the device's error handling (see `GpuDevice::check_health`).
    pub fn pipeline(&self, device: &wgpu::Device, variant: &KernelVariant) -> wgpu::ComputePipeline {
        let mut cache = self.pipelines.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(p) = cache.get(variant) {
            return p.clone();
        }
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(variant.kernel.name),
            source: wgpu::ShaderSource::Wgsl(variant.source().into()),
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(variant.kernel.name),
            layout: None,
            module: &module,
            entry_point: Some(variant.entry_point),
            compilation_options: Default::default(),
            cache: None,
        });
        cache.insert(variant.clone(), pipeline.clone());
        pipeline
    }

    /// How many distinct variants have been compiled (for tests of the cache).
    pub fn compiled_count(&self) -> usize {
        self.pipelines.lock().map(|c| c.len()).unwrap_or(0)
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    /// Every shader parses and validates with naga, with its test constants
    /// prepended. Runs without a GPU, so a WGSL typo fails fast.
    #[test]
    fn every_kernel_validates_with_naga() {
        for kernel in ALL_KERNELS {
            let variant = KernelVariant { kernel: *kernel, entry_point: "main", constants: kernel.constants.to_vec() };
            let module = wgpu::naga::front::wgsl::parse_str(&variant.source())
                .unwrap_or_else(|e| panic!("{}: {}", kernel.name, e.emit_to_string(&variant.source())));
            wgpu::naga::valid::Validator::new(
                wgpu::naga::valid::ValidationFlags::all(),
                wgpu::naga::valid::Capabilities::all(),
            )
            .validate(&module)
            .unwrap_or_else(|e| panic!("{}: {e:?}", kernel.name));
        }
    }

    #[test]
    fn workgroup_size_is_a_power_of_two_within_limits() {
        let limits = wgpu::Limits { max_compute_invocations_per_workgroup: 192, ..wgpu::Limits::default() };
        let reg = KernelRegistry::new(&limits, None);
        assert_eq!(reg.workgroup_size(256), 128);
        assert_eq!(reg.workgroup_size(64), 64);
        assert_eq!(reg.workgroup_size(0), 1);
    }
}
