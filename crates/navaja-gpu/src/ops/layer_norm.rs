//! LayerNorm on the GPU (shaders/layer_norm.wgsl): one workgroup per row,
//! mean and variance by two tree reductions, then `(x - mean) * rstd * w + b`.

use navaja_core::ops::layer_norm::layer_norm_rows;
use navaja_core::{NavajaError, Result};

use crate::GpuDevice;
use crate::kernels::{Kernel, KernelVariant};
use crate::ops::matmul::prefix_binding;
use crate::ops::support::{check_span, dispatch_bound, submit_scoped};

pub const LAYER_NORM: Kernel =
    Kernel { name: "layer_norm", wgsl: include_str!("../../../../shaders/layer_norm.wgsl"), constants: &[("WG", 128)] };

/// Mirrors `struct Params` in shaders/layer_norm.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    cols: u32,
    eps: f32,
    _pad: u32,
}

/// `y = layer_norm(x) * weight + bias` over `rows` rows of `cols` values from
/// the start of `x` and `y` (different buffers).
pub struct LayerNorm<'a> {
    pub x: &'a wgpu::Buffer,
    pub weight: &'a wgpu::Buffer,
    pub bias: &'a wgpu::Buffer,
    pub y: &'a wgpu::Buffer,
    pub rows: u32,
    pub cols: u32,
    pub eps: f32,
}

impl LayerNorm<'_> {
    /// Records the op into `encoder`; nothing runs until the encoder is submitted.
    pub fn encode(&self, gpu: &GpuDevice, encoder: &mut wgpu::CommandEncoder) -> Result<()> {
        if self.rows == 0 || self.cols == 0 {
            return Err(NavajaError::invalid("layer_norm: rows and cols must be > 0"));
        }
        if self.x == self.y {
            return Err(NavajaError::invalid("layer_norm: x and y must be different buffers"));
        }
        let len = u64::from(self.rows) * u64::from(self.cols);
        check_span("layer_norm: x", self.x, 0, len)?;
        check_span("layer_norm: y", self.y, 0, len)?;
        check_span("layer_norm: weight", self.weight, 0, u64::from(self.cols))?;
        check_span("layer_norm: bias", self.bias, 0, u64::from(self.cols))?;
        // Rows of BERT-sized models (384-1024 values) keep 128 threads busy;
        // fewer threads mean fewer barriers on CPU adapters.
        let wg = gpu.kernels.workgroup_size(self.cols.next_power_of_two().clamp(32, 128));
        let (gx, gy) = gpu.dispatch_grid("layer_norm rows", self.rows)?;
        let variant = KernelVariant { kernel: LAYER_NORM, entry_point: "main", constants: vec![("WG", wg)] };
        let params = Params { rows: self.rows, cols: self.cols, eps: self.eps, _pad: 0 };
        let params = gpu.uniform("layer_norm params", &params);
        let cols_bytes = u64::from(self.cols) * 4;
        dispatch_bound(
            gpu,
            encoder,
            &variant,
            &[
                prefix_binding(self.x, len * 4),
                prefix_binding(self.weight, cols_bytes),
                prefix_binding(self.bias, cols_bytes),
                prefix_binding(self.y, len * 4),
                params.as_entire_binding(),
            ],
            (gx, gy, 1),
        );
        Ok(())
    }
}

/// Uploads `x` (rows of `weight.len()` values), normalises it on the GPU and
/// reads the result back. Rejects exactly what the CPU reference rejects.
pub async fn layer_norm(gpu: &GpuDevice, x: &[f32], weight: &[f32], bias: &[f32], eps: f32) -> Result<Vec<f32>> {
    let rows = layer_norm_rows(x.len(), weight.len(), bias.len(), eps)?;
    let rows = u32::try_from(rows).map_err(|_| NavajaError::invalid("layer_norm: more than 2^32 rows"))?;
    let cols = u32::try_from(weight.len()).map_err(|_| NavajaError::invalid("layer_norm: row too long"))?;
    let y = submit_scoped(gpu, |encoder| {
        let x_buf = gpu.upload_f32("layer_norm x", x)?;
        let w_buf = gpu.upload_f32("layer_norm weight", weight)?;
        let b_buf = gpu.upload_f32("layer_norm bias", bias)?;
        let y_buf = gpu.output_f32("layer_norm y", x.len())?;
        LayerNorm { x: &x_buf, weight: &w_buf, bias: &b_buf, y: &y_buf, rows, cols, eps }.encode(gpu, encoder)?;
        Ok(y_buf)
    })
    .await?;
    let out = gpu.read_f32(&y, x.len()).await?;
    gpu.check_health()?;
    Ok(out)
}
