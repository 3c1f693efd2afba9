//! An activation in place, without a gate (shaders/unary.wgsl behind the
//! functions of shaders/activation.wgsl that GLU shares): BERT's GELU after
//! the up projection, tanh in a classification head.

use navaja_core::ops::activation::Unary;
use navaja_core::{NavajaError, Result};

use crate::GpuDevice;
use crate::kernels::{Kernel, KernelVariant};
use crate::ops::glu::act_constant;
use crate::ops::matmul::shader;
use crate::ops::support::{check_span, dispatch, submit_scoped, upload_rw};

/// `x = act(x)`; `ACT` as in [`crate::ops::glu::GLU`], plus 3 for tanh.
pub const UNARY: Kernel =
    Kernel { name: "unary", wgsl: shader!("activation.wgsl", "unary.wgsl"), constants: &[("WG", 256), ("ACT", 3)] };

/// Mirrors `struct Params` in shaders/unary.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    len: u32,
    offset: u32,
    _pad: [u32; 2],
}

/// `x[offset + i] = f(x[offset + i])` for `i < len`.
pub struct Activate<'a> {
    pub x: &'a wgpu::Buffer,
    pub offset: u32,
    pub len: u32,
    pub f: Unary,
}

fn unary_constant(f: Unary) -> u32 {
    match f {
        Unary::Activation(a) => act_constant(a),
        Unary::Tanh => 3,
    }
}

impl Activate<'_> {
    /// Records the op into `encoder`; nothing runs until the encoder is submitted.
    pub fn encode(&self, gpu: &GpuDevice, encoder: &mut wgpu::CommandEncoder) -> Result<()> {
        if self.len == 0 {
            return Err(NavajaError::invalid("activation: len must be > 0"));
        }
        check_span("activation: x", self.x, self.offset, u64::from(self.len))?;
        let wg = gpu.kernels.workgroup_size(256);
        let (gx, gy) = gpu.dispatch_grid("activation", self.len.div_ceil(wg))?;
        let variant = KernelVariant {
            kernel: UNARY,
            entry_point: "main",
            constants: vec![("WG", wg), ("ACT", unary_constant(self.f))],
        };
        let params = gpu.uniform("activation params", &Params { len: self.len, offset: self.offset, _pad: [0; 2] });
        dispatch(gpu, encoder, &variant, &[self.x, &params], (gx, gy, 1));
        Ok(())
    }
}

/// Uploads `x`, applies `f` on the GPU and reads the result back.
pub async fn activate(gpu: &GpuDevice, x: &[f32], f: Unary) -> Result<Vec<f32>> {
    if x.is_empty() {
        return Err(NavajaError::invalid("activation: the input is empty"));
    }
    let len = u32::try_from(x.len()).map_err(|_| NavajaError::invalid("activation: more than 2^32 values"))?;
    let buf = submit_scoped(gpu, |encoder| {
        let buf = upload_rw(gpu, "activation x", x)?;
        Activate { x: &buf, offset: 0, len, f }.encode(gpu, encoder)?;
        Ok(buf)
    })
    .await?;
    let out = gpu.read_f32(&buf, x.len()).await?;
    gpu.check_health()?;
    Ok(out)
}
