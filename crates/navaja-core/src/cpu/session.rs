//! [`CpuDecoderSession`]: one sequence through a [`CpuDecoder`], with its KV
//! cache. A prompt runs in chunks of up to [`CHUNK`] tokens, layer by layer,
//! each weight row multiplied with four tokens at once
//! ([`super::matrix::QuantMatrix::matmul`]): a weight block is read and
//! decoded once per four tokens. A decode step is a chunk of one. Every row's
//! arithmetic is the same either way, so a chunk's logits equal those of its
//! tokens fed one at a time, bit for bit.

use std::sync::Arc;

use super::dot::{self, BLOCK, Q8Vector, add_scaled, add_scaled_i8, dot_f32, quantize_rows};
use super::kv_store::KvRows;
use super::model::{CpuDecoder, project};
use super::top_k::top_k;
use crate::generate::{Pick, TokenModel};
use crate::model::Activation;
use crate::ops::logits::{MAX_TOP_K, TopKResult, logit_adjust_ref};
use crate::ops::rms_norm;
use crate::quant::kv::KvType;
use crate::reference::math::{gelu_tanh, silu};
use crate::{NavajaError, Result};

/// Positions a session holds when the caller does not say: the model's
/// context, capped so that a browser tab does not reserve gigabytes.
pub const CPU_DEFAULT_CONTEXT: usize = 4096;

/// Tokens of a prompt that run through the layers together: their
/// activations (about 50 KB per token for SmolLM2) stay in cache.
pub const CHUNK: usize = 32;

/// Activations of one chunk of tokens, row after row, reused by every layer and every step.
#[derive(Debug, Clone, Default)]
struct Scratch {
    x: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    attn: Vec<f32>,
    o: Vec<f32>,
    gate: Vec<f32>,
    up: Vec<f32>,
    down: Vec<f32>,
    scores: Vec<f32>,
    logits: Vec<f32>,
    /// The inputs of the projection being computed (one per token), in 8-bit blocks.
    inputs: Vec<Q8Vector>,
    /// One query head in 8-bit blocks (against a q8 cache's keys).
    query: Q8Vector,
}

/// A conversation's cache on the CPU: keys and values a row of `kv_width`
/// per position and layer, in f32 or q8 ([`KvRows`]).
#[derive(Debug, Clone)]
pub struct CpuDecoderSession {
    model: Arc<CpuDecoder>,
    tokens: Vec<u32>,
    capacity: usize,
    kv: KvType,
    keys: Vec<KvRows>,
    values: Vec<KvRows>,
    scratch: Scratch,
}

impl CpuDecoderSession {
    /// An empty session holding at most `context_length` positions (0: the
    /// model's context length, capped at [`CPU_DEFAULT_CONTEXT`]), its keys
    /// and values stored as `kv`: f32, or q8 where heads are whole blocks of
    /// 32 (see [`CpuDecoderSession::supported_kv`]); other types are an
    /// `invalid-argument` error.
    pub fn new(model: Arc<CpuDecoder>, context_length: usize, kv: KvType) -> Result<CpuDecoderSession> {
        let model_context = model.spec.context_length;
        let capacity = match context_length {
            0 => model_context.min(CPU_DEFAULT_CONTEXT),
            n if n > model_context => {
                return Err(NavajaError::invalid(format!("context length {n} exceeds the model's {model_context}")));
            }
            n => n,
        };
        let rows = KvRows::new(kv, model.spec.head_dim)?;
        let layers = model.layers.len();
        Ok(CpuDecoderSession {
            model,
            tokens: Vec::new(),
            capacity,
            kv,
            keys: vec![rows.clone(); layers],
            values: vec![rows; layers],
            scratch: Scratch::default(),
        })
    }

    /// The cache type this backend uses for `kind` on `model`: f32 and q8 as
    /// they are, f16 as f32 and q4 as q8 (the nearest it stores), q8 as f32
    /// where heads are not whole blocks of 32.
    pub fn supported_kv(model: &CpuDecoder, kind: KvType) -> KvType {
        match kind {
            KvType::Q8 | KvType::Q4 if model.spec.head_dim.is_multiple_of(BLOCK) => KvType::Q8,
            _ => KvType::F32,
        }
    }

    /// How keys and values are stored.
    pub fn kv(&self) -> KvType {
        self.kv
    }

    pub fn model(&self) -> &Arc<CpuDecoder> {
        &self.model
    }

    /// Bytes of keys and values one position takes.
    pub fn kv_bytes_per_token(&self) -> u64 {
        let width = self.model.spec.kv_width();
        self.keys.iter().chain(&self.values).map(|rows| rows.row_bytes(width) as u64).sum()
    }

    /// Runs `ids` after the cached tokens; returns the logits after the last one.
    pub fn forward(&mut self, ids: &[u32]) -> Result<Vec<f32>> {
        self.check(ids)?;
        self.run(ids);
        Ok(self.scratch.logits.clone())
    }

