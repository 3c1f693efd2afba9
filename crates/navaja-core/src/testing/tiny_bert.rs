//! Tiny random BERT-family encoders in both file formats a user brings: a
//! GGUF file ([`tiny_bert_gguf`], llama.cpp's names) and a Hugging Face /
//! sentence-transformers folder ([`tiny_bert_folder`]: model.safetensors,
//! config.json, tokenizer.json, modules.json, 1_Pooling/config.json), with
//! the same small WordPiece vocabulary, so the CPU reference and the GPU
//! encoder can be compared on every layout and weight type.

use serde_json::json;

use super::blocks::random_blocks;
use crate::generate::Rng;
use crate::gguf::{GgufArray, GgufValue, GgufWriter};
use crate::model::Pooling;
use crate::quant::GgmlType;
use crate::safetensors::build_file;
use crate::{NavajaError, Result};

/// Whole words of the test vocabulary (anything else is spelled with letters).
const WORDS: &[&str] = &[
    "the", "a", "man", "is", "eating", "food", "piece", "of", "bread", "new", "movie", "awesome", "monkey", "playing",
    "drums", "search", "on", "device", "private", "query", "document", "what", "where", "city", "capital", "france",
    "paris",
];
/// [PAD], [UNK], [CLS], [SEP], [MASK] come first, at these ids.
pub const TINY_BERT_CLS: u32 = 2;
pub const TINY_BERT_SEP: u32 = 3;

/// The shape, layout and weight type of a tiny encoder.
#[derive(Debug, Clone, PartialEq)]
pub struct TinyBert {
    pub seed: u64,
    pub n_layers: usize,
    pub hidden: usize,
    pub n_heads: usize,
    pub ffn: usize,
    /// Rows of the position embedding (unused with `jina`).
    pub max_positions: usize,
    /// 0: no token-type embedding.
    pub type_vocab: usize,
    /// Type of every tensor: F32, F16 or Q8_0 in GGUF (norms and biases stay
    /// F32 there), F32, F16 or BF16 in safetensors.
    pub weight_type: GgmlType,
    pub pooling: Pooling,
    /// sentence-transformers' Normalize module (folder only).
    pub normalize: bool,
    /// A cross-encoder head with this many labels (BertForSequenceClassification / llama.cpp rank).
    pub classifier_labels: Option<usize>,
    /// JinaBERT v2: ALiBi instead of positions and a GEGLU FFN.
    pub jina: bool,
}

impl Default for TinyBert {
    fn default() -> Self {
        TinyBert {
            seed: 0,
            n_layers: 2,
            hidden: 64,
            n_heads: 4,
            ffn: 128,
            max_positions: 64,
            type_vocab: 2,
            weight_type: GgmlType::F32,
            pooling: Pooling::Mean,
            normalize: true,
            classifier_labels: None,
            jina: false,
        }
    }
}

/// The vocabulary in Hugging Face's form: specials, words, letters, "##" letters, digits, punctuation.
fn vocab() -> Vec<String> {
    let mut v: Vec<String> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"].iter().map(|s| s.to_string()).collect();
    v.extend(WORDS.iter().map(|w| w.to_string()));
    v.extend(('a'..='z').map(|c| c.to_string()));
    v.extend(('a'..='z').map(|c| format!("##{c}")));
    v.extend(('0'..='9').map(|c| c.to_string()));
    v.extend([".", ",", "!", "?", "'", "-"].iter().map(|s| s.to_string()));
    v
}

/// One tensor: its llama.cpp and Hugging Face names, PyTorch shape and scale.
struct Spec {
    gguf: String,
    hf: String,
    shape: Vec<u64>,
    scale: f32,
    /// Norm weights are 1 ± scale; everything else ± scale.
    norm: bool,
}

impl TinyBert {
    fn check(&self) -> Result<()> {
        let bad = |m: String| Err(NavajaError::invalid(format!("tiny bert: {m}")));
        if self.n_layers == 0 || self.hidden == 0 || self.n_heads == 0 || self.ffn == 0 {
            return bad("sizes must be positive".into());
        }
        if !self.hidden.is_multiple_of(self.n_heads) {
            return bad(format!("n_heads {} does not divide hidden {}", self.n_heads, self.hidden));
        }
        if !self.jina && self.max_positions == 0 {
            return bad("max_positions must be positive".into());
        }
        Ok(())
    }

