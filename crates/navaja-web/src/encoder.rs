//! The engine's second slot: a BERT-family encoder (an embedding model or a
//! cross-encoder reranker) loaded beside the language model, on the GPU or,
//! on an engine without one, on navaja-core's CPU backend ([`QuantEncoder`]).

use std::sync::Arc;

use navaja_core::cpu::QuantEncoder;
use navaja_core::encoder::{EncoderConfig, EncoderInput, HfEncoderFiles, SentenceTransformersFiles, pair_input};
use navaja_core::model::ModelSpec;
use navaja_core::{NavajaError, Result};
use navaja_gpu::GpuDevice;
use navaja_gpu::encoder::{Encoder, EncoderOptions, LoadedEncoder, load_encoder_gguf, load_encoder_safetensors};

use crate::requests::{EmbeddingInfo, EncoderFiles};

/// How the encoder's file came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncoderFormat {
    Gguf,
    Safetensors,
}

/// Where the encoder runs.
enum Backend {
    Gpu(Encoder),
    Cpu(QuantEncoder),
}

/// A loaded encoder and what the API says about it.
pub struct Embedder {
    backend: Backend,
    pub info: EmbeddingInfo,
}

fn hf_files<'a>(bytes: &'a [u8], files: Option<&'a EncoderFiles>) -> Result<HfEncoderFiles<'a>> {
    let f = files.ok_or_else(|| {
        NavajaError::invalid("a safetensors encoder needs its folder's config.json and tokenizer.json")
    })?;
    Ok(HfEncoderFiles {
        config_json: &f.config_json,
        tokenizer_json: &f.tokenizer_json,
        weights: bytes,
        sentence_transformers: SentenceTransformersFiles {
            modules_json: f.modules_json.as_deref(),
            pooling_json: f.pooling_json.as_deref(),
            sentence_bert_config_json: f.sentence_bert_config_json.as_deref(),
        },
    })
}

/// Uploads an encoder from the bytes of its file (GGUF, or model.safetensors
/// with the folder's text `files`); the bytes can go once this returns.
pub fn upload_encoder(
    gpu: &GpuDevice,
    format: EncoderFormat,
    bytes: &[u8],
    files: Option<&EncoderFiles>,
) -> Result<LoadedEncoder> {
    match format {
        EncoderFormat::Gguf => load_encoder_gguf(gpu, bytes),
        EncoderFormat::Safetensors => load_encoder_safetensors(gpu, &hf_files(bytes, files)?),
    }
}

/// What both backends report about an encoder.
struct Facts<'a> {
    spec: &'a ModelSpec,
    config: &'a EncoderConfig,
    format: EncoderFormat,
    reranker: bool,
    max_batch_tokens: usize,
    weight_bytes: u64,
}

fn embedding_info(f: Facts<'_>, wasm_memory_bytes: u64) -> EmbeddingInfo {
    EmbeddingInfo {
        kind: "embedding",
        architecture: f.spec.architecture.name(),
        name: f.spec.name.clone(),
        format: match f.format {
            EncoderFormat::Gguf => "gguf",
            EncoderFormat::Safetensors => "safetensors",
        },
        n_layers: f.spec.n_layers,
        hidden_size: f.spec.hidden_size,
        vocab_size: f.spec.vocab_size,
        dim: f.spec.hidden_size,
        pooling: f.config.pooling,
        normalized: f.config.normalize,
        max_tokens: f.config.max_tokens,
        reranker: f.reranker,
        max_batch_tokens: f.max_batch_tokens,
        weight_bytes: f.weight_bytes,
        wasm_memory_bytes,
    }
}

/// Plans the scratch of an uploaded encoder.
pub async fn load_embedder(
    gpu: &Arc<GpuDevice>,
    format: EncoderFormat,
    loaded: LoadedEncoder,
    wasm_memory_bytes: impl Fn() -> u64,
) -> Result<Embedder> {
    let encoder = Encoder::new(gpu.clone(), loaded, &EncoderOptions::default()).await?;
    let facts = Facts {
        spec: encoder.spec(),
        config: encoder.config(),
        format,
        reranker: encoder.is_reranker(),
        max_batch_tokens: encoder.max_batch_tokens(),
        weight_bytes: encoder.model().weight_bytes(),
    };
    let info = embedding_info(facts, wasm_memory_bytes());
    Ok(Embedder { backend: Backend::Gpu(encoder), info })
}

