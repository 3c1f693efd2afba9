//! [`CpuModel`]: a decoder's weights dequantized to f32, with everything the
//! architecture changes read from its [`ModelSpec`].

use std::collections::HashMap;

use super::math::{Matrix, Rope};
use super::session::{CpuCacheOptions, CpuSession};
use crate::gguf::{GgufHeader, TensorInfo};
use crate::model::{Activation, Architecture, ModelSpec, NormKind, RopeScalingKind};
use crate::quant::dequant::dequantize_tensor;
use crate::{NavajaError, Result};

/// Threads that dequantize the weights while loading.
const MAX_LOAD_THREADS: usize = 2;

/// A projection: weight plus optional bias. `W`: f32 rows here, 4/8-bit
/// blocks in the CPU backend (`crate::cpu`), which shares these layer types.
#[derive(Debug, Clone)]
pub(crate) struct Linear<W = Matrix> {
    pub w: W,
    pub bias: Option<Vec<f32>>,
}

impl Linear<Matrix> {
    pub fn apply(&self, x: &[f32]) -> Vec<f32> {
        self.w.apply(x, self.bias.as_deref())
    }
}

/// One transformer block. Norm weights already include `norm_weight_offset`.
#[derive(Debug, Clone)]
pub(crate) struct Layer<W = Matrix> {
    pub attn_norm: Vec<f32>,
    pub q: Linear<W>,
    pub k: Linear<W>,
    pub v: Linear<W>,
    pub o: Linear<W>,
    /// Per-head RMSNorm of q and k before RoPE (gemma3).
    pub q_norm: Option<Vec<f32>>,
    pub k_norm: Option<Vec<f32>>,
    /// Norms of the attention and FFN outputs before their residual adds (gemma3).
    pub post_attention_norm: Option<Vec<f32>>,
    pub ffn_norm: Vec<f32>,
    pub gate: Linear<W>,
    pub up: Linear<W>,
    pub down: Linear<W>,
    pub post_ffn_norm: Option<Vec<f32>>,
    pub rope: Rope,
    /// Keys visible through a sliding window of this size (gemma3's local layers).
    pub window: Option<usize>,
}

/// A decoder (llama, qwen2, gemma3) ready to run on the CPU: the oracle the
/// GPU engine is tested against. Every weight is held as f32 (4 bytes per
/// parameter: ~0.5 GB for SmolLM2-135M, ~1.1 GB for Gemma 3 270M).
#[derive(Debug, Clone)]
pub struct CpuModel {
    pub(crate) spec: ModelSpec,
    /// vocab rows of hidden values.
    pub(crate) embedding: Matrix,
    /// The output projection; `None` when tied to the embedding.
    pub(crate) output: Option<Matrix>,
    pub(crate) output_norm: Vec<f32>,
    pub(crate) layers: Vec<Layer>,
}

/// A dequantized tensor: its dims (ggml order) and values.
type Dequantized = (Vec<u64>, Vec<f32>);

/// The tensors of one file, dequantized, handed out once each with their shape checked.
struct Loader {
    tensors: HashMap<String, Dequantized>,
    norm_offset: f32,
}

impl Loader {
    /// Dequantizes every tensor of the file, split over a few threads (the
    /// slowest part of loading, in a debug build especially).
    fn new(file: &[u8], header: &GgufHeader, norm_offset: f32) -> Result<Loader> {
        let threads = std::thread::available_parallelism().map_or(1, |p| p.get()).clamp(1, MAX_LOAD_THREADS);
        // Largest first, each to the least loaded thread.
        let mut order: Vec<&TensorInfo> = header.tensors.iter().collect();
        order.sort_by_key(|t| std::cmp::Reverse(t.n_elements));
        let mut groups: Vec<(u64, Vec<&TensorInfo>)> = vec![(0, Vec::new()); threads];
        for t in order {
            if let Some(g) = groups.iter_mut().min_by_key(|g| g.0) {
                g.0 += t.n_elements;
                g.1.push(t);
            }
        }
        let load = |infos: &[&TensorInfo]| -> Result<Vec<(String, Dequantized)>> {
            infos
                .iter()
                .map(|t| {
                    let values = dequantize_tensor(t, header.tensor_data(file, t)?)?;
                    Ok((t.name.clone(), (t.dims.clone(), values)))
                })
                .collect()
        };
        let parts: Vec<Result<_>> = if threads == 1 {
            groups.iter().map(|g| load(&g.1)).collect()
        } else {
            std::thread::scope(|s| {
                let handles: Vec<_> = groups.iter().map(|g| s.spawn(|| load(&g.1))).collect();
                handles.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
            })
        };
        let mut tensors = HashMap::new();
        for part in parts {
            tensors.extend(part?);
        }
        Ok(Loader { tensors, norm_offset })
    }

