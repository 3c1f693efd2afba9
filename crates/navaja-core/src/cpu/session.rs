//! [`CpuDecoderSession`]: one sequence through a [`CpuDecoder`], with its KV
//! cache, fed a token at a time (a prompt's tokens one after the other, as
//! decode steps: each weight block is then read once per token, which the
//! cache of a CPU serves from memory at a few GB/s).

use std::sync::Arc;

use super::dot::{self, BLOCK, Q8Vector, add_scaled, add_scaled_i8, dot_f32};
use super::kv_store::KvRows;
use super::model::{CpuDecoder, Linear};
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

/// Activations of one token, reused by every layer and every step.
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
    /// The input of the projection being computed, in 8-bit blocks.
    input: Q8Vector,
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
        for (i, &id) in ids.iter().enumerate() {
            self.step(id, i + 1 == ids.len());
        }
        Ok(self.scratch.logits.clone())
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

    /// One token through every layer; the logits only when `logits`.
    fn step(&mut self, id: u32, logits: bool) {
        let model = &*self.model;
        let spec = &model.spec;
        let pos = self.tokens.len();
        let s = &mut self.scratch;
        let d = spec.hidden_size;
        s.x.resize(d, 0.0);
        model.embedding.row_into(id as usize, &mut s.x);
        if let Some(scale) = spec.embedding_scale {
            s.x.iter_mut().for_each(|v| *v *= scale);
        }
        for (i, layer) in model.layers.iter().enumerate() {
            // Attention.
            let h = norm(&s.x, &layer.attn_norm, spec.norm_eps);
            s.input.quantize(&h);
            project(&layer.q, &s.input, &mut s.q);
            project(&layer.k, &s.input, &mut s.k);
            project(&layer.v, &s.input, &mut s.v);
            if let (Some(qn), Some(kn)) = (&layer.q_norm, &layer.k_norm) {
                s.q = norm(&s.q, qn, spec.norm_eps);
                s.k = norm(&s.k, kn, spec.norm_eps);
            }
            let hd = spec.head_dim;
            layer.rope.apply(&mut s.q, hd, pos);
            layer.rope.apply(&mut s.k, hd, pos);
            self.keys[i].push(&s.k);
            self.values[i].push(&s.v);
            let first = layer.window.map_or(0, |w| (pos + 1).saturating_sub(w));
            let cache = Cache { keys: &self.keys[i], values: &self.values[i] };
            attend(spec, cache, first..pos + 1, &s.q, &mut s.query, &mut s.attn, &mut s.scores);
            s.input.quantize(&s.attn);
            project(&layer.o, &s.input, &mut s.o);
            residual(&mut s.x, &s.o, layer.post_attention_norm.as_deref(), spec.norm_eps);

            // Gated FFN.
            let h = norm(&s.x, &layer.ffn_norm, spec.norm_eps);
            s.input.quantize(&h);
            project(&layer.gate, &s.input, &mut s.gate);
            project(&layer.up, &s.input, &mut s.up);
            let act: fn(f32) -> f64 = if spec.activation == Activation::GeluTanh { gelu_tanh } else { silu };
            s.gate.iter_mut().zip(&s.up).for_each(|(g, &u)| *g = (act(*g) * f64::from(u)) as f32);
            s.input.quantize(&s.gate);
            project(&layer.down, &s.input, &mut s.down);
            residual(&mut s.x, &s.down, layer.post_ffn_norm.as_deref(), spec.norm_eps);
        }
        self.tokens.push(id);
        if logits {
            let h = norm(&s.x, &model.output_norm, spec.norm_eps);
            s.input.quantize(&h);
            let head = model.head();
            s.logits.resize(head.rows, 0.0);
            head.matvec(&s.input, &mut s.logits);
        }
    }
}

/// RMSNorm of one row (the weights' length matches by construction).
fn norm(x: &[f32], w: &[f32], eps: f32) -> Vec<f32> {
    rms_norm(x, w, eps).unwrap_or_else(|_| x.to_vec())
}

fn project(l: &Linear, x: &Q8Vector, out: &mut Vec<f32>) {
    out.resize(l.w.rows, 0.0);
    l.w.matvec(x, out);
    if let Some(b) = &l.bias {
        out.iter_mut().zip(b).for_each(|(o, b)| *o += b);
    }
}

/// `x += y`, or `x += rms_norm(y)` for models with post-norms.
fn residual(x: &mut [f32], y: &[f32], post_norm: Option<&[f32]>, eps: f32) {
    match post_norm {
        Some(w) => add_scaled(x, 1.0, &norm(y, w, eps)),
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
    out: &mut Vec<f32>,
    scores: &mut Vec<f32>,
) {
    let (hd, width, scale) = (spec.head_dim, spec.kv_width(), spec.attention_scale);
    let group = spec.n_heads / spec.n_kv_heads;
    // The head's values in position j's row, and (q8) the blocks they are.
    let span = |j: usize, offset: usize| j * width + offset..j * width + offset + hd;
    let blocks = |j: usize, offset: usize| (j * width + offset) / BLOCK..(j * width + offset + hd) / BLOCK;
    out.clear();
    out.resize(spec.n_heads * hd, 0.0);
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
        for (i, &id) in ids.iter().enumerate() {
            self.step(id, i + 1 == ids.len());
        }
        let logits = &mut self.scratch.logits;
        logit_adjust_ref(logits, &pick.adjustments);
        top_k(logits, pick.k as usize, pick.temperature)
    }
}