    /// Checked `ids` through the layers in chunks; the logits after the last.
    fn run(&mut self, ids: &[u32]) {
        let chunks = ids.len().div_ceil(CHUNK);
        for (c, chunk) in ids.chunks(CHUNK).enumerate() {
            self.chunk(chunk, c + 1 == chunks);
        }
    }

    fn check(&self, ids: &[u32]) -> Result<()> {
        let vocab = self.model.spec.vocab_size;
        if ids.is_empty() {
            return Err(NavajaError::invalid("feed: no tokens"));
        }
        if let Some(&bad) = ids.iter().find(|&&t| t as usize >= vocab) {
            return Err(NavajaError::invalid(format!(
                "token id {bad} is out of range: the vocabulary has {vocab} tokens"
            )));
        }
        if self.tokens.len() + ids.len() > self.capacity {
            return Err(NavajaError::ContextOverflow(format!(
                "{} tokens after {} exceed the session's {} positions",
                ids.len(),
                self.tokens.len(),
                self.capacity
            )));
        }
        Ok(())
    }

    /// A chunk of tokens through every layer; the logits of its last token only when `logits`.
    fn chunk(&mut self, ids: &[u32], logits: bool) {
        let model = &*self.model;
        let spec = &model.spec;
        let pos0 = self.tokens.len();
        let s = &mut self.scratch;
        let (n, d, hd, eps) = (ids.len(), spec.hidden_size, spec.head_dim, spec.norm_eps);
        let (q_width, kv_width) = (spec.n_heads * hd, spec.kv_width());
        s.x.resize(n * d, 0.0);
        for (row, &id) in s.x.chunks_exact_mut(d).zip(ids) {
            model.embedding.row_into(id as usize, row);
        }
        if let Some(scale) = spec.embedding_scale {
            s.x.iter_mut().for_each(|v| *v *= scale);
        }
        for (i, layer) in model.layers.iter().enumerate() {
            // Attention.
            let inputs = quantize_normed(&s.x, d, &layer.attn_norm, eps, &mut s.inputs);
            project(&layer.q, inputs, &mut s.q);
            project(&layer.k, inputs, &mut s.k);
            project(&layer.v, inputs, &mut s.v);
            for t in 0..n {
                let q = &mut s.q[t * q_width..(t + 1) * q_width];
                let k = &mut s.k[t * kv_width..(t + 1) * kv_width];
                if let (Some(qn), Some(kn)) = (&layer.q_norm, &layer.k_norm) {
                    q.copy_from_slice(&norm(q, qn, eps));
                    k.copy_from_slice(&norm(k, kn, eps));
                }
                layer.rope.apply(q, hd, pos0 + t);
                layer.rope.apply(k, hd, pos0 + t);
                self.keys[i].push(k);
                self.values[i].push(&s.v[t * kv_width..(t + 1) * kv_width]);
            }
            // Each token sees the positions up to its own (the chunk's later keys are already cached).
            s.attn.resize(n * q_width, 0.0);
            let cache = Cache { keys: &self.keys[i], values: &self.values[i] };
            for t in 0..n {
                let pos = pos0 + t;
                let first = layer.window.map_or(0, |w| (pos + 1).saturating_sub(w));
                let (q, out) = (&s.q[t * q_width..(t + 1) * q_width], &mut s.attn[t * q_width..(t + 1) * q_width]);
                attend(spec, cache, first..pos + 1, q, &mut s.query, out, &mut s.scores);
            }
            project(&layer.o, quantize_rows(&s.attn, q_width, &mut s.inputs, Q8Vector::quantize), &mut s.o);
            residual_rows(&mut s.x, &s.o, layer.post_attention_norm.as_deref(), eps);

            // Gated FFN.
            let inputs = quantize_normed(&s.x, d, &layer.ffn_norm, eps, &mut s.inputs);
            project(&layer.gate, inputs, &mut s.gate);
            project(&layer.up, inputs, &mut s.up);
            let act: fn(f32) -> f64 = if spec.activation == Activation::GeluTanh { gelu_tanh } else { silu };
            s.gate.iter_mut().zip(&s.up).for_each(|(g, &u)| *g = (act(*g) * f64::from(u)) as f32);
            project(
                &layer.down,
                quantize_rows(&s.gate, layer.down.w.cols, &mut s.inputs, Q8Vector::quantize),
                &mut s.down,
            );
            residual_rows(&mut s.x, &s.down, layer.post_ffn_norm.as_deref(), eps);
        }
        self.tokens.extend_from_slice(ids);
        if logits {
            let last = &s.x[(n - 1) * d..];
            let input = quantize_normed(last, d, &model.output_norm, eps, &mut s.inputs);
            let head = model.head();
            s.logits.resize(head.rows, 0.0);
            head.matvec(&input[0], &mut s.logits);
        }
    }
}

