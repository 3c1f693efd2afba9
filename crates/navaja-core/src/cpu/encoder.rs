//! [`QuantEncoder`]: BERT-family encoders (embedding models, cross-encoder
//! rerankers, JinaBERT) on the CPU backend.
//!
//! The same post-norm blocks as the f64 oracle ([`crate::reference::CpuEncoder`],
//! whose weight walk it shares), built for speed instead of checking:
//! - every projection's weights are quantized once to 12-bit groups of 64
//!   with an f32 scale (at most half a step of 1/2047 of a group's largest
//!   weight; 8 bits cost MiniLM 0.1% of cosine similarity, 12 bits nothing
//!   measurable), and its input rows likewise, so the products are integer dot
//!   products ([`super::dot::q12_x4`]: i16 lanes, a group summed in integers
//!   and scaled once, four input rows per weight row; WebAssembly SIMD in the browser);
//! - a batch of inputs runs as one packed matrix of token rows, without
//!   padding: attention is per sequence, in f32;
//! - GELU, SiLU and tanh in f32 (the oracle's f64 erfc would be a tenth of the time).
//!
//! Inputs run in batches of at most [`CPU_ENCODER_BATCH_TOKENS`] tokens, which
//! bounds the activations' memory; the browser yields to its event loop between them.

use std::ops::Range;
use std::sync::Arc;

use super::dot::{self, Q8Vector, quantize_rows};
use super::matrix::QuantMatrix;
use super::model::project;
use crate::encoder::{EncoderConfig, EncoderInput, HfEncoderFiles, check_encoder, chunks, pair_input, text_input};
use crate::gguf::GgufHeader;
use crate::model::{Activation, ModelSpec, Pooling};
use crate::ops::layer_norm::layer_norm;
use crate::ops::pooling::pool_ref;
use crate::reference::bert::{BertWeights, Norm, Tensors};
use crate::reference::math::Matrix;
use crate::reference::model::Linear;
use crate::safetensors::SafetensorsFile;
use crate::tokenizer::Tokenizer;
use crate::{NavajaError, Result};

/// Most token rows one forward pass takes (raised to the model's input
/// limit): about 2.5 MB of activations for MiniLM's 1,536-wide FFN.
pub const CPU_ENCODER_BATCH_TOKENS: usize = 512;

/// A BERT-family encoder with 12-bit weights, its tokenizer and output configuration.
#[derive(Debug, Clone)]
pub struct QuantEncoder {
    spec: ModelSpec,
    w: BertWeights<QuantMatrix>,
    tokenizer: Arc<Tokenizer>,
    config: EncoderConfig,
}

fn quantize(m: Matrix) -> Result<QuantMatrix> {
    QuantMatrix::q12_from_f32(m.rows, m.cols, &m.data)
}

impl QuantEncoder {
    /// A complete GGUF encoder file (`bert`, `jina-bert-v2`), any weight type.
    pub fn from_gguf(file: &[u8]) -> Result<QuantEncoder> {
        let header = GgufHeader::parse(file)?;
        let spec = ModelSpec::from_gguf(&header)?;
        check_encoder(&spec)?;
        let tokenizer = Tokenizer::from_gguf(&header.metadata)?;
        let config = EncoderConfig::from_gguf_spec(&spec)?;
        let w = BertWeights::build(&spec, Tensors::from_gguf(&header, file, &spec)?, quantize)?;
        Ok(QuantEncoder { spec, w, tokenizer: Arc::new(tokenizer), config })
    }

