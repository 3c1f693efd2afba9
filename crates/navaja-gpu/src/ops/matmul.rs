//! `y = W x (+ bias) (+ y)` with a quantized weight, dequantized on the fly.
//!
//! One token (decode) runs the matrix-vector kernel `shaders/matvec.wgsl`,
//! which streams every weight word once; several tokens (prefill) run, on
//! GPUs, the tiled kernel `shaders/matmul.wgsl`, which decodes each weight
//! tile once into workgroup memory and reuses it for 64 tokens, and on CPU
//! adapters `shaders/matmul_blocks.wgsl` (Q4_1, Q8_0, F32, F16) or
//! `shaders/matmul_lanes.wgsl` (other types), where each lane keeps a block
//! of outputs in registers (see [`PrefillShape`]). Each is one shared body
//! behind a small per-type decoder (`shaders/quant_<type>.wgsl`).

use navaja_core::ops::matmul::check_matmul_shape;
use navaja_core::quant::GgmlType;
use navaja_core::{NavajaError, Result};
use wgpu::util::DeviceExt;

use crate::GpuDevice;
use crate::kernels::{Kernel, KernelVariant};
use crate::ops::support::submit_scoped;
use crate::weights::{GpuWeight, WeightLayout};

/// A kernel source: the files of `shaders/` concatenated, in order.
macro_rules! shader {
    ($($file:literal),+) => { concat!($(include_str!(concat!("../../../../shaders/", $file))),+) };
}
pub(crate) use shader;

/// The matvec and the two matmul kernels of one weight type.
macro_rules! matmul_kernels {
    ($matvec:ident, $matmul:ident, $lanes:ident, $ty:literal, $($decoder:literal),+) => {
        pub const $matvec: Kernel = Kernel {
            name: concat!("matvec_", $ty),
            wgsl: shader!("quant_common.wgsl", $($decoder,)+ "matvec_io.wgsl", "matvec.wgsl"),
            constants: &[("WG", 256), ("TPR", 32), ("R", 2), ("G", 1), ("TAIL", 1)],
        };
        pub const $matmul: Kernel = Kernel {
            name: concat!("matmul_", $ty),
            wgsl: shader!("quant_common.wgsl", $($decoder,)+ "matmul.wgsl"),
            constants: &[("TAIL", 1)],
        };
        pub const $lanes: Kernel = Kernel {
            name: concat!("matmul_lanes_", $ty),
            wgsl: shader!("quant_common.wgsl", $($decoder,)+ "matmul_lanes_io.wgsl", "matmul_lanes.wgsl"),
            constants: &[("WG", 16), ("R", 4), ("T", 32), ("TAIL", 1)],
        };
    };
}

matmul_kernels!(MATVEC_F32, MATMUL_F32, MATMUL_LANES_F32, "f32", "quant_f32.wgsl");
matmul_kernels!(MATVEC_F16, MATMUL_F16, MATMUL_LANES_F16, "f16", "quant_f16.wgsl");
matmul_kernels!(MATVEC_Q4_0, MATMUL_Q4_0, MATMUL_LANES_Q4_0, "q4_0", "quant_q4_0.wgsl");
matmul_kernels!(MATVEC_Q4_1, MATMUL_Q4_1, MATMUL_LANES_Q4_1, "q4_1", "quant_q4_1.wgsl");
matmul_kernels!(MATVEC_Q5_0, MATMUL_Q5_0, MATMUL_LANES_Q5_0, "q5_0", "quant_q5_0.wgsl");
matmul_kernels!(MATVEC_Q8_0, MATMUL_Q8_0, MATMUL_LANES_Q8_0, "q8_0", "quant_q8_0.wgsl");
matmul_kernels!(MATVEC_Q4_K, MATMUL_Q4_K, MATMUL_LANES_Q4_K, "q4_k", "quant_k_scales.wgsl", "quant_q4_k.wgsl");
matmul_kernels!(MATVEC_Q5_K, MATMUL_Q5_K, MATMUL_LANES_Q5_K, "q5_k", "quant_k_scales.wgsl", "quant_q5_k.wgsl");
matmul_kernels!(MATVEC_Q6_K, MATMUL_Q6_K, MATMUL_LANES_Q6_K, "q6_k", "quant_q6_k.wgsl");

/// The CPU adapters' matvec for weight types of 32-value blocks
/// (shaders/matvec_blocks.wgsl; see [`Matmul::encode`]).
pub const MATVEC_BLOCKS_Q4_1: Kernel = Kernel {
    name: "matvec_blocks_q4_1",
    wgsl: shader!("block_dot_common.wgsl", "block_dot_q4_1.wgsl", "matvec_io.wgsl", "matvec_blocks.wgsl"),
    constants: &[("WG", 16)],
};
pub const MATVEC_BLOCKS_Q8_0: Kernel = Kernel {
    name: "matvec_blocks_q8_0",
    wgsl: shader!("block_dot_common.wgsl", "block_dot_q8_0.wgsl", "matvec_io.wgsl", "matvec_blocks.wgsl"),
    constants: &[("WG", 16)],
};

