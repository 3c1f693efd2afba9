//! Gated linear unit on the GPU: `gate = act(gate) * up`, in place, one
//! element per invocation. The activation is a specialisation constant, so
//! each model compiles only the one it uses.

use navaja_core::model::Activation;
use navaja_core::ops::glu::check_glu;
use navaja_core::{NavajaError, Result};

use crate::GpuDevice;
use crate::kernels::{Kernel, KernelVariant};
use crate::ops::matmul::shader;
use crate::ops::support::{check_span, dispatch, submit_scoped, upload_rw};

/// `gate = act(gate) * up`; `ACT` picks the activation (0 SiLU, 1 GELU tanh, 2 GELU erf).
pub const GLU: Kernel =
    Kernel { name: "glu", wgsl: shader!("activation.wgsl", "glu.wgsl"), constants: &[("WG", 256), ("ACT", 2)] };

/// Mirrors `struct Params` in shaders/glu.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    len: u32,
    _pad: [u32; 3],
}

/// `gate[i] = act(gate[i]) * up[i]` for `i < len`; `gate` and `up` must be different buffers.
pub struct Glu<'a> {
    /// Read and written.
    pub gate: &'a wgpu::Buffer,
    pub up: &'a wgpu::Buffer,
    pub len: u32,
    pub activation: Activation,
}

/// The shader's `ACT` constant for an activation (shaders/activation.wgsl).
pub(crate) fn act_constant(activation: Activation) -> u32 {
    match activation {
        Activation::Silu => 0,
        Activation::GeluTanh => 1,
        Activation::Gelu => 2,
    }
}

impl Glu<'_> {
    /// Records the op into `encoder`; nothing runs until the encoder is submitted.
    pub fn encode(&self, gpu: &GpuDevice, encoder: &mut wgpu::CommandEncoder) -> Result<()> {
        if self.len == 0 {
            return Err(NavajaError::invalid("glu: len must be > 0"));
        }
        if self.gate == self.up {
            return Err(NavajaError::invalid("glu: gate and up must be different buffers"));
        }
        check_span("glu: gate", self.gate, 0, u64::from(self.len))?;
        check_span("glu: up", self.up, 0, u64::from(self.len))?;
        let wg = gpu.kernels.workgroup_size(256);
        let (gx, gy) = gpu.dispatch_grid("glu", self.len.div_ceil(wg))?;
        let variant = KernelVariant {
            kernel: GLU,
            entry_point: "main",
            constants: vec![("WG", wg), ("ACT", act_constant(self.activation))],
        };
        let params = gpu.uniform("glu params", &Params { len: self.len, _pad: [0; 3] });
        dispatch(gpu, encoder, &variant, &[self.gate, self.up, &params], (gx, gy, 1));
        Ok(())
    }
}

/// Uploads `gate` and `up`, applies the GLU on the GPU and reads the result back.
pub async fn glu(gpu: &GpuDevice, gate: &[f32], up: &[f32], activation: Activation) -> Result<Vec<f32>> {
    check_glu(gate.len(), up.len())?;
    let len = u32::try_from(gate.len()).map_err(|_| NavajaError::invalid("glu: more than 2^32 values"))?;
    let gate_buf = submit_scoped(gpu, |encoder| {
        let gate_buf = upload_rw(gpu, "glu gate", gate)?;
        let up_buf = gpu.upload_f32("glu up", up)?;
        Glu { gate: &gate_buf, up: &up_buf, len, activation }.encode(gpu, encoder)?;
        Ok(gate_buf)
    })
    .await?;
    let out = gpu.read_f32(&gate_buf, gate.len()).await?;
    gpu.check_health()?;
    Ok(out)
}
