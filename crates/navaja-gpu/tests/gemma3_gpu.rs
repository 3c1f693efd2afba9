//! Gemma 3 270M Q4_K_M on the GPU against the independent f32 reference
//! (tests/fixtures/reference/reference.json, key `gemma-3-270m-q4_k_m`):
//! the prompt's ids with the model's BOS, and the next 16 greedy ids. The
//! model comes from scripts/setup.sh; a missing file fails the test.

use std::path::PathBuf;
use std::sync::Arc;

use navaja_gpu::model::load_decoder_gguf;
use navaja_gpu::session::{Pick, Session, SessionOptions};
use navaja_gpu::{DeviceOptions, GpuDevice};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn reference() -> serde_json::Value {
    let text = std::fs::read_to_string(repo().join("tests/fixtures/reference/reference.json")).unwrap();
    serde_json::from_str::<serde_json::Value>(&text).unwrap()["gemma-3-270m-q4_k_m"].clone()
}

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

#[test]
fn greedy_ids_match_the_reference() {
    let r = reference();
    let path = repo().join("models/gemma-3-270m-q4_k_m.gguf");
    let file = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run scripts/setup.sh to fetch the models", path.display()));
    let gpu = Arc::new(pollster::block_on(GpuDevice::new(&DeviceOptions::from_env())).expect("a GPU adapter"));
    let loaded = load_decoder_gguf(&gpu, &file).unwrap();
    let spec = loaded.model.spec();
    assert_eq!((spec.head_dim, spec.n_kv_heads, spec.sliding_window), (256, 1, Some(512)));
    let prompt = ids(&r["prompt_ids"]);
    assert!(loaded.tokenizer.adds_bos());
    assert_eq!(loaded.tokenizer.encode(r["prompt_text"].as_str().unwrap(), true, false).unwrap(), prompt);

    let opts = SessionOptions { context_length: 64, ..SessionOptions::default() };
    let mut s = pollster::block_on(Session::new(gpu, loaded.model.clone(), &opts)).unwrap();
    let mut generated = vec![pollster::block_on(s.feed(&prompt, &Pick::greedy())).unwrap().candidates[0].0];
    let want = ids(&r["greedy_next_16_ids"]);
    while generated.len() < want.len() {
        let next = pollster::block_on(s.feed(&[*generated.last().unwrap()], &Pick::greedy())).unwrap();
        generated.push(next.candidates[0].0);
    }
    assert_eq!(generated, want, "text so far: {:?}", loaded.tokenizer.decode(&generated));
}
