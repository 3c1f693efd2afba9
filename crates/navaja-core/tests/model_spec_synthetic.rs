//! Specs from tiny GGUF files with realistic metadata (written by GgufWriter),
//! and the errors for broken or unsupported ones.

use navaja_core::gguf::{GgufArray, GgufHeader, GgufValue, GgufWriter};
use navaja_core::model::*;

fn s(v: &str) -> GgufValue {
    GgufValue::String(v.into())
}
fn u(v: u32) -> GgufValue {
    GgufValue::U32(v)
}
fn tokens(n: usize) -> GgufValue {
    GgufValue::Array(GgufArray::String((0..n).map(|i| format!("t{i}")).collect()))
}

/// A 2-layer Qwen2-shaped model: hidden 8, 4 heads, 2 kv heads (head_dim 2), ffn 12, vocab 10.
fn qwen2(skip: Option<&str>, meta_override: Option<(&str, GgufValue)>) -> Vec<u8> {
    let (d, kv, f, v) = (8u64, 4u64, 12u64, 10u64);
    let mut meta = vec![
        ("general.architecture", s("qwen2")),
        ("general.name", s("tiny qwen")),
        ("qwen2.block_count", u(2)),
        ("qwen2.context_length", u(32768)),
        ("qwen2.embedding_length", u(8)),
        ("qwen2.feed_forward_length", u(12)),
        ("qwen2.attention.head_count", u(4)),
        ("qwen2.attention.head_count_kv", u(2)),
        ("qwen2.rope.freq_base", GgufValue::F32(1_000_000.0)),
        ("qwen2.attention.layer_norm_rms_epsilon", GgufValue::F32(1e-6)),
        ("tokenizer.ggml.tokens", tokens(10)),
    ];
    if let Some((k, val)) = meta_override {
        meta.retain(|(key, _)| *key != k);
        meta.push((k, val));
    }
    let mut tensors: Vec<(String, Vec<u64>)> =
        vec![("token_embd.weight".into(), vec![d, v]), ("output_norm.weight".into(), vec![d])];
    for i in 0..2 {
        for (n, dims) in [
            ("attn_norm.weight", vec![d]),
            ("attn_q.weight", vec![d, d]),
            ("attn_q.bias", vec![d]),
            ("attn_k.weight", vec![d, kv]),
            ("attn_k.bias", vec![kv]),
            ("attn_v.weight", vec![d, kv]),
            ("attn_v.bias", vec![kv]),
            ("attn_output.weight", vec![d, d]),
            ("ffn_norm.weight", vec![d]),
            ("ffn_gate.weight", vec![d, f]),
            ("ffn_up.weight", vec![d, f]),
            ("ffn_down.weight", vec![f, d]),
        ] {
            tensors.push((format!("blk.{i}.{n}"), dims));
        }
    }
    build(&meta, &tensors, skip)
}

fn build(meta: &[(&str, GgufValue)], tensors: &[(String, Vec<u64>)], skip: Option<&str>) -> Vec<u8> {
    let mut w = GgufWriter::new();
    for (k, v) in meta {
        w = w.meta(k, v.clone());
    }
    for (name, dims) in tensors {
        if Some(name.as_str()) != skip {
            let n: u64 = dims.iter().product();
            w = w.tensor_f32(name, dims, &vec![0.5; n as usize]);
        }
    }
    w.build()
}

fn spec(file: &[u8]) -> navaja_core::Result<ModelSpec> {
    ModelSpec::from_gguf(&GgufHeader::parse(file).unwrap())
}

#[test]
fn qwen2_has_biases_neox_rope_and_tied_embeddings() {
    let s = spec(&qwen2(None, None)).unwrap();
    assert_eq!(s.architecture, Architecture::Qwen2);
    assert_eq!((s.n_layers, s.hidden_size, s.n_heads, s.n_kv_heads, s.head_dim), (2, 8, 4, 2, 2));
    assert_eq!((s.ffn_size, s.vocab_size, s.context_length, s.kv_width()), (12, 10, 32768, 4));
    assert!(s.attention_qkv_bias && s.tied_embeddings);
    let rope = s.rope.as_ref().unwrap();
    assert_eq!((rope.ordering, rope.freq_base, rope.dims), (RopeOrdering::Neox, 1_000_000.0, 2));
    assert_eq!(s.name.as_deref(), Some("tiny qwen"));
    assert!(s.expected_tensors().iter().any(|t| t.name == "blk.1.attn_v.bias" && t.dims == [4]));
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["architecture"], "qwen2");
    assert_eq!(json["rope"]["ordering"], "neox");
}

