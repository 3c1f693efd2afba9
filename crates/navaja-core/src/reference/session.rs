//! [`CpuSession`]: one sequence through a [`CpuModel`], with its KV cache.
//!
//! A call to [`CpuSession::forward`] runs all its tokens through each layer
//! together (as a GPU prefill does), attending to the cache plus the new
//! tokens up to each one; so a whole prompt at once and one token at a time
//! must give the same logits.

use super::math::{HeadAttention, gelu_tanh, silu, visible_with_sink};
use super::model::{CpuModel, Layer};
use crate::model::Activation;
use crate::ops::rms_norm;
use crate::quant::kv::{KV_EXACT_START, KV_GROUP, KvRole, KvType, f16_round, stored_values};
use crate::{NavajaError, Result};

/// How a session caches keys and values: the element type (attention sees
/// each key and value as that type stores it: f16-rounded, or for the
/// quantized types f16 while recent and quantized in groups after, exactly
/// when the GPU cache quantizes them), and an optional session-wide window
/// keeping `sink` first and `recent` last positions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuCacheOptions {
    pub kv: KvType,
    /// (sink, recent)
    pub window: Option<(usize, usize)>,
}

/// Keys and values of one layer: a row of `kv_width` values per position,
/// as computed, and for the quantized types the rows of every quantized
/// group as attention sees them.
#[derive(Debug, Clone, Default)]
struct LayerCache {
    k: Vec<f32>,
    v: Vec<f32>,
    k_quantized: Vec<f32>,
    v_quantized: Vec<f32>,
}

#[derive(Debug, Clone)]
pub struct CpuSession<'m> {
    model: &'m CpuModel,
    cache: Vec<LayerCache>,
    position: usize,
    options: CpuCacheOptions,
    /// Positions below this are quantized (a multiple of KV_GROUP).
    quantized_end: usize,
}

impl<'m> CpuSession<'m> {
    pub(crate) fn new(model: &'m CpuModel, options: CpuCacheOptions) -> CpuSession<'m> {
        CpuSession {
            model,
            cache: vec![LayerCache::default(); model.layers.len()],
            position: 0,
            options,
            quantized_end: 0,
        }
    }

    /// Tokens processed so far (the position of the next one).
    pub fn position(&self) -> usize {
        self.position
    }

    /// Forgets every token: the next forward starts at position 0.
    pub fn reset(&mut self) {
        self.cache.iter_mut().for_each(|c| *c = LayerCache::default());
        self.position = 0;
        self.quantized_end = 0;
    }

    /// Forgets every token from position `len` on, as the GPU session's
    /// truncation does: quantized groups that `len` cuts into are forgotten
    /// too (their positions are f16 again once computed again).
    pub fn truncate(&mut self, len: usize) {
        let len = len.min(self.position);
        let width = self.model.spec.kv_width();
        self.quantized_end = self.quantized_end.min(len / KV_GROUP * KV_GROUP);
        for c in &mut self.cache {
            c.k.truncate(len * width);
            c.v.truncate(len * width);
            c.k_quantized.truncate(self.quantized_end * width);
            c.v_quantized.truncate(self.quantized_end * width);
        }
        self.position = len;
    }

    /// Appends `tokens` to the sequence and returns the logits after each of
    /// them (`tokens.len()` rows of `vocab_size`). Errors (`invalid-argument`)
    /// for an id outside the vocabulary or a sequence longer than the
    /// model's context; the session is then unchanged.
    pub fn forward(&mut self, tokens: &[u32]) -> Result<Vec<Vec<f32>>> {
        self.append(tokens, false)
    }

    /// [`CpuSession::forward`] returning only the logits after the last token
    /// (empty for no tokens): a prefill skips the vocabulary-sized product
    /// of the others.
    pub fn forward_last(&mut self, tokens: &[u32]) -> Result<Vec<f32>> {
        Ok(self.append(tokens, true)?.pop().unwrap_or_default())
    }

    fn append(&mut self, tokens: &[u32], last_only: bool) -> Result<Vec<Vec<f32>>> {
        let spec = &self.model.spec;
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= spec.vocab_size) {
            return Err(NavajaError::invalid(format!(
                "token id {bad} is out of range: the vocabulary has {} tokens",
                spec.vocab_size
            )));
        }
        if self.position + tokens.len() > spec.context_length {
            return Err(NavajaError::invalid(format!(
                "{} tokens after position {} exceed the context length {}",
                tokens.len(),
                self.position,
                spec.context_length
            )));
        }
        if tokens.is_empty() {
            return Ok(Vec::new());
        }
        let quantized_end = self.quantized_end;
        // A batch quantizes the groups that are then `recent` positions old
        // (the same rule as the GPU cache, so chunking matters alike), but
        // its own attention still reads them exact: it sees the groups
        // quantized before it (`quantized_end`), and stored_cache quantizes
        // the rest when a later batch reads them.
        let recent = self.options.kv.recent();
        if self.options.kv.is_quantized() {
            let end = (self.position + tokens.len()).saturating_sub(recent);
            self.quantized_end = self.quantized_end.max(end / KV_GROUP * KV_GROUP);
        }
        let result = self.run(tokens, last_only, quantized_end);
        match &result {
            Ok(_) => self.position += tokens.len(),
            // Undo the partial cache appends so that the session stays usable.
            Err(_) => {
                let keep = self.position * spec.kv_width();
                let keep_quantized = quantized_end * spec.kv_width();
                self.quantized_end = quantized_end;
                self.cache.iter_mut().for_each(|c| {
                    c.k.truncate(keep);
                    c.v.truncate(keep);
                    c.k_quantized.truncate(keep_quantized);
                    c.v_quantized.truncate(keep_quantized);
                });
            }
        }
        result
    }