    /// Every tensor, in file order.
    fn tensors(&self) -> Vec<Spec> {
        let (d, f, v) = (self.hidden as u64, self.ffn as u64, vocab().len() as u64);
        let mut out = Vec::new();
        let mut push = |gguf: String, hf: String, shape: &[u64], scale: f32, norm: bool| {
            out.push(Spec { gguf, hf, shape: shape.to_vec(), scale, norm });
        };
        let fan = |n: u64| (3.0 / n as f32).sqrt();
        push("token_embd.weight".into(), "embeddings.word_embeddings.weight".into(), &[v, d], 1.0, false);
        if !self.jina {
            let p = self.max_positions as u64;
            push("position_embd.weight".into(), "embeddings.position_embeddings.weight".into(), &[p, d], 0.5, false);
        }
        if self.type_vocab > 0 {
            let t = self.type_vocab as u64;
            push("token_types.weight".into(), "embeddings.token_type_embeddings.weight".into(), &[t, d], 0.5, false);
        }
        push("token_embd_norm.weight".into(), "embeddings.LayerNorm.weight".into(), &[d], 0.1, true);
        push("token_embd_norm.bias".into(), "embeddings.LayerNorm.bias".into(), &[d], 0.1, false);
        for i in 0..self.n_layers {
            let g = |s: &str| format!("blk.{i}.{s}");
            let h = |s: &str| format!("encoder.layer.{i}.{s}");
            for (gn, hn) in [
                ("attn_q", "attention.self.query"),
                ("attn_k", "attention.self.key"),
                ("attn_v", "attention.self.value"),
                ("attn_output", "attention.output.dense"),
            ] {
                push(g(&format!("{gn}.weight")), h(&format!("{hn}.weight")), &[d, d], fan(d), false);
                push(g(&format!("{gn}.bias")), h(&format!("{hn}.bias")), &[d], 0.2, false);
            }
            push(g("attn_output_norm.weight"), h("attention.output.LayerNorm.weight"), &[d], 0.1, true);
            push(g("attn_output_norm.bias"), h("attention.output.LayerNorm.bias"), &[d], 0.1, false);
            let out_norm = if self.jina {
                // HF's fused gated_layers: GGUF's ffn_gate rows, then ffn_up rows.
                push(g("ffn_gate_up.weight"), h("mlp.gated_layers.weight"), &[2 * f, d], fan(d), false);
                push(g("ffn_down.weight"), h("mlp.wo.weight"), &[d, f], fan(f), false);
                push(g("ffn_down.bias"), h("mlp.wo.bias"), &[d], 0.2, false);
                "mlp.layernorm"
            } else {
                push(g("ffn_up.weight"), h("intermediate.dense.weight"), &[f, d], fan(d), false);
                push(g("ffn_up.bias"), h("intermediate.dense.bias"), &[f], 0.2, false);
                push(g("ffn_down.weight"), h("output.dense.weight"), &[d, f], fan(f), false);
                push(g("ffn_down.bias"), h("output.dense.bias"), &[d], 0.2, false);
                "output.LayerNorm"
            };
            push(g("layer_output_norm.weight"), h(&format!("{out_norm}.weight")), &[d], 0.1, true);
            push(g("layer_output_norm.bias"), h(&format!("{out_norm}.bias")), &[d], 0.1, false);
        }
        if let Some(labels) = self.classifier_labels {
            let l = labels as u64;
            push("cls.weight".into(), "pooler.dense.weight".into(), &[d, d], fan(d), false);
            push("cls.bias".into(), "pooler.dense.bias".into(), &[d], 0.2, false);
            push("cls.output.weight".into(), "classifier.weight".into(), &[l, d], fan(d), false);
            push("cls.output.bias".into(), "classifier.bias".into(), &[l], 0.2, false);
        }
        out
    }
}

/// Random values of one tensor as `ty` bytes (norm weights near 1).
fn values(rng: &mut Rng, t: &Spec, ty: GgmlType) -> Result<Vec<u8>> {
    let n = t.shape.iter().product::<u64>() as usize;
    if !t.norm {
        return random_blocks(ty, n, rng, t.scale);
    }
    let vals: Vec<f32> = (0..n).map(|_| 1.0 + rng.uniform(-t.scale, t.scale)).collect();
    Ok(match ty {
        GgmlType::F32 => vals.iter().flat_map(|v| v.to_le_bytes()).collect(),
        GgmlType::F16 => vals.iter().flat_map(|&v| half::f16::from_f32(v).to_le_bytes()).collect(),
        GgmlType::BF16 => vals.iter().flat_map(|&v| half::bf16::from_f32(v).to_le_bytes()).collect(),
        other => return Err(NavajaError::invalid(format!("tiny bert: norms cannot be {other}"))),
    })
}

