//! The BERT family on the GPU: sentence-embedding encoders (all-MiniLM,
//! bge, e5), cross-encoder rerankers (a classification head on the first
//! token) and JinaBERT v2 (ALiBi instead of positions, GEGLU FFN), all read
//! from the spec.
//!
//! A batch of inputs is packed row after row, without padding; the
//! per-sequence attention ([`EncoderAttention`]) is the padding mask. With x
//! the residual stream, post-norm blocks:
//! ```text
//! x = LayerNorm(word[ids] + position[pos] + token_type[types])
//! per layer:  x = LayerNorm(x + attention(x Wq + bq, x Wk + bk, x Wv + bv) Wo + bo)
//!             x = LayerNorm(x + gelu(x Wup + bup) Wdown + bdown)     (JinaBERT: gelu(x Wgate) * x Wup)
//! out = pool(x) (normalised)  |  scores = Wout tanh(Wcls x[first] + bcls) + bout
//! ```
//! The stream alternates between two buffers so that every LayerNorm writes
//! out of place and the output projections add into the stream in the matmul.

use navaja_core::model::{Architecture, ModelSpec, Pooling};
use navaja_core::ops::activation::Unary;
use navaja_core::ops::encoder_attention::alibi_slopes;
use navaja_core::{NavajaError, Result};

use super::TensorMap;
use crate::GpuDevice;
use crate::ops::activation::Activate;
use crate::ops::add::Add;
use crate::ops::embedding::EmbeddingGather;
use crate::ops::encoder_attention::EncoderAttention;
use crate::ops::glu::Glu;
use crate::ops::layer_norm::LayerNorm;
use crate::ops::matmul::Matmul;
use crate::ops::pooling::Pool;
use crate::weights::GpuWeight;

/// A LayerNorm's weight and bias (F32 vectors).
pub struct Norm {
    pub weight: GpuWeight,
    pub bias: GpuWeight,
}

pub struct BertLayer {
    pub wq: GpuWeight,
    pub bq: GpuWeight,
    pub wk: GpuWeight,
    pub bk: GpuWeight,
    pub wv: GpuWeight,
    pub bv: GpuWeight,
    pub wo: GpuWeight,
    pub bo: GpuWeight,
    pub attn_norm: Norm,
    /// JinaBERT's GEGLU gate; `None` for BERT.
    pub gate: Option<GpuWeight>,
    pub up: GpuWeight,
    /// BERT's up bias (JinaBERT has none).
    pub up_bias: Option<GpuWeight>,
    pub down: GpuWeight,
    pub down_bias: GpuWeight,
    pub out_norm: Norm,
}

/// A reranker's head: `out(tanh(dense(h)))`.
pub struct ClassifierHead {
    pub dense: GpuWeight,
    pub dense_bias: GpuWeight,
    pub out: GpuWeight,
    pub out_bias: GpuWeight,
}

pub struct Bert {
    pub spec: ModelSpec,
    pub token_embd: GpuWeight,
    /// `None` with ALiBi.
    pub position_embd: Option<GpuWeight>,
    pub token_types: Option<GpuWeight>,
    pub embd_norm: Norm,
    pub layers: Vec<BertLayer>,
    pub head: Option<ClassifierHead>,
    /// One ALiBi slope per head (JinaBERT).
    pub alibi_slopes: Option<wgpu::Buffer>,
}

/// The activations of one packed batch, planned once for `max_tokens` rows
/// and `max_seqs` sequences and reused by every batch (see `crate::encoder`).
pub struct EncoderScratch {
    /// u32 token ids, positions within their sequence, and token types.
    pub ids: wgpu::Buffer,
    pub positions: wgpu::Buffer,
    pub types: wgpu::Buffer,
    /// The attention's tile table (4 u32 per tile) and the pooling's sequence table (2 u32 per sequence).
    pub tiles: wgpu::Buffer,
    pub seqs: wgpu::Buffer,
    /// The residual stream alternates between `x` and `h` (`max_tokens x hidden`).
    pub x: wgpu::Buffer,
    pub h: wgpu::Buffer,
    pub q: wgpu::Buffer,
    pub k: wgpu::Buffer,
    pub v: wgpu::Buffer,
    pub attn: wgpu::Buffer,
    /// `max_tokens x ffn`: the up projection (and JinaBERT's gate).
    pub up: wgpu::Buffer,
    pub gate: Option<wgpu::Buffer>,
    /// `max_seqs x hidden`: pooled vectors, and the head's hidden layer.
    pub pooled: wgpu::Buffer,
    pub head_hidden: wgpu::Buffer,
    /// `max_seqs x labels` reranker scores.
    pub scores: wgpu::Buffer,
    pub max_tokens: usize,
    pub max_seqs: usize,
}