/// The CPU adapters' matvec for Q4_1 and Q8_0 weights in the split layout
/// (shaders/matvec_split.wgsl: a block's quants in one or two vec4 loads).
pub const MATVEC_SPLIT_Q4_1: Kernel = Kernel {
    name: "matvec_split_q4_1",
    wgsl: shader!("split_common.wgsl", "split_q4_1.wgsl", "matvec_io.wgsl", "matvec_split.wgsl"),
    constants: &[("WG", SPLIT_WG)],
};
pub const MATVEC_SPLIT_Q8_0: Kernel = Kernel {
    name: "matvec_split_q8_0",
    wgsl: shader!("split_common.wgsl", "split_q8_0.wgsl", "matvec_io.wgsl", "matvec_split.wgsl"),
    constants: &[("WG", SPLIT_WG)],
};

/// The CPU adapters' prefill kernel for weight types of 32-value blocks
/// (shaders/matmul_blocks.wgsl; see [`PrefillShape::Blocks`]).
pub const MATMUL_BLOCKS_Q4_1: Kernel = Kernel {
    name: "matmul_blocks_q4_1",
    wgsl: shader!("block_dot_common.wgsl", "block_dot_q4_1.wgsl", "matmul_lanes_io.wgsl", "matmul_blocks.wgsl"),
    constants: &[("WG", 16)],
};
pub const MATMUL_BLOCKS_Q8_0: Kernel = Kernel {
    name: "matmul_blocks_q8_0",
    wgsl: shader!("block_dot_common.wgsl", "block_dot_q8_0.wgsl", "matmul_lanes_io.wgsl", "matmul_blocks.wgsl"),
    constants: &[("WG", 16)],
};
pub const MATMUL_BLOCKS_F32: Kernel = Kernel {
    name: "matmul_blocks_f32",
    wgsl: shader!("block_dot_f32.wgsl", "matmul_lanes_io.wgsl", "matmul_blocks.wgsl"),
    constants: &[("WG", 16)],
};
pub const MATMUL_BLOCKS_F16: Kernel = Kernel {
    name: "matmul_blocks_f16",
    wgsl: shader!("block_dot_f16.wgsl", "matmul_lanes_io.wgsl", "matmul_blocks.wgsl"),
    constants: &[("WG", 16)],
};

/// The block prefill kernel (shaders/matmul_blocks.wgsl) for Q4_1 and Q8_0
/// weights in the split layout.
pub const MATMUL_SPLIT_Q4_1: Kernel = Kernel {
    name: "matmul_split_q4_1",
    wgsl: shader!("split_common.wgsl", "split_q4_1.wgsl", "matmul_lanes_io.wgsl", "matmul_blocks.wgsl"),
    constants: &[("WG", 16)],
};
pub const MATMUL_SPLIT_Q8_0: Kernel = Kernel {
    name: "matmul_split_q8_0",
    wgsl: shader!("split_common.wgsl", "split_q8_0.wgsl", "matmul_lanes_io.wgsl", "matmul_blocks.wgsl"),
    constants: &[("WG", 16)],
};

/// The block matvec of `ty` in `layout`, where there is one.
fn blocks_kernel(ty: GgmlType, layout: WeightLayout) -> Option<Kernel> {
    match (layout, ty) {
        (WeightLayout::Blocks, GgmlType::Q4_1) => Some(MATVEC_BLOCKS_Q4_1),
        (WeightLayout::Blocks, GgmlType::Q8_0) => Some(MATVEC_BLOCKS_Q8_0),
        (WeightLayout::Split, GgmlType::Q4_1) => Some(MATVEC_SPLIT_Q4_1),
        (WeightLayout::Split, GgmlType::Q8_0) => Some(MATVEC_SPLIT_Q8_0),
        _ => None,
    }
}

/// The block prefill kernel of `ty` in `layout`, where there is one.
fn blocks_prefill_kernel(ty: GgmlType, layout: WeightLayout) -> Option<Kernel> {
    match (layout, ty) {
        (WeightLayout::Blocks, GgmlType::Q4_1) => Some(MATMUL_BLOCKS_Q4_1),
        (WeightLayout::Blocks, GgmlType::Q8_0) => Some(MATMUL_BLOCKS_Q8_0),
        (WeightLayout::Blocks, GgmlType::F32) => Some(MATMUL_BLOCKS_F32),
        (WeightLayout::Blocks, GgmlType::F16) => Some(MATMUL_BLOCKS_F16),
        (WeightLayout::Split, GgmlType::Q4_1) => Some(MATMUL_SPLIT_Q4_1),
        (WeightLayout::Split, GgmlType::Q8_0) => Some(MATMUL_SPLIT_Q8_0),
        _ => None,
    }
}

/// The error of a kernel that reads only the block layout, given a weight
/// in the split layout.
fn needs_block_layout(weight: &GpuWeight, kernel: &str) -> NavajaError {
    NavajaError::unsupported(format!(
        "{kernel}: weight \"{}\" is in the split layout, which only the block kernels read \
         (they need x_offset a multiple of 4)",
        weight.name
    ))
}