#[test]
fn bert_gguf_spec() {
    let (d, f, v, p, t) = (8u64, 16u64, 20u64, 64u64, 2u64);
    let meta = vec![
        ("general.architecture", s("bert")),
        ("bert.block_count", u(1)),
        ("bert.context_length", u(64)),
        ("bert.embedding_length", u(8)),
        ("bert.feed_forward_length", u(16)),
        ("bert.attention.head_count", u(2)),
        ("bert.attention.layer_norm_epsilon", GgufValue::F32(1e-12)),
        ("bert.attention.causal", GgufValue::Bool(false)),
        ("bert.pooling_type", u(1)),
        ("tokenizer.ggml.token_type_count", u(2)),
        ("tokenizer.ggml.tokens", tokens(20)),
    ];
    let mut tensors: Vec<(String, Vec<u64>)> = vec![
        ("token_embd.weight".into(), vec![d, v]),
        ("position_embd.weight".into(), vec![d, p]),
        ("token_types.weight".into(), vec![d, t]),
        ("token_embd_norm.weight".into(), vec![d]),
        ("token_embd_norm.bias".into(), vec![d]),
    ];
    for (n, dims) in [
        ("attn_q", vec![d, d]),
        ("attn_k", vec![d, d]),
        ("attn_v", vec![d, d]),
        ("attn_output", vec![d, d]),
        ("attn_output_norm", vec![d]),
        ("ffn_up", vec![d, f]),
        ("ffn_down", vec![f, d]),
        ("layer_output_norm", vec![d]),
    ] {
        let bias = if dims.len() == 2 { vec![dims[1]] } else { dims.clone() };
        tensors.push((format!("blk.0.{n}.weight"), dims));
        tensors.push((format!("blk.0.{n}.bias"), bias));
    }
    let s = spec(&build(&meta, &tensors, None)).unwrap();
    assert_eq!(s.architecture, Architecture::Bert);
    assert_eq!((s.n_layers, s.hidden_size, s.n_heads, s.head_dim, s.ffn_size, s.vocab_size), (1, 8, 2, 4, 16, 20));
    assert!(!s.causal && s.rope.is_none() && s.norm == NormKind::LayerNorm && s.linear_bias);
    assert!(!s.tied_embeddings);
    let b = s.bert.as_ref().unwrap();
    assert_eq!((b.pooling, b.type_vocab_size, b.max_position_embeddings), (Pooling::Mean, 2, 64));

    // A missing layer-norm bias is named.
    let e = spec(&build(&meta, &tensors, Some("blk.0.layer_output_norm.bias"))).unwrap_err();
    assert!(e.to_string().contains("blk.0.layer_output_norm.bias"), "{e}");
}

#[test]
fn missing_block_count_is_named() {
    let mut file = qwen2(None, Some(("qwen2.block_count", s("x"))));
    let e = spec(&file).unwrap_err();
    assert_eq!(e.code(), "model-format");
    assert!(e.to_string().contains("qwen2.block_count"), "{e}");
    // Really absent.
    let meta: Vec<(&str, GgufValue)> = vec![("general.architecture", s("llama"))];
    file = build(&meta, &[("token_embd.weight".into(), vec![8, 10])], None);
    let e = spec(&file).unwrap_err();
    assert!(e.to_string().contains("llama.block_count") && e.to_string().contains("missing"), "{e}");
}

#[test]
fn inconsistent_heads_are_named() {
    let e = spec(&qwen2(None, Some(("qwen2.attention.head_count", u(3))))).unwrap_err();
    assert_eq!(e.code(), "model-format");
    assert!(e.to_string().contains("qwen2.attention.head_count") && e.to_string().contains("does not divide"), "{e}");
    let e = spec(&qwen2(None, Some(("qwen2.attention.head_count_kv", u(3))))).unwrap_err();
    assert!(e.to_string().contains("head_count_kv (3) does not divide"), "{e}");
}

