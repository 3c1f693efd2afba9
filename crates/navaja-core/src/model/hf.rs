//! [`ModelSpec`] from a Hugging Face `config.json` plus the checkpoint's
//! tensor list (names and shapes), with transformers' defaults.

use serde_json::{Map, Value};

use super::checks::{self, dim, finish, layer_count, positive_f32};
use super::gguf::{GEMMA3_DEFAULT_PATTERN, GEMMA3_LOCAL_ROPE_BASE};
use super::spec::*;
use crate::safetensors::SafetensorsFile;
use crate::{NavajaError, Result};

/// One checkpoint tensor: its name and PyTorch (row-major) shape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HfTensor<'a> {
    pub name: &'a str,
    pub shape: &'a [u64],
}

/// config.json with errors that name the key.
struct Config<'a>(&'a Map<String, Value>);

impl Config<'_> {
    fn u64(&self, key: &str) -> Result<Option<u64>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| {
                NavajaError::format(format!("config.json: {key:?} should be a non-negative integer, but is {v}"))
            }),
        }
    }
    fn require_u64(&self, key: &str) -> Result<u64> {
        self.u64(key)?.ok_or_else(|| NavajaError::format(format!("config.json: {key:?} is missing")))
    }
    fn f64(&self, key: &str) -> Result<Option<f64>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| NavajaError::format(format!("config.json: {key:?} should be a number, but is {v}"))),
        }
    }
    fn str(&self, key: &str) -> Result<Option<&str>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(NavajaError::format(format!("config.json: {key:?} should be a string, but is {v}"))),
        }
    }
    fn bool(&self, key: &str) -> Result<Option<bool>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(NavajaError::format(format!("config.json: {key:?} should be a bool, but is {v}"))),
        }
    }
    fn dim(&self, key: &str) -> Result<usize> {
        dim(&format!("config.json {key:?}"), self.require_u64(key)?)
    }
}

