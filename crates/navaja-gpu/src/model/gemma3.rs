//! Gemma 3 (text) on the GPU: Gemma 3 270M and its larger siblings' text
//! stacks, on the same kernels as [`super::llama`].
//!
//! Per layer, with x the residual stream (every norm an RMSNorm; GGUF
//! stores Gemma's norm weights with the `1 +` already added):
//! ```text
//! h = rms_norm(x) * attn_norm
//! q, k, v = h Wq, h Wk, h Wv
//! q, k = rms_norm(q) * attn_q_norm, rms_norm(k) * attn_k_norm   (per head, over head_dim)
//! rope(q), rope(k)   NeoX; base 1e6 on global layers, 1e4 (unscaled) on local ones;  cache <- k, v
//! x += rms_norm(attention(q, cache) Wo) * post_attention_norm   (local layers: sliding window)
//! h = rms_norm(x) * ffn_norm
//! x += rms_norm((gelu_tanh(h Wgate) * h Wup) Wdown) * post_ffw_norm
//! ```
//! with `x = embedding * sqrt(hidden)` at the start and
//! `logits = rms_norm(x) * output_norm · Wembedding` (tied) at the end.
//!
//! Everything here is read from the spec (`qk_norm`, `post_norms`,
//! activation, per-layer RoPE base and window, attention scale, embedding
//! scale), as the CPU reference (`navaja_core::reference`) does; the sliding
//! window layers get their ring from [`KvCache`], which reads the spec's
//! per-layer windows.

use navaja_core::model::{Architecture, ModelSpec, RopeScalingKind};
use navaja_core::{NavajaError, Result};

use super::{Batch, DecoderModel, TensorMap, steps};
use crate::kv_cache::KvCache;
use crate::ops::add::Add;
use crate::ops::glu::Glu;
use crate::ops::matmul::Matmul;
use crate::ops::rms_norm::RmsNorm;
use crate::ops::rope::Rope;
use crate::session::Scratch;
use crate::weights::GpuWeight;
use crate::{GpuDevice, profile};

pub struct Gemma3Layer {
    pub attn_norm: GpuWeight,
    pub wq: GpuWeight,
    pub wk: GpuWeight,
    pub wv: GpuWeight,
    /// Per-head norms of q and k (head_dim values each).
    pub q_norm: GpuWeight,
    pub k_norm: GpuWeight,
    pub wo: GpuWeight,
    pub post_attention_norm: GpuWeight,
    pub ffn_norm: GpuWeight,
    pub gate: GpuWeight,
    pub up: GpuWeight,
    pub down: GpuWeight,
    pub post_ffw_norm: GpuWeight,
    /// RoPE base and 1 / linear scaling factor of this layer.
    freq_base: f32,
    freq_scale: f32,
}

pub struct Gemma3 {
    pub spec: ModelSpec,
    pub token_embd: GpuWeight,
    pub layers: Vec<Gemma3Layer>,
    pub output_norm: GpuWeight,
    /// `None` when the output projection is tied to `token_embd` (every released Gemma 3).
    pub output: Option<GpuWeight>,
}

