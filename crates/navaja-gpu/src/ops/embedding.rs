//! Embedding lookup on the GPU: rows of a quantized table, gathered by
//! token id and dequantized on the fly (`shaders/embedding.wgsl` behind the
//! per-type decoders shared with the matmul kernels).

use navaja_core::ops::embedding::check_embedding_ids;
use navaja_core::quant::GgmlType;
use navaja_core::{NavajaError, Result};
use wgpu::util::DeviceExt;

use crate::GpuDevice;
use crate::kernels::{Kernel, KernelVariant};
use crate::ops::matmul::{prefix_binding, shader};
use crate::ops::support::submit_scoped;
use crate::weights::{GpuWeight, WeightLayout};

/// The gather kernel of one table type.
macro_rules! embedding_kernel {
    ($name:ident, $ty:literal, $($decoder:literal),+) => {
        pub const $name: Kernel = Kernel {
            name: concat!("embedding_", $ty),
            wgsl: shader!("quant_common.wgsl", $($decoder,)+ "embedding_io.wgsl", "embedding.wgsl"),
            constants: &[("WG", 64)],
        };
    };
}

embedding_kernel!(EMBEDDING_F32, "f32", "quant_f32.wgsl");
embedding_kernel!(EMBEDDING_F16, "f16", "quant_f16.wgsl");
embedding_kernel!(EMBEDDING_Q4_0, "q4_0", "quant_q4_0.wgsl");
embedding_kernel!(EMBEDDING_Q4_1, "q4_1", "quant_q4_1.wgsl");
embedding_kernel!(EMBEDDING_Q5_0, "q5_0", "quant_q5_0.wgsl");
embedding_kernel!(EMBEDDING_Q8_0, "q8_0", "quant_q8_0.wgsl");
embedding_kernel!(EMBEDDING_Q4_K, "q4_k", "quant_k_scales.wgsl", "quant_q4_k.wgsl");
embedding_kernel!(EMBEDDING_Q5_K, "q5_k", "quant_k_scales.wgsl", "quant_q5_k.wgsl");
embedding_kernel!(EMBEDDING_Q6_K, "q6_k", "quant_q6_k.wgsl");

/// The gather kernels for Q4_1 and Q8_0 tables in the split layout
/// (shaders/embedding_split.wgsl).
pub const EMBEDDING_SPLIT_Q4_1: Kernel = Kernel {
    name: "embedding_split_q4_1",
    wgsl: shader!("split_common.wgsl", "split_q4_1.wgsl", "embedding_io.wgsl", "embedding_split.wgsl"),
    constants: &[("WG", 64)],
};
pub const EMBEDDING_SPLIT_Q8_0: Kernel = Kernel {
    name: "embedding_split_q8_0",
    wgsl: shader!("split_common.wgsl", "split_q8_0.wgsl", "embedding_io.wgsl", "embedding_split.wgsl"),
    constants: &[("WG", 64)],
};

/// The gather kernel for tables of type `ty` in `layout`.
pub fn embedding_kernel_for(ty: GgmlType, layout: WeightLayout) -> Result<Kernel> {
    if layout == WeightLayout::Split {
        return match ty {
            GgmlType::Q4_1 => Ok(EMBEDDING_SPLIT_Q4_1),
            GgmlType::Q8_0 => Ok(EMBEDDING_SPLIT_Q8_0),
            _ => Err(NavajaError::unsupported(format!("no GPU embedding kernel for split tables of type {ty}"))),
        };
    }
    Ok(match ty {
        GgmlType::F32 => EMBEDDING_F32,
        GgmlType::F16 => EMBEDDING_F16,
        GgmlType::Q4_0 => EMBEDDING_Q4_0,
        GgmlType::Q4_1 => EMBEDDING_Q4_1,
        GgmlType::Q5_0 => EMBEDDING_Q5_0,
        GgmlType::Q8_0 => EMBEDDING_Q8_0,
        GgmlType::Q4_K => EMBEDDING_Q4_K,
        GgmlType::Q5_K => EMBEDDING_Q5_K,
        GgmlType::Q6_K => EMBEDDING_Q6_K,
        _ => return Err(NavajaError::unsupported(format!("no GPU embedding kernel for tables of type {ty}"))),
    })
}

/// Mirrors `struct Params` in shaders/embedding_io.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    cols: u32,
    row_words: u32,
    units: u32,
    first_row: u32,
    total_rows: u32,
    n: u32,
    ids_offset: u32,
    y_offset: u32,
    scale: f32,
    _pad0: u32,
    _pad1: u32,
}

/// Threads per workgroup (one workgroup per token).
const WG: u32 = 64;

