//! GGUF tensors to GPU weights.
//!
//! Tensors are uploaded one at a time as their bytes become available, each
//! kept in its quantized block layout (see `navaja_core::quant::gpu_layout`),
//! and collected by name; an architecture then takes the ones it needs.

use std::collections::HashMap;

use navaja_core::gguf::{GgufHeader, TensorInfo};
use navaja_core::quant::GgmlType;
use navaja_core::quant::dequant::dequantize_tensor;
use navaja_core::{NavajaError, Result};

use crate::GpuDevice;
use crate::weights::GpuWeight;

/// Uploaded tensors by name, consumed by an architecture's constructor.
#[derive(Default)]
pub struct TensorMap {
    tensors: HashMap<String, GpuWeight>,
}

impl TensorMap {
    pub fn new() -> Self {
        TensorMap::default()
    }

    pub fn insert(&mut self, weight: GpuWeight) {
        self.tensors.insert(weight.name.clone(), weight);
    }

    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// Takes the tensor `name`; a missing one is a `model-format` error.
    pub fn take(&mut self, name: &str) -> Result<GpuWeight> {
        self.tensors.remove(name).ok_or_else(|| NavajaError::format(format!("the model has no tensor {name:?}")))
    }

    /// Takes the tensor `name` if the file has it.
    pub fn take_optional(&mut self, name: &str) -> Option<GpuWeight> {
        self.tensors.remove(name)
    }

    /// Takes a tensor that must hold exactly `len` values (a norm weight or a bias).
    pub fn take_vector(&mut self, name: &str, len: usize) -> Result<GpuWeight> {
        let w = self.take(name)?;
        if w.rows * w.cols != len {
            return Err(NavajaError::format(format!("tensor {name:?} has {} values, expected {len}", w.rows * w.cols)));
        }
        Ok(w)
    }
}

/// A GGUF tensor as a matrix: `cols` is its contiguous dimension, `rows` the
/// product of the others (1 for a vector).
pub fn tensor_shape(info: &TensorInfo) -> Result<(usize, usize)> {
    let cols = *info.dims.first().ok_or_else(|| NavajaError::format(format!("tensor {:?} has no dims", info.name)))?;
    let rows: u64 = info.dims[1..].iter().product();
    let as_usize =
        |v: u64| usize::try_from(v).map_err(|_| NavajaError::format(format!("tensor {:?} is too large", info.name)));
    Ok((as_usize(rows)?, as_usize(cols)?))
}

/// Uploads one GGUF tensor (see [`tensor_shape`]).
pub fn upload_tensor(gpu: &GpuDevice, info: &TensorInfo, bytes: &[u8]) -> Result<GpuWeight> {
    let (rows, cols) = tensor_shape(info)?;
    if info.dims.len() == 1 && info.ty != GgmlType::F32 {
        // Vectors (norm weights, biases) are read as plain f32 by the kernels;
        // they are tiny, so an f16 or quantized one is expanded here.
        let values = dequantize_tensor(info, bytes)?;
        let f32_bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        return gpu.upload_weight(&info.name, GgmlType::F32, 1, values.len(), &f32_bytes);
    }
    gpu.upload_weight(&info.name, info.ty, rows, cols, bytes)
}

/// Uploads every tensor of a complete GGUF file held in memory.
pub fn upload_gguf(gpu: &GpuDevice, header: &GgufHeader, file: &[u8]) -> Result<TensorMap> {
    let mut map = TensorMap::new();
    for info in &header.tensors {
        let bytes = header.tensor_data(file, info)?;
        map.insert(upload_tensor(gpu, info, bytes)?);
    }
    Ok(map)
}
