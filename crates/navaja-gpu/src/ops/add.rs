//! Residual add on the GPU (`x += y`).

use navaja_core::{NavajaError, Result};

use crate::GpuDevice;
use crate::kernels::{Kernel, KernelVariant};
use crate::ops::support::{check_span, dispatch, submit_scoped, upload_rw};

/// Adds `y` into `x`.
pub const ADD: Kernel =
    Kernel { name: "add", wgsl: include_str!("../../../../shaders/add.wgsl"), constants: &[("WG", 256)] };

/// Mirrors `struct Params` in shaders/add.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    len: u32,
    x_offset: u32,
    y_offset: u32,
    _pad: u32,
}

/// `x[x_offset..][..len] += y[y_offset..][..len]`; `x` and `y` must be different buffers.
pub struct Add<'a> {
    pub x: &'a wgpu::Buffer,
    pub x_offset: u32,
    pub y: &'a wgpu::Buffer,
    pub y_offset: u32,
    pub len: u32,
}

impl Add<'_> {
    /// Records the op into `encoder`; nothing runs until the encoder is submitted.
    pub fn encode(&self, gpu: &GpuDevice, encoder: &mut wgpu::CommandEncoder) -> Result<()> {
        if self.len == 0 {
            return Err(NavajaError::invalid("add: len must be > 0"));
        }
        if self.x == self.y {
            return Err(NavajaError::invalid("add: x and y must be different buffers"));
        }
        check_span("add: x", self.x, self.x_offset, u64::from(self.len))?;
        check_span("add: y", self.y, self.y_offset, u64::from(self.len))?;
        let wg = gpu.kernels.workgroup_size(256);
        let (gx, gy) = gpu.dispatch_grid("add", self.len.div_ceil(wg))?;
        let variant = KernelVariant { kernel: ADD, entry_point: "main", constants: vec![("WG", wg)] };
        let params = Params { len: self.len, x_offset: self.x_offset, y_offset: self.y_offset, _pad: 0 };
        let params = gpu.uniform("add params", &params);
        dispatch(gpu, encoder, &variant, &[self.x, self.y, &params], (gx, gy, 1));
        Ok(())
    }
}

/// Uploads `x` and `y`, adds them on the GPU and reads `x + y` back.
pub async fn add(gpu: &GpuDevice, x: &[f32], y: &[f32]) -> Result<Vec<f32>> {
    if x.len() != y.len() {
        return Err(NavajaError::invalid(format!("add: x has {} values but y has {}", x.len(), y.len())));
    }
    let len = u32::try_from(x.len()).map_err(|_| NavajaError::invalid("add: more than 2^32 values"))?;
    let x_buf = submit_scoped(gpu, |encoder| {
        let x_buf = upload_rw(gpu, "add x", x)?;
        let y_buf = gpu.upload_f32("add y", y)?;
        Add { x: &x_buf, x_offset: 0, y: &y_buf, y_offset: 0, len }.encode(gpu, encoder)?;
        Ok(x_buf)
    })
    .await?;
    let out = gpu.read_f32(&x_buf, x.len()).await?;
    gpu.check_health()?;
    Ok(out)
}
