//! [`CpuEncoder`]: a plain CPU forward pass of the BERT family over f32
//! weights (dequantized from GGUF, widened from safetensors): the oracle the
//! GPU encoder is tested against on tiny random models.
//!
//! One input at a time, written to be checked by reading:
//! ```text
//! x = LayerNorm(word[id] + position[t] + token_type[type])     (no position rows with ALiBi)
//! per layer (post-norm):
//!   x = LayerNorm(x + attention(x Wq + bq, x Wk + bk, x Wv + bv) Wo + bo)
//!   x = LayerNorm(x + ffn(x) Wdown + bdown)    ffn = gelu(x Wup + bup), or gelu(x Wgate) * x Wup (JinaBERT)
//! embedding = pool(x), normalised;  reranker score = Wout tanh(Wcls x[0] + bcls) + bout
//! ```

use std::collections::HashMap;

use super::math::Matrix;
use super::model::Linear;
use crate::gguf::GgufHeader;
use crate::model::{Architecture, ModelSpec, Pooling};
use crate::ops::activation::tanh;
use crate::ops::encoder_attention::{alibi_slopes, encoder_attention_ref};
use crate::ops::glu::activate;
use crate::ops::layer_norm::layer_norm;
use crate::ops::pooling::pool_ref;
use crate::quant::dequant::dequantize_tensor;
use crate::safetensors::SafetensorsFile;
use crate::{NavajaError, Result};

/// A LayerNorm's weight and bias.
#[derive(Debug, Clone)]
pub(crate) struct Norm {
    pub w: Vec<f32>,
    pub b: Vec<f32>,
}

/// One post-norm block, its projections of weight type `W`.
#[derive(Debug, Clone)]
pub(crate) struct EncoderLayer<W = Matrix> {
    pub q: Linear<W>,
    pub k: Linear<W>,
    pub v: Linear<W>,
    pub o: Linear<W>,
    pub attn_norm: Norm,
    /// JinaBERT's gate; `None` for BERT's ungated FFN.
    pub gate: Option<Linear<W>>,
    pub up: Linear<W>,
    pub down: Linear<W>,
    pub out_norm: Norm,
}

/// A BERT-family encoder's weights, the projections of type `W` (f32 rows
/// here, 8-bit blocks in [`crate::cpu::QuantEncoder`]); the embedding tables stay f32.
#[derive(Debug, Clone)]
pub(crate) struct BertWeights<W = Matrix> {
    pub word: Matrix,
    pub positions: Option<Matrix>,
    pub types: Option<Matrix>,
    pub embd_norm: Norm,
    pub layers: Vec<EncoderLayer<W>>,
    /// The classification head: dense (then tanh) and the output projection.
    pub head: Option<(Linear<W>, Linear<W>)>,
    pub slopes: Option<Vec<f32>>,
}

/// A BERT-family encoder on the CPU.
#[derive(Debug, Clone)]
pub struct CpuEncoder {
    spec: ModelSpec,
    w: BertWeights,
}

/// Every tensor the spec requires, as f32, by its llama.cpp name.
pub(crate) struct Tensors(HashMap<String, (Vec<u64>, Vec<f32>)>);

impl Tensors {
    pub fn collect(spec: &ModelSpec, mut read: impl FnMut(&str) -> Result<Vec<f32>>) -> Result<Tensors> {
        let mut map = HashMap::new();
        for t in spec.expected_tensors() {
            let values = read(&t.name)?;
            if let Some(fused) = t.gguf_name.strip_suffix("ffn_gate_up.weight") {
                // JinaBERT's HF gated_layers: the first half of the rows gate, the second go up.
                let (cols, rows) = (t.dims[0], t.dims[1] / 2);
                let half = (cols * rows) as usize;
                map.insert(format!("{fused}ffn_gate.weight"), (vec![cols, rows], values[..half].to_vec()));
                map.insert(format!("{fused}ffn_up.weight"), (vec![cols, rows], values[half..].to_vec()));
            } else {
                map.insert(t.gguf_name, (t.dims, values));
            }
        }
        Ok(Tensors(map))
    }

    /// Every f32 tensor of a complete GGUF encoder file.
    pub fn from_gguf(header: &GgufHeader, file: &[u8], spec: &ModelSpec) -> Result<Tensors> {
        Tensors::collect(spec, |name| {
            let info = header.tensor(name).ok_or_else(|| NavajaError::format(format!("no tensor {name:?}")))?;
            dequantize_tensor(info, header.tensor_data(file, info)?)
        })
    }

