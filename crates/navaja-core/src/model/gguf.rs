//! [`ModelSpec`] from GGUF metadata, with llama.cpp's key names and defaults
//! (`llama_model::load_hparams` in src/llama-model.cpp).

use super::checks::{self, dim, finish, layer_count, positive_f32};
use super::spec::*;
use crate::gguf::{GgufArray, GgufHeader, GgufValue, Metadata};
use crate::{NavajaError, Result};

/// llama.cpp's default when `{arch}.rope.freq_base` is absent.
const DEFAULT_ROPE_BASE: f64 = 10000.0;
/// Gemma 3's local (sliding-window) layers always use this RoPE base
/// (llama.cpp hard-codes `rope_freq_base_train_swa = 10000`).
pub(crate) const GEMMA3_LOCAL_ROPE_BASE: f32 = 10000.0;
/// Gemma 3 makes every 6th layer global unless the file says otherwise.
pub(crate) const GEMMA3_DEFAULT_PATTERN: usize = 6;

impl ModelSpec {
    /// Reads the spec from a GGUF header and checks it against the tensors.
    pub fn from_gguf(h: &GgufHeader) -> Result<ModelSpec> {
        let md = &h.metadata;
        let arch_name = md.require_str("general.architecture")?;
        let arch = architecture(arch_name)?;
        let k = |s: &str| format!("{arch_name}.{s}");

        if md.get_u64(&k("expert_count"))?.unwrap_or(0) > 0 {
            return Err(NavajaError::unsupported(format!(
                "{arch_name} with mixture-of-experts layers ({} > 0) is not supported",
                k("expert_count")
            )));
        }

        let n_layers = layer_count(&k("block_count"), md.require_u64(&k("block_count"))?, h.tensors.len())?;
        let hidden = dim(&k("embedding_length"), md.require_u64(&k("embedding_length"))?)?;
        let heads_key = k("attention.head_count");
        let n_heads = dim(&heads_key, md.require_u64(&heads_key)?)?;
        let kv_key = k("attention.head_count_kv");
        let n_kv = match md.get_u64(&kv_key)? {
            Some(v) => checks::kv_heads(n_heads, dim(&kv_key, v)?, &heads_key, &kv_key)?,
            None => n_heads,
        };
        let head_dim = match md.get_u64(&k("attention.key_length"))? {
            Some(v) => dim(&k("attention.key_length"), v)?,
            None => checks::head_dim(hidden, n_heads, &heads_key, &k("embedding_length"))?,
        };
        if let Some(v) = md.get_u64(&k("attention.value_length"))? {
            if v != head_dim as u64 {
                return Err(NavajaError::unsupported(format!(
                    "{} ({v}) differs from the key head size ({head_dim}); navaja needs them equal",
                    k("attention.value_length")
                )));
            }
        }
        let ffn = dim(&k("feed_forward_length"), md.require_u64(&k("feed_forward_length"))?)?;
        let context = dim(&k("context_length"), md.require_u64(&k("context_length"))?)?;
        let vocab = vocab_size(h, &k("vocab_size"), hidden)?;

        let is_bert = arch == Architecture::Bert;
        let eps_key = if is_bert { k("attention.layer_norm_epsilon") } else { k("attention.layer_norm_rms_epsilon") };
        let eps = positive_f32(&eps_key, require_f64(md, &eps_key)?)?;

        let rope = if is_bert { None } else { Some(rope(h, arch, &k, head_dim)?) };
        let tied = h.tensor("output.weight").is_none();
        let qkv_bias = match arch {
            Architecture::Qwen2 | Architecture::Bert => true,
            // Some llama-architecture conversions carry q/k/v biases; follow the file.
            Architecture::Llama => h.tensor("blk.0.attn_q.bias").is_some(),
            Architecture::Gemma3 => false,
        };

        let mut spec = ModelSpec::base(BaseSpec {
            architecture: arch,
            source: SpecSource::Gguf,
            name: md.get_str("general.name")?.map(str::to_string),
            n_layers,
            hidden_size: hidden,
            n_heads,
            n_kv_heads: n_kv,
            head_dim,
            ffn_size: ffn,
            vocab_size: vocab,
            context_length: context,
            norm_eps: eps,
            activation: Activation::Silu,
            rope,
            tied_embeddings: tied,
            attention_qkv_bias: qkv_bias,
            n_params: checks::param_count(h.tensors.iter().map(|t| t.n_elements)),
        });

        match arch {
            Architecture::Gemma3 => gemma3(md, &k, &mut spec)?,
            Architecture::Bert => bert(h, &k, arch_name == "jina-bert-v2", &mut spec)?,
            Architecture::Llama | Architecture::Qwen2 => {}
        }
        finish(spec, &|name| h.tensor(name).map(|t| t.dims.clone()))
    }
}

pub(crate) fn architecture(name: &str) -> Result<Architecture> {
    match name {
        "llama" => Ok(Architecture::Llama),
        "qwen2" => Ok(Architecture::Qwen2),
        "gemma3" => Ok(Architecture::Gemma3),
        // JinaBERT v2 is a BERT with ALiBi and a gated FFN (spec fields, see `bert` below).
        "bert" | "jina-bert-v2" => Ok(Architecture::Bert),
        other => Err(NavajaError::unsupported(format!(
            "architecture {other:?} is not supported (supported: {SUPPORTED_ARCHITECTURES})"
        ))),
    }
}