/// A GGUF encoder (`bert`, or `jina-bert-v2` with `jina`) with llama.cpp's
/// metadata, tensor names and WordPiece vocabulary ("▁word" / "ing").
pub fn tiny_bert_gguf(o: &TinyBert) -> Result<Vec<u8>> {
    o.check()?;
    if !matches!(o.weight_type, GgmlType::F32 | GgmlType::F16 | GgmlType::Q8_0) {
        return Err(NavajaError::invalid(format!("tiny bert gguf: weight type {} (F32, F16, Q8_0)", o.weight_type)));
    }
    let arch = if o.jina { "jina-bert-v2" } else { "bert" };
    let key = |s: &str| format!("{arch}.{s}");
    let u = |v: usize| GgufValue::U32(v as u32);
    let pooling = match (o.classifier_labels, o.pooling) {
        (Some(_), _) => 4,
        (None, Pooling::None) => 0,
        (None, Pooling::Mean) => 1,
        (None, Pooling::Cls) => 2,
        (None, Pooling::Last) => 3,
    };
    let tokens: Vec<String> = vocab()
        .into_iter()
        .map(|t| match t.strip_prefix("##") {
            Some(rest) => rest.to_string(),
            None if t.starts_with('[') => t,
            None => format!("\u{2581}{t}"),
        })
        .collect();
    let types: Vec<i32> = tokens.iter().map(|t| if t.starts_with('[') { 3 } else { 1 }).collect();
    let context = if o.jina { 512 } else { o.max_positions };
    let mut w = GgufWriter::new()
        .meta("general.architecture", GgufValue::String(arch.into()))
        .meta("general.name", GgufValue::String(format!("tiny {arch}")))
        .meta(&key("block_count"), u(o.n_layers))
        .meta(&key("context_length"), u(context))
        .meta(&key("embedding_length"), u(o.hidden))
        .meta(&key("feed_forward_length"), u(o.ffn))
        .meta(&key("attention.head_count"), u(o.n_heads))
        .meta(&key("attention.layer_norm_epsilon"), GgufValue::F32(1e-12))
        .meta(&key("attention.causal"), GgufValue::Bool(false))
        .meta(&key("pooling_type"), u(pooling))
        .meta("tokenizer.ggml.model", GgufValue::String("bert".into()))
        .meta("tokenizer.ggml.tokens", GgufValue::Array(GgufArray::String(tokens)))
        .meta("tokenizer.ggml.token_type", GgufValue::Array(GgufArray::I32(types)))
        .meta("tokenizer.ggml.token_type_count", u(o.type_vocab))
        .meta("tokenizer.ggml.padding_token_id", GgufValue::U32(0))
        .meta("tokenizer.ggml.unknown_token_id", GgufValue::U32(1))
        .meta("tokenizer.ggml.cls_token_id", GgufValue::U32(TINY_BERT_CLS))
        .meta("tokenizer.ggml.seperator_token_id", GgufValue::U32(TINY_BERT_SEP))
        .meta("tokenizer.ggml.mask_token_id", GgufValue::U32(4));
    let mut rng = Rng::new(o.seed);
    for t in o.tensors() {
        // ggml order: contiguous dimension first.
        let dims: Vec<u64> = t.shape.iter().rev().copied().collect();
        let ty = if t.shape.len() == 1 { GgmlType::F32 } else { o.weight_type };
        let data = values(&mut rng, &t, ty)?;
        if let Some(layer) = t.gguf.strip_suffix("ffn_gate_up.weight") {
            // llama.cpp stores JinaBERT's gate and up halves as two tensors.
            let half = data.len() / 2;
            let half_dims = [dims[0], dims[1] / 2];
            w = w.tensor(&format!("{layer}ffn_gate.weight"), &half_dims, ty, data[..half].to_vec());
            w = w.tensor(&format!("{layer}ffn_up.weight"), &half_dims, ty, data[half..].to_vec());
        } else {
            w = w.tensor(&t.gguf, &dims, ty, data);
        }
    }
    Ok(w.build())
}