impl ModelSpec {
    /// Reads the spec from `config.json` and checks it against the tensors of
    /// the checkpoint (all shards together).
    pub fn from_hf_config(config_json: &str, tensors: &[HfTensor<'_>]) -> Result<ModelSpec> {
        let root: Value = serde_json::from_str(config_json)
            .map_err(|e| NavajaError::format(format!("config.json is not valid JSON: {e}")))?;
        let Value::Object(root) = root else {
            return Err(NavajaError::format("config.json should be a JSON object"));
        };
        let root_cfg = Config(&root);
        let model_type = root_cfg.str("model_type")?.ok_or_else(|| {
            NavajaError::format("config.json: \"model_type\" is missing, so the architecture is unknown")
        })?;
        // Multimodal Gemma 3 nests the language model's config and prefixes its tensors.
        let (cfg, arch, prefix) = match model_type {
            "llama" => (Config(&root), Architecture::Llama, ""),
            "qwen2" => (Config(&root), Architecture::Qwen2, ""),
            "gemma3_text" => (Config(&root), Architecture::Gemma3, ""),
            "gemma3" => match root.get("text_config") {
                Some(Value::Object(text)) => (Config(text), Architecture::Gemma3, "language_model."),
                _ => return Err(NavajaError::format("config.json: gemma3 without a \"text_config\" object")),
            },
            "bert" => (Config(&root), Architecture::Bert, ""),
            other => {
                return Err(NavajaError::unsupported(format!(
                    "Hugging Face model_type {other:?} is not supported (supported: llama, qwen2, gemma3, \
                     gemma3_text, bert)"
                )));
            }
        };
        let by_name: std::collections::HashMap<&str, &HfTensor<'_>> = tensors.iter().map(|t| (t.name, t)).collect();
        let find = |name: &str| by_name.get(name).copied();
        let prefix = if arch == Architecture::Bert && find("bert.embeddings.word_embeddings.weight").is_some() {
            "bert."
        } else {
            prefix
        };

        let n_layers =
            layer_count("config.json \"num_hidden_layers\"", cfg.require_u64("num_hidden_layers")?, tensors.len())?;
        let hidden = cfg.dim("hidden_size")?;
        let n_heads = cfg.dim("num_attention_heads")?;
        let n_kv = match cfg.u64("num_key_value_heads")? {
            Some(v) => checks::kv_heads(
                n_heads,
                dim("config.json \"num_key_value_heads\"", v)?,
                "num_attention_heads",
                "num_key_value_heads",
            )?,
            None => n_heads,
        };
        let head_dim = match cfg.u64("head_dim")? {
            Some(v) => dim("config.json \"head_dim\"", v)?,
            None => checks::head_dim(hidden, n_heads, "num_attention_heads", "hidden_size")?,
        };
        let ffn = cfg.dim("intermediate_size")?;
        let vocab = cfg.dim("vocab_size")?;
        let context = cfg.dim("max_position_embeddings")?;
        let is_bert = arch == Architecture::Bert;

        let embd_name = if is_bert {
            format!("{prefix}embeddings.word_embeddings.weight")
        } else {
            format!("{prefix}model.embed_tokens.weight")
        };
        match find(&embd_name) {
            None => return Err(NavajaError::format(format!("required tensor {embd_name:?} is missing"))),
            Some(t) if t.shape != [vocab as u64, hidden as u64] => {
                return Err(NavajaError::format(format!(
                    "{embd_name} has shape {:?}, but config.json says vocab_size {vocab} and hidden_size {hidden}: \
                     expected [{vocab}, {hidden}]",
                    t.shape
                )));
            }
            Some(_) => {}
        }

        let (eps_key, default_eps) = if is_bert { ("layer_norm_eps", 1e-12) } else { ("rms_norm_eps", 1e-6) };
        let eps = positive_f32(&format!("config.json {eps_key:?}"), cfg.f64(eps_key)?.unwrap_or(default_eps))?;

        let tie_default = arch == Architecture::Gemma3;
        let tie = cfg.bool("tie_word_embeddings")?.or(root.get("tie_word_embeddings").and_then(Value::as_bool));
        let has_lm_head = find("lm_head.weight").is_some();
        let tied = match (tie.unwrap_or(tie_default), has_lm_head) {
            // An encoder has no output projection at all.
            _ if is_bert => false,
            (true, _) => true,
            (false, true) => false,
            (false, false) => {
                return Err(NavajaError::format(
                    "config.json says tie_word_embeddings is false, but the checkpoint has no lm_head.weight",
                ));
            }
        };

        let activation = activation(&cfg, arch)?;
        let qkv_bias = match arch {
            Architecture::Qwen2 | Architecture::Bert => true,
            Architecture::Llama => cfg.bool("attention_bias")?.unwrap_or(false),
            Architecture::Gemma3 => cfg.bool("attention_bias")?.unwrap_or(false),
        };
        if arch == Architecture::Gemma3 && qkv_bias {
            return Err(NavajaError::unsupported("gemma3 with attention_bias is not supported"));
        }

        // JinaBERT (jina-embeddings-v2) is a BERT with ALiBi instead of position embeddings.
        let alibi = is_bert
            && match cfg.str("position_embedding_type")?.unwrap_or("absolute") {
                "absolute" => false,
                "alibi" => true,
                other => {
                    return Err(NavajaError::unsupported(format!(
                        "BERT position_embedding_type {other:?} is not supported (\"absolute\" and JinaBERT's \"alibi\")"
                    )));
                }
            };
        let rope = if is_bert { None } else { Some(rope(&cfg, arch, head_dim)?) };

        let mut spec = ModelSpec::base(BaseSpec {
            architecture: arch,
            source: SpecSource::HfConfig { prefix: prefix.to_string() },
            name: root.get("_name_or_path").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string),
            n_layers,
            hidden_size: hidden,
            n_heads,
            n_kv_heads: n_kv,
            head_dim,
            ffn_size: ffn,
            vocab_size: vocab,
            context_length: context,
            norm_eps: eps,
            activation,
            rope,
            tied_embeddings: tied,
            attention_qkv_bias: qkv_bias,
            n_params: checks::param_count(
                tensors.iter().map(|t| t.shape.iter().fold(1u64, |a, &d| a.saturating_mul(d))),
            ),
        });
        match arch {
            Architecture::Gemma3 => gemma3(&cfg, &mut spec)?,
            Architecture::Bert => bert(&cfg, &mut spec, alibi)?,
            Architecture::Llama | Architecture::Qwen2 => {}
        }
        finish(spec, &|name| find(name).map(|t| t.shape.iter().rev().copied().collect()))
    }

    /// [`ModelSpec::from_hf_config`] for a single-file checkpoint.
    pub fn from_safetensors(config_json: &str, file: &SafetensorsFile) -> Result<ModelSpec> {
        let tensors: Vec<HfTensor<'_>> =
            file.tensors.iter().map(|t| HfTensor { name: &t.name, shape: &t.shape }).collect();
        ModelSpec::from_hf_config(config_json, &tensors)
    }