    /// A Hugging Face / sentence-transformers folder (model.safetensors and its text files).
    pub fn from_hf_files(files: &HfEncoderFiles<'_>) -> Result<QuantEncoder> {
        let st = SafetensorsFile::parse(files.weights)?;
        let spec = ModelSpec::from_safetensors(files.config_json, &st)?;
        check_encoder(&spec)?;
        let tokenizer = Tokenizer::from_tokenizer_json(files.tokenizer_json)?;
        let config = EncoderConfig::from_sentence_transformers(&spec, &files.sentence_transformers)?;
        let tensors = Tensors::collect(&spec, |name| st.tensor_f32(files.weights, st.require_tensor(name)?))?;
        let w = BertWeights::build(&spec, tensors, quantize)?;
        Ok(QuantEncoder { spec, w, tokenizer: Arc::new(tokenizer), config })
    }

    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    pub fn config(&self) -> &EncoderConfig {
        &self.config
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Length of an embedding.
    pub fn dim(&self) -> usize {
        self.spec.hidden_size
    }

    /// Whether this is a cross-encoder (it reranks; it does not embed).
    pub fn is_reranker(&self) -> bool {
        self.w.head.is_some()
    }

    /// Most token rows one forward pass runs.
    pub fn max_batch_tokens(&self) -> usize {
        CPU_ENCODER_BATCH_TOKENS.max(self.config.max_tokens)
    }

    /// The token type of a pair's second segment: 1 where the model has two types.
    pub fn second_segment_type(&self) -> u32 {
        u32::from(self.w.types.as_ref().is_some_and(|t| t.rows > 1))
    }

    /// Bytes of weights in memory (8-bit projections, f32 tables, norms and biases).
    pub fn weight_bytes(&self) -> usize {
        let table = |m: &Option<Matrix>| m.as_ref().map_or(0, |m| m.data.len() * 4);
        let linear = |l: &Linear<QuantMatrix>| l.w.bytes() + l.bias.as_ref().map_or(0, |b| b.len() * 4);
        let norm = |n: &Norm| (n.w.len() + n.b.len()) * 4;
        let layers: usize = self
            .w
            .layers
            .iter()
            .map(|l| {
                [&l.q, &l.k, &l.v, &l.o, &l.up, &l.down].into_iter().map(linear).sum::<usize>()
                    + l.gate.as_ref().map_or(0, linear)
                    + norm(&l.attn_norm)
                    + norm(&l.out_norm)
            })
            .sum();
        let head = self.w.head.as_ref().map_or(0, |(a, b)| linear(a) + linear(b));
        self.w.word.data.len() * 4
            + table(&self.w.positions)
            + table(&self.w.types)
            + norm(&self.w.embd_norm)
            + layers
            + head
    }

    /// Overrides the model's pooling (e.g. for a GGUF file that says "none").
    pub fn set_pooling(&mut self, pooling: Pooling) -> Result<()> {
        self.config.set_pooling(pooling)
    }

    pub fn set_normalize(&mut self, normalize: bool) {
        self.config.normalize = normalize;
    }

    /// `[CLS] text [SEP]`, truncated to the model's limit.
    pub fn text_input(&self, text: &str) -> Result<EncoderInput> {
        text_input(&self.tokenizer, text, self.config.max_tokens)
    }

    /// `[CLS] query [SEP] document [SEP]`, truncated to the model's limit.
    pub fn pair_input(&self, query: &str, document: &str) -> Result<EncoderInput> {
        pair_input(&self.tokenizer, query, document, self.config.max_tokens, self.second_segment_type())
    }

    /// The batches `inputs` run in: consecutive ranges of at most
    /// [`QuantEncoder::max_batch_tokens`] tokens.
    pub fn batches(&self, inputs: &[EncoderInput]) -> Result<Vec<Range<usize>>> {
        let lens: Vec<usize> = inputs.iter().map(EncoderInput::len).collect();
        chunks(&lens, self.max_batch_tokens())
    }

    /// One embedding per input, in order.
    pub fn embed_inputs(&self, inputs: &[EncoderInput]) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(inputs.len());
        for batch in self.batches(inputs)? {
            out.extend(self.embed_batch(&inputs[batch])?);
        }
        Ok(out)
    }