    fn take(&mut self, name: &str) -> Result<(Vec<u64>, Vec<f32>)> {
        self.0.remove(name).ok_or_else(|| NavajaError::format(format!("required tensor {name:?} is missing")))
    }

    /// A weight of ggml dims `[cols, rows]`.
    fn matrix(&mut self, name: &str) -> Result<Matrix> {
        let (dims, data) = self.take(name)?;
        Ok(Matrix { cols: dims[0] as usize, rows: dims.get(1).copied().unwrap_or(1) as usize, data })
    }

    fn linear<W>(&mut self, name: &str, bias: bool, weight: &mut impl FnMut(Matrix) -> Result<W>) -> Result<Linear<W>> {
        let w = weight(self.matrix(&format!("{name}.weight"))?)?;
        let bias = if bias { Some(self.take(&format!("{name}.bias"))?.1) } else { None };
        Ok(Linear { w, bias })
    }

    fn norm(&mut self, name: &str) -> Result<Norm> {
        Ok(Norm { w: self.take(&format!("{name}.weight"))?.1, b: self.take(&format!("{name}.bias"))?.1 })
    }
}

impl<W> BertWeights<W> {
    /// Takes the spec's tensors from `t`, every projection's weight through `weight`.
    pub fn build(spec: &ModelSpec, mut t: Tensors, mut weight: impl FnMut(Matrix) -> Result<W>) -> Result<Self> {
        let bert = match (&spec.bert, spec.architecture) {
            (Some(b), Architecture::Bert) => b.clone(),
            _ => return Err(NavajaError::unsupported("the CPU encoder runs BERT models")),
        };
        if spec.causal || spec.n_kv_heads != spec.n_heads {
            return Err(NavajaError::unsupported("the CPU encoder needs bidirectional multi-head attention"));
        }
        let w = &mut weight;
        let mut layers = Vec::with_capacity(spec.n_layers);
        for i in 0..spec.n_layers {
            let n = |s: &str| format!("blk.{i}.{s}");
            let gated = spec.ffn_gated;
            layers.push(EncoderLayer {
                q: t.linear(&n("attn_q"), true, w)?,
                k: t.linear(&n("attn_k"), true, w)?,
                v: t.linear(&n("attn_v"), true, w)?,
                o: t.linear(&n("attn_output"), true, w)?,
                attn_norm: t.norm(&n("attn_output_norm"))?,
                gate: if gated { Some(t.linear(&n("ffn_gate"), false, w)?) } else { None },
                up: t.linear(&n("ffn_up"), !gated, w)?,
                down: t.linear(&n("ffn_down"), true, w)?,
                out_norm: t.norm(&n("layer_output_norm"))?,
            });
        }
        let head = match bert.classifier_labels {
            Some(_) => Some((t.linear("cls", true, w)?, t.linear("cls.output", true, w)?)),
            None => None,
        };
        Ok(BertWeights {
            word: t.matrix("token_embd.weight")?,
            positions: if bert.alibi_max_bias.is_none() { Some(t.matrix("position_embd.weight")?) } else { None },
            types: if bert.type_vocab_size > 0 { Some(t.matrix("token_types.weight")?) } else { None },
            embd_norm: t.norm("token_embd_norm")?,
            layers,
            head,
            slopes: bert.alibi_max_bias.map(|b| alibi_slopes(spec.n_heads, b)),
        })
    }

    /// `word[id] + position[t] + token_type[type]` for each token of one
    /// input (before the embedding LayerNorm), appended to `x`.
    pub fn embed_tokens(&self, ids: &[u32], type_ids: &[u32], d: usize, x: &mut Vec<f32>) -> Result<()> {
        let n = ids.len();
        if n == 0 || type_ids.len() != n {
            return Err(NavajaError::invalid(format!("encoder: {n} ids with {} type ids", type_ids.len())));
        }
        if let Some(p) = &self.positions {
            if n > p.rows {
                return Err(NavajaError::invalid(format!("encoder: {n} tokens, the model has {} positions", p.rows)));
            }
        }
        for (t, (&id, &ty)) in ids.iter().zip(type_ids).enumerate() {
            let mut v = row(&self.word, id, d, "token id")?.to_vec();
            let mut add = |other: &[f32]| v.iter_mut().zip(other).for_each(|(a, b)| *a += b);
            if let Some(p) = &self.positions {
                add(row(p, t as u32, d, "position")?);
            }
            match &self.types {
                Some(m) => add(row(m, ty, d, "token type")?),
                None if ty != 0 => return Err(NavajaError::invalid("encoder: the model has no token types")),
                None => {}
            }
            x.extend(v);
        }
        Ok(())
    }
}

