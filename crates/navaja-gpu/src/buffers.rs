//! Moving data between host and GPU within the adapter's limits.

use futures_channel::oneshot;
use navaja_core::{NavajaError, Result};
use wgpu::util::DeviceExt;

use crate::GpuDevice;

/// Most distinct constant buffers kept; past it the cache starts over (parameters
/// that hold a position, like RoPE's, make a new entry every token).
const MAX_CONSTANT_BUFFERS: usize = 4096;

/// Content-addressed cache behind [`GpuDevice::constant_buffer`].
#[derive(Default)]
pub(crate) struct ConstantBuffers {
    map: std::sync::Mutex<std::collections::HashMap<(u32, Vec<u8>), wgpu::Buffer>>,
}

impl ConstantBuffers {
    fn get_or_create(
        &self,
        usage: wgpu::BufferUsages,
        contents: &[u8],
        create: impl FnOnce() -> wgpu::Buffer,
    ) -> wgpu::Buffer {
        let mut map = self.map.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(buffer) = map.get(&(usage.bits(), contents.to_vec())) {
            return buffer.clone();
        }
        if map.len() >= MAX_CONSTANT_BUFFERS {
            map.clear();
        }
        let buffer = create();
        map.insert((usage.bits(), contents.to_vec()), buffer.clone());
        buffer
    }
}

impl GpuDevice {
    /// A read-only storage buffer holding `data`.
    pub fn upload_f32(&self, label: &str, data: &[f32]) -> Result<wgpu::Buffer> {
        self.check_binding_size(label, std::mem::size_of_val(data) as u64)?;
        Ok(self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytemuck::cast_slice(data),
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        }))
    }

    /// A read-only storage buffer holding raw bytes (padded to 4 bytes).
    pub fn upload_bytes(&self, label: &str, data: &[u8]) -> Result<wgpu::Buffer> {
        self.check_binding_size(label, data.len() as u64)?;
        let mut padded = data.to_vec();
        padded.resize(data.len().max(4).next_multiple_of(4), 0);
        Ok(self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: &padded,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        }))
    }

    /// A writable storage buffer of `len` f32 values that can be read back.
    pub fn output_f32(&self, label: &str, len: usize) -> Result<wgpu::Buffer> {
        let bytes = (len as u64) * 4;
        self.check_binding_size(label, bytes)?;
        Ok(self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        }))
    }

    /// A uniform buffer holding one plain-old-data value. Buffers are shared
    /// by content: never write to one.
    pub fn uniform<T: bytemuck::Pod>(&self, label: &str, value: &T) -> wgpu::Buffer {
        self.constant_buffer(label, wgpu::BufferUsages::UNIFORM, bytemuck::bytes_of(value))
    }

    /// A buffer with `contents` that no one writes (parameters, small
    /// tables), created once per distinct content and usage and then reused.
    pub fn constant_buffer(&self, label: &str, usage: wgpu::BufferUsages, contents: &[u8]) -> wgpu::Buffer {
        self.constant_buffers.get_or_create(usage, contents, || {
            self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor { label: Some(label), contents, usage })
        })
    }

    /// A storage buffer of `bytes` (zeroed) that kernels read and write and
    /// that can be copied from and to: the scratch and cache of a session.
    pub fn storage(&self, label: &str, bytes: u64) -> Result<wgpu::Buffer> {
        self.check_binding_size(label, bytes)?;
        Ok(self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            // wgpu rejects zero-sized bindings; 4 bytes keeps an empty buffer bindable.
            size: bytes.max(4).next_multiple_of(4),
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        }))
    }

    /// A storage buffer of at least `bytes` for intermediate results that live
    /// within one op (written by one dispatch, read by the next). One buffer
    /// per label and size is kept and handed out again, so that re-encoding a
    /// decode step allocates nothing: the queue orders every use of it.
    pub fn reusable_scratch(&self, label: &'static str, bytes: u64) -> Result<wgpu::Buffer> {
        self.check_binding_size(label, bytes)?;
        let mut map = self.scratch_buffers.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(buffer) = map.get(&(label, bytes)) {
            return Ok(buffer.clone());
        }
        if map.len() >= MAX_CONSTANT_BUFFERS {
            map.clear();
        }
        let buffer = self.storage(label, bytes)?;
        map.insert((label, bytes), buffer.clone());
        Ok(buffer)
    }

    /// A buffer the host maps to read results that a command buffer copied into it.
    pub fn staging(&self, label: &str, bytes: u64) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes.max(4).next_multiple_of(4),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    /// Maps the first `bytes` of `staging` (after the work that fills it was
    /// submitted), copies them out and unmaps it so it can be reused.
    pub async fn read_staging(&self, staging: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>> {
        let (sender, receiver) = oneshot::channel();
        staging.map_async(wgpu::MapMode::Read, ..bytes, move |result| {
            // The receiver only disappears if the caller gave up waiting.
            let _ = sender.send(result);
        });
        self.wait_idle()?;
        let mapped = receiver.await.map_err(|_| NavajaError::DeviceLost("the readback was dropped".into()))?;
        if mapped.is_err() {
            self.check_health()?;
            return Err(NavajaError::Gpu("mapping the readback buffer failed".into()));
        }
        let data = {
            let view = staging
                .slice(..bytes)
                .get_mapped_range()
                .map_err(|e| NavajaError::Gpu(format!("reading the mapped readback buffer failed: {e}")))?;
            view.to_vec()
        };
        staging.unmap();
        Ok(data)
    }

    /// Copies the first `len` f32 values of `source` back to the host.
    pub async fn read_f32(&self, source: &wgpu::Buffer, len: usize) -> Result<Vec<f32>> {
        let bytes = (len as u64) * 4;
        let staging = self.staging("readback", bytes);
        let mut encoder = self.device.create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(source, 0, &staging, 0, bytes);
        self.queue.submit([encoder.finish()]);
        let data = self.read_staging(&staging, bytes).await?;
        Ok(data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
    }
}