    /// Every label's score for each input (a cross-encoder only).
    pub fn classify_inputs(&self, inputs: &[EncoderInput]) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(inputs.len());
        for batch in self.batches(inputs)? {
            out.extend(self.classify_batch(&inputs[batch])?);
        }
        Ok(out)
    }

    /// The relevance score of each document for `query` (the head's first
    /// label: higher is more relevant), in the order of `docs`.
    pub fn rerank(&self, query: &str, docs: &[&str]) -> Result<Vec<f32>> {
        let inputs = docs.iter().map(|d| self.pair_input(query, d)).collect::<Result<Vec<_>>>()?;
        Ok(self.classify_inputs(&inputs)?.into_iter().map(|s| s[0]).collect())
    }

    /// [`QuantEncoder::embed_inputs`] of one batch, in one forward pass.
    pub fn embed_batch(&self, inputs: &[EncoderInput]) -> Result<Vec<Vec<f32>>> {
        if self.is_reranker() {
            return Err(NavajaError::unsupported(
                "this model is a cross-encoder (reranker): it scores (query, document) pairs; use rerank",
            ));
        }
        if self.config.pooling == Pooling::None {
            return Err(NavajaError::invalid(
                "the model's pooling is \"none\" (token vectors, no sentence embedding); choose one",
            ));
        }
        let (x, lens) = self.hidden_states(inputs)?;
        let d = self.spec.hidden_size;
        let pooled = pool_ref(&x, d, &lens, self.config.pooling, self.config.normalize)?;
        Ok(pooled.chunks_exact(d).map(<[f32]>::to_vec).collect())
    }

    /// [`QuantEncoder::classify_inputs`] of one batch, in one forward pass.
    pub fn classify_batch(&self, inputs: &[EncoderInput]) -> Result<Vec<Vec<f32>>> {
        let (dense, out) = self.w.head.as_ref().ok_or_else(|| {
            NavajaError::unsupported("this model has no classification head: it embeds texts, it does not rerank")
        })?;
        let (x, lens) = self.hidden_states(inputs)?;
        let d = self.spec.hidden_size;
        let mut first = Vec::with_capacity(lens.len() * d);
        let mut start = 0;
        for &len in &lens {
            first.extend_from_slice(&x[start * d..(start + 1) * d]);
            start += len;
        }
        let mut q = Vec::new();
        let mut h = projected(dense, quantize_fine_rows(&first, d, &mut q));
        h.iter_mut().for_each(|v| *v = tanh(*v));
        let scores = projected(out, quantize_fine_rows(&h, dense.w.rows, &mut q));
        Ok(scores.chunks_exact(out.w.rows).map(<[f32]>::to_vec).collect())
    }

    /// The last layer's token rows of a packed batch, and each input's length.
    fn hidden_states(&self, inputs: &[EncoderInput]) -> Result<(Vec<f32>, Vec<usize>)> {
        let s = &self.spec;
        let d = s.hidden_size;
        if inputs.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let lens: Vec<usize> = inputs.iter().map(EncoderInput::len).collect();
        let mut x = Vec::with_capacity(lens.iter().sum::<usize>() * d);
        for (i, input) in inputs.iter().enumerate() {
            self.w
                .embed_tokens(&input.ids, &input.type_ids, d, &mut x)
                .map_err(|e| NavajaError::invalid(format!("input {i}: {e}")))?;
        }
        let eps = s.norm_eps;
        let mut x = layer_norm(&x, &self.w.embd_norm.w, &self.w.embd_norm.b, eps)?;
        let mut q8 = Vec::new();
        for l in &self.w.layers {
            let xq = quantize_fine_rows(&x, d, &mut q8);
            let (q, k, v) = (projected(&l.q, xq), projected(&l.k, xq), projected(&l.v, xq));
            let attn = attention(&q, &k, &v, &lens, s.n_heads, s.head_dim, s.attention_scale, self.w.slopes.as_deref());
            add_into(&mut x, &projected(&l.o, quantize_fine_rows(&attn, d, &mut q8)));
            x = layer_norm(&x, &l.attn_norm.w, &l.attn_norm.b, eps)?;
            let xq = quantize_fine_rows(&x, d, &mut q8);
            let mut f = projected(&l.up, xq);
            let g = l.gate.as_ref().map(|gate| projected(gate, xq));
            activate_rows(s.activation, &mut f, g.as_deref());
            add_into(&mut x, &projected(&l.down, quantize_fine_rows(&f, l.down.w.cols, &mut q8)));
            x = layer_norm(&x, &l.out_norm.w, &l.out_norm.b, eps)?;
        }
        Ok((x, lens))
    }
}

