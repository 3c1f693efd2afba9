//! [`CpuDecoder`]: a decoder's weights held quantized in memory for the CPU
//! backend, read from a GGUF file held in memory.

use super::matrix::QuantMatrix;
use crate::gguf::GgufHeader;
use crate::model::ModelSpec;
use crate::quant::dequant::dequantize_tensor;
use crate::reference::math::Rope;
use crate::reference::model::{check_supported, layer_rope};
use crate::{NavajaError, Result};

/// A projection: weight plus optional bias.
#[derive(Debug, Clone)]
pub(crate) struct Linear {
    pub w: QuantMatrix,
    pub bias: Option<Vec<f32>>,
}

/// One transformer block. Norm weights already include `norm_weight_offset`.
#[derive(Debug, Clone)]
pub(crate) struct Layer {
    pub attn_norm: Vec<f32>,
    pub q: Linear,
    pub k: Linear,
    pub v: Linear,
    pub o: Linear,
    pub q_norm: Option<Vec<f32>>,
    pub k_norm: Option<Vec<f32>>,
    pub post_attention_norm: Option<Vec<f32>>,
    pub ffn_norm: Vec<f32>,
    pub gate: Linear,
    pub up: Linear,
    pub down: Linear,
    pub post_ffn_norm: Option<Vec<f32>>,
    pub rope: Rope,
    /// Keys visible through a sliding window of this size (gemma3's local layers).
    pub window: Option<usize>,
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

    fn values(&self, name: &str, dims: &[usize]) -> Result<Vec<f32>> {
        let info = self.info(name, dims)?;
        dequantize_tensor(info, self.header.tensor_data(self.file, info)?)
    }

    /// A `[cols, rows]` (ggml order) weight as `rows` rows of `cols`.
    fn matrix(&self, name: &str, rows: usize, cols: usize) -> Result<QuantMatrix> {
        let info = self.info(name, &[cols, rows])?;
        QuantMatrix::from_ggml(info.ty, rows, cols, self.header.tensor_data(self.file, info)?).map_err(|e| match e {
            NavajaError::UnsupportedModel(m) => NavajaError::unsupported(format!("tensor {name:?}: {m}")),
            NavajaError::ModelFormat(m) => NavajaError::format(format!("tensor {name:?}: {m}")),
            other => other,
        })
    }

    fn linear(&self, name: &str, rows: usize, cols: usize, bias: bool) -> Result<Linear> {
        let w = self.matrix(&format!("{name}.weight"), rows, cols)?;
        let bias = if bias { Some(self.values(&format!("{name}.bias"), &[rows])?) } else { None };
        Ok(Linear { w, bias })
    }

    fn norm(&self, name: &str, len: usize) -> Result<Vec<f32>> {
        let mut w = self.values(name, &[len])?;
        if self.norm_offset != 0.0 {
            w.iter_mut().for_each(|v| *v += self.norm_offset);
        }
        Ok(w)
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
        let t = Tensors { file, header: &header, norm_offset: spec.norm_weight_offset };
        let (d, hd, f, v) = (spec.hidden_size, spec.head_dim, spec.ffn_size, spec.vocab_size);
        let (q_dim, kv_dim) = (spec.n_heads * hd, spec.kv_width());
        let factors = match spec.rope.as_ref().and_then(|r| r.freq_factors_tensor.as_ref().map(|n| (n, r.dims))) {
            Some((name, dims)) => Some(t.values(name, &[dims / 2])?),
            None => None,
        };
        let mut layers = Vec::with_capacity(spec.n_layers);
        for i in 0..spec.n_layers {
            let name = |s: &str| format!("blk.{i}.{s}");
            let bias = spec.attention_qkv_bias;
            let optional_norm = |on: bool, s: &str, len: usize| on.then(|| t.norm(&name(s), len)).transpose();
            layers.push(Layer {
                attn_norm: t.norm(&name("attn_norm.weight"), d)?,
                q: t.linear(&name("attn_q"), q_dim, d, bias)?,
                k: t.linear(&name("attn_k"), kv_dim, d, bias)?,
                v: t.linear(&name("attn_v"), kv_dim, d, bias)?,
                o: t.linear(&name("attn_output"), d, q_dim, false)?,
                q_norm: optional_norm(spec.qk_norm, "attn_q_norm.weight", hd)?,
                k_norm: optional_norm(spec.qk_norm, "attn_k_norm.weight", hd)?,
                post_attention_norm: optional_norm(spec.post_norms, "post_attention_norm.weight", d)?,
                ffn_norm: t.norm(&name("ffn_norm.weight"), d)?,
                gate: t.linear(&name("ffn_gate"), f, d, false)?,
                up: t.linear(&name("ffn_up"), f, d, false)?,
                down: t.linear(&name("ffn_down"), d, f, false)?,
                post_ffn_norm: optional_norm(spec.post_norms, "post_ffw_norm.weight", d)?,
                rope: layer_rope(&spec, i, factors.as_deref())?,
                window: if spec.is_local_layer(i) { spec.sliding_window } else { None },
            });
        }
        Ok(CpuDecoder {
            embedding: t.matrix("token_embd.weight", v, d)?,
            output: if spec.tied_embeddings { None } else { Some(t.matrix("output.weight", v, d)?) },
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
