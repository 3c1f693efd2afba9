//! Builders of test inputs shared by the crates' tests: tiny random decoder
//! models as complete GGUF files ([`tiny_decoder_gguf`]) and tiny encoders
//! in GGUF and safetensors-folder form ([`tiny_bert_gguf`], [`tiny_bert_folder`]), so the CPU
//! reference and the GPU engine can be compared on every architecture and
//! tensor type without downloading anything, and random quantized tensor
//! data ([`random_blocks`]), and batches of texts of mixed lengths cut from
//! prose ([`mixed_length_texts`]).
//!
//! Deterministic: the same options and seed give the same bytes everywhere.

mod blocks;
mod convert;
mod texts;
mod tiny;
mod tiny_bert;
mod vocab;

pub use blocks::random_blocks;
pub use convert::{bert_gguf_from_safetensors, quantize_q8_0};
pub use texts::mixed_length_texts;
pub use tiny::{TinyDecoder, tiny_decoder_gguf};
pub use tiny_bert::{TINY_BERT_CLS, TINY_BERT_SEP, TinyBert, tiny_bert_folder, tiny_bert_gguf};
pub use vocab::{BOS_ID, EOS_ID, MAX_VOCAB, MIN_VOCAB, tokenizer_metadata};