/// Each row of `x` (rows of `cols`) in fine 12-bit groups, into `q`.
fn quantize_fine_rows<'q>(x: &[f32], cols: usize, q: &'q mut Vec<Q8Vector>) -> &'q [Q8Vector] {
    quantize_rows(x, cols, q, Q8Vector::quantize_fine)
}

/// `x W^T + b` for a batch of quantized rows.
fn projected(l: &Linear<QuantMatrix>, xs: &[Q8Vector]) -> Vec<f32> {
    let mut out = Vec::new();
    project(l, xs, &mut out);
    out
}

/// softmax(scale q·k - slope |i - j|) v within each sequence, in f32.
#[allow(clippy::too_many_arguments)] // the encoder attention's shape, as the oracle's
fn attention(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    lens: &[usize],
    n_heads: usize,
    head_dim: usize,
    scale: f32,
    slopes: Option<&[f32]>,
) -> Vec<f32> {
    let width = n_heads * head_dim;
    let at = |row: usize, h: usize| row * width + h * head_dim..row * width + (h + 1) * head_dim;
    let mut out = vec![0f32; q.len()];
    let mut w = Vec::new();
    let mut start = 0;
    for &len in lens {
        for h in 0..n_heads {
            let slope = slopes.map_or(0.0, |s| s[h]);
            for i in 0..len {
                let qi = &q[at(start + i, h)];
                w.clear();
                w.extend(
                    (0..len).map(|j| dot::dot_f32(qi, &k[at(start + j, h)]) * scale - slope * i.abs_diff(j) as f32),
                );
                let max = w.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut total = 0f32;
                w.iter_mut().for_each(|s| {
                    *s = exp_neg(*s - max);
                    total += *s;
                });
                let o = &mut out[at(start + i, h)];
                for (j, &p) in w.iter().enumerate() {
                    dot::add_scaled(o, p / total, &v[at(start + j, h)]);
                }
            }
        }
        start += len;
    }
    out
}

fn add_into(x: &mut [f32], y: &[f32]) {
    x.iter_mut().zip(y).for_each(|(a, b)| *a += b);
}

/// sqrt(2 / pi), the tanh-GELU's inner scale.
const SQRT_2_OVER_PI: f32 = 0.797_884_6;

/// `e^x` for x <= 0 (every use here), to 2e-7 relative: `2^n · e^f` with
/// n = round(x log2 e), |f| <= ln 2 / 2, and e^f by its Taylor series to degree 7.
/// Plain arithmetic, so the loops over activations vectorize (`f32::exp` is a
/// libm call per value in WebAssembly).
fn exp_neg(x: f32) -> f32 {
    let tiny = x < -87.0;
    let x = x.clamp(-87.0, 0.0);
    let n = (x * std::f32::consts::LOG2_E).round_ties_even();
    // f = x - n ln 2 with ln 2 split in two (Cody and Waite): n · LN2_HI is exact.
    let f = (x - n * 0.693_359_4) + n * 2.121_944_4e-4;
    let p = 1.0
        + f * (1.0
            + f * (0.5 + f * (1.0 / 6.0 + f * (1.0 / 24.0 + f * (1.0 / 120.0 + f * (1.0 / 720.0 + f / 5040.0))))));
    let e = p * f32::from_bits(((n as i32 + 127) as u32) << 23);
    // A select, not a branch: the loops stay vectorizable.
    if tiny { 0.0 } else { e }
}

