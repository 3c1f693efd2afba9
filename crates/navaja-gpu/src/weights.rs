//! Weight matrices on the GPU, kept quantized.
//!
//! A weight is uploaded in the GPU block layout of
//! [`navaja_core::quant::gpu_layout`] (ggml's blocks, word-aligned) and is
//! never dequantized into a buffer: the matmul, matvec and embedding kernels
//! decode it as they read it. A matrix larger than one storage binding is
//! split by whole rows into several buffers (parts); ops run once per part.

use navaja_core::quant::GgmlType;
use navaja_core::quant::gpu_layout::{gpu_row_bytes, repack_for_gpu};
use navaja_core::{NavajaError, Result};
use wgpu::util::DeviceExt;

use crate::GpuDevice;

/// A `rows` x `cols` weight matrix of type `ty` in one or more GPU buffers.
#[derive(Debug)]
pub struct GpuWeight {
    pub name: String,
    pub ty: GgmlType,
    /// Output rows (ggml's second dimension).
    pub rows: usize,
    /// Values per row (ggml's first dimension).
    pub cols: usize,
    /// Consecutive row ranges, in order, covering all rows.
    pub parts: Vec<WeightPart>,
}

/// Rows `first_row .. first_row + rows` of a weight, in one storage buffer.
#[derive(Debug)]
pub struct WeightPart {
    pub buffer: wgpu::Buffer,
    pub first_row: usize,
    pub rows: usize,
}

impl GpuWeight {
    /// Bytes the weight takes on the GPU, over all parts.
    pub fn gpu_bytes(&self) -> u64 {
        self.parts.iter().map(|p| p.buffer.size()).sum()
    }

    /// Bytes of one row in the GPU layout (a whole number of u32 words).
    pub fn row_bytes(&self) -> usize {
        // Validated when the weight was uploaded.
        gpu_row_bytes(self.ty, self.cols).unwrap_or(0)
    }
}

/// Puts the weight's name in front of an error message, keeping its code.
fn named(name: &str, e: NavajaError) -> NavajaError {
    match e {
        NavajaError::ModelFormat(m) => NavajaError::format(format!("weight \"{name}\": {m}")),
        NavajaError::UnsupportedModel(m) => NavajaError::unsupported(format!("weight \"{name}\": {m}")),
        NavajaError::InvalidArgument(m) => NavajaError::invalid(format!("weight \"{name}\": {m}")),
        other => other,
    }
}

impl GpuDevice {
    /// Uploads a `rows` x `cols` matrix of `ty` given in ggml's layout (as a
    /// GGUF file stores it), split into as few parts as the adapter's
    /// storage binding size allows.
    ///
    /// Errors: `unsupported-model` for a type the kernels cannot read,
    /// `model-format` when the bytes are not the matrix's size or `cols` is
    /// not a whole number of blocks, `invalid-argument` for an empty matrix,
    /// `adapter-limit` when a single row exceeds a binding.
    pub fn upload_weight(
        &self,
        name: &str,
        ty: GgmlType,
        rows: usize,
        cols: usize,
        ggml_bytes: &[u8],
    ) -> Result<GpuWeight> {
        self.upload_weight_split(name, ty, rows, cols, ggml_bytes, u64::MAX)
    }

    /// As [`GpuDevice::upload_weight`], with parts of at most
    /// `max_part_bytes` (also capped by the adapter), so tests can force
    /// splitting. Each part is repacked separately: the host never holds a
    /// second copy of the whole matrix.
    pub fn upload_weight_split(
        &self,
        name: &str,
        ty: GgmlType,
        rows: usize,
        cols: usize,
        ggml_bytes: &[u8],
        max_part_bytes: u64,
    ) -> Result<GpuWeight> {
        if rows == 0 || cols == 0 {
            return Err(named(name, NavajaError::invalid(format!("a {rows}x{cols} matrix is empty"))));
        }
        let gpu_row = gpu_row_bytes(ty, cols).map_err(|e| named(name, e))?;
        // gpu_row_bytes accepted cols, so this is a whole number of blocks.
        let ggml_row = cols / ty.block_len() * ty.block_bytes();
        if rows.checked_mul(ggml_row) != Some(ggml_bytes.len()) {
            return Err(named(
                name,
                NavajaError::format(format!(
                    "a {rows}x{cols} {ty} matrix takes {rows} * {ggml_row} bytes, but {} bytes were given",
                    ggml_bytes.len()
                )),
            ));
        }
        let limit = self.limits.max_storage_buffer_binding_size.min(self.limits.max_buffer_size).min(max_part_bytes);
        let rows_per_part = usize::try_from(limit / gpu_row as u64).unwrap_or(usize::MAX).min(rows);
        if rows_per_part == 0 {
            return Err(NavajaError::AdapterLimit {
                what: format!("one row of weight \"{name}\" ({rows} x {cols} {ty})"),
                needed: gpu_row as u64,
                limit,
            });
        }
        let mut parts = Vec::with_capacity(rows.div_ceil(rows_per_part));
        for first_row in (0..rows).step_by(rows_per_part) {
            let part_rows = rows_per_part.min(rows - first_row);
            let src = &ggml_bytes[first_row * ggml_row..(first_row + part_rows) * ggml_row];
            let packed = repack_for_gpu(ty, part_rows, cols, src).map_err(|e| named(name, e))?;
            let buffer = self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(name),
                contents: &packed,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            });
            parts.push(WeightPart { buffer, first_row, rows: part_rows });
        }
        Ok(GpuWeight { name: name.to_string(), ty, rows, cols, parts })
    }
}