/// Rows and tokens each invocation of the block prefill kernel owns
/// (`ROWS`, `TOKENS` in shaders/matmul_blocks.wgsl).
const BLOCKS_PREFILL_ROWS: u32 = 8;
const BLOCKS_PREFILL_TOKENS: u32 = 8;

/// Invocations per workgroup of the block matvec.
const BLOCKS_WG: u32 = 16;
/// Rows each invocation of the block matvec owns (`ROWS` in shaders/matvec_blocks.wgsl).
const BLOCKS_ROWS: usize = 8;
/// Rows each invocation of the split layout's matvec owns (`ROWS` in
/// shaders/matvec_split.wgsl), and its invocations per workgroup.
const SPLIT_ROWS: usize = 16;
const SPLIT_WG: u32 = 8;

/// The kernels of one weight type.
#[derive(Clone, Copy, Debug)]
pub struct TypeKernels {
    /// One token: shaders/matvec.wgsl.
    pub matvec: Kernel,
    /// Several tokens, workgroup-tiled (GPUs): shaders/matmul.wgsl.
    pub tiled: Kernel,
    /// Several tokens, lane-owned outputs (CPU adapters): shaders/matmul_lanes.wgsl.
    pub lanes: Kernel,
}

/// The kernels for weights of type `ty`.
pub fn kernels_for(ty: GgmlType) -> Result<TypeKernels> {
    let (matvec, tiled, lanes) = match ty {
        GgmlType::F32 => (MATVEC_F32, MATMUL_F32, MATMUL_LANES_F32),
        GgmlType::F16 => (MATVEC_F16, MATMUL_F16, MATMUL_LANES_F16),
        GgmlType::Q4_0 => (MATVEC_Q4_0, MATMUL_Q4_0, MATMUL_LANES_Q4_0),
        GgmlType::Q4_1 => (MATVEC_Q4_1, MATMUL_Q4_1, MATMUL_LANES_Q4_1),
        GgmlType::Q5_0 => (MATVEC_Q5_0, MATMUL_Q5_0, MATMUL_LANES_Q5_0),
        GgmlType::Q8_0 => (MATVEC_Q8_0, MATMUL_Q8_0, MATMUL_LANES_Q8_0),
        GgmlType::Q4_K => (MATVEC_Q4_K, MATMUL_Q4_K, MATMUL_LANES_Q4_K),
        GgmlType::Q5_K => (MATVEC_Q5_K, MATMUL_Q5_K, MATMUL_LANES_Q5_K),
        GgmlType::Q6_K => (MATVEC_Q6_K, MATMUL_Q6_K, MATMUL_LANES_Q6_K),
        _ => return Err(NavajaError::unsupported(format!("no GPU matmul kernel for weights of type {ty}"))),
    };
    Ok(TypeKernels { matvec, tiled, lanes })
}

/// Values per decoder unit: every decoder splits rows into units of 16.
const UNIT: usize = 16;

/// Decoder units per block of `ty` (`UNITS_PER_BLOCK` in its decoder).
fn units_per_block(ty: GgmlType) -> u32 {
    match ty.block_len() {
        1 => 1, // F32, F16: 16-value pseudo-blocks
        256 => 16,
        _ => 2,
    }
}

/// Mirrors `struct Params` in shaders/matvec.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct MatvecParams {
    rows: u32,
    cols: u32,
    row_words: u32,
    items: u32,
    first_row: u32,
    x_offset4: u32,
    y_offset: u32,
    flags: u32,
}

/// Mirrors `struct Params` in shaders/matmul.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct MatmulParams {
    rows: u32,
    cols: u32,
    row_words: u32,
    units: u32,
    first_row: u32,
    y_stride: u32,
    n: u32,
    x_offset: u32,
    y_offset: u32,
    flags: u32,
    row_tiles: u32,
    _pad: u32,
}

/// Mirrors `struct Params` in shaders/matmul_lanes_io.wgsl (matmul_lanes.wgsl, matmul_blocks.wgsl).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct LanesParams {
    rows: u32,
    cols: u32,
    row_words: u32,
    blocks: u32,
    first_row: u32,
    y_stride: u32,
    n: u32,
    x_offset4: u32,
    y_offset: u32,
    flags: u32,
    row_groups: u32,
    _pad: u32,
}

const FLAG_BIAS: u32 = 1;
const FLAG_ACCUMULATE: u32 = 2;
/// Rows and tokens per workgroup of the tiled kernel.
const TILE: usize = 64;

/// How the matvec kernel spreads rows over threads (see shaders/matvec.wgsl).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatvecShape {
    /// Threads per workgroup (a power of two).
    pub wg: u32,
    /// Threads sharing a row group (a power of two dividing `wg`; `>= r` unless 1).
    pub tpr: u32,
    /// Rows per row group.
    pub r: u32,
    /// Units of one block per work item (a power of two; capped at the
    /// type's units per block): a thread loads a block header once per item.
    pub g: u32,
}

