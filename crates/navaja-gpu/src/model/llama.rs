//! The Llama family on the GPU: SmolLM2, TinyLlama, Llama 3.x, and Qwen2 /
//! Qwen2.5 (Llama plus biases on q, k and v, and NeoX RoPE ordering: both
//! read from the spec, so Qwen2 needs no code of its own).
//!
//! Per layer, with x the residual stream:
//! ```text
//! h = rms_norm(x) * attn_norm
//! q, k, v = h Wq (+bq), h Wk (+bk), h Wv (+bv);  rope(q), rope(k);  cache <- k, v
//! x += attention(q, cache) Wo
//! h = rms_norm(x) * ffn_norm
//! x += (silu(h Wgate) * h Wup) Wdown
//! ```
//! then `logits = rms_norm(x) * output_norm · Woutput` (the token embedding
//! matrix when the model ties them).

use navaja_core::model::{ModelSpec, RopeScalingKind};
use navaja_core::{NavajaError, Result};

use super::{Batch, DecoderModel, TensorMap, steps};
use crate::kv_cache::KvCache;
use crate::ops::glu::Glu;
use crate::ops::matmul::Matmul;
use crate::ops::rms_norm::RmsNorm;
use crate::ops::rope::Rope;
use crate::session::Scratch;
use crate::weights::GpuWeight;
use crate::{GpuDevice, profile};

pub struct LlamaLayer {
    pub attn_norm: GpuWeight,
    pub wq: GpuWeight,
    pub wk: GpuWeight,
    pub wv: GpuWeight,
    /// Qwen2's q/k/v biases.
    pub bq: Option<GpuWeight>,
    pub bk: Option<GpuWeight>,
    pub bv: Option<GpuWeight>,
    pub wo: GpuWeight,
    pub ffn_norm: GpuWeight,
    pub gate: GpuWeight,
    pub up: GpuWeight,
    pub down: GpuWeight,
}

pub struct Llama {
    pub spec: ModelSpec,
    pub token_embd: GpuWeight,
    pub layers: Vec<LlamaLayer>,
    pub output_norm: GpuWeight,
    /// `None` when the output projection is tied to `token_embd`.
    pub output: Option<GpuWeight>,
    /// Llama 3.1's per-frequency RoPE divisors.
    pub rope_freqs: Option<GpuWeight>,
    /// 1 / linear RoPE scaling factor.
    freq_scale: f32,
}

impl Llama {
    pub fn from_tensors(spec: ModelSpec, t: &mut TensorMap) -> Result<Llama> {
        let rope = spec.rope.as_ref().ok_or_else(|| NavajaError::format("a llama model needs RoPE parameters"))?;
        let freq_scale = match rope.scaling.kind {
            RopeScalingKind::None => 1.0,
            RopeScalingKind::Linear => 1.0 / rope.scaling.factor,
            // GGUF bakes Llama 3's factors into rope_freqs.weight.
            RopeScalingKind::Llama3 => 1.0,
            other => {
                return Err(NavajaError::unsupported(format!("RoPE scaling {other:?} is not supported yet")));
            }
        };
        let d = spec.hidden_size;
        let mut layers = Vec::with_capacity(spec.n_layers);
        for i in 0..spec.n_layers {
            let name = |s: &str| format!("blk.{i}.{s}");
            let bias = |t: &mut TensorMap, s: &str, len: usize| -> Result<Option<GpuWeight>> {
                if spec.attention_qkv_bias { t.take_vector(&name(s), len).map(Some) } else { Ok(None) }
            };
            layers.push(LlamaLayer {
                attn_norm: t.take_vector(&name("attn_norm.weight"), d)?,
                wq: t.take(&name("attn_q.weight"))?,
                wk: t.take(&name("attn_k.weight"))?,
                wv: t.take(&name("attn_v.weight"))?,
                bq: bias(t, "attn_q.bias", spec.n_heads * spec.head_dim)?,
                bk: bias(t, "attn_k.bias", spec.kv_width())?,
                bv: bias(t, "attn_v.bias", spec.kv_width())?,
                wo: t.take(&name("attn_output.weight"))?,
                ffn_norm: t.take_vector(&name("ffn_norm.weight"), d)?,
                gate: t.take(&name("ffn_gate.weight"))?,
                up: t.take(&name("ffn_up.weight"))?,
                down: t.take(&name("ffn_down.weight"))?,
            });
        }
        let rope_freqs = match &rope.freq_factors_tensor {
            Some(name) => Some(t.take_vector(name, rope.dims / 2)?),
            None => None,
        };
        Ok(Llama {
            token_embd: t.take("token_embd.weight")?,
            output_norm: t.take_vector("output_norm.weight", d)?,
            output: if spec.tied_embeddings { None } else { Some(t.take("output.weight")?) },
            layers,
            rope_freqs,
            freq_scale,
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
                [&l.wq, &l.wk, &l.wv, &l.wo, &l.gate, &l.up, &l.down, &l.attn_norm, &l.ffn_norm]
                    .into_iter()
                    .chain([&l.bq, &l.bk, &l.bv].into_iter().flatten())
            })
            .chain([&self.output_norm])
            .chain(self.output.as_ref())
    }
}

