//! Text encoders (BERT family) without the GPU: what turns a text into
//! encoder inputs and the encoder's output into an embedding or a score.
//!
//! - [`config`]: pooling, normalisation and the input limit, from
//!   sentence-transformers' files or GGUF metadata ([`EncoderConfig`]).
//! - [`input`]: `[CLS] text [SEP]` and `[CLS] a [SEP] b [SEP]` inputs with
//!   truncation ([`text_input`], [`pair_input`]), and batch chunks.
//!
//! The arithmetic (LayerNorm, packed attention, pooling) is in
//! [`crate::ops`]; the CPU forward passes in [`crate::reference::CpuEncoder`] (the f64
//! oracle) and [`crate::cpu::QuantEncoder`] (the CPU backend).

pub mod config;
pub mod input;

pub use config::{
    EncoderConfig, HfEncoderFiles, SentenceTransformersFiles, SentenceTransformersModules, check_encoder,
};
pub use input::{EncoderInput, chunks, pair_input, text_input};
