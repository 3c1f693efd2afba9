//! [`CpuDecoder`]: a decoder's weights held quantized in memory for the CPU
//! backend, read from a GGUF file held in memory.

use super::dot::Q8Vector;
use super::matrix::QuantMatrix;
use crate::gguf::GgufHeader;
use crate::model::ModelSpec;
use crate::quant::dequant::dequantize_tensor;
use crate::reference::model::{LayerSource, build_layers, check_supported};
use crate::{NavajaError, Result};

/// A projection of quantized rows (the reference's layer types, generic over the weight).
pub(crate) type Linear = crate::reference::model::Linear<QuantMatrix>;
/// One transformer block, as the reference's.
pub(crate) type Layer = crate::reference::model::Layer<QuantMatrix>;

/// `x W^T + b` for each input, row after row into `out` (decoders and encoders alike).
pub(crate) fn project(l: &Linear, xs: &[Q8Vector], out: &mut Vec<f32>) {
    let rows = l.w.rows;
    out.resize(xs.len() * rows, 0.0);
    l.w.matmul(xs, out);
    if let Some(b) = &l.bias {
        for o in out.chunks_exact_mut(rows) {
            o.iter_mut().zip(b).for_each(|(o, b)| *o += b);
        }
    }
}

/// A decoder (llama, qwen2, gemma3) ready for [`super::CpuDecoderSession`].
///
/// The weights stay in their 4- and 8-bit blocks (see [`QuantMatrix`]):
/// SmolLM2-135M Q4_1 takes 92 MB, about its file's size.
#[derive(Debug, Clone)]
pub struct CpuDecoder {
    pub(crate) spec: ModelSpec,
    pub(crate) embedding: QuantMatrix,
    /// The output projection; `None` when tied to the embedding.
    pub(crate) output: Option<QuantMatrix>,
    pub(crate) output_norm: Vec<f32>,
    pub(crate) layers: Vec<Layer>,
}

/// Hands out the tensors of one file, each with its shape checked.
struct Tensors<'a> {
    file: &'a [u8],
    header: &'a GgufHeader,
    norm_offset: f32,
}

impl LayerSource for Tensors<'_> {
    type Weight = QuantMatrix;

    fn values(&mut self, name: &str, dims: &[usize]) -> Result<Vec<f32>> {
        let info = self.info(name, dims)?;
        dequantize_tensor(info, self.header.tensor_data(self.file, info)?)
    }

    fn weight(&mut self, name: &str, rows: usize, cols: usize) -> Result<QuantMatrix> {
        let info = self.info(name, &[cols, rows])?;
        QuantMatrix::from_ggml(info.ty, rows, cols, self.header.tensor_data(self.file, info)?).map_err(|e| match e {
            NavajaError::UnsupportedModel(m) => NavajaError::unsupported(format!("tensor {name:?}: {m}")),
            NavajaError::ModelFormat(m) => NavajaError::format(format!("tensor {name:?}: {m}")),
            other => other,
        })
    }

    fn norm_offset(&self) -> f32 {
        self.norm_offset
    }
}

impl Tensors<'_> {
    fn info(&self, name: &str, dims: &[usize]) -> Result<&crate::gguf::TensorInfo> {
        let info = self
            .header
            .tensor(name)
            .ok_or_else(|| NavajaError::format(format!("required tensor {name:?} is missing")))?;
        if info.dims.iter().map(|&d| d as usize).ne(dims.iter().copied()) {
            return Err(NavajaError::format(format!(
                "tensor {name:?} has shape {:?} (ggml order), expected {dims:?}",
                info.dims
            )));
        }
        Ok(info)
    }
}

impl CpuDecoder {
    /// Loads a complete GGUF file held in memory (llama, qwen2 or gemma3);
    /// the file can be dropped afterwards.
    ///
    /// Errors: `model-format` for a broken file, `unsupported-model` for
    /// another architecture, a tensor type navaja cannot read, rows that are
    /// not whole 32-value blocks, or a RoPE scaling not implemented here.
    pub fn from_gguf(file: &[u8]) -> Result<CpuDecoder> {
        let header = GgufHeader::parse(file)?;
        let spec = ModelSpec::from_gguf(&header)?;
        check_supported(&spec)?;
        let mut t = Tensors { file, header: &header, norm_offset: spec.norm_weight_offset };
        let layers = build_layers(&spec, &mut t)?;
        let (d, v) = (spec.hidden_size, spec.vocab_size);
        Ok(CpuDecoder {
            embedding: t.weight("token_embd.weight", v, d)?,
            output: if spec.tied_embeddings { None } else { Some(t.weight("output.weight", v, d)?) },
            output_norm: t.norm("output_norm.weight", d)?,
            layers,
            spec,
        })
    }

    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// Bytes of weights held (what one token's forward pass reads, the embedding row aside).
    pub fn weight_bytes(&self) -> u64 {
        let lin = |l: &Linear| l.w.bytes() + l.bias.as_ref().map_or(0, |b| b.len() * 4);
        let layers: usize = self
            .layers
            .iter()
            .map(|l| lin(&l.q) + lin(&l.k) + lin(&l.v) + lin(&l.o) + lin(&l.gate) + lin(&l.up) + lin(&l.down))
            .sum();
        (layers + self.output.as_ref().unwrap_or(&self.embedding).bytes()) as u64
    }

    /// The matrix of the LM head.
    pub(crate) fn head(&self) -> &QuantMatrix {
        self.output.as_ref().unwrap_or(&self.embedding)
    }
}