impl MatvecShape {
    /// The shape used for `weight` on `gpu`.
    ///
    /// GPUs: row groups of up to 32 threads (fewer for short rows, so no
    /// thread idles) walk 2 rows in items of 2 units, 256 threads per
    /// workgroup; neighbouring threads read neighbouring words.
    /// CPU adapters (lavapipe, SwiftShader): one thread per 4 rows walking
    /// whole blocks, so that each x load serves 4 rows, block headers are
    /// loaded once per block and no reduction is needed. lavapipe emulates
    /// every storage load with a loop over the SIMD lanes, so it is bound by
    /// load instructions and decode arithmetic, not bytes; this shape was
    /// the fastest measured there (3-5x the GPU shape; see ops::bandwidth).
    pub fn for_weight(gpu: &GpuDevice, weight: &GpuWeight) -> MatvecShape {
        if gpu.adapter.is_cpu() {
            return MatvecShape { wg: gpu.kernels.workgroup_size(16), tpr: 1, r: 4, g: 16 };
        }
        let wg = gpu.kernels.workgroup_size(256);
        let items = weight.cols.div_ceil(2 * UNIT) as u32;
        let tpr = if items >= 32 { 32 } else { items.next_power_of_two().max(2) };
        MatvecShape { wg, tpr: tpr.min(wg), r: 2, g: 2 }
    }

    fn check(&self) -> Result<()> {
        let ok = self.wg.is_power_of_two()
            && self.tpr.is_power_of_two()
            && self.tpr <= self.wg
            && (1..=16).contains(&self.r)
            && self.g.is_power_of_two()
            && self.g <= 16
            && (self.tpr == 1 || self.tpr >= self.r);
        if !ok {
            return Err(NavajaError::invalid(format!("matvec: unusable shape {self:?}")));
        }
        Ok(())
    }
}

/// Which kernel computes a product of several tokens (prefill), and in
/// what shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrefillShape {
    /// shaders/matmul.wgsl: 64 rows x 64 tokens per workgroup of 256
    /// threads, weight and x tiles staged in workgroup memory (GPUs). Works
    /// for any x offset and column count.
    Tiled,
    /// shaders/matmul_lanes.wgsl: each of `wg` lanes owns `r` rows x `t`
    /// tokens and walks the inner dimension in registers (CPU adapters).
    /// Needs x_offset and cols multiples of 4 (x is read as vec4).
    Lanes { wg: u32, r: u32, t: u32 },
    /// shaders/matmul_blocks.wgsl: each of `wg` lanes owns 8 rows x 8
    /// tokens, a block's pair of runs decoded once for the 8 tokens (CPU
    /// adapters; Q4_1, Q8_0, F32 and F16 in blocks of 32 values). Needs cols a
    /// multiple of 32 and x_offset of 4.
    Blocks { wg: u32 },
}

impl PrefillShape {
    /// The shape used for `n` tokens of `weight` on `gpu`.
    ///
    /// GPUs: the workgroup-tiled kernel. CPU adapters (lavapipe,
    /// SwiftShader): 16 lanes each owning 4 rows x up to 32 tokens (fewer for
    /// short inputs, so no lane computes clamped copies of the last token).
    /// lavapipe runs a workgroup's invocations as SIMD lanes, emulates every
    /// storage load with a loop over the lanes and has slow workgroup memory
    /// and barriers; here each decoded weight serves 32 tokens and each x
    /// load 4 rows, with no workgroup memory at all. Measured on lavapipe
    /// (2 cores, 128 tokens of SmolLM2-135M's Q4_1 projections): 0.7 GFLOP/s
    /// tiled, 4.8 GFLOP/s in this shape; 8 rows per lane spill registers and
    /// lose, as do fewer than 4 rows or 16 tokens.
    ///
    /// Q4_1, Q8_0, F32 and F16 weights of whole 32-value blocks take the block kernel instead
    /// ([`PrefillShape::Blocks`]): 3.5-4.5x this shape on SwiftShader, 1.1x
    /// on lavapipe (same 128-token measurement; see shaders/matmul_blocks.wgsl).
    /// Weights in the split layout always take the block kernel.
    pub fn for_weight(gpu: &GpuDevice, weight: &GpuWeight, n: u32) -> PrefillShape {
        if gpu.adapter.is_cpu() || weight.layout == WeightLayout::Split {
            if weight.cols.is_multiple_of(32) && blocks_prefill_kernel(weight.ty, weight.layout).is_some() {
                return PrefillShape::Blocks { wg: gpu.kernels.workgroup_size(BLOCKS_WG) };
            }
            let t = n.next_power_of_two().clamp(2, 32);
            return PrefillShape::Lanes { wg: gpu.kernels.workgroup_size(16), r: 4, t };
        }
        PrefillShape::Tiled
    }