impl Gemma3 {
    pub fn from_tensors(spec: ModelSpec, t: &mut TensorMap) -> Result<Gemma3> {
        if spec.architecture != Architecture::Gemma3 || !spec.qk_norm || !spec.post_norms {
            return Err(NavajaError::format("a gemma3 model needs q/k norms and post-norms in its spec"));
        }
        if spec.attention_qkv_bias || spec.linear_bias || !spec.ffn_gated {
            return Err(NavajaError::unsupported("gemma3 on the GPU: biases or an ungated FFN are not supported"));
        }
        let rope = spec.rope.as_ref().ok_or_else(|| NavajaError::format("a gemma3 model needs RoPE parameters"))?;
        if rope.freq_factors_tensor.is_some() {
            return Err(NavajaError::unsupported("gemma3 on the GPU: RoPE frequency factors are not supported"));
        }
        let global_scale = match rope.scaling.kind {
            RopeScalingKind::None => 1.0,
            RopeScalingKind::Linear => 1.0 / rope.scaling.factor,
            other => {
                return Err(NavajaError::unsupported(format!("RoPE scaling {other:?} is not supported yet")));
            }
        };
        if spec.norm_weight_offset != 0.0 {
            // Only Hugging Face checkpoints store `w` for `x * (1 + w)`; the GPU loads GGUF.
            return Err(NavajaError::unsupported("gemma3 on the GPU: norm weights without the +1 (HF layout)"));
        }
        let (d, hd) = (spec.hidden_size, spec.head_dim);
        let mut layers = Vec::with_capacity(spec.n_layers);
        for i in 0..spec.n_layers {
            let name = |s: &str| format!("blk.{i}.{s}");
            let local = spec.is_local_layer(i);
            layers.push(Gemma3Layer {
                attn_norm: t.take_vector(&name("attn_norm.weight"), d)?,
                wq: t.take(&name("attn_q.weight"))?,
                wk: t.take(&name("attn_k.weight"))?,
                wv: t.take(&name("attn_v.weight"))?,
                q_norm: t.take_vector(&name("attn_q_norm.weight"), hd)?,
                k_norm: t.take_vector(&name("attn_k_norm.weight"), hd)?,
                wo: t.take(&name("attn_output.weight"))?,
                post_attention_norm: t.take_vector(&name("post_attention_norm.weight"), d)?,
                ffn_norm: t.take_vector(&name("ffn_norm.weight"), d)?,
                gate: t.take(&name("ffn_gate.weight"))?,
                up: t.take(&name("ffn_up.weight"))?,
                down: t.take(&name("ffn_down.weight"))?,
                post_ffw_norm: t.take_vector(&name("post_ffw_norm.weight"), d)?,
                freq_base: spec.rope_freq_base(i).unwrap_or(rope.freq_base),
                // The local layers rotate unscaled (llama.cpp: rope_freq_scale_train_swa = 1).
                freq_scale: if local { 1.0 } else { global_scale },
            });
        }
        Ok(Gemma3 {
            token_embd: t.take("token_embd.weight")?,
            output_norm: t.take_vector("output_norm.weight", d)?,
            output: if spec.tied_embeddings { None } else { Some(t.take("output.weight")?) },
            layers,
            spec,
        })
    }

    fn output(&self) -> &GpuWeight {
        self.output.as_ref().unwrap_or(&self.token_embd)
    }

    fn matrices(&self) -> impl Iterator<Item = &GpuWeight> {
        self.layers
            .iter()
            .flat_map(|l| {
                [
                    &l.wq,
                    &l.wk,
                    &l.wv,
                    &l.wo,
                    &l.gate,
                    &l.up,
                    &l.down,
                    &l.attn_norm,
                    &l.q_norm,
                    &l.k_norm,
                    &l.post_attention_norm,
                    &l.ffn_norm,
                    &l.post_ffw_norm,
                ]
            })
            .chain([&self.output_norm])
            .chain(self.output.as_ref())
    }

    /// RoPE in place on `heads` heads of each token of `batch` in `x`, for layer `l`.
    fn rope<'a>(&'a self, x: &'a wgpu::Buffer, heads: usize, l: &Gemma3Layer, batch: Batch) -> Rope<'a> {
        let rope = self.spec.rope.as_ref().expect("checked in from_tensors");
        Rope {
            x,
            x_offset: 0,
            n_tokens: batch.n_tokens,
            n_heads: heads as u32,
            head_dim: self.spec.head_dim as u32,
            rot_dims: rope.dims as u32,
            start_pos: batch.start_pos,
            ordering: rope.ordering,
            freq_base: l.freq_base,
            freq_scale: l.freq_scale,
            freq_factors: None,
        }
    }
}

/// `y (+)= x W^T` over `n` token rows from the start of `x` and `y`.
fn matmul_rows<'a>(w: &'a GpuWeight, x: &'a wgpu::Buffer, y: &'a wgpu::Buffer, accumulate: bool, n: u32) -> Matmul<'a> {
    Matmul { weight: w, x, x_offset: 0, y, y_offset: 0, n, bias: None, accumulate }
}

/// `y = rms_norm(x) * w` over `rows` rows of `cols`.
fn rms_norm_rows<'a>(
    x: &'a wgpu::Buffer,
    w: &'a GpuWeight,
    y: &'a wgpu::Buffer,
    rows: u32,
    cols: u32,
    eps: f32,
) -> RmsNorm<'a> {
    RmsNorm { x, weight: &w.parts[0].buffer, y, rows, cols, eps }
}

