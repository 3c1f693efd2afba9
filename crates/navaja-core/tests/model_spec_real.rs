//! Specs of the real models fetched by scripts/setup.sh. Expected values are
//! the files' own metadata as dumped by an independent Python GGUF reader
//! (and config.json for MiniLM), not the output of this code.

use navaja_core::gguf::GgufHeader;
use navaja_core::model::*;
use navaja_core::safetensors::SafetensorsFile;

const MODELS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models");

fn read(rel: &str) -> Vec<u8> {
    let path = format!("{MODELS}/{rel}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}; run scripts/setup.sh to fetch the models"))
}

#[test]
fn smollm2_135m_spec() {
    let file = read("SmolLM2-135M-Instruct.Q4_1.gguf");
    let s = ModelSpec::from_gguf(&GgufHeader::parse(&file).unwrap()).unwrap();
    println!("{}\n{}", s.summary(), serde_json::to_string(&s).unwrap().len());
    assert_eq!(s.architecture, Architecture::Llama);
    assert_eq!((s.n_layers, s.hidden_size, s.n_heads, s.n_kv_heads, s.head_dim), (30, 576, 9, 3, 64));
    assert_eq!((s.ffn_size, s.vocab_size, s.context_length), (1536, 49152, 8192));
    assert!((s.norm_eps - 1e-5).abs() < 1e-9);
    let rope = s.rope.as_ref().unwrap();
    assert_eq!((rope.freq_base, rope.dims, rope.ordering), (100000.0, 64, RopeOrdering::Normal));
    assert_eq!(rope.scaling.kind, RopeScalingKind::None);
    assert!(s.tied_embeddings, "the file has no output.weight");
    assert!(!s.attention_qkv_bias && s.causal && s.ffn_gated && s.activation == Activation::Silu);
    assert_eq!(s.parameter_count(), 134_515_008);
    assert!(s.layer_attention.iter().all(|a| *a == LayerAttention::Global));
}

#[test]
fn gemma3_270m_spec() {
    let file = read("gemma-3-270m-q4_k_m.gguf");
    let s = ModelSpec::from_gguf(&GgufHeader::parse(&file).unwrap()).unwrap();
    println!("{}", s.summary());
    assert_eq!(s.architecture, Architecture::Gemma3);
    assert_eq!((s.n_layers, s.hidden_size, s.n_heads, s.n_kv_heads, s.head_dim), (18, 640, 4, 1, 256));
    assert_eq!((s.ffn_size, s.vocab_size, s.context_length), (2048, 262144, 32768));
    assert!((s.norm_eps - 1e-6).abs() < 1e-12);
    assert_eq!(s.sliding_window, Some(512));
    let global: Vec<usize> = (0..18).filter(|&l| !s.is_local_layer(l)).collect();
    assert_eq!(global, [5, 11, 17]);
    assert_eq!(s.rope_freq_base(0), Some(10000.0));
    assert_eq!(s.rope_freq_base(5), Some(1_000_000.0));
    assert_eq!(s.rope.as_ref().unwrap().ordering, RopeOrdering::Neox);
    assert_eq!(s.embedding_scale, Some(640f32.sqrt()));
    assert_eq!(s.attention_scale, 1.0 / 16.0);
    assert!(s.qk_norm && s.post_norms && s.tied_embeddings && s.activation == Activation::GeluTanh);
    assert_eq!(s.norm_weight_offset, 0.0);
    assert_eq!(s.parameter_count(), 268_098_176);
}

#[test]
fn minilm_spec_from_config_and_safetensors() {
    let config = String::from_utf8(read("all-MiniLM-L6-v2/config.json")).unwrap();
    let file = read("all-MiniLM-L6-v2/model.safetensors");
    let st = SafetensorsFile::parse(&file).unwrap();
    let mut s = ModelSpec::from_safetensors(&config, &st).unwrap();
    let pooling = String::from_utf8(read("all-MiniLM-L6-v2/1_Pooling/config.json")).unwrap();
    s.set_pooling(Pooling::from_sentence_transformers(&pooling).unwrap()).unwrap();
    println!("{}", s.summary());
    assert_eq!(s.architecture, Architecture::Bert);
    assert_eq!(s.source, SpecSource::HfConfig { prefix: String::new() });
    assert_eq!((s.n_layers, s.hidden_size, s.n_heads, s.n_kv_heads, s.head_dim), (6, 384, 12, 12, 32));
    assert_eq!((s.ffn_size, s.vocab_size, s.context_length), (1536, 30522, 512));
    assert_eq!((s.norm, s.norm_eps), (NormKind::LayerNorm, 1e-12));
    assert!(!s.causal && s.rope.is_none() && s.attention_qkv_bias && s.linear_bias && !s.ffn_gated);
    let b = s.bert.as_ref().unwrap();
    assert_eq!((b.pooling, b.type_vocab_size, b.max_position_embeddings), (Pooling::Mean, 2, 512));
    // 22,713,728 elements in all 104 tensors, the 512 position ids included.
    assert_eq!(s.parameter_count(), 22_713_728);
}