    fn check(&self) -> Result<()> {
        let ok = match *self {
            PrefillShape::Tiled => true,
            PrefillShape::Lanes { wg, r, t } => wg.is_power_of_two() && (1..=16).contains(&r) && (1..=32).contains(&t),
            PrefillShape::Blocks { wg } => wg.is_power_of_two(),
        };
        if !ok {
            return Err(NavajaError::invalid(format!("matmul: unusable shape {self:?}")));
        }
        Ok(())
    }
}

/// One `y = W x` over `n` token rows, on buffers the caller owns.
pub struct Matmul<'a> {
    pub weight: &'a GpuWeight,
    /// `n` rows of `weight.cols` f32 values, starting `x_offset` values in.
    pub x: &'a wgpu::Buffer,
    pub x_offset: u32,
    /// `n` rows of `weight.rows` f32 values, starting `y_offset` values in.
    pub y: &'a wgpu::Buffer,
    pub y_offset: u32,
    /// Tokens.
    pub n: u32,
    /// `weight.rows` f32 values added to every output row.
    pub bias: Option<&'a wgpu::Buffer>,
    /// `y += W x (+ bias)` instead of `y = W x (+ bias)`: fuses residual adds.
    pub accumulate: bool,
}

impl Matmul<'_> {
    /// Records the product into `encoder` (one dispatch per weight part);
    /// nothing runs until the encoder is submitted.
    ///
    /// One token on a CPU adapter, for the types that have one, runs the
    /// block matvec (shaders/matvec_blocks.wgsl, or matvec_split.wgsl for
    /// weights in the split layout): 2-3x the general matvec there
    /// (measured on SwiftShader).
    pub fn encode(&self, gpu: &GpuDevice, encoder: &mut wgpu::CommandEncoder) -> Result<()> {
        if self.weight.layout == WeightLayout::Split && !self.x_aligned() {
            return Err(needs_block_layout(self.weight, "matmul"));
        }
        if self.uses_matvec() {
            if self.uses_matvec_blocks(gpu) {
                return self.encode_matvec_blocks(gpu, encoder);
            }
            return self.encode_matvec(gpu, encoder, MatvecShape::for_weight(gpu, self.weight));
        }
        match PrefillShape::for_weight(gpu, self.weight, self.n) {
            shape @ (PrefillShape::Lanes { .. } | PrefillShape::Blocks { .. }) if self.x_aligned() => {
                self.encode_prefill(gpu, encoder, shape)
            }
            _ => self.encode_prefill(gpu, encoder, PrefillShape::Tiled),
        }
    }

    /// Whether x can be read as vec4: x_offset and cols multiples of 4.
    fn x_aligned(&self) -> bool {
        self.x_offset.is_multiple_of(4) && self.weight.cols.is_multiple_of(4)
    }

    /// Whether [`Matmul::encode`] runs the matvec kernel: one token, with x
    /// aligned for vec4 loads. Anything else runs the tiled kernel.
    pub fn uses_matvec(&self) -> bool {
        self.n == 1 && self.x_aligned()
    }

    /// Whether [`Matmul::encode`] runs the block matvec for this product on
    /// `gpu`: a CPU adapter (or a weight in the split layout), one aligned
    /// token, a weight type that has one (Q4_1, Q8_0) and whole blocks.
    pub fn uses_matvec_blocks(&self, gpu: &GpuDevice) -> bool {
        (gpu.adapter.is_cpu() || self.weight.layout == WeightLayout::Split)
            && self.uses_matvec()
            && self.weight.cols.is_multiple_of(32)
            && blocks_kernel(self.weight.ty, self.weight.layout).is_some()
    }

    /// Records the block matvec (shaders/matvec_blocks.wgsl, or
    /// matvec_split.wgsl for the split layout) on any adapter (for tests and
    /// tuning); requires what [`Matmul::uses_matvec_blocks`] checks about the product.
    pub fn encode_matvec_blocks(&self, gpu: &GpuDevice, encoder: &mut wgpu::CommandEncoder) -> Result<()> {
        let kernel = blocks_kernel(self.weight.ty, self.weight.layout).ok_or_else(|| {
            NavajaError::unsupported(format!("block matvec: no kernel for weights of type {}", self.weight.ty))
        })?;
        if !self.uses_matvec() || !self.weight.cols.is_multiple_of(32) {
            return Err(NavajaError::invalid("block matvec: needs n = 1, x_offset a multiple of 4 and cols of 32"));
        }
        let (_, row_words, flags) = self.validate(gpu)?;
        let (preferred_wg, rows_per_invocation) = match self.weight.layout {
            WeightLayout::Blocks => (BLOCKS_WG, BLOCKS_ROWS),
            WeightLayout::Split => (SPLIT_WG, SPLIT_ROWS),
        };
        let wg = gpu.kernels.workgroup_size(preferred_wg);
        let pipeline = gpu
            .kernels
            .pipeline(&gpu.device, &KernelVariant { kernel, entry_point: "main", constants: vec![("WG", wg)] });
        let items = (self.weight.cols / 32) as u32;
        self.dispatch_matvec_parts(
            gpu,
            encoder,
            kernel.name,
            &pipeline,
            (row_words, items, flags),
            rows_per_invocation * wg as usize,
        )
    }

    /// One matvec pass over the weight's parts: a dispatch per part, with the
    /// params of matvec.wgsl and matvec_blocks.wgsl (`words_items_flags`: row
    /// words, items per row, flags), `rows_per_group` rows per workgroup.
    fn dispatch_matvec_parts(
        &self,
        gpu: &GpuDevice,
        encoder: &mut wgpu::CommandEncoder,
        label: &'static str,
        pipeline: &wgpu::ComputePipeline,
        (row_words, items, flags): (u32, u32, u32),
        rows_per_group: usize,
    ) -> Result<()> {
        let mut pass =
            encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some(label), timestamp_writes: None });
        pass.set_pipeline(pipeline);
        for part in &self.weight.parts {
            let params = MatvecParams {
                rows: part.rows as u32,
                cols: self.weight.cols as u32,
                row_words,
                items,
                first_row: part.first_row as u32,
                x_offset4: self.x_offset / 4,
                y_offset: self.y_offset,
                flags,
            };
            let bind_group = self.bind_group(gpu, pipeline, &part.buffer, &gpu.uniform("matvec params", &params));
            let (gx, gy) = gpu.dispatch_grid("matvec rows", part.rows.div_ceil(rows_per_group) as u32)?;
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups(gx, gy, 1);
        }
        Ok(())
    }

    /// Records the matvec kernel with an explicit `shape` (for tuning; see
    /// ops::bandwidth). Requires what [`Matmul::uses_matvec`] checks.
    pub fn encode_matvec(&self, gpu: &GpuDevice, encoder: &mut wgpu::CommandEncoder, shape: MatvecShape) -> Result<()> {
        if !self.uses_matvec() {
            return Err(NavajaError::invalid("matvec: needs n = 1, x_offset and cols multiples of 4"));
        }
        if self.weight.layout == WeightLayout::Split {
            return Err(needs_block_layout(self.weight, "matvec"));
        }
        shape.check()?;
        let (units, row_words, flags) = self.validate(gpu)?;
        let kernel = kernels_for(self.weight.ty)?.matvec;
        let tail = u32::from(!self.weight.cols.is_multiple_of(UNIT));
        let g = shape.g.min(units_per_block(self.weight.ty));
        let items = units.div_ceil(g);
        let constants = vec![("WG", shape.wg), ("TPR", shape.tpr), ("R", shape.r), ("G", g), ("TAIL", tail)];
        let pipeline = gpu.kernels.pipeline(&gpu.device, &KernelVariant { kernel, entry_point: "main", constants });
        let rows_per_group = (shape.wg / shape.tpr * shape.r) as usize;
        self.dispatch_matvec_parts(gpu, encoder, kernel.name, &pipeline, (row_words, items, flags), rows_per_group)
    }

    /// Records a matrix-matrix kernel in an explicit `shape` (for tuning and
    /// tests), for any n. [`PrefillShape::Lanes`] requires x_offset and cols
    /// multiples of 4, [`PrefillShape::Blocks`] also cols a multiple of 32
    /// and a Q4_1, Q8_0, F32 or F16 weight.
    pub fn encode_prefill(
        &self,
        gpu: &GpuDevice,
        encoder: &mut wgpu::CommandEncoder,
        shape: PrefillShape,
    ) -> Result<()> {
        shape.check()?;
        if self.weight.layout == WeightLayout::Split && !matches!(shape, PrefillShape::Blocks { .. }) {
            return Err(needs_block_layout(self.weight, "matmul"));
        }
        match shape {
            PrefillShape::Tiled => self.encode_tiled(gpu, encoder),
            PrefillShape::Lanes { wg, r, t } => {
                if !self.x_aligned() {
                    return Err(NavajaError::invalid("matmul lanes: needs x_offset and cols multiples of 4"));
                }
                let kernel = kernels_for(self.weight.ty)?.lanes;
                let tail = u32::from(!self.weight.cols.is_multiple_of(UNIT));
                let constants = vec![("WG", wg), ("R", r), ("T", t), ("TAIL", tail)];
                let block_len = match self.weight.ty.block_len() {
                    1 => UNIT, // F32, F16: 16-value pseudo-blocks (shaders/quant_f32.wgsl)
                    len => len,
                };
                let variant = KernelVariant { kernel, entry_point: "main", constants };
                self.encode_lane_tiles(gpu, encoder, variant, (wg * r, t), block_len)
            }
            PrefillShape::Blocks { wg } => {
                let kernel = blocks_prefill_kernel(self.weight.ty, self.weight.layout).ok_or_else(|| {
                    NavajaError::unsupported(format!("block matmul: no kernel for weights of type {}", self.weight.ty))
                })?;
                if !self.x_aligned() || !self.weight.cols.is_multiple_of(32) {
                    return Err(NavajaError::invalid("block matmul: needs x_offset a multiple of 4 and cols of 32"));
                }
                let variant = KernelVariant { kernel, entry_point: "main", constants: vec![("WG", wg)] };
                let tile = (wg * BLOCKS_PREFILL_ROWS, BLOCKS_PREFILL_TOKENS);
                self.encode_lane_tiles(gpu, encoder, variant, tile, 32)
            }
        }
    }

    /// Records a kernel whose workgroups each cover `rows_per_group` rows x
    /// `tokens_per_tile` tokens with the params of shaders/matmul_lanes_io.wgsl,
    /// walking rows in blocks
    /// of `block_len` values.
    fn encode_lane_tiles(
        &self,
        gpu: &GpuDevice,
        encoder: &mut wgpu::CommandEncoder,
        variant: KernelVariant,
        (rows_per_group, tokens_per_tile): (u32, u32),
        block_len: usize,
    ) -> Result<()> {
        let (_, row_words, flags) = self.validate(gpu)?;
        let label = variant.kernel.name;
        let pipeline = gpu.kernels.pipeline(&gpu.device, &variant);
        let mut pass =
            encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some(label), timestamp_writes: None });
        pass.set_pipeline(&pipeline);
        let token_tiles = self.n.div_ceil(tokens_per_tile) as usize;
        let rows_per_group = rows_per_group as usize;
        for part in &self.weight.parts {
            let row_groups = part.rows.div_ceil(rows_per_group);
            let params = LanesParams {
                rows: part.rows as u32,
                cols: self.weight.cols as u32,
                row_words,
                blocks: self.weight.cols.div_ceil(block_len) as u32,
                first_row: part.first_row as u32,
                y_stride: self.weight.rows as u32,
                n: self.n,
                x_offset4: self.x_offset / 4,
                y_offset: self.y_offset,
                flags,
                row_groups: row_groups as u32,
                _pad: 0,
            };
            let tiles = u32::try_from(row_groups * token_tiles)
                .map_err(|_| NavajaError::invalid("matmul: too many tiles for one dispatch"))?;
            let bind_group = self.bind_group(gpu, &pipeline, &part.buffer, &gpu.uniform("matmul params", &params));
            let (gx, gy) = gpu.dispatch_grid("matmul tiles", tiles)?;
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups(gx, gy, 1);
        }
        Ok(())
    }

    fn encode_tiled(&self, gpu: &GpuDevice, encoder: &mut wgpu::CommandEncoder) -> Result<()> {
        let (units, row_words, flags) = self.validate(gpu)?;
        let kernel = kernels_for(self.weight.ty)?.tiled;
        let tail = u32::from(!self.weight.cols.is_multiple_of(UNIT));
        let variant = KernelVariant { kernel, entry_point: "main", constants: vec![("TAIL", tail)] };
        let pipeline = gpu.kernels.pipeline(&gpu.device, &variant);
        let mut pass = encoder
            .begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some(kernel.name), timestamp_writes: None });
        pass.set_pipeline(&pipeline);
        let token_tiles = (self.n as usize).div_ceil(TILE);
        for part in &self.weight.parts {
            let row_tiles = part.rows.div_ceil(TILE);
            let params = MatmulParams {
                rows: part.rows as u32,
                cols: self.weight.cols as u32,
                row_words,
                units,
                first_row: part.first_row as u32,
                y_stride: self.weight.rows as u32,
                n: self.n,
                x_offset: self.x_offset,
                y_offset: self.y_offset,
                flags,
                row_tiles: row_tiles as u32,
                _pad: 0,
            };
            let tiles = u32::try_from(row_tiles * token_tiles)
                .map_err(|_| NavajaError::invalid("matmul: too many tiles for one dispatch"))?;
            let bind_group = self.bind_group(gpu, &pipeline, &part.buffer, &gpu.uniform("matmul params", &params));
            let (gx, gy) = gpu.dispatch_grid("matmul tiles", tiles)?;
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups(gx, gy, 1);
        }
        Ok(())
    }

    /// Checks the shapes against the buffers; returns (units per row, words
    /// per row, flags).
    fn validate(&self, gpu: &GpuDevice) -> Result<(u32, u32, u32)> {
        let w = self.weight;
        if self.n == 0 {
            return Err(NavajaError::invalid(format!("matmul \"{}\": n must be > 0", w.name)));
        }
        if w.parts.is_empty() {
            return Err(NavajaError::invalid(format!("matmul \"{}\": the weight has no buffers", w.name)));
        }
        let (rows, cols, n) = (w.rows as u64, w.cols as u64, u64::from(self.n));
        let fits = |what: &str, buffer: &wgpu::Buffer, offset: u64, len: u64| -> Result<()> {
            let needed = (offset + len) * 4;
            if needed > buffer.size() {
                return Err(NavajaError::invalid(format!(
                    "matmul \"{}\": {what} needs {needed} bytes, but its buffer has {}",
                    w.name,
                    buffer.size()
                )));
            }
            Ok(())
        };
        fits("x", self.x, u64::from(self.x_offset), n * cols)?;
        fits("y", self.y, u64::from(self.y_offset), n * rows)?;
        if let Some(bias) = self.bias {
            fits("bias", bias, 0, rows)?;
        }
        gpu.check_binding_size("matmul x", (u64::from(self.x_offset) + n * cols) * 4)?;
        gpu.check_binding_size("matmul y", (u64::from(self.y_offset) + n * rows) * 4)?;
        // Every index the kernels compute fits in u32: the bindings are
        // within the adapter's limits, checked above and at upload.
        let units = w.cols.div_ceil(UNIT) as u32;
        let row_words = (w.row_bytes() / 4) as u32;
        let flags = if self.bias.is_some() { FLAG_BIAS } else { 0 } | if self.accumulate { FLAG_ACCUMULATE } else { 0 };
        Ok((units, row_words, flags))
    }

    fn bind_group(
        &self,
        gpu: &GpuDevice,
        pipeline: &wgpu::ComputePipeline,
        weight: &wgpu::Buffer,
        params: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        let (rows, cols, n) = (self.weight.rows as u64, self.weight.cols as u64, u64::from(self.n));
        // Without a bias the kernel never reads binding 3; any read-only
        // buffer will do, and the weight part needs no extra allocation.
        let bias = match self.bias {
            Some(bias) => prefix_binding(bias, rows * 4),
            None => weight.as_entire_binding(),
        };
        let mut entries = vec![
            wgpu::BindGroupEntry { binding: 0, resource: weight.as_entire_binding() },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: prefix_binding(self.x, (u64::from(self.x_offset) + n * cols) * 4),
            },
            wgpu::BindGroupEntry {
                binding: 2,
                resource: prefix_binding(self.y, (u64::from(self.y_offset) + n * rows) * 4),
            },
            wgpu::BindGroupEntry { binding: 3, resource: bias },
            wgpu::BindGroupEntry { binding: 4, resource: params.as_entire_binding() },
        ];
        if self.weight.layout == WeightLayout::Split {
            // The same buffer as u32 words, for the scales (shaders/split_common.wgsl).
            entries.push(wgpu::BindGroupEntry { binding: 5, resource: weight.as_entire_binding() });
        }
        gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("matmul"),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        })
    }
}

