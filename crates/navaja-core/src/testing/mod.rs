//! Builders of test inputs shared by the crates' tests: tiny random decoder
//! models as complete GGUF files ([`tiny_decoder_gguf`]), so the CPU
//! reference and the GPU engine can be compared on every architecture and
//! tensor type without downloading anything, and random quantized tensor
//! data ([`random_blocks`]).
//!
//! Deterministic: the same options and seed give the same bytes everywhere.

mod blocks;
mod tiny;
mod vocab;

pub use blocks::random_blocks;
pub use tiny::{TinyDecoder, tiny_decoder_gguf};
pub use vocab::{BOS_ID, EOS_ID, MAX_VOCAB, MIN_VOCAB, tokenizer_metadata};
