//! Embeddings and reranking with a BERT-family encoder: load from bytes (a
//! GGUF file, or the files of a Hugging Face / sentence-transformers folder),
//! then [`Encoder::embed`] texts or [`Encoder::rerank`] documents for a query.
//!
//! No filesystem and no blocking: the same code runs in the browser. Inputs
//! are tokenized and truncated on the host, packed into batches of at most
//! `max_batch_tokens` rows (no padding: attention is per sequence), and each
//! batch is one command buffer ending in the pooled vectors (or scores),
//! the only thing read back. Scratch is planned once per [`Encoder`].

use std::sync::Arc;

pub use navaja_core::encoder::HfEncoderFiles;
use navaja_core::encoder::{EncoderConfig, EncoderInput, check_encoder, chunks, pair_input, text_input};
use navaja_core::model::{ModelSpec, Pooling};
use navaja_core::safetensors::SafetensorsFile;
use navaja_core::tokenizer::Tokenizer;
use navaja_core::{NavajaError, Result};

use crate::GpuDevice;
use crate::model::bert::{Bert, EncoderScratch, PackedBatch};
use crate::model::loader::{upload_gguf, upload_safetensors};
use crate::ops::encoder_attention::{rows_per_tile, tile_table};
use crate::ops::pooling::sequence_table;
use crate::ops::support::submit_scoped;

/// An encoder's weights on the GPU with its tokenizer and output configuration.
pub struct LoadedEncoder {
    pub model: Arc<Bert>,
    pub tokenizer: Arc<Tokenizer>,
    pub config: EncoderConfig,
}

/// Reads a complete GGUF encoder (`bert`, `jina-bert-v2`) and uploads it.
pub fn load_encoder_gguf(gpu: &GpuDevice, file: &[u8]) -> Result<LoadedEncoder> {
    let header = navaja_core::gguf::GgufHeader::parse(file)?;
    let spec = ModelSpec::from_gguf(&header)?;
    check_encoder(&spec)?;
    let tokenizer = Tokenizer::from_gguf(&header.metadata)?;
    let config = EncoderConfig::from_gguf_spec(&spec)?;
    gpu.check_health()?;
    let mut tensors = upload_gguf(gpu, &header, file)?;
    let model = Bert::from_tensors(gpu, spec, &mut tensors)?;
    gpu.check_health()?;
    Ok(LoadedEncoder { model: Arc::new(model), tokenizer: Arc::new(tokenizer), config })
}

/// Reads a safetensors encoder with its config, tokenizer and
/// sentence-transformers files, and uploads the tensors it needs.
pub fn load_encoder_safetensors(gpu: &GpuDevice, files: &HfEncoderFiles<'_>) -> Result<LoadedEncoder> {
    let st = SafetensorsFile::parse(files.weights)?;
    let spec = ModelSpec::from_safetensors(files.config_json, &st)?;
    check_encoder(&spec)?;
    let tokenizer = Tokenizer::from_tokenizer_json(files.tokenizer_json)?;
    let config = EncoderConfig::from_sentence_transformers(&spec, &files.sentence_transformers)?;
    gpu.check_health()?;
    let mut tensors = upload_safetensors(gpu, &spec, &st, files.weights)?;
    let model = Bert::from_tensors(gpu, spec, &mut tensors)?;
    gpu.check_health()?;
    Ok(LoadedEncoder { model: Arc::new(model), tokenizer: Arc::new(tokenizer), config })
}

/// Sizes an [`Encoder`] plans its memory for.
#[derive(Debug, Clone)]
pub struct EncoderOptions {
    /// Most token rows one batch runs at once; more inputs run in several
    /// batches. Raised to the model's input limit, lowered to what one
    /// storage binding holds.
    pub max_batch_tokens: usize,
}

impl Default for EncoderOptions {
    fn default() -> Self {
        EncoderOptions { max_batch_tokens: 4096 }
    }
}

/// A loaded encoder with its planned scratch: embeds and reranks.
pub struct Encoder {
    gpu: Arc<GpuDevice>,
    model: Arc<Bert>,
    tokenizer: Arc<Tokenizer>,
    config: EncoderConfig,
    scratch: EncoderScratch,
    staging: wgpu::Buffer,
}

/// What a batch reads back.
#[derive(Clone, Copy, PartialEq)]
enum Output {
    Pooled,
    Scores,
}

