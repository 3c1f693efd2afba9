//! Model specs: the hyper-parameters of a model, read from GGUF metadata
//! ([`ModelSpec::from_gguf`]) or from a Hugging Face `config.json` plus the
//! checkpoint's tensor list ([`ModelSpec::from_hf_config`]).
//!
//! Everything that differs between architectures (RoPE ordering, biases,
//! gemma3's sliding-window layers and extra norms, BERT's pooling...) is a
//! plain field of [`ModelSpec`], so an engine reads properties instead of
//! matching on architecture names. Every spec is checked against the tensors
//! it will be run with: a missing tensor or a shape that disagrees with the
//! metadata is a `model-format` error naming it.

mod checks;
mod gguf;
mod hf;
mod spec;
mod tensors;

pub use hf::HfTensor;
pub use spec::{
    Activation, Architecture, BertSpec, Gemma3Spec, LayerAttention, ModelSpec, NormKind, Pooling, RopeOrdering,
    RopeScaling, RopeScalingKind, RopeSpec, SUPPORTED_ARCHITECTURES, SpecSource,
};
pub use tensors::ExpectedTensor;
