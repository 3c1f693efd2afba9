//! Sentence pooling over packed sequences, with optional L2 normalisation
//! (shaders/pooling.wgsl): one workgroup per sequence.

use navaja_core::model::Pooling;
use navaja_core::ops::pooling::check_packed;
use navaja_core::{NavajaError, Result};
use wgpu::util::DeviceExt;

use crate::GpuDevice;
use crate::kernels::{Kernel, KernelVariant};
use crate::ops::matmul::prefix_binding;
use crate::ops::support::{dispatch_bound, submit_scoped};

pub const POOLING: Kernel =
    Kernel { name: "pooling", wgsl: include_str!("../../../../shaders/pooling.wgsl"), constants: &[("WG", 128)] };

/// Mirrors `struct Params` in shaders/pooling.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n_seqs: u32,
    hidden: u32,
    mode: u32,
    normalize: u32,
}

/// The `(first row, rows)` pairs the kernel reads for packed sequences of `lens`.
pub fn sequence_table(lens: &[usize]) -> Result<Vec<u32>> {
    let mut table = Vec::with_capacity(2 * lens.len());
    let mut first = 0usize;
    for &len in lens {
        let (a, b) = (u32::try_from(first), u32::try_from(len));
        let (Ok(a), Ok(b)) = (a, b) else { return Err(NavajaError::invalid("pooling: more than 2^32 rows")) };
        table.extend([a, b]);
        first += len;
    }
    Ok(table)
}

/// `out[s] = pool(rows of sequence s of x)`, `hidden` values each.
pub struct Pool<'a> {
    pub x: &'a wgpu::Buffer,
    /// `n_seqs` pairs of u32: first row and rows (see [`sequence_table`]).
    pub seqs: &'a wgpu::Buffer,
    pub out: &'a wgpu::Buffer,
    pub n_seqs: u32,
    /// Rows of `x` covered by the sequences (bounds the binding).
    pub rows: u32,
    pub hidden: u32,
    pub pooling: Pooling,
    pub normalize: bool,
}

impl Pool<'_> {
    /// Records the op into `encoder`; nothing runs until the encoder is submitted.
    pub fn encode(&self, gpu: &GpuDevice, encoder: &mut wgpu::CommandEncoder) -> Result<()> {
        let mode = match self.pooling {
            Pooling::Mean => 0,
            Pooling::Cls => 1,
            Pooling::Last => 2,
            Pooling::None => return Err(NavajaError::invalid("pooling: \"none\" has nothing to pool")),
        };
        if self.n_seqs == 0 || self.hidden == 0 || self.rows == 0 {
            return Err(NavajaError::invalid("pooling: no sequences, rows or hidden values"));
        }
        let x_bytes = u64::from(self.rows) * u64::from(self.hidden) * 4;
        let out_bytes = u64::from(self.n_seqs) * u64::from(self.hidden) * 4;
        let seq_bytes = u64::from(self.n_seqs) * 8;
        for (what, buffer, bytes) in
            [("x", self.x, x_bytes), ("out", self.out, out_bytes), ("seqs", self.seqs, seq_bytes)]
        {
            if buffer.size() < bytes {
                return Err(NavajaError::invalid(format!(
                    "pooling: {what} needs {bytes} bytes, its buffer has {}",
                    buffer.size()
                )));
            }
            gpu.check_binding_size(&format!("pooling {what}"), bytes)?;
        }
        let wg = gpu.kernels.workgroup_size(self.hidden.next_power_of_two().clamp(32, 128));
        let (gx, gy) = gpu.dispatch_grid("pooling sequences", self.n_seqs)?;
        let variant = KernelVariant { kernel: POOLING, entry_point: "main", constants: vec![("WG", wg)] };
        let params = Params { n_seqs: self.n_seqs, hidden: self.hidden, mode, normalize: u32::from(self.normalize) };
        let params = gpu.uniform("pooling params", &params);
        dispatch_bound(
            gpu,
            encoder,
            &variant,
            &[
                prefix_binding(self.x, x_bytes),
                prefix_binding(self.seqs, seq_bytes),
                prefix_binding(self.out, out_bytes),
                params.as_entire_binding(),
            ],
            (gx, gy, 1),
        );
        Ok(())
    }
}

/// Uploads `x` (packed sequences of `lens` rows of `hidden` values), pools it
/// on the GPU and reads the `lens.len() * hidden` results back.
pub async fn pool(
    gpu: &GpuDevice,
    x: &[f32],
    hidden: usize,
    lens: &[usize],
    pooling: Pooling,
    normalize: bool,
) -> Result<Vec<f32>> {
    if hidden == 0 || !x.len().is_multiple_of(hidden) {
        return Err(NavajaError::invalid(format!("pooling: {} values are not rows of {hidden}", x.len())));
    }
    check_packed(lens, x.len() / hidden).map_err(|e| NavajaError::invalid(format!("pooling: {e}")))?;
    let to_u32 = |v: usize| u32::try_from(v).map_err(|_| NavajaError::invalid("pooling: sizes past 2^32"));
    let (n_seqs, rows, hidden32) = (to_u32(lens.len())?, to_u32(x.len() / hidden)?, to_u32(hidden)?);
    let table = sequence_table(lens)?;
    let out_len = lens.len() * hidden;
    let out = submit_scoped(gpu, |encoder| {
        let x_buf = gpu.upload_f32("pooling x", x)?;
        let seqs = gpu.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("pooling seqs"),
            contents: bytemuck::cast_slice(&table),
            usage: wgpu::BufferUsages::STORAGE,
        });
        let out = gpu.output_f32("pooling out", out_len)?;
        Pool { x: &x_buf, seqs: &seqs, out: &out, n_seqs, rows, hidden: hidden32, pooling, normalize }
            .encode(gpu, encoder)?;
        Ok(out)
    })
    .await?;
    let values = gpu.read_f32(&out, out_len).await?;
    gpu.check_health()?;
    Ok(values)
}
