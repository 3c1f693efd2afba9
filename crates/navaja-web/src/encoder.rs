//! The engine's second slot: a BERT-family encoder (an embedding model or a
//! cross-encoder reranker) loaded beside the language model.

use std::sync::Arc;

use navaja_core::encoder::{EncoderInput, SentenceTransformersFiles, pair_input};
use navaja_core::{NavajaError, Result};
use navaja_gpu::GpuDevice;
use navaja_gpu::encoder::{
    Encoder, EncoderOptions, HfEncoderFiles, LoadedEncoder, load_encoder_gguf, load_encoder_safetensors,
};

use crate::requests::{EmbeddingInfo, EncoderFiles};

/// How the encoder's file came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncoderFormat {
    Gguf,
    Safetensors,
}

/// A loaded encoder with its planned scratch and what the API says about it.
pub struct Embedder {
    encoder: Encoder,
    pub info: EmbeddingInfo,
}

/// Uploads an encoder from the bytes of its file (GGUF, or model.safetensors
/// with the folder's text `files`); the bytes can go once this returns.
pub fn upload_encoder(
    gpu: &GpuDevice,
    format: EncoderFormat,
    bytes: &[u8],
    files: Option<&EncoderFiles>,
) -> Result<LoadedEncoder> {
    Ok(match format {
        EncoderFormat::Gguf => load_encoder_gguf(gpu, bytes)?,
        EncoderFormat::Safetensors => {
            let f = files.ok_or_else(|| {
                NavajaError::invalid("a safetensors encoder needs its folder's config.json and tokenizer.json")
            })?;
            load_encoder_safetensors(
                gpu,
                &HfEncoderFiles {
                    config_json: &f.config_json,
                    tokenizer_json: &f.tokenizer_json,
                    weights: bytes,
                    sentence_transformers: SentenceTransformersFiles {
                        modules_json: f.modules_json.as_deref(),
                        pooling_json: f.pooling_json.as_deref(),
                        sentence_bert_config_json: f.sentence_bert_config_json.as_deref(),
                    },
                },
            )?
        }
    })
}

/// Plans the scratch of an uploaded encoder.
pub async fn load_embedder(
    gpu: &Arc<GpuDevice>,
    format: EncoderFormat,
    loaded: LoadedEncoder,
    wasm_memory_bytes: impl Fn() -> u64,
) -> Result<Embedder> {
    let encoder = Encoder::new(gpu.clone(), loaded, &EncoderOptions::default()).await?;
    let spec = encoder.spec();
    let config = encoder.config();
    let info = EmbeddingInfo {
        kind: "embedding",
        architecture: spec.architecture.name(),
        name: spec.name.clone(),
        format: match format {
            EncoderFormat::Gguf => "gguf",
            EncoderFormat::Safetensors => "safetensors",
        },
        n_layers: spec.n_layers,
        hidden_size: spec.hidden_size,
        vocab_size: spec.vocab_size,
        dim: encoder.dim(),
        pooling: config.pooling,
        normalized: config.normalize,
        max_tokens: config.max_tokens,
        reranker: encoder.is_reranker(),
        max_batch_tokens: encoder.max_batch_tokens(),
        weight_bytes: encoder.model().weight_bytes(),
        wasm_memory_bytes: wasm_memory_bytes(),
    };
    Ok(Embedder { encoder, info })
}

impl Embedder {
    /// One embedding per text, concatenated, with the tokens the inputs took
    /// (after truncation, specials included).
    pub async fn embed(&mut self, texts: &[String]) -> Result<(Vec<f32>, usize)> {
        let inputs = texts.iter().map(|t| self.encoder.text_input(t)).collect::<Result<Vec<_>>>()?;
        let tokens = inputs.iter().map(EncoderInput::len).sum();
        let vectors = self.encoder.embed_inputs(&inputs).await?;
        Ok((vectors.concat(), tokens))
    }

    /// A cross-encoder's relevance score of each document for `query`
    /// (higher is more relevant), with the tokens the pairs took.
    pub async fn rerank(&mut self, query: &str, documents: &[String]) -> Result<(Vec<f32>, usize)> {
        let e = &self.encoder;
        if !e.is_reranker() {
            return Err(NavajaError::unsupported(
                "this embedding model is not a cross-encoder: rank by comparing embeddings instead",
            ));
        }
        // The second segment's token type, as Encoder::rerank sets it.
        let b_type = u32::from(e.model().token_types.as_ref().is_some_and(|t| t.rows > 1));
        let max = e.config().max_tokens;
        let inputs =
            documents.iter().map(|d| pair_input(e.tokenizer(), query, d, max, b_type)).collect::<Result<Vec<_>>>()?;
        let tokens = inputs.iter().map(EncoderInput::len).sum();
        let scores = self.encoder.classify_inputs(&inputs).await?;
        Ok((scores.into_iter().map(|s| s[0]).collect(), tokens))
    }
}