impl Encoder {
    /// Allocates the scratch of batches of `opts.max_batch_tokens` rows; a
    /// refused allocation is `out-of-memory` or `adapter-limit` and leaves the device usable.
    pub async fn new(gpu: Arc<GpuDevice>, loaded: LoadedEncoder, opts: &EncoderOptions) -> Result<Encoder> {
        let LoadedEncoder { model, tokenizer, config } = loaded;
        let spec = &model.spec;
        let widest = spec.ffn_size.max(spec.hidden_size) as u64 * 4;
        let binding = gpu.limits.max_storage_buffer_binding_size.min(gpu.limits.max_buffer_size);
        let fits = usize::try_from(binding / widest).unwrap_or(usize::MAX);
        let max_tokens = opts.max_batch_tokens.max(config.max_tokens).min(fits);
        if max_tokens < config.max_tokens {
            return Err(NavajaError::AdapterLimit {
                what: format!("a batch of one {}-token input", config.max_tokens),
                needed: config.max_tokens as u64 * widest,
                limit: binding,
            });
        }
        // Every input has at least [CLS] and [SEP].
        let max_seqs = max_tokens.div_ceil(2);
        gpu.check_health()?;
        let oom = gpu.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let planned = model.scratch(&gpu, max_tokens, max_seqs).map(|scratch| {
            let per_seq = spec.hidden_size.max(model.labels().unwrap_or(0));
            let staging = gpu.staging("encoder readback", (max_seqs * per_seq * 4) as u64);
            (scratch, staging)
        });
        if let Some(e) = oom.pop().await {
            return Err(NavajaError::OutOfMemory(format!("allocating an encoder for {max_tokens} tokens: {e}")));
        }
        let (scratch, staging) = planned?;
        Ok(Encoder { gpu, model, tokenizer, config, scratch, staging })
    }

    pub fn config(&self) -> &EncoderConfig {
        &self.config
    }

    pub fn spec(&self) -> &ModelSpec {
        &self.model.spec
    }

    /// The model's weights (for benchmarks that time its matrices alone).
    pub fn model(&self) -> &Bert {
        &self.model
    }