/// A Hugging Face folder: `(relative path, bytes)` of model.safetensors,
/// config.json, tokenizer.json and (without a classification head)
/// sentence-transformers' modules.json, 1_Pooling/config.json and
/// sentence_bert_config.json. A reranker's tensors carry the `bert.` prefix,
/// as BertForSequenceClassification checkpoints do.
pub fn tiny_bert_folder(o: &TinyBert) -> Result<Vec<(String, Vec<u8>)>> {
    o.check()?;
    let dtype = match o.weight_type {
        GgmlType::F32 => "F32",
        GgmlType::F16 => "F16",
        GgmlType::BF16 => "BF16",
        other => return Err(NavajaError::invalid(format!("tiny bert folder: weight type {other} (F32, F16, BF16)"))),
    };
    let prefix = if o.classifier_labels.is_some() { "bert." } else { "" };
    let mut rng = Rng::new(o.seed);
    let mut tensors = Vec::new();
    for t in o.tensors() {
        let data = values(&mut rng, &t, o.weight_type)?;
        let name = if t.hf.starts_with("classifier") { t.hf } else { format!("{prefix}{}", t.hf) };
        tensors.push((name, t.shape, data));
    }
    let refs: Vec<(&str, &str, &[u64], &[u8])> =
        tensors.iter().map(|(n, s, d)| (n.as_str(), dtype, s.as_slice(), d.as_slice())).collect();
    let weights = build_file(&[("format", "pt")], &refs);

    let vocab = vocab();
    let mut config = json!({
        "model_type": "bert",
        "architectures": [if o.classifier_labels.is_some() { "BertForSequenceClassification" } else { "BertModel" }],
        "hidden_size": o.hidden,
        "num_hidden_layers": o.n_layers,
        "num_attention_heads": o.n_heads,
        "intermediate_size": o.ffn,
        "vocab_size": vocab.len(),
        "max_position_embeddings": if o.jina { 512 } else { o.max_positions },
        "type_vocab_size": o.type_vocab,
        "layer_norm_eps": 1e-12,
        "hidden_act": "gelu",
        "position_embedding_type": if o.jina { "alibi" } else { "absolute" },
    });
    if o.jina {
        config["feed_forward_type"] = json!("geglu");
    }
    if let Some(labels) = o.classifier_labels {
        config["id2label"] = (0..labels).map(|i| (i.to_string(), json!(format!("LABEL_{i}")))).collect();
    }
    let vocab_map: serde_json::Map<String, serde_json::Value> =
        vocab.iter().enumerate().map(|(i, t)| (t.clone(), json!(i))).collect();
    let added: Vec<_> = vocab[..5]
        .iter()
        .enumerate()
        .map(|(i, t)| {
            json!({"id": i, "content": t, "special": true, "single_word": false, "lstrip": false,
            "rstrip": false, "normalized": false})
        })
        .collect();
    let special = |t: &str, id: u32| json!({"id": t, "ids": [id], "tokens": [t]});
    let tokenizer = json!({
        "version": "1.0",
        "added_tokens": added,
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
            "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "special_tokens": {"[CLS]": special("[CLS]", TINY_BERT_CLS), "[SEP]": special("[SEP]", TINY_BERT_SEP)}},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
            "max_input_chars_per_word": 100, "vocab": vocab_map},
    });
    let mut files = vec![
        ("model.safetensors".to_string(), weights),
        ("config.json".to_string(), config.to_string().into_bytes()),
        ("tokenizer.json".to_string(), tokenizer.to_string().into_bytes()),
    ];
    if o.classifier_labels.is_none() {
        let mut modules = vec![
            json!({"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}),
            json!({"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}),
        ];
        if o.normalize {
            modules.push(
                json!({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}),
            );
        }
        let pooling = json!({
            "word_embedding_dimension": o.hidden,
            "pooling_mode_cls_token": o.pooling == Pooling::Cls,
            "pooling_mode_mean_tokens": o.pooling == Pooling::Mean,
            "pooling_mode_max_tokens": false,
            "pooling_mode_lasttoken": o.pooling == Pooling::Last,
        });
        files.push(("modules.json".to_string(), json!(modules).to_string().into_bytes()));
        files.push(("1_Pooling/config.json".to_string(), pooling.to_string().into_bytes()));
        let st = json!({"max_seq_length": o.max_positions.min(512), "do_lower_case": false});
        files.push(("sentence_bert_config.json".to_string(), st.to_string().into_bytes()));
    }
    Ok(files)
}