    /// A `[cols, rows]` (ggml order) weight as `rows` rows of `cols`.
    fn matrix(&mut self, name: &str, rows: usize, cols: usize) -> Result<Matrix> {
        Ok(Matrix { rows, cols, data: self.values(name, &[cols, rows])? })
    }
}

/// Where [`build_layers`] reads a decoder's tensors from: the reference's
/// f32 loader, or the CPU backend's quantized one.
pub(crate) trait LayerSource {
    type Weight;
    /// A tensor of `dims` (ggml order) as f32 values.
    fn values(&mut self, name: &str, dims: &[usize]) -> Result<Vec<f32>>;
    /// A `[cols, rows]` (ggml order) weight.
    fn weight(&mut self, name: &str, rows: usize, cols: usize) -> Result<Self::Weight>;
    /// `norm_weight_offset` (gemma's 1 + w) added to every norm weight.
    fn norm_offset(&self) -> f32;

    fn linear(&mut self, name: &str, rows: usize, cols: usize, bias: bool) -> Result<Linear<Self::Weight>> {
        let w = self.weight(&format!("{name}.weight"), rows, cols)?;
        let bias = if bias { Some(self.values(&format!("{name}.bias"), &[rows])?) } else { None };
        Ok(Linear { w, bias })
    }

    fn norm(&mut self, name: &str, len: usize) -> Result<Vec<f32>> {
        let mut w = self.values(name, &[len])?;
        let offset = self.norm_offset();
        if offset != 0.0 {
            w.iter_mut().for_each(|v| *v += offset);
        }
        Ok(w)
    }
}

impl LayerSource for Loader {
    type Weight = Matrix;

    fn values(&mut self, name: &str, dims: &[usize]) -> Result<Vec<f32>> {
        let (have, values) = self
            .tensors
            .remove(name)
            .ok_or_else(|| NavajaError::format(format!("required tensor {name:?} is missing")))?;
        if have.iter().map(|&d| d as usize).ne(dims.iter().copied()) {
            return Err(NavajaError::format(format!(
                "tensor {name:?} has shape {have:?} (ggml order), expected {dims:?}"
            )));
        }
        Ok(values)
    }

    fn weight(&mut self, name: &str, rows: usize, cols: usize) -> Result<Matrix> {
        self.matrix(name, rows, cols)
    }

    fn norm_offset(&self) -> f32 {
        self.norm_offset
    }
}

/// Every transformer block of `spec`, its tensors read from `source`.
pub(crate) fn build_layers<S: LayerSource>(spec: &ModelSpec, source: &mut S) -> Result<Vec<Layer<S::Weight>>> {
    let (d, hd, f) = (spec.hidden_size, spec.head_dim, spec.ffn_size);
    let (q_dim, kv_dim) = (spec.n_heads * hd, spec.kv_width());
    let factors = match spec.rope.as_ref().and_then(|r| r.freq_factors_tensor.as_ref().map(|n| (n, r.dims))) {
        Some((name, dims)) => Some(source.values(name, &[dims / 2])?),
        None => None,
    };
    let mut layers = Vec::with_capacity(spec.n_layers);
    for i in 0..spec.n_layers {
        let name = |s: &str| format!("blk.{i}.{s}");
        let bias = spec.attention_qkv_bias;
        layers.push(Layer {
            attn_norm: source.norm(&name("attn_norm.weight"), d)?,
            q: source.linear(&name("attn_q"), q_dim, d, bias)?,
            k: source.linear(&name("attn_k"), kv_dim, d, bias)?,
            v: source.linear(&name("attn_v"), kv_dim, d, bias)?,
            o: source.linear(&name("attn_output"), d, q_dim, false)?,
            q_norm: spec.qk_norm.then(|| source.norm(&name("attn_q_norm.weight"), hd)).transpose()?,
            k_norm: spec.qk_norm.then(|| source.norm(&name("attn_k_norm.weight"), hd)).transpose()?,
            post_attention_norm: spec
                .post_norms
                .then(|| source.norm(&name("post_attention_norm.weight"), d))
                .transpose()?,
            ffn_norm: source.norm(&name("ffn_norm.weight"), d)?,
            gate: source.linear(&name("ffn_gate"), f, d, false)?,
            up: source.linear(&name("ffn_up"), f, d, false)?,
            down: source.linear(&name("ffn_down"), d, f, false)?,
            post_ffn_norm: spec.post_norms.then(|| source.norm(&name("post_ffw_norm.weight"), d)).transpose()?,
            rope: layer_rope(spec, i, factors.as_deref())?,
            window: if spec.is_local_layer(i) { spec.sliding_window } else { None },
        });
    }
    Ok(layers)
}