fn require_f64(md: &Metadata, key: &str) -> Result<f64> {
    md.get_f64(key)?.ok_or_else(|| NavajaError::format(format!("metadata key {key:?} is missing")))
}

/// The vocabulary is the tokenizer's token list (what llama.cpp uses); the
/// token embedding must have exactly that many rows.
fn vocab_size(h: &GgufHeader, vocab_key: &str, hidden: usize) -> Result<usize> {
    let md = &h.metadata;
    let from_tokens = md.get_array("tokenizer.ggml.tokens")?.map(GgufArray::len);
    let from_key = md.get_u64(vocab_key)?;
    let vocab = match (from_tokens, from_key) {
        (Some(n), Some(v)) if n as u64 != v => {
            return Err(NavajaError::format(format!("tokenizer.ggml.tokens has {n} tokens but {vocab_key} is {v}")));
        }
        (Some(n), _) => n as u64,
        (None, Some(v)) => v,
        (None, None) => {
            return Err(NavajaError::format(format!(
                "the vocabulary size is unknown: neither tokenizer.ggml.tokens nor {vocab_key} is present"
            )));
        }
    };
    let vocab = dim("the vocabulary size", vocab)?;
    let embd = h
        .tensor("token_embd.weight")
        .ok_or_else(|| NavajaError::format("required tensor \"token_embd.weight\" is missing"))?;
    if embd.dims != [hidden as u64, vocab as u64] {
        return Err(NavajaError::format(format!(
            "token_embd.weight has shape {:?} (ggml order), but the vocabulary has {vocab} tokens and the \
             embedding length is {hidden}: expected [{hidden}, {vocab}]",
            embd.dims
        )));
    }
    Ok(vocab)
}

fn rope(h: &GgufHeader, arch: Architecture, k: &dyn Fn(&str) -> String, head_dim: usize) -> Result<RopeSpec> {
    let md = &h.metadata;
    let base_key = k("rope.freq_base");
    let freq_base = positive_f32(&base_key, md.get_f64(&base_key)?.unwrap_or(DEFAULT_ROPE_BASE))?;
    let dims_key = k("rope.dimension_count");
    let dims = match md.get_u64(&dims_key)? {
        Some(v) => dim(&dims_key, v)?,
        None => head_dim,
    };
    // llama.cpp refuses partial rotation for llama (load_hparams: "invalid n_rot").
    if arch == Architecture::Llama && dims != head_dim {
        return Err(NavajaError::format(format!(
            "{dims_key} is {dims}, but llama rotates the whole head ({head_dim})"
        )));
    }

    // llama.cpp: factor from rope.scaling.factor, else the older rope.scale_linear; 0 means none.
    let factor_key = k("rope.scaling.factor");
    let factor = match md.get_f64(&factor_key)? {
        Some(f) => Some((f, factor_key)),
        None => md.get_f64(&k("rope.scale_linear"))?.map(|f| (f, k("rope.scale_linear"))),
    };
    let factor = match factor {
        None => 1.0,
        Some((0.0, _)) => 1.0,
        Some((f, key)) => positive_f32(&key, f)?,
    };
    let kind = match md.get_str(&k("rope.scaling.type"))? {
        None if factor == 1.0 => RopeScalingKind::None,
        // llama.cpp's default scaling type is linear.
        None | Some("linear") => RopeScalingKind::Linear,
        Some("none") => RopeScalingKind::None,
        Some("yarn") => RopeScalingKind::Yarn,
        Some("longrope") => RopeScalingKind::LongRope,
        Some(other) => {
            return Err(NavajaError::unsupported(format!(
                "{} {other:?} is not supported (none, linear, yarn, longrope)",
                k("rope.scaling.type")
            )));
        }
    };
    let orig_key = k("rope.scaling.original_context_length");
    let original_context_length = md.get_u64(&orig_key)?.map(|v| dim(&orig_key, v)).transpose()?;

    let freq_factors_tensor = match h.tensor("rope_freqs.weight") {
        None => None,
        Some(t) if t.dims == [(dims / 2) as u64] => Some(t.name.clone()),
        Some(t) => {
            return Err(NavajaError::format(format!(
                "rope_freqs.weight has shape {:?}, expected [{}] (half the rope dimensions)",
                t.dims,
                dims / 2
            )));
        }
    };
    let ordering = if arch == Architecture::Llama { RopeOrdering::Normal } else { RopeOrdering::Neox };
    Ok(RopeSpec {
        freq_base,
        dims,
        ordering,
        scaling: RopeScaling { kind, factor, original_context_length, low_freq_factor: None, high_freq_factor: None },
        freq_factors_tensor,
    })
}

