//! A generation session: the KV cache and scratch buffers of one
//! conversation, planned once when the session is created, and the steps
//! that run the model over them.
//!
//! A step (a prefill chunk or one decode token) is one command buffer: the
//! forward pass, then on the GPU the logit adjustments (penalties, bias) and
//! the reduction of the logits to the top-k candidates, copied to a small
//! staging buffer. Nothing is read back inside the step, and only the
//! candidates (k ids and logits plus two floats) cross back to the host.

use std::sync::Arc;

use navaja_core::ops::logits::TopKResult;
use navaja_core::quant::kv::KvType;
use navaja_core::{NavajaError, Result};

use crate::GpuDevice;
pub use crate::kv_cache::{KvCache, KvWindow};
use crate::model::{Batch, DecoderModel, LogitRows};
use crate::ops::logits::{
    LogitAdjust, MAX_TOP_K, TopK, adjustment_bytes, decode_top_k, top_k_out_words, top_k_scratch_bytes,
};

/// Sizes a session plans its memory for.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Most positions the conversation may reach; 0: the model's context
    /// length, capped at [`DEFAULT_CONTEXT`] unless a `window` bounds the
    /// cache, so that a browser tab does not allocate gigabytes by default.
    pub context_length: usize,
    /// How keys and values are stored; `None`: [`KvType::preferred`] for the model (q8 where it fits).
    pub kv: Option<KvType>,
    /// Keep only the first and the last positions (attention sink + sliding
    /// window): memory stays bounded however long the conversation runs.
    pub window: Option<KvWindow>,
    /// Allocate the whole cache now instead of growing it as the conversation grows.
    pub preallocate: bool,
    /// Most tokens one prefill step runs at once (longer prompts run in chunks).
    pub max_batch: usize,
    /// Most rows of logits one step can produce (scoring needs every row; generation one).
    pub logit_rows: usize,
}

pub const DEFAULT_CONTEXT: usize = 4096;

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions { context_length: 0, kv: None, window: None, preallocate: false, max_batch: 128, logit_rows: 1 }
    }
}

/// Activations of one batch, reused by every layer and every step.
pub struct Scratch {
    /// u32 token ids of the batch.
    pub ids: wgpu::Buffer,
    /// The residual stream, `max_batch x hidden`.
    pub x: wgpu::Buffer,
    /// Normalised activations, `max_batch x hidden`.
    pub h: wgpu::Buffer,
    pub q: wgpu::Buffer,
    pub k: wgpu::Buffer,
    pub v: wgpu::Buffer,
    /// Attention output, `max_batch x n_heads*head_dim`.
    pub attn: wgpu::Buffer,
    /// FFN gate (then the activated product), `max_batch x ffn`.
    pub gate: wgpu::Buffer,
    pub up: wgpu::Buffer,
    /// Post-norm output before its residual add, `max_batch x hidden`
    /// (only models with post-norms, gemma3).
    pub post: Option<wgpu::Buffer>,
    /// `logit_rows x vocab`.
    pub logits: wgpu::Buffer,
    pub max_batch: usize,
    pub logit_rows: usize,
}

impl Scratch {
    fn new(gpu: &GpuDevice, model: &dyn DecoderModel, max_batch: usize, logit_rows: usize) -> Result<Scratch> {
        let s = model.spec();
        let f = |label: &str, per_token: usize, rows: usize| gpu.storage(label, (per_token * rows * 4) as u64);
        let q_width = s.n_heads * s.head_dim;
        Ok(Scratch {
            ids: f("ids", 1, max_batch)?,
            x: f("x", s.hidden_size, max_batch)?,
            h: f("h", s.hidden_size, max_batch)?,
            q: f("q", q_width, max_batch)?,
            k: f("k", s.kv_width(), max_batch)?,
            v: f("v", s.kv_width(), max_batch)?,
            attn: f("attn", q_width, max_batch)?,
            gate: f("gate", s.ffn_size, max_batch)?,
            up: f("up", s.ffn_size, max_batch)?,
            post: if s.post_norms { Some(f("post-norm", s.hidden_size, max_batch)?) } else { None },
            logits: f("logits", s.vocab_size, logit_rows)?,
            max_batch,
            logit_rows,
        })
    }
}

