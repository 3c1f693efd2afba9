//! Helpers the ops share: checking that a buffer holds a span, uploading a
//! writable buffer, recording one dispatch, and submitting a convenience call
//! inside error scopes so that GPU errors come back typed.

use navaja_core::{NavajaError, Result};
use wgpu::util::DeviceExt;

use crate::GpuDevice;
use crate::kernels::KernelVariant;

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
    let resources: Vec<wgpu::BindingResource> = buffers.iter().map(|b| b.as_entire_binding()).collect();
    dispatch_bound(gpu, encoder, variant, &resources, groups);
}

/// [`dispatch`] with explicit binding resources (e.g. the used prefix of a large scratch buffer).
pub(crate) fn dispatch_bound(
    gpu: &GpuDevice,
    encoder: &mut wgpu::CommandEncoder,
    variant: &KernelVariant,
    resources: &[wgpu::BindingResource<'_>],
    groups: (u32, u32, u32),
) {
    let pipeline = gpu.kernels.pipeline(&gpu.device, variant);
    let entries: Vec<wgpu::BindGroupEntry> = resources
        .iter()
        .enumerate()
        .map(|(i, r)| wgpu::BindGroupEntry { binding: i as u32, resource: r.clone() })
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
