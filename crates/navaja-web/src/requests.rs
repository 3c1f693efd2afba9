//! The plain objects the TypeScript layer sends and receives. Field names
//! follow OpenAI's (snake_case); web/src/protocol.ts declares the same shapes.

use navaja_core::chat::ChatMessage;
use navaja_core::generate::{FinishReason, SamplingConfig};
use navaja_core::model::Pooling;
use navaja_core::{NavajaError, Result};
use navaja_gpu::generation::{GenerateOptions, Generation};
use navaja_gpu::session::SessionOptions;
use serde::{Deserialize, Serialize};

/// Element type of the KV cache, as the API names it (`"f32"`, `"f16"`, `"q8"`, `"q4"`).
pub use navaja_core::quant::kv::KvType;

/// Options of `finishLoad`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadOptions {
    /// Tokens the KV cache holds; absent: the model's, at most 4096.
    pub context_length: Option<usize>,
    /// KV cache element type; absent: the engine's default.
    pub kv: Option<KvType>,
    /// The text files of a safetensors encoder folder (the weights are the
    /// bytes pushed); absent for a GGUF file.
    pub encoder_files: Option<EncoderFiles>,
}

/// The text files of a Hugging Face / sentence-transformers encoder folder,
/// fetched by the TypeScript layer.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncoderFiles {
    pub config_json: String,
    pub tokenizer_json: String,
    pub modules_json: Option<String>,
    /// The Pooling module's config (at the path modules.json names, else `1_Pooling/config.json`).
    pub pooling_json: Option<String>,
    pub sentence_bert_config_json: Option<String>,
}

impl LoadOptions {
    /// The session to plan. Without a `kv` option the session picks the
    /// preferred type for the model (q8 where it fits); the model info reports it.
    pub fn session_options(&self) -> SessionOptions {
        SessionOptions { context_length: self.context_length.unwrap_or(0), kv: self.kv, ..SessionOptions::default() }
    }
}

/// One chat message; `content` is plain text (the TypeScript layer joins an
/// OpenAI content-part array's text parts).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn to_chat(&self) -> Result<ChatMessage> {
        match self.role.as_str() {
            "system" | "user" | "assistant" => Ok(ChatMessage::new(self.role.clone(), self.content.clone())),
            other => Err(NavajaError::invalid(format!(
                "message role {other:?} is not supported (use \"system\", \"user\" or \"assistant\")"
            ))),
        }
    }
}

/// A generation request: a raw `prompt` or chat `messages`, exactly one.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateRequest {
    pub prompt: Option<String>,
    pub messages: Option<Vec<Message>>,
    /// Raw prompts only: add the model's BOS token (default: as the model says).
    pub add_special: Option<bool>,
    pub max_tokens: Option<usize>,
    pub temperature: Option<f32>,
    pub top_k: Option<usize>,
    pub top_p: Option<f32>,
    pub min_p: Option<f32>,
    pub repeat_penalty: Option<f32>,
    pub presence_penalty: Option<f32>,
    pub frequency_penalty: Option<f32>,
    /// (token id, bias) pairs.
    #[serde(default)]
    pub logit_bias: Vec<(u32, f32)>,
    pub seed: Option<u64>,
    #[serde(default)]
    pub stop: Vec<String>,
    #[serde(default)]
    pub ignore_eos: bool,
}

/// Most tokens a request may ask for when it does not say.
const DEFAULT_MAX_TOKENS: usize = 512;

impl GenerateRequest {
    /// llama.cpp's sampling defaults, overridden by what the request sets.
    pub fn options(&self) -> Result<GenerateOptions> {
        let d = SamplingConfig::default();
        if self.max_tokens == Some(0) {
            return Err(NavajaError::invalid("max_tokens must be at least 1"));
        }
        if let Some(stop) = self.stop.iter().find(|s| s.is_empty()) {
            return Err(NavajaError::invalid(format!("stop strings must not be empty, got {stop:?}")));
        }
        Ok(GenerateOptions {
            max_tokens: self.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
            sampling: SamplingConfig {
                temperature: self.temperature.unwrap_or(d.temperature),
                top_k: self.top_k.unwrap_or(d.top_k),
                top_p: self.top_p.unwrap_or(d.top_p),
                min_p: self.min_p.unwrap_or(d.min_p),
                repeat_penalty: self.repeat_penalty.unwrap_or(d.repeat_penalty),
                repeat_last_n: d.repeat_last_n,
                presence_penalty: self.presence_penalty.unwrap_or(d.presence_penalty),
                frequency_penalty: self.frequency_penalty.unwrap_or(d.frequency_penalty),
                logit_bias: self.logit_bias.clone(),
                seed: self.seed,
            },
            stop: self.stop.clone(),
            ignore_eos: self.ignore_eos,
        })
    }
}