/// How the logits of the last token are reduced (on the GPU, for a session).
pub use navaja_core::generate::Pick;

/// The KV cache and scratch of one conversation with one model.
pub struct Session {
    gpu: Arc<GpuDevice>,
    model: Arc<dyn DecoderModel>,
    scratch: Scratch,
    kv: KvCache,
    /// Most positions the conversation may reach.
    capacity: usize,
    /// The tokens of the conversation so far (position = index); their keys
    /// and values are in the cache, or were, where a window forgot them.
    tokens: Vec<u32>,
    top_k_out: wgpu::Buffer,
    top_k_scratch: wgpu::Buffer,
    top_k_staging: wgpu::Buffer,
}

impl Session {
    /// Allocates everything the session will use; an allocation the adapter
    /// refuses is an `out-of-memory` or `adapter-limit` error and leaves the
    /// device usable.
    pub async fn new(gpu: Arc<GpuDevice>, model: Arc<dyn DecoderModel>, opts: &SessionOptions) -> Result<Session> {
        let spec = model.spec();
        let capacity = match opts.context_length {
            0 if opts.window.is_some() => spec.context_length,
            0 => spec.context_length.min(DEFAULT_CONTEXT),
            n if n > spec.context_length => {
                return Err(NavajaError::invalid(format!(
                    "context length {n} is longer than the model's {}",
                    spec.context_length
                )));
            }
            n => n,
        };
        if opts.max_batch == 0 || opts.logit_rows == 0 {
            return Err(NavajaError::invalid("max_batch and logit_rows must be > 0"));
        }
        gpu.check_health()?;
        let kv_type = opts.kv.unwrap_or_else(|| KvType::preferred(spec.kv_width(), spec.head_dim));
        let oom = gpu.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let planned = (|| {
            let scratch = Scratch::new(&gpu, model.as_ref(), opts.max_batch.min(capacity), opts.logit_rows)?;
            let max_batch = opts.max_batch.min(capacity);
            let kv = KvCache::new(&gpu, spec, kv_type, capacity, max_batch, opts.window, opts.preallocate)?;
            let out_bytes = top_k_out_words(MAX_TOP_K) * 4;
            let top_k_out = gpu.storage("top-k", out_bytes)?;
            let top_k_scratch = gpu.storage("top-k scratch", top_k_scratch_bytes(spec.vocab_size as u32, MAX_TOP_K))?;
            let top_k_staging = gpu.staging("top-k readback", out_bytes);
            Ok::<_, NavajaError>((scratch, kv, top_k_out, top_k_scratch, top_k_staging))
        })();
        if let Some(e) = oom.pop().await {
            return Err(NavajaError::OutOfMemory(format!("allocating a session of {capacity} tokens: {e}")));
        }
        let (scratch, kv, top_k_out, top_k_scratch, top_k_staging) = planned?;
        Ok(Session { gpu, model, scratch, kv, capacity, tokens: Vec::new(), top_k_out, top_k_scratch, top_k_staging })
    }

    pub fn model(&self) -> &Arc<dyn DecoderModel> {
        &self.model
    }

    pub fn gpu(&self) -> &Arc<GpuDevice> {
        &self.gpu
    }

