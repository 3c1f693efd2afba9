//! How fast the adapter reads memory, and how close the matvec comes to it.
//!
//! Decoding a token reads every weight byte once, so the matvec kernel is
//! memory-bound and its speed is best judged against the adapter's read
//! bandwidth: [`measure_read_bandwidth`] streams a large buffer with the
//! simplest fast kernel (`shaders/read_bandwidth.wgsl`) and
//! [`time_matvec`] times the matvec alone, so `weight.gpu_bytes() /
//! seconds` can be compared with it. Timing is by wall clock around submit
//! and wait (native only), median of several repeats, with enough
//! dispatches per submit to hide the submit cost.

use crate::kernels::Kernel;

pub const READ_BANDWIDTH: Kernel = Kernel {
    name: "read_bandwidth",
    wgsl: include_str!("../../../../shaders/read_bandwidth.wgsl"),
    constants: &[("WG", 256)],
};

/// One bandwidth measurement.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct BandwidthReport {
    /// Bytes read per run.
    pub bytes: u64,
    /// Median seconds per run.
    pub seconds: f64,
    /// `bytes / seconds / 1e9`.
    pub gb_per_s: f64,
}

#[cfg(not(target_arch = "wasm32"))]
pub use native::{measure_read_bandwidth, time_matvec, time_matvec_with};

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::time::Instant;

    use navaja_core::{NavajaError, Result};

    use super::{BandwidthReport, READ_BANDWIDTH};
    use crate::GpuDevice;
    use crate::kernels::KernelVariant;
    use crate::ops::matmul::{Matmul, MatvecShape};
    use crate::weights::GpuWeight;

    /// Mirrors `struct Params` in shaders/read_bandwidth.wgsl.
    #[repr(C)]
    #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    struct Params {
        len: u32,
        per_group: u32,
        _pad0: u32,
        _pad1: u32,
    }

    /// Loads per thread per workgroup slice: 16 iterations of 4 vec4 loads.
    const LOADS_PER_THREAD: u64 = 64;

    /// Median seconds of `repeats` runs of the commands `record` makes:
    /// recording is not timed, submitting and waiting for the GPU is. One
    /// untimed warm-up run first (it also compiles the pipelines).
    fn median_seconds(
        gpu: &GpuDevice,
        repeats: u32,
        mut record: impl FnMut() -> Result<wgpu::CommandBuffer>,
    ) -> Result<f64> {
        gpu.queue.submit([record()?]);
        gpu.wait_idle()?;
        let mut times = Vec::with_capacity(repeats as usize);
        for _ in 0..repeats.max(1) {
            let commands = record()?;
            let start = Instant::now();
            gpu.queue.submit([commands]);
            gpu.wait_idle()?;
            times.push(start.elapsed().as_secs_f64());
        }
        gpu.check_health()?;
        times.sort_by(f64::total_cmp);
        Ok(times[times.len() / 2])
    }

    /// Reads about `bytes` bytes (rounded down to whole workgroup slices,
    /// at least one) `repeats` times and reports the median. Buffers larger
    /// than one binding are read as several bindings, one dispatch each.
    pub fn measure_read_bandwidth(gpu: &GpuDevice, bytes: u64, repeats: u32) -> Result<BandwidthReport> {
        let wg = gpu.kernels.workgroup_size(256);
        let slice = 16 * u64::from(wg) * LOADS_PER_THREAD; // bytes per workgroup
        let limit = gpu.limits.max_storage_buffer_binding_size.min(gpu.limits.max_buffer_size) / slice * slice;
        let total = (bytes / slice).max(1) * slice;
        if limit == 0 {
            return Err(NavajaError::invalid("read bandwidth: the binding limit is below one workgroup slice"));
        }
        let pipeline = gpu.kernels.pipeline(
            &gpu.device,
            &KernelVariant { kernel: READ_BANDWIDTH, entry_point: "main", constants: vec![("WG", wg)] },
        );
        let mut chunks = Vec::new();
        let mut left = total;
        while left > 0 {
            let size = left.min(limit);
            left -= size;
            let src = gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("read bandwidth source"),
                size,
                usage: wgpu::BufferUsages::STORAGE,
                mapped_at_creation: false,
            });
            let groups = (size / slice) as u32;
            let out = gpu.output_f32("read bandwidth sums", groups as usize)?;
            let per_group = (slice / 16) as u32;
            let params = gpu
                .uniform("read bandwidth params", &Params { len: (size / 16) as u32, per_group, _pad0: 0, _pad1: 0 });
            let bind_group = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("read bandwidth"),
                layout: &pipeline.get_bind_group_layout(0),
                entries: &[
                    wgpu::BindGroupEntry { binding: 0, resource: src.as_entire_binding() },
                    wgpu::BindGroupEntry { binding: 1, resource: out.as_entire_binding() },
                    wgpu::BindGroupEntry { binding: 2, resource: params.as_entire_binding() },
                ],
            });
            let grid = gpu.dispatch_grid("read bandwidth", groups)?;
            chunks.push((bind_group, grid, src, out, params));
        }
        let seconds = median_seconds(gpu, repeats, || {
            let mut encoder = gpu.device.create_command_encoder(&Default::default());
            {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("read bandwidth"),
                    timestamp_writes: None,
                });
                pass.set_pipeline(&pipeline);
                for (bind_group, (gx, gy), ..) in &chunks {
                    pass.set_bind_group(0, bind_group, &[]);
                    pass.dispatch_workgroups(*gx, *gy, 1);
                }
            }
            Ok(encoder.finish())
        })?;
        Ok(BandwidthReport { bytes: total, seconds, gb_per_s: total as f64 / seconds / 1e9 })
    }

    /// Median seconds of one matvec (`n = 1`) with `weight`, with the kernel
    /// [`crate::ops::matmul::Matmul::encode`] picks.
    pub fn time_matvec(gpu: &GpuDevice, weight: &GpuWeight, repeats: u32) -> Result<f64> {
        time_matvec_by(gpu, weight, repeats, &|op, encoder| op.encode(gpu, encoder))
    }

    /// As [`time_matvec`] with an explicit kernel shape, for tuning.
    ///
    /// Each timed submit holds enough dispatches to read about 64 MiB (at
    /// least 4, at most 512), recorded before the clock starts.
    pub fn time_matvec_with(gpu: &GpuDevice, weight: &GpuWeight, shape: MatvecShape, repeats: u32) -> Result<f64> {
        time_matvec_by(gpu, weight, repeats, &|op, encoder| op.encode_matvec(gpu, encoder, shape))
    }

    /// Median seconds of one matvec recorded by `record`.
    fn time_matvec_by(
        gpu: &GpuDevice,
        weight: &GpuWeight,
        repeats: u32,
        record: &dyn Fn(&Matmul, &mut wgpu::CommandEncoder) -> Result<()>,
    ) -> Result<f64> {
        if !weight.cols.is_multiple_of(4) {
            return Err(NavajaError::invalid("time_matvec: the matvec kernel needs cols to be a multiple of 4"));
        }
        let x = gpu.upload_f32("time_matvec x", &vec![0.5; weight.cols])?;
        let y = gpu.output_f32("time_matvec y", weight.rows)?;
        let dispatches = ((64u64 << 20) / weight.gpu_bytes().max(1)).clamp(4, 512) as u32;
        let op = Matmul { weight, x: &x, x_offset: 0, y: &y, y_offset: 0, n: 1, bias: None, accumulate: false };
        let seconds = median_seconds(gpu, repeats, || {
            let mut encoder = gpu.device.create_command_encoder(&Default::default());
            for _ in 0..dispatches {
                record(&op, &mut encoder)?;
            }
            Ok(encoder.finish())
        })?;
        Ok(seconds / f64::from(dispatches))
    }
}
