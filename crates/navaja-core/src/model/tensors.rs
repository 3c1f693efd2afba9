//! The tensors each architecture needs, under both naming schemes (llama.cpp's
//! GGUF names and Hugging Face's), with the shape each must have. Checking a
//! file against this table turns a wrong or missing tensor into a clear error
//! at load time instead of garbage at inference time.

use super::spec::{Architecture, ModelSpec, SpecSource};
use crate::{NavajaError, Result};

/// A tensor a model needs, with its shape in ggml order (`dims[0]` contiguous,
/// the reverse of the PyTorch shape).
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedTensor {
    pub name: String,
    /// The llama.cpp name of the same tensor (equal to `name` for GGUF specs),
    /// so that engines can address the tensors of either source one way.
    /// JinaBERT's fused HF `mlp.gated_layers` has no llama.cpp counterpart
    /// (GGUF splits it); it is called `blk.N.ffn_gate_up.weight`.
    pub gguf_name: String,
    pub dims: Vec<u64>,
}

/// (GGUF name, HF name, dims) for one tensor; `{}` in names is the layer.
struct Row {
    gguf: String,
    hf: String,
    dims: Vec<u64>,
}

fn row(gguf: impl Into<String>, hf: impl Into<String>, dims: &[usize]) -> Row {
    Row { gguf: gguf.into(), hf: hf.into(), dims: dims.iter().map(|&d| d as u64).collect() }
}

fn rows(spec: &ModelSpec) -> Vec<Row> {
    let d = spec.hidden_size;
    let q = spec.n_heads * spec.head_dim;
    let kv = spec.n_kv_heads * spec.head_dim;
    let f = spec.ffn_size;
    let v = spec.vocab_size;
    let mut out = Vec::new();
    if spec.architecture == Architecture::Bert {
        let b = spec.bert.as_ref();
        let (p, types) = b.map(|b| (b.max_position_embeddings, b.type_vocab_size)).unwrap_or((0, 0));
        let alibi = b.is_some_and(|b| b.alibi_max_bias.is_some());
        out.push(row("token_embd.weight", "embeddings.word_embeddings.weight", &[d, v]));
        if !alibi {
            out.push(row("position_embd.weight", "embeddings.position_embeddings.weight", &[d, p]));
        }
        if types > 0 {
            out.push(row("token_types.weight", "embeddings.token_type_embeddings.weight", &[d, types]));
        }
        out.push(row("token_embd_norm.weight", "embeddings.LayerNorm.weight", &[d]));
        out.push(row("token_embd_norm.bias", "embeddings.LayerNorm.bias", &[d]));
        let hf_source = matches!(spec.source, SpecSource::HfConfig { .. });
        for i in 0..spec.n_layers {
            let g = |s: &str| format!("blk.{i}.{s}");
            let h = |s: &str| format!("encoder.layer.{i}.{s}");
            // (GGUF, HF, dims, bias): JinaBERT names its MLP differently and gates it.
            let mut linears = vec![
                ("attn_q", "attention.self.query", [d, q], true),
                ("attn_k", "attention.self.key", [d, kv], true),
                ("attn_v", "attention.self.value", [d, kv], true),
                ("attn_output", "attention.output.dense", [q, d], true),
            ];
            let out_norm = if spec.ffn_gated {
                if hf_source {
                    linears.push(("ffn_gate_up", "mlp.gated_layers", [d, 2 * f], false));
                } else {
                    linears.push(("ffn_gate", "", [d, f], false));
                    linears.push(("ffn_up", "", [d, f], false));
                }
                linears.push(("ffn_down", "mlp.wo", [f, d], true));
                "mlp.layernorm"
            } else {
                linears.push(("ffn_up", "intermediate.dense", [d, f], true));
                linears.push(("ffn_down", "output.dense", [f, d], true));
                "output.LayerNorm"
            };
            for (gn, hn, dims, bias) in linears {
                out.push(row(g(&format!("{gn}.weight")), h(&format!("{hn}.weight")), &dims));
                if bias {
                    out.push(row(g(&format!("{gn}.bias")), h(&format!("{hn}.bias")), &[dims[1]]));
                }
            }
            for (gn, hn) in [("attn_output_norm", "attention.output.LayerNorm"), ("layer_output_norm", out_norm)] {
                out.push(row(g(&format!("{gn}.weight")), h(&format!("{hn}.weight")), &[d]));
                out.push(row(g(&format!("{gn}.bias")), h(&format!("{hn}.bias")), &[d]));
            }
        }
        if let Some(labels) = b.and_then(|b| b.classifier_labels) {
            // BertForSequenceClassification: pooler.dense then classifier (outside the `bert.` prefix).
            out.push(row("cls.weight", "pooler.dense.weight", &[d, d]));
            out.push(row("cls.bias", "pooler.dense.bias", &[d]));
            out.push(row("cls.output.weight", "classifier.weight", &[d, labels]));
            out.push(row("cls.output.bias", "classifier.bias", &[labels]));
        }
        return out;
    }

    out.push(row("token_embd.weight", "model.embed_tokens.weight", &[d, v]));
    out.push(row("output_norm.weight", "model.norm.weight", &[d]));
    if !spec.tied_embeddings {
        out.push(row("output.weight", "lm_head.weight", &[d, v]));
    }
    let gemma = spec.architecture == Architecture::Gemma3;
    for i in 0..spec.n_layers {
        let g = |s: &str| format!("blk.{i}.{s}");
        let h = |s: &str| format!("model.layers.{i}.{s}");
        // Gemma's HF "post_attention_layernorm" is a post-norm; llama's is the pre-FFN norm.
        let ffn_norm_hf = if gemma { "pre_feedforward_layernorm.weight" } else { "post_attention_layernorm.weight" };
        out.push(row(g("attn_norm.weight"), h("input_layernorm.weight"), &[d]));
        out.push(row(g("attn_q.weight"), h("self_attn.q_proj.weight"), &[d, q]));
        out.push(row(g("attn_k.weight"), h("self_attn.k_proj.weight"), &[d, kv]));
        out.push(row(g("attn_v.weight"), h("self_attn.v_proj.weight"), &[d, kv]));
        out.push(row(g("attn_output.weight"), h("self_attn.o_proj.weight"), &[q, d]));
        out.push(row(g("ffn_norm.weight"), h(ffn_norm_hf), &[d]));
        out.push(row(g("ffn_gate.weight"), h("mlp.gate_proj.weight"), &[d, f]));
        out.push(row(g("ffn_up.weight"), h("mlp.up_proj.weight"), &[d, f]));
        out.push(row(g("ffn_down.weight"), h("mlp.down_proj.weight"), &[f, d]));
        if spec.attention_qkv_bias {
            out.push(row(g("attn_q.bias"), h("self_attn.q_proj.bias"), &[q]));
            out.push(row(g("attn_k.bias"), h("self_attn.k_proj.bias"), &[kv]));
            out.push(row(g("attn_v.bias"), h("self_attn.v_proj.bias"), &[kv]));
        }
        if spec.qk_norm {
            out.push(row(g("attn_q_norm.weight"), h("self_attn.q_norm.weight"), &[spec.head_dim]));
            out.push(row(g("attn_k_norm.weight"), h("self_attn.k_norm.weight"), &[spec.head_dim]));
        }
        if spec.post_norms {
            out.push(row(g("post_attention_norm.weight"), h("post_attention_layernorm.weight"), &[d]));
            out.push(row(g("post_ffw_norm.weight"), h("post_feedforward_layernorm.weight"), &[d]));
        }
    }
    out
}

