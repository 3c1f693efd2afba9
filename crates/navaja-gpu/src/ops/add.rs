//! Residual add on the GPU (`x += y`), plus the two small helpers the
//! decoder-step ops (rope, attention, glu, add, logits) share: checking that
//! a buffer holds a span, and submitting a convenience call inside error scopes.

use navaja_core::{NavajaError, Result};
use wgpu::util::DeviceExt;

use crate::GpuDevice;
use crate::kernels::{Kernel, KernelVariant};

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

/// Fails with `invalid-argument` unless `buffer` holds f32 values `offset..offset + len`.
pub(crate) fn check_span(what: &str, buffer: &wgpu::Buffer, offset: u32, len: u64) -> Result<()> {
    let needed = (u64::from(offset) + len) * 4;
    if buffer.size() < needed {
        return Err(NavajaError::invalid(format!(
            "{what}: {len} values at offset {offset} need {needed} bytes, the buffer has {}",
            buffer.size()
        )));
    }
    Ok(())
}

/// A storage buffer holding `data` that kernels may write and the host may read back.
pub(crate) fn upload_rw(gpu: &GpuDevice, label: &str, data: &[f32]) -> Result<wgpu::Buffer> {
    gpu.check_binding_size(label, std::mem::size_of_val(data) as u64)?;
    Ok(gpu.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some(label),
        contents: bytemuck::cast_slice(data),
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
    }))
}

/// Binds `buffers` to bindings 0, 1, ... of `variant`'s pipeline and records one dispatch in its own pass.
pub(crate) fn dispatch(
    gpu: &GpuDevice,
    encoder: &mut wgpu::CommandEncoder,
    variant: &KernelVariant,
    buffers: &[&wgpu::Buffer],
    groups: (u32, u32, u32),
) {
    let pipeline = gpu.kernels.pipeline(&gpu.device, variant);
    let entries: Vec<wgpu::BindGroupEntry> = buffers
        .iter()
        .enumerate()
        .map(|(i, b)| wgpu::BindGroupEntry { binding: i as u32, resource: b.as_entire_binding() })
        .collect();
    let bind_group = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some(variant.kernel.name),
        layout: &pipeline.get_bind_group_layout(0),
        entries: &entries,
    });
    let mut pass = encoder
        .begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some(variant.kernel.name), timestamp_writes: None });
    pass.set_pipeline(&pipeline);
    pass.set_bind_group(0, &bind_group, &[]);
    pass.dispatch_workgroups(groups.0, groups.1, groups.2);
}

/// Runs `record` (uploads and `encode` calls) on a fresh encoder, submits it,
/// and returns what `record` built. Out-of-memory and validation errors from
/// inside are caught by error scopes and returned as typed errors instead of
/// reaching the device's uncaptured-error handler.
pub(crate) async fn submit_scoped<T>(
    gpu: &GpuDevice,
    record: impl FnOnce(&mut wgpu::CommandEncoder) -> Result<T>,
) -> Result<T> {
    gpu.check_health()?;
    let oom_scope = gpu.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
    let validation_scope = gpu.device.push_error_scope(wgpu::ErrorFilter::Validation);
    let recorded = (|| {
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        let built = record(&mut encoder)?;
        gpu.queue.submit([encoder.finish()]);
        Ok::<_, NavajaError>(built)
    })();
    let validation = validation_scope.pop().await;
    let oom = oom_scope.pop().await;
    if let Some(e) = oom {
        return Err(NavajaError::OutOfMemory(e.to_string()));
    }
    if let Some(e) = validation {
        return Err(NavajaError::Gpu(e.to_string()));
    }
    recorded
}
