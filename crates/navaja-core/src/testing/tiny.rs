//! [`tiny_decoder_gguf`]: a complete, valid GGUF decoder (llama, qwen2 or
//! gemma3) with random weights, small enough to build in every test.

use super::blocks::random_blocks;
use super::vocab::tokenizer_metadata;
use crate::generate::Rng;
use crate::gguf::{GgufValue, GgufWriter};
use crate::model::Architecture;
use crate::quant::GgmlType;
use crate::{NavajaError, Result};

/// The shape and types of a tiny random decoder.
///
/// Block sizes constrain the shapes: every row of a weight of type `T` must
/// be a whole number of `T`'s blocks. Rows are `hidden` long (q, k, v, gate,
/// up, output, embedding), `n_heads * head_dim` (attention output) and `ffn`
/// (down), so these must be multiples of 32 for the legacy quants (Q4_0 ...
/// Q8_0) and of 256 for the K-quants (Q2_K ... Q6_K), e.g. hidden 256,
/// 8 heads of 32, ffn 512.
#[derive(Debug, Clone, PartialEq)]
pub struct TinyDecoder {
    pub architecture: Architecture,
    /// Seed of the weights: the same options give the same bytes.
    pub seed: u64,
    pub n_layers: usize,
    pub hidden: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    pub ffn: usize,
    /// At least 259 (the 256 bytes, BOS, EOS and a merged token).
    pub vocab: usize,
    pub context: usize,
    /// Type of the 2-D projections (q, k, v, o, gate, up, down, output).
    pub weight_type: GgmlType,
    /// Type of `token_embd.weight`.
    pub embedding_type: GgmlType,
    /// No `output.weight`: the logits use the token embedding.
    pub tied_embeddings: bool,
    /// gemma3 only: window of the local layers; 0 = every layer global.
    pub sliding_window: usize,
    /// gemma3 only: every `sliding_window_pattern`-th layer is global (2:
    /// local, global, local, ...; real Gemma 3 uses 6).
    pub sliding_window_pattern: usize,
}

impl Default for TinyDecoder {
    fn default() -> Self {
        TinyDecoder {
            architecture: Architecture::Llama,
            seed: 0,
            n_layers: 2,
            hidden: 64,
            n_heads: 4,
            n_kv_heads: 2,
            head_dim: 16,
            ffn: 96,
            vocab: 300,
            context: 256,
            weight_type: GgmlType::Q8_0,
            embedding_type: GgmlType::Q8_0,
            tied_embeddings: true,
            sliding_window: 0,
            sliding_window_pattern: 2,
        }
    }
}

impl TinyDecoder {
    /// The checks of [`tiny_decoder_gguf`], as `invalid-argument` errors.
    pub fn validate(&self) -> Result<()> {
        let bad = |why: String| Err(NavajaError::invalid(format!("tiny decoder: {why}")));
        if self.architecture == Architecture::Bert {
            return bad("BERT is not a decoder (llama, qwen2 or gemma3)".into());
        }
        for (name, v) in [
            ("n_layers", self.n_layers),
            ("hidden", self.hidden),
            ("n_heads", self.n_heads),
            ("n_kv_heads", self.n_kv_heads),
            ("head_dim", self.head_dim),
            ("ffn", self.ffn),
            ("context", self.context),
        ] {
            if v == 0 {
                return bad(format!("{name} must be positive"));
            }
        }
        if !self.n_heads.is_multiple_of(self.n_kv_heads) {
            return bad(format!("n_kv_heads {} does not divide n_heads {}", self.n_kv_heads, self.n_heads));
        }
        if !self.head_dim.is_multiple_of(2) {
            return bad(format!("head_dim {} must be even (RoPE rotates pairs)", self.head_dim));
        }
        let rows = [("hidden", self.hidden), ("n_heads * head_dim", self.n_heads * self.head_dim), ("ffn", self.ffn)];
        for (name, len) in rows {
            if !len.is_multiple_of(self.weight_type.block_len()) {
                return bad(format!(
                    "{name} ({len}) must be a multiple of the {} block size {}",
                    self.weight_type,
                    self.weight_type.block_len()
                ));
            }
        }
        if !self.hidden.is_multiple_of(self.embedding_type.block_len()) {
            return bad(format!(
                "hidden ({}) must be a multiple of the {} block size {}",
                self.hidden,
                self.embedding_type,
                self.embedding_type.block_len()
            ));
        }
        Ok(())
    }
}