    pub fn gpu(&self) -> &Arc<GpuDevice> {
        &self.gpu
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Length of an embedding.
    pub fn dim(&self) -> usize {
        self.model.spec.hidden_size
    }

    /// Whether this is a cross-encoder (it reranks; it does not embed).
    pub fn is_reranker(&self) -> bool {
        self.model.head.is_some()
    }

    /// Most rows one batch runs.
    pub fn max_batch_tokens(&self) -> usize {
        self.scratch.max_tokens
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

    /// One embedding per text, in order (pooled and normalised as the model's configuration says).
    pub async fn embed(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let inputs = texts.iter().map(|t| self.text_input(t)).collect::<Result<Vec<_>>>()?;
        self.embed_inputs(&inputs).await
    }

    /// [`Encoder::embed`] of inputs tokenized already.
    pub async fn embed_inputs(&mut self, inputs: &[EncoderInput]) -> Result<Vec<Vec<f32>>> {
        if self.is_reranker() {
            return Err(NavajaError::unsupported(
                "this model is a cross-encoder (reranker): it scores (query, document) pairs; use rerank",
            ));
        }
        if self.config.pooling == Pooling::None {
            return Err(NavajaError::invalid(
                "the model's pooling is \"none\" (token vectors, no sentence embedding); choose one \
                 (set_pooling, or --pooling mean|cls|last on the command line)",
            ));
        }
        self.run(inputs, Output::Pooled).await
    }

    /// The relevance score of each document for `query` (the first label of
    /// the head: higher is more relevant), in the order of `docs`.
    pub async fn rerank(&mut self, query: &str, docs: &[&str]) -> Result<Vec<f32>> {
        let b_type = u32::from(self.model.token_types.as_ref().is_some_and(|t| t.rows > 1));
        let inputs = docs
            .iter()
            .map(|d| pair_input(&self.tokenizer, query, d, self.config.max_tokens, b_type))
            .collect::<Result<Vec<_>>>()?;
        Ok(self.classify_inputs(&inputs).await?.into_iter().map(|s| s[0]).collect())
    }

    /// Every label's score for each input (a cross-encoder only).
    pub async fn classify_inputs(&mut self, inputs: &[EncoderInput]) -> Result<Vec<Vec<f32>>> {
        if !self.is_reranker() {
            return Err(NavajaError::unsupported(
                "this model has no classification head: it embeds texts, it does not rerank \
                 (compare embeddings instead, e.g. `navaja embed --similarity`)",
            ));
        }
        self.run(inputs, Output::Scores).await
    }

    /// Checks an input against the model: what the GPU would silently clamp.
    fn check_input(&self, i: usize, input: &EncoderInput) -> Result<()> {
        let m = &self.model;
        if input.is_empty() || input.type_ids.len() != input.len() {
            return Err(NavajaError::invalid(format!(
                "input {i}: {} ids and {} type ids (at least one id, one type per id)",
                input.len(),
                input.type_ids.len()
            )));
        }
        if let Some(max) = m.max_positions().filter(|&max| input.len() > max) {
            return Err(NavajaError::invalid(format!(
                "input {i} has {} tokens; the model has {max} positions",
                input.len()
            )));
        }
        if let Some(&id) = input.ids.iter().find(|&&id| id as usize >= m.token_embd.rows) {
            return Err(NavajaError::invalid(format!(
                "input {i}: token id {id} is past the {}-token vocabulary",
                m.token_embd.rows
            )));
        }
        let types = m.token_types.as_ref().map_or(1, |t| t.rows);
        if let Some(&t) = input.type_ids.iter().find(|&&t| t as usize >= types) {
            return Err(NavajaError::invalid(format!("input {i}: token type {t}, the model has {types}")));
        }
        Ok(())
    }

    async fn run(&mut self, inputs: &[EncoderInput], output: Output) -> Result<Vec<Vec<f32>>> {
        for (i, input) in inputs.iter().enumerate() {
            self.check_input(i, input)?;
        }
        let lens: Vec<usize> = inputs.iter().map(EncoderInput::len).collect();
        let mut out = Vec::with_capacity(inputs.len());
        for chunk in chunks(&lens, self.scratch.max_tokens)? {
            out.extend(self.run_batch(&inputs[chunk], output).await?);
        }
        Ok(out)
    }

    /// One packed batch: tables written, forward pass, pooled vectors or scores read back.
    async fn run_batch(&mut self, inputs: &[EncoderInput], output: Output) -> Result<Vec<Vec<f32>>> {
        let gpu = self.gpu.clone();
        let s = &self.scratch;
        let lens: Vec<usize> = inputs.iter().map(EncoderInput::len).collect();
        let ids: Vec<u32> = inputs.iter().flat_map(|i| i.ids.iter().copied()).collect();
        let types: Vec<u32> = inputs.iter().flat_map(|i| i.type_ids.iter().copied()).collect();
        let positions: Vec<u32> = lens.iter().flat_map(|&l| 0..l as u32).collect();
        let tile_rows = rows_per_tile(&gpu, lens.iter().copied().max().unwrap_or(1));
        let tiles = tile_table(&lens, tile_rows)?;
        let seqs = sequence_table(&lens)?;
        if ids.len() > s.max_tokens || lens.len() > s.max_seqs || tiles.len() / 4 > s.max_tokens + s.max_seqs {
            return Err(NavajaError::invalid("encoder: a batch exceeds the planned scratch"));
        }
        let q = &gpu.queue;
        q.write_buffer(&s.ids, 0, bytemuck::cast_slice(&ids));
        q.write_buffer(&s.positions, 0, bytemuck::cast_slice(&positions));
        q.write_buffer(&s.types, 0, bytemuck::cast_slice(&types));
        q.write_buffer(&s.tiles, 0, bytemuck::cast_slice(&tiles));
        q.write_buffer(&s.seqs, 0, bytemuck::cast_slice(&seqs));

        let (source, per_seq) = match output {
            Output::Pooled => (&s.pooled, self.model.spec.hidden_size),
            Output::Scores => (&s.scores, self.model.labels().unwrap_or(1)),
        };
        let bytes = (lens.len() * per_seq * 4) as u64;
        let batch = PackedBatch {
            rows: ids.len() as u32,
            n_seqs: lens.len() as u32,
            n_tiles: (tiles.len() / 4) as u32,
            rows_per_tile: tile_rows,
            max_len: lens.iter().copied().max().unwrap_or(0) as u32,
            pooling: if output == Output::Scores { Pooling::Cls } else { self.config.pooling },
            normalize: output == Output::Pooled && self.config.normalize,
        };
        let model = &self.model;
        let staging = &self.staging;
        submit_scoped(&gpu, |enc| {
            model.encode_forward(&gpu, enc, s, &batch)?;
            enc.copy_buffer_to_buffer(source, 0, staging, 0, bytes);
            Ok(())
        })
        .await?;
        let data = gpu.read_staging(staging, bytes).await?;
        gpu.check_health()?;
        let values: Vec<f32> = data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        Ok(values.chunks_exact(per_seq).map(<[f32]>::to_vec).collect())
    }
}