impl CpuEncoder {
    /// A complete GGUF `bert` (or `jina-bert-v2`) file held in memory.
    pub fn from_gguf(file: &[u8]) -> Result<CpuEncoder> {
        let header = GgufHeader::parse(file)?;
        let spec = ModelSpec::from_gguf(&header)?;
        let tensors = Tensors::from_gguf(&header, file, &spec)?;
        Ok(CpuEncoder { w: BertWeights::build(&spec, tensors, Ok)?, spec })
    }

    /// A safetensors checkpoint with its config.json.
    pub fn from_safetensors(config_json: &str, file: &[u8]) -> Result<CpuEncoder> {
        let st = SafetensorsFile::parse(file)?;
        let spec = ModelSpec::from_safetensors(config_json, &st)?;
        let tensors = Tensors::collect(&spec, |name| st.tensor_f32(file, st.require_tensor(name)?))?;
        Ok(CpuEncoder { w: BertWeights::build(&spec, tensors, Ok)?, spec })
    }

    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// The last layer's token vectors (`ids.len()` rows of hidden_size).
    pub fn hidden_states(&self, ids: &[u32], type_ids: &[u32]) -> Result<Vec<f32>> {
        let s = &self.spec;
        let (n, d) = (ids.len(), s.hidden_size);
        let mut x = Vec::with_capacity(n * d);
        self.w.embed_tokens(ids, type_ids, d, &mut x)?;
        let eps = s.norm_eps;
        let mut x = layer_norm(&x, &self.w.embd_norm.w, &self.w.embd_norm.b, eps)?;
        for l in &self.w.layers {
            let (q, k, v) = (l.q.apply(&x), l.k.apply(&x), l.v.apply(&x));
            let slopes = self.w.slopes.as_deref();
            let attn = encoder_attention_ref(&q, &k, &v, &[n], s.n_heads, s.head_dim, s.attention_scale, slopes)?;
            add_into(&mut x, &l.o.apply(&attn));
            x = layer_norm(&x, &l.attn_norm.w, &l.attn_norm.b, eps)?;
            let mut f = l.up.apply(&x);
            match &l.gate {
                Some(gate) => {
                    let g = gate.apply(&x);
                    for (u, g) in f.iter_mut().zip(g) {
                        *u = (activate(s.activation, f64::from(g)) * f64::from(*u)) as f32;
                    }
                }
                None => f.iter_mut().for_each(|u| *u = activate(s.activation, f64::from(*u)) as f32),
            }
            add_into(&mut x, &l.down.apply(&f));
            x = layer_norm(&x, &l.out_norm.w, &l.out_norm.b, eps)?;
        }
        Ok(x)
    }

    /// The pooled (and, with `normalize`, unit-length) embedding of one input.
    pub fn embed(&self, ids: &[u32], type_ids: &[u32], pooling: Pooling, normalize: bool) -> Result<Vec<f32>> {
        let x = self.hidden_states(ids, type_ids)?;
        pool_ref(&x, self.spec.hidden_size, &[ids.len()], pooling, normalize)
    }

    /// A cross-encoder's scores (one per label) for one input; `unsupported-model`
    /// when the model has no classification head.
    pub fn classify(&self, ids: &[u32], type_ids: &[u32]) -> Result<Vec<f32>> {
        let (dense, out) = self.w.head.as_ref().ok_or_else(|| {
            NavajaError::unsupported("this model has no classification head: it embeds, it does not rerank")
        })?;
        let x = self.hidden_states(ids, type_ids)?;
        let mut h = dense.apply(&x[..self.spec.hidden_size]);
        h.iter_mut().for_each(|v| *v = tanh(f64::from(*v)) as f32);
        Ok(out.apply(&h))
    }
}

/// Row `r` (of `d` values) of an embedding table; out of range is `invalid-argument`.
fn row<'m>(m: &'m Matrix, r: u32, d: usize, what: &str) -> Result<&'m [f32]> {
    m.data
        .get(r as usize * d..(r as usize + 1) * d)
        .ok_or_else(|| NavajaError::invalid(format!("encoder: {what} {r} is out of range ({} rows)", m.rows)))
}

fn add_into(x: &mut [f32], y: &[f32]) {
    x.iter_mut().zip(y).for_each(|(a, b)| *a += b);
}