#[test]
fn unknown_architecture_lists_the_supported_ones() {
    let e = spec(&qwen2(None, Some(("general.architecture", s("mamba"))))).unwrap_err();
    assert_eq!(e.code(), "unsupported-model");
    let msg = e.to_string();
    assert!(msg.contains("\"mamba\"") && msg.contains("llama, qwen2, gemma3, bert"), "{msg}");
}

#[test]
fn missing_tensor_and_wrong_vocab_are_named() {
    let e = spec(&qwen2(Some("blk.1.attn_k.bias"), None)).unwrap_err();
    assert!(e.to_string().contains("blk.1.attn_k.bias") && e.to_string().contains("missing"), "{e}");
    let e = spec(&qwen2(None, Some(("tokenizer.ggml.tokens", tokens(11))))).unwrap_err();
    assert!(e.to_string().contains("token_embd.weight") && e.to_string().contains("11"), "{e}");
    let e = spec(&qwen2(None, Some(("qwen2.block_count", u(3))))).unwrap_err();
    assert!(e.to_string().contains("blk.2."), "{e}");
    let e = spec(&qwen2(None, Some(("qwen2.block_count", u(1_000_000))))).unwrap_err();
    assert!(e.to_string().contains("only"), "{e}");
}

#[test]
fn hf_llama_config_with_llama3_rope_scaling() {
    let config = r#"{"model_type":"llama","hidden_size":8,"num_hidden_layers":1,"num_attention_heads":2,
        "num_key_value_heads":1,"intermediate_size":12,"vocab_size":10,"max_position_embeddings":131072,
        "rms_norm_eps":1e-5,"rope_theta":500000.0,"tie_word_embeddings":true,
        "rope_scaling":{"rope_type":"llama3","factor":32.0,"low_freq_factor":1.0,"high_freq_factor":4.0,
                        "original_max_position_embeddings":8192}}"#;
    let shapes: Vec<(String, Vec<u64>)> = vec![
        ("model.embed_tokens.weight".into(), vec![10, 8]),
        ("model.norm.weight".into(), vec![8]),
        ("model.layers.0.input_layernorm.weight".into(), vec![8]),
        ("model.layers.0.self_attn.q_proj.weight".into(), vec![8, 8]),
        ("model.layers.0.self_attn.k_proj.weight".into(), vec![4, 8]),
        ("model.layers.0.self_attn.v_proj.weight".into(), vec![4, 8]),
        ("model.layers.0.self_attn.o_proj.weight".into(), vec![8, 8]),
        ("model.layers.0.post_attention_layernorm.weight".into(), vec![8]),
        ("model.layers.0.mlp.gate_proj.weight".into(), vec![12, 8]),
        ("model.layers.0.mlp.up_proj.weight".into(), vec![12, 8]),
        ("model.layers.0.mlp.down_proj.weight".into(), vec![8, 12]),
    ];
    let tensors: Vec<HfTensor<'_>> = shapes.iter().map(|(n, s)| HfTensor { name: n, shape: s }).collect();
    let s = ModelSpec::from_hf_config(config, &tensors).unwrap();
    assert_eq!((s.n_heads, s.n_kv_heads, s.head_dim), (2, 1, 4));
    let rope = s.rope.as_ref().unwrap();
    assert_eq!(
        (rope.ordering, rope.scaling.kind, rope.scaling.factor),
        (RopeOrdering::Normal, RopeScalingKind::Llama3, 32.0)
    );
    assert_eq!(rope.scaling.original_context_length, Some(8192));
    assert!(s.tied_embeddings);
    // A wrongly shaped k projection is named.
    let mut bad = shapes.clone();
    bad[4].1 = vec![8, 8];
    let tensors: Vec<HfTensor<'_>> = bad.iter().map(|(n, s)| HfTensor { name: n, shape: s }).collect();
    let e = ModelSpec::from_hf_config(config, &tensors).unwrap_err();
    assert!(e.to_string().contains("k_proj"), "{e}");
    let e = ModelSpec::from_hf_config(r#"{"model_type":"t5"}"#, &[]).unwrap_err();
    assert_eq!(e.code(), "unsupported-model");
}
