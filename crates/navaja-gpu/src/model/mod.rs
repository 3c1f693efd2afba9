//! Decoder models on the GPU: weights uploaded once (kept quantized), and
//! one file per architecture that records its forward pass.
//!
//! - [`loader`]: GGUF tensors to [`GpuWeight`]s, one tensor at a time, so a
//!   browser download can stream into the GPU without holding the file.
//! - [`stream`]: the same from a GGUF file arriving in pieces (a browser
//!   download): each tensor is written to the GPU as its bytes come in.
//! - [`llama`]: the Llama family (SmolLM2, TinyLlama, Llama 3.x) and Qwen2,
//!   which differs only by properties of the spec (q/k/v biases, NeoX RoPE).
//! - [`gemma3`]: Gemma 3 (text): q/k norms, pre- and post-norms, GeGLU,
//!   sliding-window local layers with their own RoPE base, tied head.
//! - [`bert`]: BERT-family encoders (embeddings, rerankers, JinaBERT), run by
//!   [`crate::encoder`] rather than through [`DecoderModel`].
//!
//! An architecture implements [`DecoderModel`]: given a [`Scratch`] holding
//! the token ids of a batch and the session's [`KvCache`], it records the
//! whole forward pass into one command encoder, writing the new keys and
//! values into the cache and the logits of the rows asked for.

pub mod bert;
pub mod gemma3;
pub mod llama;
pub mod loader;
mod steps;
pub mod stream;

use navaja_core::model::{Architecture, ModelSpec};
use navaja_core::{NavajaError, Result};

pub use loader::{TensorMap, upload_gguf, upload_safetensors};
pub use stream::DecoderStream;

use crate::GpuDevice;
use crate::kv_cache::KvCache;
use crate::session::Scratch;
use crate::weights::GpuWeight;

/// Which rows of a batch get logits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogitRows {
    /// Only the last token of the batch (generation).
    Last,
    /// Every token of the batch (scoring, teacher forcing).
    All,
}

/// One forward pass of a batch of `n_tokens` tokens at positions
/// `start_pos..start_pos + n_tokens`.
#[derive(Debug, Clone, Copy)]
pub struct Batch {
    pub n_tokens: u32,
    pub start_pos: u32,
    pub logits: LogitRows,
}

/// A decoder-only language model whose weights live on the GPU.
pub trait DecoderModel {
    fn spec(&self) -> &ModelSpec;

    /// Records the forward pass of `batch` (its ids already in `scratch.ids`)
    /// into `encoder`: writes keys and values into `kv` and the logits of the
    /// requested rows into `scratch.logits` (row-major, `vocab_size` each).
    fn encode_forward(
        &self,
        gpu: &GpuDevice,
        encoder: &mut wgpu::CommandEncoder,
        scratch: &Scratch,
        kv: &KvCache,
        batch: Batch,
    ) -> Result<()>;

    /// Bytes of weights on the GPU.
    fn weight_bytes(&self) -> u64;

    /// Bytes of weights one decode step reads (every matrix once, plus one
    /// embedding row): what memory bandwidth is spent on per token.
    fn decode_read_bytes(&self) -> u64;
}

/// A decoder loaded from a GGUF file, with what generation needs beside it.
pub struct LoadedDecoder {
    pub model: std::sync::Arc<dyn DecoderModel>,
    pub tokenizer: navaja_core::tokenizer::Tokenizer,
    /// `None` when the file carries no chat template.
    pub chat_template: Option<navaja_core::chat::ChatTemplate>,
}

/// What a decoder needs besides its weights, all read from the GGUF header.
pub struct DecoderHeader {
    pub spec: ModelSpec,
    pub tokenizer: navaja_core::tokenizer::Tokenizer,
    pub chat_template: Option<navaja_core::chat::ChatTemplate>,
}

impl DecoderHeader {
    /// Reads the spec, tokenizer and template, and refuses (`unsupported-model`)
    /// a model the GPU decoder cannot run, before any weight is uploaded.
    pub fn read(header: &navaja_core::gguf::GgufHeader) -> Result<DecoderHeader> {
        let spec = ModelSpec::from_gguf(header)?;
        check_decoder_supported(&spec)?;
        let tokenizer = navaja_core::tokenizer::Tokenizer::from_gguf(&header.metadata)?;
        let chat_template = navaja_core::chat::ChatTemplate::from_gguf(&header.metadata)?;
        Ok(DecoderHeader { spec, tokenizer, chat_template })
    }

    /// Builds the model from its uploaded tensors.
    pub fn build(self, tensors: &mut TensorMap) -> Result<LoadedDecoder> {
        let model = build_decoder(self.spec, tensors)?;
        Ok(LoadedDecoder { model: model.into(), tokenizer: self.tokenizer, chat_template: self.chat_template })
    }
}

/// Reads the spec, tokenizer and template of a complete GGUF file and uploads its weights.
pub fn load_decoder_gguf(gpu: &GpuDevice, file: &[u8]) -> Result<LoadedDecoder> {
    let header = navaja_core::gguf::GgufHeader::parse(file)?;
    let parts = DecoderHeader::read(&header)?;
    gpu.check_health()?;
    let mut tensors = upload_gguf(gpu, &header, file)?;
    let loaded = parts.build(&mut tensors)?;
    gpu.check_health()?;
    Ok(loaded)
}

/// `unsupported-model` unless [`build_decoder`] runs `spec`'s architecture.
pub fn check_decoder_supported(spec: &ModelSpec) -> Result<()> {
    match spec.architecture {
        Architecture::Llama | Architecture::Qwen2 | Architecture::Gemma3 => Ok(()),
        Architecture::Bert => Err(NavajaError::unsupported(
            "this is an embedding model (bert), not a text generator (the GPU decoder runs llama, qwen2 and gemma3)",
        )),
    }
}

/// Builds the model of `spec` from uploaded tensors.
pub fn build_decoder(spec: ModelSpec, tensors: &mut TensorMap) -> Result<Box<dyn DecoderModel>> {
    check_decoder_supported(&spec)?;
    Ok(match spec.architecture {
        Architecture::Gemma3 => Box::new(gemma3::Gemma3::from_tensors(spec, tensors)?),
        _ => Box::new(llama::Llama::from_tensors(spec, tensors)?),
    })
}

/// Bytes of one row of `w` (for the embedding gather's share of a decode step).
pub(crate) fn row_bytes(w: &GpuWeight) -> u64 {
    if w.rows == 0 { 0 } else { w.read_bytes() / w.rows as u64 }
}