/// The first `bytes` bytes of `buffer` (the caller checked they exist): ops
/// bind only what they use, so a large shared buffer never trips the
/// binding size limit and out-of-range reads stay within the op's data.
pub(crate) fn prefix_binding(buffer: &wgpu::Buffer, bytes: u64) -> wgpu::BindingResource<'_> {
    wgpu::BindingResource::Buffer(wgpu::BufferBinding { buffer, offset: 0, size: wgpu::BufferSize::new(bytes) })
}

/// Uploads `x` (`n` rows of `weight.cols` values), computes
/// `W x (+ bias) (+ y_init)` on the GPU and reads the `n * weight.rows`
/// results back. Rejects what the CPU reference rejects, plus a bias that
/// is not `weight.rows` long or a `y_init` that is not `n * weight.rows`.
pub async fn matmul(
    gpu: &GpuDevice,
    weight: &GpuWeight,
    x: &[f32],
    n: usize,
    bias: Option<&[f32]>,
    y_init: Option<&[f32]>,
) -> Result<Vec<f32>> {
    check_matmul_shape(weight.rows, weight.cols, x.len(), n)?;
    let n32 = u32::try_from(n).map_err(|_| NavajaError::invalid("matmul: more than 2^32 tokens"))?;
    let y_len = n * weight.rows;
    if let Some(b) = bias.filter(|b| b.len() != weight.rows) {
        return Err(NavajaError::invalid(format!("matmul: bias has {} values, expected {}", b.len(), weight.rows)));
    }
    if let Some(y0) = y_init.filter(|y0| y0.len() != y_len) {
        return Err(NavajaError::invalid(format!("matmul: y_init has {} values, expected {y_len}", y0.len())));
    }
    gpu.check_health()?;
    gpu.check_binding_size("matmul y", y_len as u64 * 4)?;

    let encoded = submit_scoped(gpu, |encoder| {
        let x_buf = gpu.upload_f32("matmul x", x)?;
        let bias_buf = bias.map(|b| gpu.upload_f32("matmul bias", b)).transpose()?;
        let y_buf = match y_init {
            Some(y0) => gpu.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("matmul y"),
                contents: bytemuck::cast_slice(y0),
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            }),
            None => gpu.output_f32("matmul y", y_len)?,
        };
        Matmul {
            weight,
            x: &x_buf,
            x_offset: 0,
            y: &y_buf,
            y_offset: 0,
            n: n32,
            bias: bias_buf.as_ref(),
            accumulate: y_init.is_some(),
        }
        .encode(gpu, encoder)?;
        Ok(y_buf)
    })
    .await;
    let y = gpu.read_f32(&encoded?, y_len).await?;
    gpu.check_health()?;
    Ok(y)
}
