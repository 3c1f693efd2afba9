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

/// Uploads the tensors `spec` requires from a safetensors checkpoint (the
/// complete file in `bytes`, its parsed header in `file`), collected under
/// their llama.cpp names so that an architecture reads both formats alike.
///
/// F32 and F16 matrices are uploaded as they are; BF16 is widened to F32
/// (exactly). Vectors (norms, biases) become F32. JinaBERT's fused
/// `mlp.gated_layers` is split into `ffn_gate` (its first half of rows) and
/// `ffn_up`, as llama.cpp's converter does. Tensors the spec does not use
/// (a pooler, position ids) are never read.
pub fn upload_safetensors(
    gpu: &GpuDevice,
    spec: &navaja_core::model::ModelSpec,
    file: &navaja_core::safetensors::SafetensorsFile,
    bytes: &[u8],
) -> Result<TensorMap> {
    use navaja_core::safetensors::SafetensorsDtype as D;
    let mut map = TensorMap::new();
    for t in spec.expected_tensors() {
        let st = file.require_tensor(&t.name)?;
        let data = file.tensor_data(bytes, st)?;
        let cols = *t.dims.first().ok_or_else(|| NavajaError::format(format!("tensor {:?} has no dims", t.name)))?;
        let rows: u64 = t.dims[1..].iter().product();
        let as_usize =
            |v: u64| usize::try_from(v).map_err(|_| NavajaError::format(format!("tensor {:?} is too large", t.name)));
        let (rows, cols) = (as_usize(rows)?, as_usize(cols)?);
        let widened;
        let (ty, data): (GgmlType, &[u8]) = match st.dtype {
            D::F32 => (GgmlType::F32, data),
            D::F16 if t.dims.len() > 1 => (GgmlType::F16, data),
            D::F16 | D::BF16 => {
                widened = file.tensor_f32(bytes, st)?.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>();
                (GgmlType::F32, &widened)
            }
            other => {
                return Err(NavajaError::unsupported(format!(
                    "tensor {:?} has dtype {other}; navaja reads F32, F16 and BF16 safetensors",
                    t.name
                )));
            }
        };
        match t.gguf_name.strip_suffix("ffn_gate_up.weight") {
            Some(layer) if rows % 2 == 0 => {
                let half = data.len() / 2;
                map.insert(gpu.upload_weight(&format!("{layer}ffn_gate.weight"), ty, rows / 2, cols, &data[..half])?);
                map.insert(gpu.upload_weight(&format!("{layer}ffn_up.weight"), ty, rows / 2, cols, &data[half..])?);
            }
            _ => map.insert(gpu.upload_weight(&t.gguf_name, ty, rows, cols, data)?),
        }
    }
    Ok(map)
}