/// One packed batch, its tables already written into the scratch.
#[derive(Debug, Clone, Copy)]
pub struct PackedBatch {
    pub rows: u32,
    pub n_seqs: u32,
    pub n_tiles: u32,
    pub rows_per_tile: u32,
    /// The longest sequence.
    pub max_len: u32,
    /// How the sequences become vectors (a reranker's head takes the first token: `Cls`).
    pub pooling: Pooling,
    pub normalize: bool,
}

impl Bert {
    /// Takes the tensors of `spec` (by their llama.cpp names) from `t`.
    pub fn from_tensors(gpu: &GpuDevice, spec: ModelSpec, t: &mut TensorMap) -> Result<Bert> {
        let bert = match (&spec.bert, spec.architecture) {
            (Some(b), Architecture::Bert) => b.clone(),
            _ => return Err(NavajaError::unsupported(format!("{} is not a BERT encoder", spec.architecture.name()))),
        };
        if spec.causal {
            return Err(NavajaError::unsupported("a causal BERT is not an encoder navaja runs"));
        }
        if spec.n_kv_heads != spec.n_heads || spec.n_heads * spec.head_dim != spec.hidden_size {
            return Err(NavajaError::unsupported(
                "the encoder needs plain multi-head attention (n_heads * head_dim = hidden)",
            ));
        }
        let (d, f) = (spec.hidden_size, spec.ffn_size);
        let norm = |t: &mut TensorMap, name: &str| -> Result<Norm> {
            Ok(Norm {
                weight: t.take_vector(&format!("{name}.weight"), d)?,
                bias: t.take_vector(&format!("{name}.bias"), d)?,
            })
        };
        let mut layers = Vec::with_capacity(spec.n_layers);
        for i in 0..spec.n_layers {
            let n = |s: &str| format!("blk.{i}.{s}");
            let gated = spec.ffn_gated;
            layers.push(BertLayer {
                wq: t.take(&n("attn_q.weight"))?,
                bq: t.take_vector(&n("attn_q.bias"), d)?,
                wk: t.take(&n("attn_k.weight"))?,
                bk: t.take_vector(&n("attn_k.bias"), d)?,
                wv: t.take(&n("attn_v.weight"))?,
                bv: t.take_vector(&n("attn_v.bias"), d)?,
                wo: t.take(&n("attn_output.weight"))?,
                bo: t.take_vector(&n("attn_output.bias"), d)?,
                attn_norm: norm(t, &n("attn_output_norm"))?,
                gate: if gated { Some(t.take(&n("ffn_gate.weight"))?) } else { None },
                up: t.take(&n("ffn_up.weight"))?,
                up_bias: if gated { None } else { Some(t.take_vector(&n("ffn_up.bias"), f)?) },
                down: t.take(&n("ffn_down.weight"))?,
                down_bias: t.take_vector(&n("ffn_down.bias"), d)?,
                out_norm: norm(t, &n("layer_output_norm"))?,
            });
        }
        let head = match bert.classifier_labels {
            Some(labels) => Some(ClassifierHead {
                dense: t.take("cls.weight")?,
                dense_bias: t.take_vector("cls.bias", d)?,
                out: t.take("cls.output.weight")?,
                out_bias: t.take_vector("cls.output.bias", labels)?,
            }),
            None => None,
        };
        let alibi_slopes = match bert.alibi_max_bias {
            Some(max_bias) => {
                let slopes = alibi_slopes(spec.n_heads, max_bias);
                Some(gpu.upload_f32("alibi slopes", &slopes)?)
            }
            None => None,
        };
        Ok(Bert {
            token_embd: t.take("token_embd.weight")?,
            position_embd: if bert.alibi_max_bias.is_none() { Some(t.take("position_embd.weight")?) } else { None },
            token_types: if bert.type_vocab_size > 0 { Some(t.take("token_types.weight")?) } else { None },
            embd_norm: norm(t, "token_embd_norm")?,
            layers,
            head,
            alibi_slopes,
            spec,
        })
    }

    /// Rows of the position embedding (`None`: any length, ALiBi).
    pub fn max_positions(&self) -> Option<usize> {
        self.position_embd.as_ref().map(|p| p.rows)
    }

    /// Scores per input of the classification head (`None`: an embedding model).
    pub fn labels(&self) -> Option<usize> {
        self.head.as_ref().map(|h| h.out.rows)
    }