/// Gathers `n` rows of `table` (row `ids[ids_offset + t]` for token `t`)
/// into `y` at `y_offset`, dequantized and times `scale`: `n * table.cols`
/// values. Ids past the table are clamped to its last row on the GPU; the
/// host is expected to have rejected them (see [`embedding`]).
pub struct EmbeddingGather<'a> {
    pub table: &'a GpuWeight,
    /// u32 token ids.
    pub ids: &'a wgpu::Buffer,
    pub ids_offset: u32,
    pub n: u32,
    pub y: &'a wgpu::Buffer,
    pub y_offset: u32,
    pub scale: f32,
}

impl EmbeddingGather<'_> {
    /// Records the gather (one dispatch per table part) into `encoder`.
    pub fn encode(&self, gpu: &GpuDevice, encoder: &mut wgpu::CommandEncoder) -> Result<()> {
        let t = self.table;
        if self.n == 0 || t.parts.is_empty() {
            return Err(NavajaError::invalid(format!("embedding \"{}\": no tokens or an empty table", t.name)));
        }
        let n = u64::from(self.n);
        let ids_bytes = (u64::from(self.ids_offset) + n) * 4;
        if ids_bytes > self.ids.size() {
            return Err(NavajaError::invalid(format!("embedding \"{}\": the ids buffer is too small", t.name)));
        }
        let y_bytes = (u64::from(self.y_offset) + n * t.cols as u64) * 4;
        if y_bytes > self.y.size() {
            return Err(NavajaError::invalid(format!(
                "embedding \"{}\": y needs {y_bytes} bytes, but its buffer has {}",
                t.name,
                self.y.size()
            )));
        }
        gpu.check_binding_size("embedding y", y_bytes)?;
        let kernel = embedding_kernel_for(t.ty, t.layout)?;
        let pipeline = gpu.kernels.pipeline(
            &gpu.device,
            &KernelVariant { kernel, entry_point: "main", constants: vec![("WG", gpu.kernels.workgroup_size(WG))] },
        );
        let (gx, gy) = gpu.dispatch_grid("embedding tokens", self.n)?;
        let mut pass = encoder
            .begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some(kernel.name), timestamp_writes: None });
        pass.set_pipeline(&pipeline);
        for part in &t.parts {
            let params = Params {
                rows: part.rows as u32,
                cols: t.cols as u32,
                row_words: (t.row_bytes() / 4) as u32,
                units: t.cols.div_ceil(16) as u32,
                first_row: part.first_row as u32,
                total_rows: t.rows as u32,
                n: self.n,
                ids_offset: self.ids_offset,
                y_offset: self.y_offset,
                scale: self.scale,
                _pad0: 0,
                _pad1: 0,
            };
            let params = gpu.uniform("embedding params", &params);
            let mut entries = vec![
                wgpu::BindGroupEntry { binding: 0, resource: part.buffer.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 1, resource: prefix_binding(self.ids, ids_bytes) },
                wgpu::BindGroupEntry { binding: 2, resource: prefix_binding(self.y, y_bytes) },
                wgpu::BindGroupEntry { binding: 3, resource: params.as_entire_binding() },
            ];
            if t.layout == WeightLayout::Split {
                // The same buffer as u32 words, for the scales (shaders/split_common.wgsl).
                entries.push(wgpu::BindGroupEntry { binding: 5, resource: part.buffer.as_entire_binding() });
            }
            let bind_group = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("embedding"),
                layout: &pipeline.get_bind_group_layout(0),
                entries: &entries,
            });
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups(gx, gy, 1);
        }
        Ok(())
    }
}

/// Looks up `ids` in `table` on the GPU and reads the `ids.len() *
/// table.cols` values back. Ids past the table are an `invalid-argument`
/// error, as in the CPU reference; no ids give an empty result.
pub async fn embedding(gpu: &GpuDevice, table: &GpuWeight, ids: &[u32], scale: f32) -> Result<Vec<f32>> {
    check_embedding_ids(table.rows, table.cols, ids)?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let n = u32::try_from(ids.len()).map_err(|_| NavajaError::invalid("embedding: more than 2^32 tokens"))?;
    let y_len = ids.len() * table.cols;
    gpu.check_health()?;
    gpu.check_binding_size("embedding y", y_len as u64 * 4)?;

    let encoded = submit_scoped(gpu, |encoder| {
        let ids_buf = gpu.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("embedding ids"),
            contents: bytemuck::cast_slice(ids),
            usage: wgpu::BufferUsages::STORAGE,
        });
        let y_buf = gpu.output_f32("embedding y", y_len)?;
        EmbeddingGather { table, ids: &ids_buf, ids_offset: 0, n, y: &y_buf, y_offset: 0, scale }
            .encode(gpu, encoder)?;
        Ok(y_buf)
    })
    .await;
    let y = gpu.read_f32(&encoded?, y_len).await?;
    gpu.check_health()?;
    Ok(y)
}