/// `1 / (1 + e^-x)` without overflow for either sign.
fn sigmoid(x: f32) -> f32 {
    let e = exp_neg(-x.abs());
    if x >= 0.0 { 1.0 / (1.0 + e) } else { e / (1.0 + e) }
}

/// tanh without overflow: `1 - 2 / (e^2x + 1)` on |x|.
fn tanh(x: f32) -> f32 {
    let e = exp_neg(-2.0 * x.abs());
    ((1.0 - e) / (1.0 + e)).copysign(x)
}

/// `P(Z <= z)` for z = x / sqrt 2 as `0.5 * erfc(-z)`, with Abramowitz and
/// Stegun's 7.1.26 for erfc(|z|) (absolute error under 1.5e-7): for negative
/// z it is erfc itself, never `1 - erf`, so small probabilities keep their digits.
fn normal_cdf(x: f32) -> f32 {
    let z = x.abs() * std::f32::consts::FRAC_1_SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * z);
    let poly = t * (0.254_829_6 + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152_1 + t * 1.061_405_4))));
    let erfc = poly * exp_neg(-z * z);
    if x >= 0.0 { 1.0 - 0.5 * erfc } else { 0.5 * erfc }
}

/// `f = act(f)`, or with a gate `f = act(gate) * f` (GLU), value by value:
/// one loop per activation, each free of branches, so that it vectorizes.
fn activate_rows(activation: Activation, f: &mut [f32], gate: Option<&[f32]>) {
    fn each(f: &mut [f32], gate: Option<&[f32]>, act: impl Fn(f32) -> f32) {
        match gate {
            Some(g) => f.iter_mut().zip(g).for_each(|(u, &g)| *u *= act(g)),
            None => f.iter_mut().for_each(|u| *u = act(*u)),
        }
    }
    match activation {
        Activation::Silu => each(f, gate, |x| activate(Activation::Silu, x)),
        Activation::GeluTanh => each(f, gate, |x| activate(Activation::GeluTanh, x)),
        Activation::Gelu => each(f, gate, |x| activate(Activation::Gelu, x)),
    }
}

fn activate(activation: Activation, x: f32) -> f32 {
    match activation {
        Activation::Silu => x * sigmoid(x),
        Activation::GeluTanh => x * sigmoid(2.0 * SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)),
        Activation::Gelu => x * normal_cdf(x),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::glu::activate as activate_f64;

    #[test]
    fn exp_neg_is_within_2e_7_relative() {
        let mut worst = 0f64;
        for i in 0..=86_900 {
            let x = -(i as f32) * 0.001;
            let want = f64::from(x).exp();
            worst = worst.max((f64::from(exp_neg(x)) - want).abs() / want);
        }
        assert!(worst <= 2e-7, "worst relative error {worst}");
        assert_eq!((exp_neg(-90.0), exp_neg(-1e30), exp_neg(0.0)), (0.0, 0.0, 1.0));
    }

    /// The f32 activations against the oracle's f64 ones.
    #[test]
    fn activations_match_the_f64_forms() {
        for act in [Activation::Gelu, Activation::GeluTanh, Activation::Silu] {
            for i in -2000..=2000 {
                let x = i as f32 * 0.006;
                let want = activate_f64(act, f64::from(x));
                let got = f64::from(activate(act, x));
                assert!((got - want).abs() <= 3e-7 * (1.0 + want.abs()), "{act:?}({x}): {got} vs {want}");
            }
            assert_eq!(activate(act, -200.0).abs(), 0.0);
            assert!((activate(act, 200.0) - 200.0).abs() < 1e-3);
        }
        for x in [-30.0f32, -2.0, -0.1, 0.0, 0.3, 5.0, 40.0] {
            assert!((f64::from(tanh(x)) - f64::from(x).tanh()).abs() < 1e-6);
        }
    }
}