/// Writes the GGUF file of a random decoder described by `options`: the
/// metadata [`crate::model::ModelSpec::from_gguf`] reads, a byte-level BPE
/// tokenizer that [`crate::tokenizer::Tokenizer::from_gguf`] loads (BOS 256,
/// EOS 257, BOS added), and random weights scaled like an initialised
/// network (projections about `±sqrt(3 / fan_in)`, embedding and output
/// twice that, norms 1 ± 0.1, qwen2's biases ± 0.5), so activations stay
/// O(1) and logits have a spread of a few units: sampling is not degenerate.
pub fn tiny_decoder_gguf(options: &TinyDecoder) -> Result<Vec<u8>> {
    options.validate()?;
    let o = options;
    let arch = o.architecture.name();
    let u = |v: usize| GgufValue::U32(v as u32);
    let key = |s: &str| format!("{arch}.{s}");

    let mut w = GgufWriter::new()
        .meta("general.architecture", GgufValue::String(arch.into()))
        .meta("general.name", GgufValue::String(format!("tiny {arch}")))
        .meta(&key("block_count"), u(o.n_layers))
        .meta(&key("context_length"), u(o.context))
        .meta(&key("embedding_length"), u(o.hidden))
        .meta(&key("feed_forward_length"), u(o.ffn))
        .meta(&key("attention.head_count"), u(o.n_heads))
        .meta(&key("attention.head_count_kv"), u(o.n_kv_heads))
        .meta(&key("rope.dimension_count"), u(o.head_dim));
    let gemma = o.architecture == Architecture::Gemma3;
    let (eps, base) = match o.architecture {
        Architecture::Gemma3 => (1e-6, 1_000_000.0),
        Architecture::Qwen2 => (1e-6, 1_000_000.0),
        _ => (1e-5, 10_000.0),
    };
    w = w
        .meta(&key("attention.layer_norm_rms_epsilon"), GgufValue::F32(eps))
        .meta(&key("rope.freq_base"), GgufValue::F32(base));
    if gemma || o.n_heads * o.head_dim != o.hidden {
        w = w.meta(&key("attention.key_length"), u(o.head_dim)).meta(&key("attention.value_length"), u(o.head_dim));
    }
    if gemma {
        w = w
            .meta(&key("attention.sliding_window"), u(o.sliding_window))
            .meta(&key("attention.sliding_window_pattern"), u(o.sliding_window_pattern));
    }
    for (k, v) in tokenizer_metadata(o.vocab)? {
        w = w.meta(&k, v);
    }

    let (d, q, kv, f) =
        (o.hidden as u64, (o.n_heads * o.head_dim) as u64, (o.n_kv_heads * o.head_dim) as u64, o.ffn as u64);
    let mut tensors = Tensors { writer: w, rng: Rng::new(o.seed) };
    // Twice the fan-in scale: logits through tied embeddings have a std of about 2.
    tensors.matrix("token_embd.weight", [d, o.vocab as u64], o.embedding_type, 2.0 * fan_in_scale(d))?;
    if !o.tied_embeddings {
        tensors.matrix("output.weight", [d, o.vocab as u64], o.weight_type, 2.0 * fan_in_scale(d))?;
    }
    tensors.norm("output_norm.weight", d);
    for i in 0..o.n_layers {
        let n = |s: &str| format!("blk.{i}.{s}");
        let wt = o.weight_type;
        tensors.norm(&n("attn_norm.weight"), d);
        tensors.matrix(&n("attn_q.weight"), [d, q], wt, fan_in_scale(d))?;
        tensors.matrix(&n("attn_k.weight"), [d, kv], wt, fan_in_scale(d))?;
        tensors.matrix(&n("attn_v.weight"), [d, kv], wt, fan_in_scale(d))?;
        tensors.matrix(&n("attn_output.weight"), [q, d], wt, fan_in_scale(q))?;
        if o.architecture == Architecture::Qwen2 {
            tensors.vector(&n("attn_q.bias"), q, 0.5);
            tensors.vector(&n("attn_k.bias"), kv, 0.5);
            tensors.vector(&n("attn_v.bias"), kv, 0.5);
        }
        if gemma {
            tensors.norm(&n("attn_q_norm.weight"), o.head_dim as u64);
            tensors.norm(&n("attn_k_norm.weight"), o.head_dim as u64);
            tensors.norm(&n("post_attention_norm.weight"), d);
            tensors.norm(&n("post_ffw_norm.weight"), d);
        }
        tensors.norm(&n("ffn_norm.weight"), d);
        tensors.matrix(&n("ffn_gate.weight"), [d, f], wt, fan_in_scale(d))?;
        tensors.matrix(&n("ffn_up.weight"), [d, f], wt, fan_in_scale(d))?;
        tensors.matrix(&n("ffn_down.weight"), [f, d], wt, fan_in_scale(f))?;
    }
    Ok(tensors.writer.build())
}

/// Uniform `±sqrt(3 / fan_in)` has unit variance per output for unit inputs.
fn fan_in_scale(fan_in: u64) -> f32 {
    (3.0 / fan_in as f32).sqrt()
}

/// The writer being filled and the RNG of the weights.
struct Tensors {
    writer: GgufWriter,
    rng: Rng,
}

impl Tensors {
    fn add(&mut self, name: &str, dims: &[u64], ty: GgmlType, data: Vec<u8>) {
        let writer = std::mem::take(&mut self.writer);
        self.writer = writer.tensor(name, dims, ty, data);
    }

    /// `dims` in ggml order: `[cols, rows]`.
    fn matrix(&mut self, name: &str, dims: [u64; 2], ty: GgmlType, scale: f32) -> Result<()> {
        let data = random_blocks(ty, (dims[0] * dims[1]) as usize, &mut self.rng, scale)?;
        self.add(name, &dims, ty, data);
        Ok(())
    }

    fn vector(&mut self, name: &str, len: u64, scale: f32) {
        let values: Vec<f32> = (0..len).map(|_| self.rng.uniform(-scale, scale)).collect();
        let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.add(name, &[len], GgmlType::F32, data);
    }

    /// Norm weights near 1 (GGUF stores gemma's with the +1 already added).
    fn norm(&mut self, name: &str, len: u64) {
        let values: Vec<f32> = (0..len).map(|_| 1.0 + self.rng.uniform(-0.1, 0.1)).collect();
        let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.add(name, &[len], GgmlType::F32, data);
    }
}