#[derive(Debug, Serialize)]
pub struct Timings {
    pub prefill_tokens: usize,
    pub prefill_ms: f64,
    pub prefill_tokens_per_s: f64,
    pub decode_tokens: usize,
    pub decode_ms: f64,
    pub decode_tokens_per_s: f64,
}

/// What a generation returns (the TypeScript layer shapes it into OpenAI's objects).
#[derive(Debug, Serialize)]
pub struct GenerateResponse {
    pub text: String,
    pub token_ids: Vec<u32>,
    pub finish_reason: FinishReason,
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    pub cached_tokens: usize,
    pub seed: u64,
    pub timings: Timings,
}

impl From<Generation> for GenerateResponse {
    fn from(g: Generation) -> Self {
        let t = &g.timings;
        GenerateResponse {
            timings: Timings {
                prefill_tokens: t.prefill_tokens,
                prefill_ms: t.prefill_ms,
                prefill_tokens_per_s: t.prefill_tokens_per_s(),
                decode_tokens: t.decode_tokens,
                decode_ms: t.decode_ms,
                decode_tokens_per_s: t.decode_tokens_per_s(),
            },
            completion_tokens: g.ids.len(),
            text: g.text,
            token_ids: g.ids,
            finish_reason: g.finish_reason,
            prompt_tokens: g.prompt_tokens,
            cached_tokens: g.cached_tokens,
            seed: g.seed,
        }
    }
}

/// What the engine says about a loaded language model.
#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    pub kind: &'static str,
    pub architecture: &'static str,
    pub name: Option<String>,
    pub n_layers: usize,
    pub hidden_size: usize,
    pub vocab_size: usize,
    /// Tokens the session's KV cache holds.
    pub context_length: usize,
    /// The longest context the model was trained for.
    pub model_context_length: usize,
    pub weight_bytes: u64,
    pub kv_bytes_per_token: u64,
    /// The KV cache type in use (the one asked for, or the model's preferred one).
    pub kv: KvType,
    /// The KV cache type the load asked for, if any.
    pub kv_requested: Option<KvType>,
    pub has_chat_template: bool,
    /// Size of the engine's WebAssembly memory once the model is in: the
    /// weights live on the GPU, so this stays far below the file's size.
    pub wasm_memory_bytes: u64,
}

/// The model as known from the header, while the weights still download.
#[derive(Debug, Serialize)]
pub struct HeaderInfo {
    pub architecture: &'static str,
    pub name: Option<String>,
    pub n_layers: usize,
    pub vocab_size: usize,
    pub context_length: usize,
}

/// What the engine says about a loaded embedding model (or cross-encoder).
#[derive(Debug, Clone, Serialize)]
pub struct EmbeddingInfo {
    /// Always `"embedding"`.
    pub kind: &'static str,
    pub architecture: &'static str,
    pub name: Option<String>,
    /// `"gguf"` or `"safetensors"`.
    pub format: &'static str,
    pub n_layers: usize,
    pub hidden_size: usize,
    pub vocab_size: usize,
    /// Length of an embedding.
    pub dim: usize,
    pub pooling: Pooling,
    /// Embeddings are scaled to unit length (a sentence-transformers `Normalize` module).
    pub normalized: bool,
    /// Longest input in tokens, [CLS] and [SEP] included; longer texts are truncated.
    pub max_tokens: usize,
    /// A cross-encoder: it scores (query, document) pairs and does not embed.
    pub reranker: bool,
    /// Token rows one batch (one GPU submission, or one CPU forward pass) runs.
    pub max_batch_tokens: usize,
    pub weight_bytes: u64,
    pub wasm_memory_bytes: u64,
}
