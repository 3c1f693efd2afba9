//! [`ModelSpec`]: the hyper-parameters an engine needs, with every difference
//! between architectures spelled out as a field, so the engine never has to
//! branch on the architecture's name.

use serde::Serialize;

/// The architectures navaja runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    /// SmolLM2, TinyLlama, Llama 3.x.
    Llama,
    /// Qwen2 / Qwen2.5: llama plus q/k/v biases and NeoX RoPE.
    Qwen2,
    /// Gemma 3 (text): GeGLU, q/k norms, pre+post norms, sliding-window layers.
    Gemma3,
    /// BERT encoders (sentence embeddings).
    Bert,
}

pub const SUPPORTED_ARCHITECTURES: &str = "llama, qwen2, gemma3, bert";

impl Architecture {
    pub fn name(self) -> &'static str {
        match self {
            Architecture::Llama => "llama",
            Architecture::Qwen2 => "qwen2",
            Architecture::Gemma3 => "gemma3",
            Architecture::Bert => "bert",
        }
    }
}

/// Where the spec came from, which fixes the tensor naming scheme.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SpecSource {
    /// llama.cpp names (`token_embd.weight`, `blk.0.attn_q.weight`).
    Gguf,
    /// Hugging Face names; `prefix` is what precedes them (`"bert."`, `"model."`, or `""`).
    HfConfig { prefix: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NormKind {
    /// x / sqrt(mean(x²) + eps) * w
    RmsNorm,
    /// (x - mean) / sqrt(var + eps) * w + b
    LayerNorm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// x * sigmoid(x) (llama, qwen2: SwiGLU with the gate).
    Silu,
    /// GELU, tanh approximation (gemma3's `gelu_pytorch_tanh`, GeGLU with the gate).
    GeluTanh,
    /// GELU with erf (BERT's `gelu`; llama.cpp approximates it with tanh).
    Gelu,
}

/// How RoPE pairs the values of a head (llama.cpp's `llama_rope_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RopeOrdering {
    /// Consecutive pairs (x[2i], x[2i+1]): llama (`LLAMA_ROPE_TYPE_NORM`).
    Normal,
    /// Pairs half a rotation apart (x[i], x[i + n_rot/2]): qwen2, gemma3 (`LLAMA_ROPE_TYPE_NEOX`).
    Neox,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RopeScalingKind {
    None,
    /// Positions divided by `factor` (freq_scale = 1/factor).
    Linear,
    Yarn,
    LongRope,
    /// Llama 3.1's per-frequency factors (HF `rope_type: llama3`; in GGUF
    /// they are baked into the `rope_freqs.weight` tensor instead).
    Llama3,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RopeScaling {
    pub kind: RopeScalingKind,
    /// 1.0 when there is no scaling.
    pub factor: f32,
    /// Context length the model was trained with before scaling, when known.
    pub original_context_length: Option<usize>,
    /// Llama 3 only: HF `low_freq_factor` / `high_freq_factor`.
    pub low_freq_factor: Option<f32>,
    pub high_freq_factor: Option<f32>,
}

impl RopeScaling {
    pub fn none() -> RopeScaling {
        RopeScaling {
            kind: RopeScalingKind::None,
            factor: 1.0,
            original_context_length: None,
            low_freq_factor: None,
            high_freq_factor: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RopeSpec {
    /// theta: frequency i is freq_base^(-2i / dims).
    pub freq_base: f32,
    /// Rotated values per head (the first `dims` of `head_dim`).
    pub dims: usize,
    pub ordering: RopeOrdering,
    pub scaling: RopeScaling,
    /// GGUF tensor of per-frequency divisors (`rope_freqs.weight`, Llama 3.1+), if the file has one.
    pub freq_factors_tensor: Option<String>,
}

/// Which keys a layer attends to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerAttention {
    /// All earlier positions (or all positions for a non-causal encoder).
    Global,
    /// Only the last `sliding_window` positions, with the local RoPE (gemma3).
    Local,
}

/// BERT pooling of token embeddings into one sentence embedding
/// (llama.cpp's `bert.pooling_type`: 0 none, 1 mean, 2 cls, 3 last).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    None,
    Mean,
    Cls,
    Last,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BertSpec {
    pub pooling: Pooling,
    /// Rows of the token-type (segment) embedding; 0 when the model has none.
    pub type_vocab_size: usize,
    /// Rows of the learned absolute position embedding; 0 with ALiBi.
    pub max_position_embeddings: usize,
    /// JinaBERT: no position embedding; attention scores get ALiBi biases
    /// `-slope_h * |i - j|` with slopes from this maximum bias (8).
    pub alibi_max_bias: Option<f32>,
    /// A cross-encoder (reranker) head on the first token: `labels` scores
    /// `out(tanh(dense(h_cls)))` (BERT's pooler + classifier, llama.cpp's `cls` + `cls.output`).
    pub classifier_labels: Option<usize>,
}

impl BertSpec {
    /// A BERT with learned positions and no classification head.
    pub fn absolute(pooling: Pooling, type_vocab_size: usize, max_position_embeddings: usize) -> BertSpec {
        BertSpec { pooling, type_vocab_size, max_position_embeddings, alibi_max_bias: None, classifier_labels: None }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gemma3Spec {
    /// Base of the RoPE used by local (sliding-window) layers; the global
    /// layers use `rope`. 10000 in every released Gemma 3.
    pub local_rope_freq_base: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelSpec {
    pub architecture: Architecture,
    pub source: SpecSource,
    /// `general.name` / `_name_or_path`, for display.
    pub name: Option<String>,
    pub n_layers: usize,
    pub hidden_size: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    /// Per-head size of q and k (and v): gemma3 sets it explicitly
    /// (`attention.key_length`), elsewhere hidden_size / n_heads.
    pub head_dim: usize,
    pub ffn_size: usize,
    pub vocab_size: usize,
    /// Longest sequence the model was trained for.
    pub context_length: usize,
    pub norm: NormKind,
    pub norm_eps: f32,
    /// Added to every norm weight before use: 1.0 for Gemma's HF weights
    /// (`x * (1 + w)`); GGUF converters already added it, so 0.0 there.
    pub norm_weight_offset: f32,
    pub activation: Activation,
    /// Gated FFN (down(act(gate(x)) * up(x))) rather than down(act(up(x))).
    pub ffn_gated: bool,
    /// Causal (decoder) attention; false for BERT.
    pub causal: bool,
    /// None for models with learned absolute positions (BERT).
    pub rope: Option<RopeSpec>,
    /// No separate output projection: logits use the token embedding matrix.
    pub tied_embeddings: bool,
    /// Biases on q, k, v (qwen2, BERT).
    pub attention_qkv_bias: bool,
    /// Biases on the attention output and FFN projections (BERT).
    pub linear_bias: bool,
    /// RMS norm of each q and k head before RoPE (gemma3).
    pub qk_norm: bool,
    /// Extra norms after attention and after the FFN, before the residual add (gemma3).
    pub post_norms: bool,
    /// The token embeddings are multiplied by this (gemma3: sqrt(hidden_size)).
    pub embedding_scale: Option<f32>,
    /// Scale of q·k before softmax (1/sqrt(head_dim) unless the model says otherwise).
    pub attention_scale: f32,
    /// Window of the `Local` layers, in positions.
    pub sliding_window: Option<usize>,
    /// One entry per layer.
    pub layer_attention: Vec<LayerAttention>,
    pub gemma3: Option<Gemma3Spec>,
    pub bert: Option<BertSpec>,
    /// Sum of the elements of every tensor in the file.
    pub n_params: u64,
}

/// What every source states about a model; [`ModelSpec::base`] derives the
/// rest (norm kind, gating, causality, biases) from the architecture, with
/// the plain defaults that the per-architecture readers then adjust.
pub(crate) struct BaseSpec {
    pub architecture: Architecture,
    pub source: SpecSource,
    pub name: Option<String>,
    pub n_layers: usize,
    pub hidden_size: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    pub ffn_size: usize,
    pub vocab_size: usize,
    pub context_length: usize,
    pub norm_eps: f32,
    pub activation: Activation,
    pub rope: Option<RopeSpec>,
    /// No separate output projection tensor (ignored for encoders).
    pub tied_embeddings: bool,
    pub attention_qkv_bias: bool,
    pub n_params: u64,
}

impl ModelSpec {
    /// A spec from what the file states; BERT is a bidirectional, ungated
    /// encoder with LayerNorm and biases, the decoders are causal, gated and RMS-normed.
    pub(crate) fn base(b: BaseSpec) -> ModelSpec {
        let is_bert = b.architecture == Architecture::Bert;
        ModelSpec {
            architecture: b.architecture,
            source: b.source,
            name: b.name,
            n_layers: b.n_layers,
            hidden_size: b.hidden_size,
            n_heads: b.n_heads,
            n_kv_heads: b.n_kv_heads,
            head_dim: b.head_dim,
            ffn_size: b.ffn_size,
            vocab_size: b.vocab_size,
            context_length: b.context_length,
            norm: if is_bert { NormKind::LayerNorm } else { NormKind::RmsNorm },
            norm_eps: b.norm_eps,
            norm_weight_offset: 0.0,
            activation: b.activation,
            ffn_gated: !is_bert,
            causal: !is_bert,
            rope: b.rope,
            tied_embeddings: b.tied_embeddings && !is_bert,
            attention_qkv_bias: b.attention_qkv_bias,
            linear_bias: is_bert,
            qk_norm: false,
            post_norms: false,
            embedding_scale: None,
            attention_scale: 1.0 / (b.head_dim as f32).sqrt(),
            sliding_window: None,
            layer_attention: vec![LayerAttention::Global; b.n_layers],
            gemma3: None,
            bert: None,
            n_params: b.n_params,
        }
    }

    /// Total parameters (elements of every tensor, embeddings included).
    pub fn parameter_count(&self) -> u64 {
        self.n_params
    }

    /// Whether layer `layer` attends through a sliding window.
    pub fn is_local_layer(&self, layer: usize) -> bool {
        self.layer_attention.get(layer) == Some(&LayerAttention::Local)
    }

    /// RoPE base for `layer`: the local base on gemma3's sliding-window layers.
    pub fn rope_freq_base(&self, layer: usize) -> Option<f32> {
        let rope = self.rope.as_ref()?;
        match (&self.gemma3, self.is_local_layer(layer)) {
            (Some(g), true) => Some(g.local_rope_freq_base),
            _ => Some(rope.freq_base),
        }
    }

    /// Rows of K (and V) per token per layer: n_kv_heads * head_dim.
    pub fn kv_width(&self) -> usize {
        self.n_kv_heads * self.head_dim
    }

    /// One line per fact, for `navaja inspect`.
    pub fn summary(&self) -> String {
        let mut lines = vec![
            format!(
                "{}{}: {} layers, hidden {}, ffn {}, vocab {}, context {}",
                self.architecture.name(),
                self.name.as_ref().map(|n| format!(" ({n})")).unwrap_or_default(),
                self.n_layers,
                self.hidden_size,
                self.ffn_size,
                self.vocab_size,
                self.context_length
            ),
            format!(
                "attention: {} heads, {} kv heads, head_dim {}, {}{}",
                self.n_heads,
                self.n_kv_heads,
                self.head_dim,
                if self.causal { "causal" } else { "bidirectional" },
                if self.attention_qkv_bias { ", qkv bias" } else { "" }
            ),
        ];
        match &self.rope {
            Some(r) => lines.push(format!(
                "rope: base {}, {} dims, {:?} ordering, scaling {:?} x{}",
                r.freq_base, r.dims, r.ordering, r.scaling.kind, r.scaling.factor
            )),
            None if self.bert.as_ref().is_some_and(|b| b.alibi_max_bias.is_some()) => {
                lines.push("positions: ALiBi attention biases".into())
            }
            None => lines.push("positions: learned absolute embeddings".into()),
        }
        if let Some(w) = self.sliding_window {
            let local = self.layer_attention.iter().filter(|a| **a == LayerAttention::Local).count();
            lines.push(format!("sliding window {w} on {local} of {} layers", self.n_layers));
        }
        lines.push(format!(
            "{:?} eps {:e}, {:?}{}, {} embeddings, {:.1}M parameters",
            self.norm,
            self.norm_eps,
            self.activation,
            if self.ffn_gated { " (gated)" } else { "" },
            if self.tied_embeddings { "tied" } else { "separate output" },
            self.n_params as f64 / 1e6
        ));
        if let Some(b) = &self.bert {
            let positions = match b.alibi_max_bias {
                Some(bias) => format!("ALiBi (max bias {bias})"),
                None => format!("{} positions", b.max_position_embeddings),
            };
            let head = b.classifier_labels.map(|n| format!(", classification head of {n} labels")).unwrap_or_default();
            lines.push(format!("pooling {:?}, {} token types, {positions}{head}", b.pooling, b.type_vocab_size));
        }
        lines.join("\n")
    }
}
