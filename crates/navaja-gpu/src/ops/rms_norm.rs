//! RMSNorm on the GPU: one workgroup per row, a tree reduction of the sum of
//! squares in workgroup memory, then a scaled write of the row.

use navaja_core::ops::rms_norm::rms_norm_rows;
use navaja_core::{NavajaError, Result};

use crate::GpuDevice;
use crate::kernels::{KernelVariant, RMS_NORM};
use crate::ops::support::submit_scoped;

/// Mirrors `struct Params` in shaders/rms_norm.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    cols: u32,
    eps: f32,
    _pad: u32,
}

/// Buffers and shape of one RMSNorm: `y = rms_norm(x) * weight`, row by row.
pub struct RmsNorm<'a> {
    pub x: &'a wgpu::Buffer,
    pub weight: &'a wgpu::Buffer,
    pub y: &'a wgpu::Buffer,
    pub rows: u32,
    pub cols: u32,
    pub eps: f32,
}

impl RmsNorm<'_> {
    /// Records the op into `encoder`; nothing runs until the encoder is submitted.
    pub fn encode(&self, gpu: &GpuDevice, encoder: &mut wgpu::CommandEncoder) -> Result<()> {
        if self.rows == 0 || self.cols == 0 {
            return Err(NavajaError::invalid("rms_norm: rows and cols must be > 0"));
        }
        let (groups_x, groups_y) = gpu.dispatch_grid("rms_norm rows", self.rows)?;
        let wg = gpu.kernels.workgroup_size(256);
        let variant = KernelVariant { kernel: RMS_NORM, entry_point: "main", constants: vec![("WG", wg)] };
        let pipeline = gpu.kernels.pipeline(&gpu.device, &variant);
        let params =
            gpu.uniform("rms_norm params", &Params { rows: self.rows, cols: self.cols, eps: self.eps, _pad: 0 });
        let bind_group = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("rms_norm"),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &[
                wgpu::BindGroupEntry { binding: 0, resource: self.x.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 1, resource: self.weight.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 2, resource: self.y.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 3, resource: params.as_entire_binding() },
            ],
        });
        let mut pass = encoder
            .begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("rms_norm"), timestamp_writes: None });
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        pass.dispatch_workgroups(groups_x, groups_y, 1);
        Ok(())
    }
}

/// Uploads `x` (rows of `weight.len()` values), normalises it on the GPU and
/// reads the result back. Rejects exactly what the CPU reference rejects.
pub async fn rms_norm(gpu: &GpuDevice, x: &[f32], weight: &[f32], eps: f32) -> Result<Vec<f32>> {
    let rows = rms_norm_rows(x.len(), weight.len(), eps)?;
    let rows = u32::try_from(rows).map_err(|_| NavajaError::invalid("rms_norm: more than 2^32 rows"))?;
    let cols = weight.len() as u32;
    gpu.check_health()?;

    // Errors from here on (out of memory, validation) are caught by the
    // scopes and returned, instead of reaching the uncaptured handler.
    let encoded = submit_scoped(gpu, |encoder| {
        let x_buf = gpu.upload_f32("rms_norm x", x)?;
        let w_buf = gpu.upload_f32("rms_norm weight", weight)?;
        let y_buf = gpu.output_f32("rms_norm y", x.len())?;
        RmsNorm { x: &x_buf, weight: &w_buf, y: &y_buf, rows, cols, eps }.encode(gpu, encoder)?;
        Ok(y_buf)
    })
    .await;
    let y = gpu.read_f32(&encoded?, x.len()).await?;
    gpu.check_health()?;
    Ok(y)
}
