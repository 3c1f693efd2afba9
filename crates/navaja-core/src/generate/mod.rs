//! Generation without a GPU: choosing the next token and deciding when to stop.
//!
//! The split with the GPU engine: the GPU applies the [`LogitAdjustment`]s
//! (repetition penalties and logit bias, from [`adjustments`]) to the logits,
//! then returns the best [`SamplingConfig::candidates_needed`] candidates,
//! sorted, with the maximum logit and the whole-vocabulary log-sum-exp. The
//! [`Sampler`] picks a token among them, with a seeded [`Rng`] so that a run
//! reproduces on every platform. The [`StopMatcher`] watches the decoded text
//! for stop strings.
//!
//! Semantics follow llama.cpp's sampler chain (penalties, top-k, top-p, min-p,
//! temperature, draw), with the differences documented where they occur.

mod config;
mod penalties;
mod rng;
mod run;
mod sampler;
mod stop;

pub use config::{MAX_CANDIDATES, SamplingConfig};
pub use penalties::{LogitAdjustment, adjustments};
pub use rng::Rng;
pub use run::{Clock, GenerateOptions, Generation, OnText, Pick, Timings, TokenModel, generate};
pub use sampler::Sampler;
pub use stop::{StopMatcher, StopOutcome};

use serde::{Deserialize, Serialize};

/// Why a generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FinishReason {
    /// The model produced an end-of-generation token (EOS/EOT) or the text hit a stop string.
    Stop,
    /// The token limit (or the context) was reached.
    Length,
    /// The caller cancelled the generation.
    Aborted,
}