/// An encoder on the CPU backend, from the bytes of its file.
pub fn load_cpu_embedder(
    format: EncoderFormat,
    bytes: &[u8],
    files: Option<&EncoderFiles>,
    wasm_memory_bytes: impl Fn() -> u64,
) -> Result<Embedder> {
    let encoder = match format {
        EncoderFormat::Gguf => QuantEncoder::from_gguf(bytes)?,
        EncoderFormat::Safetensors => QuantEncoder::from_hf_files(&hf_files(bytes, files)?)?,
    };
    let facts = Facts {
        spec: encoder.spec(),
        config: encoder.config(),
        format,
        reranker: encoder.is_reranker(),
        max_batch_tokens: encoder.max_batch_tokens(),
        weight_bytes: encoder.weight_bytes() as u64,
    };
    let info = embedding_info(facts, wasm_memory_bytes());
    Ok(Embedder { backend: Backend::Cpu(encoder), info })
}

/// The inputs' total tokens (after truncation, specials included).
fn token_count(inputs: &[EncoderInput]) -> usize {
    inputs.iter().map(EncoderInput::len).sum()
}

/// Runs `inputs` on the CPU one batch at a time, yielding to the event loop
/// between batches so that the worker keeps answering.
async fn cpu_batches(
    encoder: &QuantEncoder,
    inputs: &[EncoderInput],
    run: impl Fn(&QuantEncoder, &[EncoderInput]) -> Result<Vec<Vec<f32>>>,
) -> Result<Vec<Vec<f32>>> {
    let mut out = Vec::with_capacity(inputs.len());
    for (i, batch) in encoder.batches(inputs)?.into_iter().enumerate() {
        if i > 0 {
            crate::engine::sleep_ms(0).await;
        }
        out.extend(run(encoder, &inputs[batch])?);
    }
    Ok(out)
}

const NOT_A_RERANKER: &str = "this embedding model is not a cross-encoder: rank by comparing embeddings instead";

impl Embedder {
    /// One embedding per text, concatenated, with the tokens the inputs took
    /// (after truncation, specials included).
    pub async fn embed(&mut self, texts: &[String]) -> Result<(Vec<f32>, usize)> {
        let vectors = match &mut self.backend {
            Backend::Gpu(e) => {
                let inputs = texts.iter().map(|t| e.text_input(t)).collect::<Result<Vec<_>>>()?;
                (e.embed_inputs(&inputs).await?, token_count(&inputs))
            }
            Backend::Cpu(e) => {
                let inputs = texts.iter().map(|t| e.text_input(t)).collect::<Result<Vec<_>>>()?;
                (cpu_batches(e, &inputs, QuantEncoder::embed_batch).await?, token_count(&inputs))
            }
        };
        Ok((vectors.0.concat(), vectors.1))
    }

    /// A cross-encoder's relevance score of each document for `query`
    /// (higher is more relevant), with the tokens the pairs took.
    pub async fn rerank(&mut self, query: &str, documents: &[String]) -> Result<(Vec<f32>, usize)> {
        if !self.info.reranker {
            return Err(NavajaError::unsupported(NOT_A_RERANKER));
        }
        let (scores, tokens) = match &mut self.backend {
            Backend::Gpu(e) => {
                // The second segment's token type, as Encoder::rerank sets it.
                let b_type = u32::from(e.model().token_types.as_ref().is_some_and(|t| t.rows > 1));
                let max = e.config().max_tokens;
                let inputs = documents
                    .iter()
                    .map(|d| pair_input(e.tokenizer(), query, d, max, b_type))
                    .collect::<Result<Vec<_>>>()?;
                (e.classify_inputs(&inputs).await?, token_count(&inputs))
            }
            Backend::Cpu(e) => {
                let inputs = documents.iter().map(|d| e.pair_input(query, d)).collect::<Result<Vec<_>>>()?;
                (cpu_batches(e, &inputs, QuantEncoder::classify_batch).await?, token_count(&inputs))
            }
        };
        Ok((scores.into_iter().map(|s| s[0]).collect(), tokens))
    }
}