    /// The tokens in the cache.
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }

    /// Most positions the conversation may reach.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn kv(&self) -> &KvCache {
        &self.kv
    }

    /// Bytes of KV cache each cached position costs.
    pub fn kv_bytes_per_token(&self) -> u64 {
        self.kv.bytes_per_token()
    }

    /// Forgets every token after the first `len`: the next step overwrites
    /// their cache rows. This is how a chat reuses a shared prefix. Where a
    /// window already forgot keys the continuation would need, fewer tokens
    /// are kept; returns how many were.
    pub fn truncate(&mut self, len: usize) -> usize {
        let len = len.min(self.tokens.len());
        let keep = self.kv.resumable_prefix(len as u32) as usize;
        self.kv.truncate(keep as u32);
        self.tokens.truncate(keep);
        keep
    }

    fn check_ids(&self, ids: &[u32]) -> Result<()> {
        let vocab = self.model.spec().vocab_size;
        if let Some(bad) = ids.iter().find(|&&id| id as usize >= vocab) {
            return Err(NavajaError::invalid(format!("token id {bad} is outside the vocabulary of {vocab}")));
        }
        if self.tokens.len() + ids.len() > self.capacity {
            return Err(NavajaError::ContextOverflow(format!(
                "{} tokens in the context plus {} new ones exceed the session's {} positions",
                self.tokens.len(),
                ids.len(),
                self.capacity
            )));
        }
        Ok(())
    }

    /// Records one forward pass of `ids` (at most `max_batch`) after the cached tokens.
    fn encode_batch(&mut self, encoder: &mut wgpu::CommandEncoder, ids: &[u32], logits: LogitRows) -> Result<()> {
        self.gpu.queue.write_buffer(&self.scratch.ids, 0, bytemuck::cast_slice(ids));
        let start = self.tokens.len() as u32;
        let batch = Batch { n_tokens: ids.len() as u32, start_pos: start, logits };
        let before = self.kv.prepare(start..start + batch.n_tokens);
        let recorded = self.model.encode_forward(&self.gpu, encoder, &self.scratch, &self.kv, batch);
        if recorded.is_err() {
            self.kv.undo_prepare(before);
        }
        recorded
    }

    /// Makes room in the cache for `n` more tokens (growing it if it grows).
    async fn reserve(&mut self, n: usize) -> Result<()> {
        self.kv.reserve(&self.gpu, (self.tokens.len() + n) as u32).await
    }

    /// The tokens of a step are in the cache: remember them.
    fn push_tokens(&mut self, ids: &[u32]) {
        self.tokens.extend_from_slice(ids);
        self.kv.advance(self.tokens.len() as u32);
    }

    /// Runs `ids` through the model (in chunks of `max_batch`) and returns the
    /// candidates for the token after the last one.
    pub async fn feed(&mut self, ids: &[u32], pick: &Pick) -> Result<TopKResult> {
        if ids.is_empty() {
            return Err(NavajaError::invalid("feed: no tokens"));
        }
        if pick.k == 0 || pick.k > MAX_TOP_K {
            return Err(NavajaError::invalid(format!("top-k must be in 1..={MAX_TOP_K}, got {}", pick.k)));
        }
        self.check_ids(ids)?;
        self.gpu.check_health()?;
        self.reserve(ids.len()).await?;
        let chunks: Vec<&[u32]> = ids.chunks(self.scratch.max_batch).collect();
        let (last, rest) = chunks.split_last().expect("ids is not empty");
        for chunk in rest {
            let mut encoder = self.gpu.device.create_command_encoder(&Default::default());
            // Earlier chunks only fill the cache; their logits are not needed,
            // but the LM head of one row is cheap next to the layers.
            self.encode_batch(&mut encoder, chunk, LogitRows::Last)?;
            self.gpu.queue.submit([encoder.finish()]);
            self.push_tokens(chunk);
        }

        let mut encoder = self.gpu.device.create_command_encoder(&Default::default());
        self.encode_batch(&mut encoder, last, LogitRows::Last)?;
        crate::profile::mark(&self.gpu, &mut encoder, "lm head");
        let vocab = self.model.spec().vocab_size as u32;
        let entries;
        if !pick.adjustments.is_empty() {
            entries = self.gpu.upload_bytes("logit adjustments", &adjustment_bytes(&pick.adjustments))?;
            LogitAdjust {
                logits: &self.scratch.logits,
                offset: 0,
                entries: &entries,
                count: pick.adjustments.len() as u32,
            }
            .encode(&self.gpu, &mut encoder)?;
        }
        TopK {
            logits: &self.scratch.logits,
            offset: 0,
            n_vocab: vocab,
            k: pick.k,
            temperature: pick.temperature,
            out: &self.top_k_out,
            scratch: &self.top_k_scratch,
        }
        .encode(&self.gpu, &mut encoder)?;
        crate::profile::mark(&self.gpu, &mut encoder, "top-k");
        let out_bytes = top_k_out_words(pick.k) * 4;
        encoder.copy_buffer_to_buffer(&self.top_k_out, 0, &self.top_k_staging, 0, out_bytes);
        self.gpu.queue.submit([encoder.finish()]);
        self.push_tokens(last);

        let bytes = self.gpu.read_staging(&self.top_k_staging, out_bytes).await;
        let bytes = match bytes.and_then(|b| self.gpu.check_health().map(|_| b)) {
            Ok(b) => b,
            Err(e) => {
                // The cache rows of this call are unreliable: forget them.
                self.truncate(self.tokens.len() - ids.len());
                return Err(e);
            }
        };
        let words: Vec<u32> = bytes.chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        Ok(decode_top_k(&words, pick.k))
    }

    /// Fills this empty session with the context of `source`, a session of
    /// the same model whose f32 cache keeps every position, without running
    /// the model: chunk by chunk, as a prefill stores them, source's keys
    /// and values go through this cache's own write (and quantize) kernels.
    /// So one prefill gives every cache type the same long context (the
    /// benchmark of cache types). The stored values differ from those of a
    /// prefill with this type only in the rounding this type would have
    /// applied to the prefill's own attention, in the layers above the first.
    pub async fn copy_context_from(&mut self, source: &Session) -> Result<()> {
        if !Arc::ptr_eq(&self.model, &source.model) || !Arc::ptr_eq(&self.gpu, &source.gpu) {
            return Err(NavajaError::invalid("copy context: the sessions must share one model on one device"));
        }
        if !self.tokens.is_empty() {
            return Err(NavajaError::invalid("copy context: the session to fill must be empty"));
        }
        let keeps_every_position = source.kv.layers.iter().all(|l| l.layout.ring_len == 0 && l.window == 0);
        if source.kv.kind != KvType::F32 || !keeps_every_position {
            return Err(NavajaError::invalid(
                "copy context: the source must hold every position in an f32 cache (no window)",
            ));
        }
        let n = source.tokens.len();
        if n == 0 {
            return Err(NavajaError::invalid("copy context: the source session is empty"));
        }
        self.check_ids(&source.tokens)?;
        self.gpu.check_health()?;
        self.reserve(n).await?;
        // A linear f32 layer keeps position p in slot p, one row of `width` f32.
        let row_bytes = (source.kv.width * 4) as u64;
        let max_batch = self.scratch.max_batch;
        for (i, chunk) in source.tokens.chunks(max_batch).enumerate() {
            let start = (i * max_batch) as u32;
            let positions = start..start + chunk.len() as u32;
            let mut encoder = self.gpu.device.create_command_encoder(&Default::default());
            let before = self.kv.prepare(positions.clone());
            let recorded = source.kv.layers.iter().enumerate().try_for_each(|(layer, from)| {
                let (offset, bytes) = (u64::from(start) * row_bytes, chunk.len() as u64 * row_bytes);
                encoder.copy_buffer_to_buffer(&from.k, offset, &self.scratch.k, 0, bytes);
                encoder.copy_buffer_to_buffer(&from.v, offset, &self.scratch.v, 0, bytes);
                self.kv.write(&self.gpu, &mut encoder, layer, (&self.scratch.k, &self.scratch.v), positions.clone())
            });
            if let Err(e) = recorded {
                self.kv.undo_prepare(before);
                self.truncate(0);
                return Err(e);
            }
            self.gpu.queue.submit([encoder.finish()]);
            self.push_tokens(chunk);
        }
        if let Err(e) = self.gpu.check_health() {
            self.truncate(0);
            return Err(e);
        }
        Ok(())
    }

    /// Teacher forcing: runs `ids` after the cached tokens and returns the
    /// full logits after each of them (`ids.len()` rows of `vocab_size`).
    pub async fn logits_all(&mut self, ids: &[u32]) -> Result<Vec<Vec<f32>>> {
        if ids.is_empty() {
            return Err(NavajaError::invalid("logits_all: no tokens"));
        }
        self.check_ids(ids)?;
        self.gpu.check_health()?;
        self.reserve(ids.len()).await?;
        let vocab = self.model.spec().vocab_size;
        let mut rows = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(self.scratch.max_batch.min(self.scratch.logit_rows)) {
            let mut encoder = self.gpu.device.create_command_encoder(&Default::default());
            self.encode_batch(&mut encoder, chunk, LogitRows::All)?;
            self.gpu.queue.submit([encoder.finish()]);
            self.push_tokens(chunk);
            let flat = self.gpu.read_f32(&self.scratch.logits, chunk.len() * vocab).await?;
            self.gpu.check_health()?;
            rows.extend(flat.chunks_exact(vocab).map(<[f32]>::to_vec));
        }
        Ok(rows)
    }
}
