//! Moving data between host and GPU within the adapter's limits.

use futures_channel::oneshot;
use navaja_core::{NavajaError, Result};
use wgpu::util::DeviceExt;

use crate::GpuDevice;

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

    /// A uniform buffer holding one plain-old-data value.
    pub fn uniform<T: bytemuck::Pod>(&self, label: &str, value: &T) -> wgpu::Buffer {
        self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytemuck::bytes_of(value),
            usage: wgpu::BufferUsages::UNIFORM,
        })
    }

    /// Copies the first `len` f32 values of `source` back to the host.
    pub async fn read_f32(&self, source: &wgpu::Buffer, len: usize) -> Result<Vec<f32>> {
        let bytes = (len as u64) * 4;
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = self.device.create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(source, 0, &staging, 0, bytes);
        self.queue.submit([encoder.finish()]);

        let (sender, receiver) = oneshot::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |result| {
            // The receiver only disappears if the caller gave up waiting.
            let _ = sender.send(result);
        });
        self.wait_idle()?;
        let mapped = receiver.await.map_err(|_| NavajaError::DeviceLost("the readback was dropped".into()))?;
        if mapped.is_err() {
            self.check_health()?;
            return Err(NavajaError::Gpu("mapping the readback buffer failed".into()));
        }
        let values = {
            let view = staging
                .slice(..)
                .get_mapped_range()
                .map_err(|e| NavajaError::Gpu(format!("reading the mapped readback buffer failed: {e}")))?;
            bytemuck::cast_slice::<u8, f32>(&view).to_vec()
        };
        staging.unmap();
        Ok(values)
    }
}