    /// Sets the pooling of a BERT spec (HF keeps it outside config.json, in
    /// sentence-transformers' `1_Pooling/config.json`).
    pub fn set_pooling(&mut self, pooling: Pooling) -> Result<()> {
        match &mut self.bert {
            Some(b) => {
                b.pooling = pooling;
                Ok(())
            }
            None => {
                Err(NavajaError::invalid(format!("pooling applies to BERT models, not {}", self.architecture.name())))
            }
        }
    }
}

impl Pooling {
    /// The pooling named by a sentence-transformers `1_Pooling/config.json`.
    pub fn from_sentence_transformers(json: &str) -> Result<Pooling> {
        let v: Value = serde_json::from_str(json)
            .map_err(|e| NavajaError::format(format!("1_Pooling/config.json is not valid JSON: {e}")))?;
        let on = |key: &str| v.get(key).and_then(Value::as_bool).unwrap_or(false);
        let modes = [
            ("pooling_mode_mean_tokens", Pooling::Mean),
            ("pooling_mode_cls_token", Pooling::Cls),
            ("pooling_mode_lasttoken", Pooling::Last),
        ];
        let chosen: Vec<Pooling> = modes.iter().filter(|(k, _)| on(k)).map(|(_, p)| *p).collect();
        let unsupported =
            ["pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens"];
        if let Some(k) = unsupported.iter().find(|k| on(k)) {
            return Err(NavajaError::unsupported(format!("sentence-transformers pooling {k} is not supported")));
        }
        match chosen.as_slice() {
            [p] => Ok(*p),
            [] => Err(NavajaError::format("1_Pooling/config.json enables no pooling mode")),
            _ => Err(NavajaError::unsupported("1_Pooling/config.json enables several pooling modes at once")),
        }
    }
}