impl DecoderModel for Gemma3 {
    fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    fn weight_bytes(&self) -> u64 {
        steps::weight_bytes(self.matrices(), &self.token_embd)
    }

    fn decode_read_bytes(&self) -> u64 {
        steps::decode_read_bytes(self.matrices(), &self.token_embd, self.output.is_none())
    }

    fn encode_forward(
        &self,
        gpu: &GpuDevice,
        enc: &mut wgpu::CommandEncoder,
        s: &Scratch,
        kv: &KvCache,
        batch: Batch,
    ) -> Result<()> {
        let spec = &self.spec;
        let n = batch.n_tokens;
        let hidden = spec.hidden_size as u32;
        let head_dim = spec.head_dim as u32;
        let eps = spec.norm_eps;
        let post =
            s.post.as_ref().ok_or_else(|| NavajaError::invalid("gemma3: the scratch has no post-norm buffer"))?;

        steps::embed_tokens(gpu, enc, spec, &self.token_embd, s, batch)?;
        profile::mark(gpu, enc, "embed");

        let matmul = |w, x, y, acc| matmul_rows(w, x, y, acc, n);
        let norm = |x, w, y, rows, cols| rms_norm_rows(x, w, y, rows, cols, eps);
        for (i, l) in self.layers.iter().enumerate() {
            norm(&s.x, &l.attn_norm, &s.h, n, hidden).encode(gpu, enc)?;
            // q and k go through a spare buffer of their size first, since
            // the norm cannot run in place: q via `attn` (free until
            // attention), k via `v` (written next).
            matmul(&l.wq, &s.h, &s.attn, false).encode(gpu, enc)?;
            norm(&s.attn, &l.q_norm, &s.q, n * spec.n_heads as u32, head_dim).encode(gpu, enc)?;
            matmul(&l.wk, &s.h, &s.v, false).encode(gpu, enc)?;
            norm(&s.v, &l.k_norm, &s.k, n * spec.n_kv_heads as u32, head_dim).encode(gpu, enc)?;
            matmul(&l.wv, &s.h, &s.v, false).encode(gpu, enc)?;
            profile::mark(gpu, enc, "matmul+norm qkv");
            self.rope(&s.q, spec.n_heads, l, batch).encode(gpu, enc)?;
            self.rope(&s.k, spec.n_kv_heads, l, batch).encode(gpu, enc)?;
            profile::mark(gpu, enc, "rope");
            steps::cached_attention(gpu, enc, spec, s, kv, i, batch)?;
            matmul(&l.wo, &s.attn, &s.h, false).encode(gpu, enc)?;
            norm(&s.h, &l.post_attention_norm, post, n, hidden).encode(gpu, enc)?;
            Add { x: &s.x, x_offset: 0, y: post, y_offset: 0, len: n * hidden }.encode(gpu, enc)?;
            profile::mark(gpu, enc, "matmul o+norms");

            norm(&s.x, &l.ffn_norm, &s.h, n, hidden).encode(gpu, enc)?;
            matmul(&l.gate, &s.h, &s.gate, false).encode(gpu, enc)?;
            matmul(&l.up, &s.h, &s.up, false).encode(gpu, enc)?;
            profile::mark(gpu, enc, "matmul gate+up");
            Glu { gate: &s.gate, up: &s.up, len: n * spec.ffn_size as u32, activation: spec.activation }
                .encode(gpu, enc)?;
            matmul(&l.down, &s.gate, &s.h, false).encode(gpu, enc)?;
            profile::mark(gpu, enc, "glu+matmul down");
            norm(&s.h, &l.post_ffw_norm, post, n, hidden).encode(gpu, enc)?;
            Add { x: &s.x, x_offset: 0, y: post, y_offset: 0, len: n * hidden }.encode(gpu, enc)?;
            profile::mark(gpu, enc, "norm+add");
        }

        norm(&s.x, &self.output_norm, &s.h, n, hidden).encode(gpu, enc)?;
        profile::mark(gpu, enc, "rms_norm");
        steps::lm_head(gpu, enc, spec, self.output(), s, batch)
    }
}