impl CpuModel {
    /// Loads a complete GGUF file held in memory (llama, qwen2 or gemma3).
    ///
    /// Errors: `model-format` for a broken file, `unsupported-model` for
    /// another architecture, a tensor type navaja cannot dequantize, or a
    /// RoPE scaling the reference does not implement (YaRN, LongRoPE).
    pub fn from_gguf(file: &[u8]) -> Result<CpuModel> {
        let header = GgufHeader::parse(file)?;
        let spec = ModelSpec::from_gguf(&header)?;
        check_supported(&spec)?;
        let mut loader = Loader::new(file, &header, spec.norm_weight_offset)?;
        let layers = build_layers(&spec, &mut loader)?;
        let (d, v) = (spec.hidden_size, spec.vocab_size);
        Ok(CpuModel {
            embedding: loader.matrix("token_embd.weight", v, d)?,
            output: if spec.tied_embeddings { None } else { Some(loader.matrix("output.weight", v, d)?) },
            output_norm: loader.norm("output_norm.weight", d)?,
            layers,
            spec,
        })
    }

    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// A fresh session (empty KV cache) over this model.
    pub fn session(&self) -> CpuSession<'_> {
        CpuSession::new(self, CpuCacheOptions::default())
    }

    /// A fresh session whose cache stores keys and values as `options` say.
    pub fn session_with(&self, options: CpuCacheOptions) -> CpuSession<'_> {
        CpuSession::new(self, options)
    }

    /// Greedy decoding: `prompt` then `n_new` tokens, each the argmax of the
    /// logits (the lowest id among equal maxima). Returns the new tokens.
    pub fn generate_greedy(&self, prompt: &[u32], n_new: usize) -> Result<Vec<u32>> {
        if prompt.is_empty() {
            return Err(NavajaError::invalid("generate_greedy: the prompt is empty"));
        }
        let mut session = self.session();
        let mut logits = session.forward_last(prompt)?;
        let mut out = Vec::with_capacity(n_new);
        for step in 0..n_new {
            let next = argmax(&logits);
            out.push(next);
            if step + 1 < n_new {
                logits = session.forward_last(&[next])?;
            }
        }
        Ok(out)
    }
}

/// Index of the largest value (the first of equal maxima; NaN never wins).
pub fn argmax(values: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] || values[best].is_nan() {
            best = i;
        }
    }
    best as u32
}

/// The RoPE of layer `i` (`factors`: the model's per-pair frequency factors, if any).
pub(crate) fn layer_rope(spec: &ModelSpec, i: usize, factors: Option<&[f32]>) -> Result<Rope> {
    let Some(rope) = &spec.rope else {
        return Err(NavajaError::unsupported("the CPU forward pass needs RoPE positions"));
    };
    let global_scale = match rope.scaling.kind {
        RopeScalingKind::Linear => 1.0 / f64::from(rope.scaling.factor),
        _ => 1.0,
    };
    let base = spec.rope_freq_base(i).unwrap_or(rope.freq_base);
    // gemma3's local layers rotate with their own base and no scaling
    // (llama.cpp: rope_freq_scale_train_swa = 1).
    let scale = if spec.is_local_layer(i) && spec.gemma3.is_some() { 1.0 } else { global_scale };
    Ok(Rope::new(rope.ordering, rope.dims, base, scale, factors))
}

/// The reference covers the decoders and their RoPE scalings, nothing else
/// (nor does the CPU backend, which shares this check).
pub(crate) fn check_supported(spec: &ModelSpec) -> Result<()> {
    if spec.architecture == Architecture::Bert || !spec.causal {
        return Err(NavajaError::unsupported(format!(
            "the CPU reference runs decoders (llama, qwen2, gemma3), not {}",
            spec.architecture.name()
        )));
    }
    if spec.norm != NormKind::RmsNorm || !spec.ffn_gated || spec.linear_bias {
        return Err(NavajaError::unsupported("the CPU reference needs RMSNorm, a gated FFN and no linear biases"));
    }
    if spec.activation == Activation::Gelu {
        return Err(NavajaError::unsupported("the CPU reference has no erf GELU (only SiLU and tanh GELU)"));
    }
    if let Some(rope) = &spec.rope {
        match rope.scaling.kind {
            RopeScalingKind::None | RopeScalingKind::Linear => {}
            other => {
                return Err(NavajaError::unsupported(format!(
                    "the CPU reference does not implement RoPE scaling {other:?} (only none and linear)"
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_takes_the_first_maximum() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, 2.0]), 1);
        assert_eq!(argmax(&[f32::NAN, -1.0]), 1);
        assert_eq!(argmax(&[]), 0);
    }
}
