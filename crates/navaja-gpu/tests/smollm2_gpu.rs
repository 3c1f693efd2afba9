//! SmolLM2-135M-Instruct Q4_1 on the GPU against the independent f32 numpy
//! reference (tests/fixtures/reference/reference.json): greedy ids and the
//! logits after the prompt. The model comes from scripts/setup.sh; a missing
//! file fails the test.

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
    serde_json::from_str::<serde_json::Value>(&text).unwrap()["smollm2-135m-instruct-q4_1"].clone()
}

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

#[test]
fn greedy_ids_and_logits_match_the_numpy_reference() {
    let r = reference();
    let path = repo().join("models").join(r["model_file"].as_str().unwrap());
    let file = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run scripts/setup.sh to fetch the models", path.display()));
    let gpu = Arc::new(pollster::block_on(GpuDevice::new(&DeviceOptions::from_env())).expect("a GPU adapter"));
    let loaded = load_decoder_gguf(&gpu, &file).unwrap();
    let prompt = ids(&r["prompt_ids"]);
    assert_eq!(loaded.tokenizer.encode(r["prompt_text"].as_str().unwrap(), false, false).unwrap(), prompt);

    let mut s = pollster::block_on(Session::new(gpu, loaded.model.clone(), &SessionOptions::default())).unwrap();
    let top = pollster::block_on(s.feed(&prompt, &Pick { k: 10, temperature: 1.0, adjustments: vec![] })).unwrap();
    for (i, want) in r["top10_logits_after_prompt"].as_array().unwrap().iter().enumerate() {
        let (id, logit) = top.candidates[i];
        assert_eq!(id as u64, want[0].as_u64().unwrap(), "rank {i}");
        let want_logit = want[1].as_f64().unwrap() as f32;
        assert!((logit - want_logit).abs() < 5e-3, "rank {i}: logit {logit} vs {want_logit}");
    }

    let mut generated = vec![top.candidates[0].0];
    while generated.len() < 20 {
        let next = pollster::block_on(s.feed(&[*generated.last().unwrap()], &Pick::greedy())).unwrap();
        generated.push(next.candidates[0].0);
    }
    assert_eq!(generated, ids(&r["greedy_next_20_ids"]));
}