impl ModelSpec {
    /// Every tensor this spec requires, named in the scheme of its source, with
    /// the shape (ggml order) it must have.
    pub fn expected_tensors(&self) -> Vec<ExpectedTensor> {
        rows(self)
            .into_iter()
            .map(|r| {
                let name = match &self.source {
                    SpecSource::Gguf => r.gguf.clone(),
                    // The heads sit outside the base model's prefix in HF checkpoints.
                    SpecSource::HfConfig { .. } if r.hf.starts_with("lm_head") || r.hf.starts_with("classifier") => {
                        r.hf
                    }
                    SpecSource::HfConfig { prefix } => format!("{prefix}{}", r.hf),
                };
                ExpectedTensor { name, gguf_name: r.gguf, dims: r.dims }
            })
            .collect()
    }

    /// Checks that every required tensor exists with the expected shape;
    /// `dims_of` gives a tensor's shape in ggml order.
    pub(crate) fn check_tensors(&self, dims_of: &dyn Fn(&str) -> Option<Vec<u64>>) -> Result<()> {
        for t in self.expected_tensors() {
            match dims_of(&t.name) {
                None => {
                    return Err(NavajaError::format(format!(
                        "required tensor {:?} is missing ({} with {} layers)",
                        t.name,
                        self.architecture.name(),
                        self.n_layers
                    )));
                }
                Some(dims) if dims != t.dims => {
                    return Err(NavajaError::format(format!(
                        "tensor {:?} has shape {dims:?} (ggml order), but the metadata implies {:?}",
                        t.name, t.dims
                    )));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}