    fn run(&mut self, tokens: &[u32], last_only: bool, quantized_end: usize) -> Result<Vec<Vec<f32>>> {
        let model = self.model;
        let spec = &model.spec;
        let d = spec.hidden_size;
        let mut x = Vec::with_capacity(tokens.len() * d);
        for &t in tokens {
            let row = model.embedding.row(t as usize);
            match spec.embedding_scale {
                Some(s) => x.extend(row.iter().map(|v| v * s)),
                None => x.extend_from_slice(row),
            }
        }
        for (layer, cache) in model.layers.iter().zip(&mut self.cache) {
            let attn = attention_block(model, layer, cache, &x, self.position, self.options, quantized_end)?;
            add(&mut x, &attn);
            let ffn = ffn_block(model, layer, &x)?;
            add(&mut x, &ffn);
        }
        let x = if last_only { &x[x.len() - d..] } else { &x[..] };
        let x = rms_norm(x, &model.output_norm, spec.norm_eps)?;
        let logits = model.output.as_ref().unwrap_or(&model.embedding).apply(&x, None);
        Ok(logits.chunks_exact(spec.vocab_size).map(<[f32]>::to_vec).collect())
    }
}

fn add(x: &mut [f32], y: &[f32]) {
    x.iter_mut().zip(y).for_each(|(a, b)| *a += b);
}