/// BERT's extras: token types, ALiBi with JinaBERT's gated FFN, and the
/// classification head of a `BertForSequenceClassification` (a reranker).
fn bert(cfg: &Config<'_>, spec: &mut ModelSpec, alibi: bool) -> Result<()> {
    let types = cfg.u64("type_vocab_size")?.unwrap_or(0);
    let type_vocab_size = if types == 0 { 0 } else { dim("config.json \"type_vocab_size\"", types)? };
    let mut b = BertSpec::absolute(Pooling::None, type_vocab_size, spec.context_length);
    if alibi {
        b.max_position_embeddings = 0;
        b.alibi_max_bias = Some(JINA_ALIBI_MAX_BIAS);
        // JinaBERT's MLP: gelu(x W[:f]) * (x W[f:]), then W_out (jina-embeddings-v2).
        spec.ffn_gated = match cfg.str("feed_forward_type")?.unwrap_or("geglu") {
            "geglu" => true,
            other => {
                return Err(NavajaError::unsupported(format!(
                    "JinaBERT feed_forward_type {other:?} is not supported (only \"geglu\")"
                )));
            }
        };
    }
    let architectures = match cfg.0.get("architectures") {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if architectures.iter().any(|a| a.ends_with("ForSequenceClassification")) {
        // transformers: num_labels is the size of id2label (2 when neither is given).
        let labels = match (cfg.0.get("id2label"), cfg.u64("num_labels")?) {
            (Some(Value::Object(m)), _) => m.len() as u64,
            (_, Some(n)) => n,
            _ => 2,
        };
        b.classifier_labels = Some(dim("config.json \"id2label\" (the number of labels)", labels)?);
    }
    spec.bert = Some(b);
    Ok(())
}

/// jina-embeddings-v2's ALiBi maximum bias (llama.cpp's `f_max_alibi_bias` for jina-bert-v2).
pub(crate) const JINA_ALIBI_MAX_BIAS: f32 = 8.0;

fn activation(cfg: &Config<'_>, arch: Architecture) -> Result<Activation> {
    // Gemma 3 names it hidden_activation; the others hidden_act.
    let (key, default) = match arch {
        Architecture::Gemma3 => ("hidden_activation", "gelu_pytorch_tanh"),
        Architecture::Bert => ("hidden_act", "gelu"),
        Architecture::Llama | Architecture::Qwen2 => ("hidden_act", "silu"),
    };
    let act = match cfg.str(key)? {
        Some(a) => a,
        None if arch == Architecture::Gemma3 => cfg.str("hidden_act")?.unwrap_or(default),
        None => default,
    };
    match (arch, act) {
        (Architecture::Llama | Architecture::Qwen2, "silu") => Ok(Activation::Silu),
        (Architecture::Gemma3, "gelu_pytorch_tanh" | "gelu_new") => Ok(Activation::GeluTanh),
        (Architecture::Bert, "gelu") => Ok(Activation::Gelu),
        (Architecture::Bert, "gelu_new" | "gelu_pytorch_tanh") => Ok(Activation::GeluTanh),
        (_, other) => {
            Err(NavajaError::unsupported(format!("activation {other:?} for {} is not supported", arch.name())))
        }
    }
}

fn rope(cfg: &Config<'_>, arch: Architecture, head_dim: usize) -> Result<RopeSpec> {
    let freq_base = positive_f32("config.json \"rope_theta\"", cfg.f64("rope_theta")?.unwrap_or(10000.0))?;
    let scaling = match cfg.0.get("rope_scaling") {
        None | Some(Value::Null) => RopeScaling::none(),
        Some(Value::Object(s)) => {
            let s = Config(s);
            let kind = s.str("rope_type")?.or(s.str("type")?).unwrap_or("default");
            let kind = match kind {
                "default" => RopeScalingKind::None,
                "linear" => RopeScalingKind::Linear,
                "yarn" => RopeScalingKind::Yarn,
                "longrope" => RopeScalingKind::LongRope,
                "llama3" => RopeScalingKind::Llama3,
                other => {
                    return Err(NavajaError::unsupported(format!(
                        "rope_scaling type {other:?} is not supported (linear, yarn, longrope, llama3)"
                    )));
                }
            };
            let factor = match s.f64("factor")? {
                Some(f) => positive_f32("config.json rope_scaling \"factor\"", f)?,
                None => 1.0,
            };
            let orig = s.u64("original_max_position_embeddings")?;
            RopeScaling {
                kind,
                factor,
                original_context_length: orig
                    .map(|v| dim("rope_scaling original_max_position_embeddings", v))
                    .transpose()?,
                low_freq_factor: s.f64("low_freq_factor")?.map(|v| v as f32),
                high_freq_factor: s.f64("high_freq_factor")?.map(|v| v as f32),
            }
        }
        Some(v) => {
            return Err(NavajaError::format(format!("config.json: \"rope_scaling\" should be an object, but is {v}")));
        }
    };
    let ordering = if arch == Architecture::Llama { RopeOrdering::Normal } else { RopeOrdering::Neox };
    Ok(RopeSpec { freq_base, dims: head_dim, ordering, scaling, freq_factors_tensor: None })
}

fn gemma3(cfg: &Config<'_>, spec: &mut ModelSpec) -> Result<()> {
    spec.qk_norm = true;
    spec.post_norms = true;
    // HF Gemma norms compute x * (1 + w); GGUF converters bake the 1 in.
    spec.norm_weight_offset = 1.0;
    spec.embedding_scale = Some((spec.hidden_size as f32).sqrt());
    let scalar = match cfg.f64("query_pre_attn_scalar")? {
        Some(s) => positive_f32("config.json \"query_pre_attn_scalar\"", s)?,
        None => spec.head_dim as f32,
    };
    spec.attention_scale = 1.0 / scalar.sqrt();
    let local_base = match cfg.f64("rope_local_base_freq")? {
        Some(b) => positive_f32("config.json \"rope_local_base_freq\"", b)?,
        None => GEMMA3_LOCAL_ROPE_BASE,
    };
    spec.gemma3 = Some(Gemma3Spec { local_rope_freq_base: local_base });

    let window = cfg.u64("sliding_window")?.unwrap_or(0);
    if window == 0 {
        return Ok(());
    }
    spec.sliding_window = Some(dim("config.json \"sliding_window\"", window)?);
    spec.layer_attention = match cfg.0.get("layer_types") {
        Some(Value::Array(types)) => {
            if types.len() != spec.n_layers {
                return Err(NavajaError::format(format!(
                    "config.json: \"layer_types\" has {} entries for {} layers",
                    types.len(),
                    spec.n_layers
                )));
            }
            types
                .iter()
                .map(|t| match t.as_str() {
                    Some("sliding_attention") => Ok(LayerAttention::Local),
                    Some("full_attention") => Ok(LayerAttention::Global),
                    _ => Err(NavajaError::format(format!("config.json: unknown layer type {t} in \"layer_types\""))),
                })
                .collect::<Result<Vec<_>>>()?
        }
        _ => {
            let period = cfg.u64("sliding_window_pattern")?.unwrap_or(GEMMA3_DEFAULT_PATTERN as u64);
            checks::periodic_pattern(spec.n_layers, usize::try_from(period).unwrap_or(usize::MAX))
        }
    };
    Ok(())
}
