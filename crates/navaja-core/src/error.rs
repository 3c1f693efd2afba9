//! The one error type of navaja.
//!
//! Every variant maps to a stable, kebab-case `code` that the TypeScript
//! wrapper exposes as `NavajaError.code`, so a web developer can branch on it
//! without parsing messages. Messages are written for that developer.

use thiserror::Error;

pub type Result<T, E = NavajaError> = std::result::Result<T, E>;

#[derive(Debug, Clone, PartialEq, Error)]
pub enum NavajaError {
    /// A model file is malformed: truncated, wrong magic, inconsistent sizes...
    #[error("invalid model file: {0}")]
    ModelFormat(String),

    /// A well-formed model uses something navaja does not support (a tensor type, an architecture...).
    #[error("unsupported model: {0}")]
    UnsupportedModel(String),

    /// A caller passed arguments that cannot work (wrong lengths, zero sizes...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// No WebGPU / wgpu adapter could be found or opened.
    #[error("no usable GPU adapter: {0}")]
    WebGpuUnavailable(String),

    /// The request needs more than the adapter allows (binding size, workgroup size...).
    #[error("{what} needs {needed}, but this GPU adapter allows at most {limit}")]
    AdapterLimit { what: String, needed: u64, limit: u64 },

    /// The GPU device was lost (driver reset, tab backgrounded too long, ...).
    #[error("the GPU device was lost: {0}")]
    DeviceLost(String),

    /// The GPU ran out of memory for an allocation.
    #[error("out of GPU memory: {0}")]
    OutOfMemory(String),

    /// Any other error the GPU API reported (validation, internal).
    #[error("GPU error: {0}")]
    Gpu(String),

    /// A session's context (its KV cache) cannot hold the tokens asked for.
    #[error("context overflow: {0}")]
    ContextOverflow(String),

    /// The caller stopped the operation (an AbortSignal, Ctrl-C).
    #[error("aborted: {0}")]
    Aborted(String),
}

impl NavajaError {
    /// Stable machine-readable code; part of the public (TypeScript) API.
    pub fn code(&self) -> &'static str {
        match self {
            NavajaError::ModelFormat(_) => "model-format",
            NavajaError::UnsupportedModel(_) => "unsupported-model",
            NavajaError::InvalidArgument(_) => "invalid-argument",
            NavajaError::WebGpuUnavailable(_) => "webgpu-unavailable",
            NavajaError::AdapterLimit { .. } => "adapter-limit",
            NavajaError::DeviceLost(_) => "device-lost",
            NavajaError::OutOfMemory(_) => "out-of-memory",
            NavajaError::Gpu(_) => "gpu",
            NavajaError::ContextOverflow(_) => "context-overflow",
            NavajaError::Aborted(_) => "aborted",
        }
    }

    pub fn invalid(msg: impl Into<String>) -> Self {
        NavajaError::InvalidArgument(msg.into())
    }

    pub fn format(msg: impl Into<String>) -> Self {
        NavajaError::ModelFormat(msg.into())
    }

    pub fn unsupported(msg: impl Into<String>) -> Self {
        NavajaError::UnsupportedModel(msg.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_kebab_case() {
        let all = [
            NavajaError::format("x"),
            NavajaError::unsupported("x"),
            NavajaError::invalid("x"),
            NavajaError::WebGpuUnavailable("x".into()),
            NavajaError::AdapterLimit { what: "x".into(), needed: 2, limit: 1 },
            NavajaError::DeviceLost("x".into()),
            NavajaError::OutOfMemory("x".into()),
            NavajaError::Gpu("x".into()),
            NavajaError::ContextOverflow("x".into()),
            NavajaError::Aborted("x".into()),
        ];
        let codes: Vec<_> = all.iter().map(|e| e.code()).collect();
        assert_eq!(
            codes,
            [
                "model-format",
                "unsupported-model",
                "invalid-argument",
                "webgpu-unavailable",
                "adapter-limit",
                "device-lost",
                "out-of-memory",
                "gpu",
                "context-overflow",
                "aborted"
            ]
        );
    }

    #[test]
    fn limit_message_names_both_numbers() {
        let e = NavajaError::AdapterLimit { what: "a 200 MiB buffer".into(), needed: 200, limit: 128 };
        assert_eq!(e.to_string(), "a 200 MiB buffer needs 200, but this GPU adapter allows at most 128");
    }
}