/// Norm, q/k/v, (q/k norms), RoPE, cache append, attention, output
/// projection, (post-norm): what the residual stream gets from attention.
fn attention_block(
    model: &CpuModel,
    layer: &Layer,
    cache: &mut LayerCache,
    x: &[f32],
    start: usize,
    options: CpuCacheOptions,
    quantized_end: usize,
) -> Result<Vec<f32>> {
    let spec = &model.spec;
    let (hd, eps) = (spec.head_dim, spec.norm_eps);
    let h = rms_norm(x, &layer.attn_norm, eps)?;
    let mut q = layer.q.apply(&h);
    let mut k = layer.k.apply(&h);
    let v = layer.v.apply(&h);
    if let (Some(qn), Some(kn)) = (&layer.q_norm, &layer.k_norm) {
        q = rms_norm(&q, qn, eps)?;
        k = rms_norm(&k, kn, eps)?;
    }
    let (q_dim, kv_dim) = (spec.n_heads * hd, spec.kv_width());
    for (t, (qt, kt)) in q.chunks_exact_mut(q_dim).zip(k.chunks_exact_mut(kv_dim)).enumerate() {
        layer.rope.apply(qt, hd, start + t);
        layer.rope.apply(kt, hd, start + t);
    }
    cache.k.extend_from_slice(&k);
    cache.v.extend_from_slice(&v);
    let (k_seen, v_seen) = stored_cache(cache, options.kv, kv_dim, quantized_end);
    // The layer's window: the model's own (gemma3's local layers), narrowed by the session's.
    let (sink, window) = match (layer.window, options.window) {
        (Some(w), Some((_, recent))) => (0, Some(w.min(recent))),
        (Some(w), None) => (0, Some(w)),
        (None, Some((sink, recent))) => (sink, Some(recent)),
        (None, None) => (0, None),
    };

    let group = spec.n_heads / spec.n_kv_heads;
    let mut out = vec![0f32; q.len()];
    for (t, (qt, ot)) in q.chunks_exact(q_dim).zip(out.chunks_exact_mut(q_dim)).enumerate() {
        let keys = visible_with_sink(start + t, window, sink);
        for (head, (qh, oh)) in qt.chunks_exact(hd).zip(ot.chunks_exact_mut(hd)).enumerate() {
            let a = HeadAttention {
                k: &k_seen,
                v: &v_seen,
                stride: kv_dim,
                offset: (head / group) * hd,
                head_dim: hd,
                scale: f64::from(spec.attention_scale),
            };
            a.run(qh, keys.iter().copied(), oh);
        }
    }
    let o = layer.o.apply(&out);
    match &layer.post_attention_norm {
        Some(w) => rms_norm(&o, w, eps),
        None => Ok(o),
    }
}

/// The keys and values of every cached position as attention sees them
/// once this batch is written: quantizes the groups below `quantized_end`
/// not quantized yet, and stores the rest as the type does.
fn stored_cache(cache: &mut LayerCache, kind: KvType, width: usize, quantized_end: usize) -> (Vec<f32>, Vec<f32>) {
    if !kind.is_quantized() {
        return (
            stored_values(kind, KvRole::Key, &cache.k, width),
            stored_values(kind, KvRole::Value, &cache.v, width),
        );
    }
    let done = cache.k_quantized.len();
    let end = quantized_end * width;
    if end > done {
        cache.k_quantized.extend(stored_values(kind, KvRole::Key, &cache.k[done..end], width));
        cache.v_quantized.extend(stored_values(kind, KvRole::Value, &cache.v[done..end], width));
    }
    let mut k = cache.k_quantized[..end].to_vec();
    let mut v = cache.v_quantized[..end].to_vec();
    k.extend(f16_round(&cache.k[end..]));
    v.extend(f16_round(&cache.v[end..]));
    // The first positions are never quantized.
    let exact = (KV_EXACT_START * width).min(end);
    k[..exact].copy_from_slice(&f16_round(&cache.k[..exact]));
    v[..exact].copy_from_slice(&f16_round(&cache.v[..exact]));
    (k, v)
}

/// Norm, gated FFN (act(gate) * up, then down), (post-norm).
fn ffn_block(model: &CpuModel, layer: &Layer, x: &[f32]) -> Result<Vec<f32>> {
    let spec = &model.spec;
    let h = rms_norm(x, &layer.ffn_norm, spec.norm_eps)?;
    let gate = layer.gate.apply(&h);
    let up = layer.up.apply(&h);
    let act: fn(f32) -> f64 = match spec.activation {
        Activation::GeluTanh => gelu_tanh,
        // Checked at load: only SiLU and tanh GELU reach here.
        _ => silu,
    };
    let mixed: Vec<f32> = gate.iter().zip(&up).map(|(&g, &u)| (act(g) * f64::from(u)) as f32).collect();
    let down = layer.down.apply(&mixed);
    match &layer.post_ffn_norm {
        Some(w) => rms_norm(&down, w, spec.norm_eps),
        None => Ok(down),
    }
}