/// Each row of `x` RMS-normed with `w`, then in 8-bit blocks.
fn quantize_normed<'q>(x: &[f32], cols: usize, w: &[f32], eps: f32, q: &'q mut Vec<Q8Vector>) -> &'q [Q8Vector] {
    quantize_rows(x, cols, q, |v, row| v.quantize(&norm(row, w, eps)))
}

/// RMSNorm of one row (the weights' length matches by construction).
fn norm(x: &[f32], w: &[f32], eps: f32) -> Vec<f32> {
    rms_norm(x, w, eps).unwrap_or_else(|_| x.to_vec())
}

/// Row by row, `x += y`, or `x += rms_norm(y)` for models with post-norms.
/// (A post-norm's weight is one row long.)
fn residual_rows(x: &mut [f32], y: &[f32], post_norm: Option<&[f32]>, eps: f32) {
    match post_norm {
        Some(w) => {
            for (x, y) in x.chunks_exact_mut(w.len()).zip(y.chunks_exact(w.len())) {
                add_scaled(x, 1.0, &norm(y, w, eps));
            }
        }
        None => add_scaled(x, 1.0, y),
    }
}

/// One layer's cached keys and values.
#[derive(Clone, Copy)]
struct Cache<'a> {
    keys: &'a KvRows,
    values: &'a KvRows,
}

/// Every query head over the cached positions `keys`: softmax of the scaled
/// scores, then the weighted sum of the values, into `out`. Against q8 keys
/// the query head is quantized too, and each score is an integer dot product.
fn attend(
    spec: &crate::model::ModelSpec,
    cache: Cache<'_>,
    keys: std::ops::Range<usize>,
    q: &[f32],
    query: &mut Q8Vector,
    out: &mut [f32],
    scores: &mut Vec<f32>,
) {
    let (hd, width, scale) = (spec.head_dim, spec.kv_width(), spec.attention_scale);
    let group = spec.n_heads / spec.n_kv_heads;
    // The head's values in position j's row, and (q8) the blocks they are.
    let span = |j: usize, offset: usize| j * width + offset..j * width + offset + hd;
    let blocks = |j: usize, offset: usize| (j * width + offset) / BLOCK..(j * width + offset + hd) / BLOCK;
    out.fill(0.0);
    for head in 0..spec.n_heads {
        let offset = (head / group) * hd;
        let qh = &q[head * hd..(head + 1) * hd];
        scores.clear();
        match cache.keys {
            KvRows::F32(k) => scores.extend(keys.clone().map(|j| dot_f32(qh, &k[span(j, offset)]) * scale)),
            KvRows::Q8 { scales, quants } => {
                query.quantize(qh);
                scores.extend(keys.clone().map(|j| {
                    let b = blocks(j, offset);
                    dot::q8_0(&scales[b.clone()], &quants[b.start * BLOCK..b.end * BLOCK], query) * scale
                }));
            }
        }
        let max = scores.iter().fold(f32::NEG_INFINITY, |m, &s| m.max(s));
        let mut sum = 0f32;
        scores.iter_mut().for_each(|s| {
            *s = (*s - max).exp();
            sum += *s;
        });
        let oh = &mut out[head * hd..(head + 1) * hd];
        for (p, j) in scores.iter().zip(keys.clone()) {
            match cache.values {
                KvRows::F32(v) => add_scaled(oh, p / sum, &v[span(j, offset)]),
                KvRows::Q8 { scales, quants } => {
                    for (b, o) in blocks(j, offset).zip(oh.chunks_exact_mut(BLOCK)) {
                        add_scaled_i8(o, p / sum * scales[b], &quants[b * BLOCK..(b + 1) * BLOCK]);
                    }
                }
            }
        }
    }
}

impl TokenModel for CpuDecoderSession {
    fn tokens(&self) -> &[u32] {
        &self.tokens
    }

    fn capacity(&self) -> usize {
        self.capacity
    }

    fn vocab_size(&self) -> usize {
        self.model.spec.vocab_size
    }

    fn truncate(&mut self, len: usize) -> usize {
        let len = len.min(self.tokens.len());
        let width = self.model.spec.kv_width();
        self.tokens.truncate(len);
        self.keys.iter_mut().chain(&mut self.values).for_each(|c| c.truncate(len, width));
        len
    }

    async fn feed(&mut self, ids: &[u32], pick: &Pick) -> Result<TopKResult> {
        if pick.k == 0 || pick.k as usize > MAX_TOP_K {
            return Err(NavajaError::invalid(format!("top-k must be in 1..={MAX_TOP_K}, got {}", pick.k)));
        }
        self.check(ids)?;
        self.run(ids);
        let logits = &mut self.scratch.logits;
        logit_adjust_ref(logits, &pick.adjustments);
        top_k(logits, pick.k as usize, pick.temperature)
    }
}