fn gemma3(md: &Metadata, k: &dyn Fn(&str) -> String, spec: &mut ModelSpec) -> Result<()> {
    spec.activation = Activation::GeluTanh;
    spec.qk_norm = true;
    spec.post_norms = true;
    spec.embedding_scale = Some((spec.hidden_size as f32).sqrt());
    // llama.cpp (after gemma_pytorch): the 27B (62 layers) scales queries by
    // 1/sqrt(hidden/heads), every other size by 1/sqrt(head_dim).
    let scale_dim = if spec.n_layers == 62 { spec.hidden_size / spec.n_heads } else { spec.head_dim };
    spec.attention_scale = 1.0 / (scale_dim as f32).sqrt();
    spec.gemma3 = Some(Gemma3Spec { local_rope_freq_base: GEMMA3_LOCAL_ROPE_BASE });

    let window_key = k("attention.sliding_window");
    let window = md.get_u64(&window_key)?.unwrap_or(0);
    if window == 0 {
        return Ok(()); // no sliding window: every layer global
    }
    spec.sliding_window = Some(dim(&window_key, window)?);
    let pattern_key = k("attention.sliding_window_pattern");
    spec.layer_attention = match md.get(&pattern_key) {
        None => checks::periodic_pattern(spec.n_layers, GEMMA3_DEFAULT_PATTERN),
        // Newer conversions may store one bool per layer (true = sliding window).
        Some(GgufValue::Array(GgufArray::Bool(per_layer))) => {
            if per_layer.len() != spec.n_layers {
                return Err(NavajaError::format(format!(
                    "{pattern_key} has {} entries for {} layers",
                    per_layer.len(),
                    spec.n_layers
                )));
            }
            per_layer.iter().map(|&l| if l { LayerAttention::Local } else { LayerAttention::Global }).collect()
        }
        Some(v) => match v.as_u64() {
            Some(p) => checks::periodic_pattern(spec.n_layers, usize::try_from(p).unwrap_or(usize::MAX)),
            None => {
                return Err(NavajaError::format(format!(
                    "{pattern_key} should be a layer period or one bool per layer, but is {}",
                    v.type_name()
                )));
            }
        },
    };
    Ok(())
}

fn bert(h: &GgufHeader, k: &dyn Fn(&str) -> String, jina: bool, spec: &mut ModelSpec) -> Result<()> {
    let md = &h.metadata;
    spec.activation = Activation::Gelu;
    spec.causal = md.get_bool(&k("attention.causal"))?.unwrap_or(false);
    // llama.cpp's reranker head: cls (dense, then tanh) and cls.output (the scores).
    let head = h.tensor("cls.weight").is_some() && h.tensor("cls.output.weight").is_some();
    let pooling_type = md.get_u64(&k("pooling_type"))?;
    let pooling = match pooling_type {
        None if head => Pooling::Cls,
        None | Some(0) => Pooling::None,
        Some(1) => Pooling::Mean,
        Some(2) => Pooling::Cls,
        Some(3) => Pooling::Last,
        // Rank: the first token through the classification head.
        Some(4) => Pooling::Cls,
        Some(other) => {
            return Err(NavajaError::unsupported(format!(
                "{} {other} is not supported (0 none, 1 mean, 2 cls, 3 last, 4 rank)",
                k("pooling_type")
            )));
        }
    };
    let classifier_labels = if pooling_type == Some(4) || (pooling_type.is_none() && head) {
        match h.tensor("cls.output.weight").map(|t| t.dims.as_slice()) {
            Some([_, n]) if h.tensor("cls.weight").is_some() => Some(dim("cls.output.weight rows", *n)?),
            _ => {
                return Err(NavajaError::unsupported(format!(
                    "{} is 4 (rank), but the file lacks the cls / cls.output classification head navaja needs",
                    k("pooling_type")
                )));
            }
        }
    } else {
        None
    };
    if jina {
        spec.ffn_gated = true;
        for extra in ["blk.0.attn_norm_2.weight", "blk.0.attn_q_norm.weight", "blk.0.attn_k_norm.weight"] {
            if h.tensor(extra).is_some() {
                return Err(NavajaError::unsupported(format!(
                    "this jina-bert-v2 variant has {extra:?}; navaja runs jina-embeddings-v2 without extra norms"
                )));
            }
        }
    }
    let type_vocab_size = match md.get_u64("tokenizer.ggml.token_type_count")? {
        Some(n) => usize::try_from(n)
            .ok()
            .filter(|&n| n as u64 <= 1 << 20)
            .ok_or_else(|| NavajaError::format(format!("tokenizer.ggml.token_type_count {n} is implausibly large")))?,
        None => match h.tensor("token_types.weight").map(|t| t.dims.as_slice()) {
            Some([_, n]) => usize::try_from(*n).unwrap_or(0),
            _ => 0,
        },
    };
    // llama.cpp stores max_position_embeddings as bert.context_length.
    let mut b = BertSpec::absolute(pooling, type_vocab_size, spec.context_length);
    b.classifier_labels = classifier_labels;
    if jina {
        b.max_position_embeddings = 0;
        b.alibi_max_bias = Some(super::hf::JINA_ALIBI_MAX_BIAS);
    }
    spec.bert = Some(b);
    Ok(())
}