    /// Multiply-adds of the matrix products per token (2 FLOPs each): what
    /// nearly all of an encoder's time goes to; attention adds 2 * hidden
    /// per key, small next to it for sentences.
    pub fn matmul_macs_per_token(&self) -> u64 {
        let per_layer: u64 = self
            .layers
            .iter()
            .map(|l| {
                [&l.wq, &l.wk, &l.wv, &l.wo, &l.up, &l.down]
                    .into_iter()
                    .chain(l.gate.iter())
                    .map(|w| (w.rows * w.cols) as u64)
                    .sum::<u64>()
            })
            .sum();
        per_layer
    }

    /// Bytes of weights on the GPU.
    pub fn weight_bytes(&self) -> u64 {
        let norm = |n: &Norm| n.weight.gpu_bytes() + n.bias.gpu_bytes();
        let layers: u64 = self
            .layers
            .iter()
            .map(|l| {
                [&l.wq, &l.bq, &l.wk, &l.bk, &l.wv, &l.bv, &l.wo, &l.bo, &l.up, &l.down, &l.down_bias]
                    .into_iter()
                    .chain(l.gate.iter())
                    .chain(l.up_bias.iter())
                    .map(GpuWeight::gpu_bytes)
                    .sum::<u64>()
                    + norm(&l.attn_norm)
                    + norm(&l.out_norm)
            })
            .sum();
        let head = self
            .head
            .as_ref()
            .map_or(0, |h| h.dense.gpu_bytes() + h.dense_bias.gpu_bytes() + h.out.gpu_bytes() + h.out_bias.gpu_bytes());
        let tables = [Some(&self.token_embd), self.position_embd.as_ref(), self.token_types.as_ref()]
            .into_iter()
            .flatten()
            .map(GpuWeight::gpu_bytes)
            .sum::<u64>();
        layers + head + tables + norm(&self.embd_norm)
    }

    /// Allocates the activations of batches of up to `max_tokens` rows and `max_seqs` sequences.
    pub fn scratch(&self, gpu: &GpuDevice, max_tokens: usize, max_seqs: usize) -> Result<EncoderScratch> {
        let s = &self.spec;
        let f = |label: &str, per_row: usize, rows: usize| gpu.storage(label, (per_row * rows * 4) as u64);
        let labels = self.labels().unwrap_or(1);
        Ok(EncoderScratch {
            ids: f("encoder ids", 1, max_tokens)?,
            positions: f("encoder positions", 1, max_tokens)?,
            types: f("encoder types", 1, max_tokens)?,
            tiles: f("encoder tiles", 4, max_tokens + max_seqs)?,
            seqs: f("encoder seqs", 2, max_seqs)?,
            x: f("encoder x", s.hidden_size, max_tokens)?,
            h: f("encoder h", s.hidden_size, max_tokens)?,
            q: f("encoder q", s.hidden_size, max_tokens)?,
            k: f("encoder k", s.hidden_size, max_tokens)?,
            v: f("encoder v", s.hidden_size, max_tokens)?,
            attn: f("encoder attn", s.hidden_size, max_tokens)?,
            up: f("encoder ffn", s.ffn_size, max_tokens)?,
            gate: if s.ffn_gated { Some(f("encoder gate", s.ffn_size, max_tokens)?) } else { None },
            pooled: f("encoder pooled", s.hidden_size, max_seqs)?,
            head_hidden: f("encoder head", s.hidden_size, max_seqs)?,
            scores: f("encoder scores", labels, max_seqs)?,
            max_tokens,
            max_seqs,
        })
    }

