//! The pieces of a decoder step every architecture shares: the embedding
//! gather, attention over the KV cache, the LM head, and the byte counts.
//! An architecture file (llama.rs, gemma3.rs) keeps only what differs: its
//! norms, projections and activation.

use navaja_core::Result;
use navaja_core::model::ModelSpec;

use super::{Batch, LogitRows, row_bytes};
use crate::GpuDevice;
use crate::kv_cache::KvCache;
use crate::ops::attention::Attention;
use crate::ops::embedding::EmbeddingGather;
use crate::ops::matmul::Matmul;
use crate::session::Scratch;
use crate::weights::GpuWeight;

/// The rows of `table` for the batch's ids (`s.ids`) into `s.x`, scaled as the spec says.
pub(crate) fn embed_tokens(
    gpu: &GpuDevice,
    enc: &mut wgpu::CommandEncoder,
    spec: &ModelSpec,
    table: &GpuWeight,
    s: &Scratch,
    batch: Batch,
) -> Result<()> {
    let scale = spec.embedding_scale.unwrap_or(1.0);
    EmbeddingGather { table, ids: &s.ids, ids_offset: 0, n: batch.n_tokens, y: &s.x, y_offset: 0, scale }
        .encode(gpu, enc)
}

/// Writes the batch's keys and values (`s.k`, `s.v`, after rope) into the
/// cache of `layer`, then causal attention of `s.q` over that cache into `s.attn`.
pub(crate) fn cached_attention(
    gpu: &GpuDevice,
    enc: &mut wgpu::CommandEncoder,
    spec: &ModelSpec,
    s: &Scratch,
    kv: &KvCache,
    layer: usize,
    batch: Batch,
) -> Result<()> {
    let n = batch.n_tokens;
    kv.write(gpu, enc, layer, (&s.k, &s.v), batch.start_pos..batch.start_pos + n)?;
    crate::profile::mark(gpu, enc, "kv write");
    let cache = kv.view(layer);
    Attention {
        q: &s.q,
        q_offset: 0,
        k_cache: cache.k,
        v_cache: cache.v,
        cache: cache.layout,
        recent: cache.recent,
        out: &s.attn,
        out_offset: 0,
        n_tokens: n,
        n_heads: spec.n_heads as u32,
        n_kv_heads: spec.n_kv_heads as u32,
        head_dim: spec.head_dim as u32,
        start_pos: batch.start_pos,
        scale: spec.attention_scale,
        causal: true,
        window: cache.window,
    }
    .encode(gpu, enc)?;
    crate::profile::mark(gpu, enc, "attention");
    Ok(())
}

/// Logits of the rows the batch asks for, from the final-normed `s.h`, into `s.logits`.
pub(crate) fn lm_head(
    gpu: &GpuDevice,
    enc: &mut wgpu::CommandEncoder,
    spec: &ModelSpec,
    output: &GpuWeight,
    s: &Scratch,
    batch: Batch,
) -> Result<()> {
    let n = batch.n_tokens;
    let (first_row, rows) = match batch.logits {
        LogitRows::Last => (n - 1, 1),
        LogitRows::All => (0, n),
    };
    Matmul {
        weight: output,
        x: &s.h,
        x_offset: first_row * spec.hidden_size as u32,
        y: &s.logits,
        y_offset: 0,
        n: rows,
        bias: None,
        accumulate: false,
    }
    .encode(gpu, enc)
}

/// Bytes of a decoder's weights on the GPU: its matrices and its embedding table.
pub(crate) fn weight_bytes<'a>(matrices: impl Iterator<Item = &'a GpuWeight>, token_embd: &GpuWeight) -> u64 {
    matrices.map(GpuWeight::gpu_bytes).sum::<u64>() + token_embd.gpu_bytes()
}

/// Bytes of weights one decode step reads: every matrix, one embedding row,
/// and the whole table again when the LM head is tied to it (without the
/// split layout's row padding, which no kernel loads).
pub(crate) fn decode_read_bytes<'a>(
    matrices: impl Iterator<Item = &'a GpuWeight>,
    token_embd: &GpuWeight,
    tied_head: bool,
) -> u64 {
    let tied = if tied_head { token_embd.read_bytes() } else { 0 };
    matrices.map(GpuWeight::read_bytes).sum::<u64>() + row_bytes(token_embd) + tied
}
