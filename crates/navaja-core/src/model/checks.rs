//! Consistency checks shared by the GGUF and HF readers: sizes that must be
//! positive, divide each other, and fit in memory sizes.

use super::spec::{LayerAttention, ModelSpec};
use crate::{NavajaError, Result};

/// Hyper-parameters above this are refused as corrupt before anything is
/// sized by them (the largest real vocabularies are ~256k, contexts ~10M).
const MAX_DIM: u64 = 1 << 28;

/// `value` of `key` as a usize in 1..=MAX_DIM.
pub(crate) fn dim(key: &str, value: u64) -> Result<usize> {
    if value == 0 {
        return Err(NavajaError::format(format!("{key} is 0; it must be positive")));
    }
    if value > MAX_DIM {
        return Err(NavajaError::format(format!("{key} is {value}, which is implausibly large")));
    }
    usize::try_from(value).map_err(|_| NavajaError::format(format!("{key} is {value}, too large for this platform")))
}

/// The layer count, which must be backed by tensors: every layer has several,
/// so a count above the number of tensors is corrupt (and per-layer tables
/// are never sized by an unchecked claim).
pub(crate) fn layer_count(key: &str, value: u64, n_tensors: usize) -> Result<usize> {
    let n = dim(key, value)?;
    if n > n_tensors {
        return Err(NavajaError::format(format!(
            "{key} is {n}, but the file has only {n_tensors} tensors: at least one layer must be missing"
        )));
    }
    Ok(n)
}

/// head_dim from hidden / heads when the model does not state it.
pub(crate) fn head_dim(hidden: usize, n_heads: usize, heads_key: &str, hidden_key: &str) -> Result<usize> {
    if !hidden.is_multiple_of(n_heads) {
        return Err(NavajaError::format(format!(
            "{heads_key} ({n_heads}) does not divide {hidden_key} ({hidden}), and no head size is given"
        )));
    }
    Ok(hidden / n_heads)
}

pub(crate) fn kv_heads(n_heads: usize, n_kv: usize, heads_key: &str, kv_key: &str) -> Result<usize> {
    if !n_heads.is_multiple_of(n_kv) {
        return Err(NavajaError::format(format!(
            "{kv_key} ({n_kv}) does not divide {heads_key} ({n_heads}): grouped-query attention needs \
             a whole number of query heads per kv head"
        )));
    }
    Ok(n_kv)
}

/// A finite, positive float (epsilons, RoPE bases, scaling factors).
pub(crate) fn positive_f32(key: &str, value: f64) -> Result<f32> {
    let v = value as f32;
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(NavajaError::format(format!("{key} is {value}; it must be a positive number")))
    }
}

/// Gemma 3's layer pattern: with period `p`, layers p-1, 2p-1, ... are global
/// and the rest local (llama.cpp's `set_swa_pattern(p)`: local when
/// `il % p < p - 1`). A period of 0 or 1 leaves every layer global.
pub(crate) fn periodic_pattern(n_layers: usize, period: usize) -> Vec<LayerAttention> {
    (0..n_layers)
        .map(|il| if period > 1 && il % period < period - 1 { LayerAttention::Local } else { LayerAttention::Global })
        .collect()
}

/// Sum of elements over all tensors (saturating: only for display).
pub(crate) fn param_count<'a>(elements: impl Iterator<Item = u64> + 'a) -> u64 {
    elements.fold(0u64, |acc, n| acc.saturating_add(n))
}

/// Checks shared by both readers once a spec is assembled.
pub(crate) fn finish(spec: ModelSpec, dims_of: &dyn Fn(&str) -> Option<Vec<u64>>) -> Result<ModelSpec> {
    if let Some(rope) = &spec.rope {
        if rope.dims > spec.head_dim || rope.dims % 2 != 0 {
            return Err(NavajaError::format(format!(
                "rope dimension count {} must be even and at most head_dim {}",
                rope.dims, spec.head_dim
            )));
        }
    }
    spec.check_tensors(dims_of)?;
    Ok(spec)
}