    /// Records the forward pass of `b` into `enc`: the pooled vectors end in
    /// `s.pooled` and, with a head, the scores in `s.scores`.
    pub fn encode_forward(
        &self,
        gpu: &GpuDevice,
        enc: &mut wgpu::CommandEncoder,
        s: &EncoderScratch,
        b: &PackedBatch,
    ) -> Result<()> {
        let spec = &self.spec;
        if b.rows as usize > s.max_tokens || b.n_seqs as usize > s.max_seqs {
            return Err(NavajaError::invalid("encoder: the batch is larger than the scratch"));
        }
        let n = b.rows;
        let hidden = spec.hidden_size as u32;
        let eps = spec.norm_eps;
        let len = n * hidden;
        let gather = |table: &GpuWeight, ids: &wgpu::Buffer, y: &wgpu::Buffer, enc: &mut wgpu::CommandEncoder| {
            EmbeddingGather { table, ids, ids_offset: 0, n, y, y_offset: 0, scale: 1.0 }.encode(gpu, enc)
        };
        gather(&self.token_embd, &s.ids, &s.h, enc)?;
        for (table, ids) in [(&self.position_embd, &s.positions), (&self.token_types, &s.types)] {
            if let Some(table) = table {
                gather(table, ids, &s.x, enc)?;
                Add { x: &s.h, x_offset: 0, y: &s.x, y_offset: 0, len }.encode(gpu, enc)?;
            }
        }
        let norm = |x: &wgpu::Buffer, norm: &Norm, y: &wgpu::Buffer, enc: &mut wgpu::CommandEncoder| {
            LayerNorm { x, weight: vector(&norm.weight), bias: vector(&norm.bias), y, rows: n, cols: hidden, eps }
                .encode(gpu, enc)
        };
        norm(&s.h, &self.embd_norm, &s.x, enc)?;

        let matmul = |w, x, y, bias, accumulate| rows_matmul(w, x, y, bias, accumulate, n);
        for l in &self.layers {
            matmul(&l.wq, &s.x, &s.q, Some(&l.bq), false).encode(gpu, enc)?;
            matmul(&l.wk, &s.x, &s.k, Some(&l.bk), false).encode(gpu, enc)?;
            matmul(&l.wv, &s.x, &s.v, Some(&l.bv), false).encode(gpu, enc)?;
            EncoderAttention {
                q: &s.q,
                k: &s.k,
                v: &s.v,
                out: &s.attn,
                tiles: &s.tiles,
                n_tiles: b.n_tiles,
                rows_per_tile: b.rows_per_tile,
                max_len: b.max_len,
                rows: n,
                n_heads: spec.n_heads as u32,
                head_dim: spec.head_dim as u32,
                scale: spec.attention_scale,
                slopes: self.alibi_slopes.as_ref(),
            }
            .encode(gpu, enc)?;
            matmul(&l.wo, &s.attn, &s.x, Some(&l.bo), true).encode(gpu, enc)?;
            norm(&s.x, &l.attn_norm, &s.h, enc)?;
            matmul(&l.up, &s.h, &s.up, l.up_bias.as_ref(), false).encode(gpu, enc)?;
            let ffn_len = n * spec.ffn_size as u32;
            let activated = match (&l.gate, &s.gate) {
                (Some(gate), Some(gate_buf)) => {
                    matmul(gate, &s.h, gate_buf, None, false).encode(gpu, enc)?;
                    Glu { gate: gate_buf, up: &s.up, len: ffn_len, activation: spec.activation }.encode(gpu, enc)?;
                    gate_buf
                }
                (None, _) => {
                    let f = Unary::Activation(spec.activation);
                    Activate { x: &s.up, offset: 0, len: ffn_len, f }.encode(gpu, enc)?;
                    &s.up
                }
                (Some(_), None) => return Err(NavajaError::invalid("encoder: the scratch has no gate buffer")),
            };
            matmul(&l.down, activated, &s.h, Some(&l.down_bias), true).encode(gpu, enc)?;
            norm(&s.h, &l.out_norm, &s.x, enc)?;
        }

        Pool {
            x: &s.x,
            seqs: &s.seqs,
            out: &s.pooled,
            n_seqs: b.n_seqs,
            rows: n,
            hidden,
            pooling: b.pooling,
            normalize: b.normalize,
        }
        .encode(gpu, enc)?;
        if let Some(head) = &self.head {
            let seqs = b.n_seqs;
            rows_matmul(&head.dense, &s.pooled, &s.head_hidden, Some(&head.dense_bias), false, seqs)
                .encode(gpu, enc)?;
            Activate { x: &s.head_hidden, offset: 0, len: seqs * hidden, f: Unary::Tanh }.encode(gpu, enc)?;
            rows_matmul(&head.out, &s.head_hidden, &s.scores, Some(&head.out_bias), false, seqs).encode(gpu, enc)?;
        }
        Ok(())
    }
}

/// `y (+)= x W^T (+ bias)` over `n` rows from the start of `x` and `y`.
fn rows_matmul<'a>(
    weight: &'a GpuWeight,
    x: &'a wgpu::Buffer,
    y: &'a wgpu::Buffer,
    bias: Option<&'a GpuWeight>,
    accumulate: bool,
    n: u32,
) -> Matmul<'a> {
    Matmul { weight, x, x_offset: 0, y, y_offset: 0, n, bias: bias.map(vector), accumulate }
}

/// The buffer of a vector (a norm weight or bias): always one part.
fn vector(w: &GpuWeight) -> &wgpu::Buffer {
    &w.parts[0].buffer
}