/// `y (+)= x W^T (+ bias)` over `n` token rows from the start of `x` and `y`.
fn matmul_rows<'a>(
    w: &'a GpuWeight,
    x: &'a wgpu::Buffer,
    y: &'a wgpu::Buffer,
    bias: Option<&'a GpuWeight>,
    accumulate: bool,
    n: u32,
) -> Matmul<'a> {
    Matmul { weight: w, x, x_offset: 0, y, y_offset: 0, n, bias: bias.map(|b| &b.parts[0].buffer), accumulate }
}

impl Llama {
    /// RoPE in place on `heads` heads of each token of `batch` in `x`, for `layer`.
    fn rope<'a>(&'a self, x: &'a wgpu::Buffer, heads: usize, layer: usize, batch: Batch) -> Rope<'a> {
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
            freq_base: self.spec.rope_freq_base(layer).unwrap_or(rope.freq_base),
            freq_scale: self.freq_scale,
            freq_factors: self.rope_freqs.as_ref().map(|w| &w.parts[0].buffer),
        }
    }
}

impl DecoderModel for Llama {
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
        let eps = spec.norm_eps;

        let mark = |enc: &mut wgpu::CommandEncoder, label| profile::mark(gpu, enc, label);
        steps::embed_tokens(gpu, enc, spec, &self.token_embd, s, batch)?;
        mark(enc, "embed");

        let matmul = |w, x, y, bias, acc| matmul_rows(w, x, y, bias, acc, n);
        for (i, l) in self.layers.iter().enumerate() {
            let rope_op = |x, heads| self.rope(x, heads, i, batch);
            RmsNorm { x: &s.x, weight: &l.attn_norm.parts[0].buffer, y: &s.h, rows: n, cols: hidden, eps }
                .encode(gpu, enc)?;
            mark(enc, "rms_norm");
            matmul(&l.wq, &s.h, &s.q, l.bq.as_ref(), false).encode(gpu, enc)?;
            matmul(&l.wk, &s.h, &s.k, l.bk.as_ref(), false).encode(gpu, enc)?;
            matmul(&l.wv, &s.h, &s.v, l.bv.as_ref(), false).encode(gpu, enc)?;
            mark(enc, "matmul qkv");
            rope_op(&s.q, spec.n_heads).encode(gpu, enc)?;
            rope_op(&s.k, spec.n_kv_heads).encode(gpu, enc)?;
            mark(enc, "rope");
            steps::cached_attention(gpu, enc, spec, s, kv, i, batch)?;
            matmul(&l.wo, &s.attn, &s.x, None, true).encode(gpu, enc)?;
            mark(enc, "matmul o");
            RmsNorm { x: &s.x, weight: &l.ffn_norm.parts[0].buffer, y: &s.h, rows: n, cols: hidden, eps }
                .encode(gpu, enc)?;
            mark(enc, "rms_norm");
            matmul(&l.gate, &s.h, &s.gate, None, false).encode(gpu, enc)?;
            matmul(&l.up, &s.h, &s.up, None, false).encode(gpu, enc)?;
            mark(enc, "matmul gate+up");
            Glu { gate: &s.gate, up: &s.up, len: n * spec.ffn_size as u32, activation: spec.activation }
                .encode(gpu, enc)?;
            mark(enc, "glu");
            matmul(&l.down, &s.gate, &s.x, None, true).encode(gpu, enc)?;
            mark(enc, "matmul down");
        }

        RmsNorm { x: &s.x, weight: &self.output_norm.parts[0].buffer, y: &s.h, rows: n, cols: hidden, eps }
            .encode(gpu, enc)?;
        mark(enc, "rms_norm");
        steps::lm_head(gpu, enc, spec, self.output(), s, batch)
    }
}
