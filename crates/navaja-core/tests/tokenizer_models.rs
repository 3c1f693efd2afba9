//! Tokenizers of the real models fetched by scripts/setup.sh, checked against
//! ids from an independent implementation (tests/fixtures/reference/reference.json),
//! plus round trips, streaming decode and robustness on the suite's vocabs.
//! Missing files fail the tests: run scripts/setup.sh.

use std::io::Read;
use std::path::PathBuf;
use std::sync::OnceLock;

use navaja_core::NavajaError;
use navaja_core::gguf::{GgufStream, Metadata};
use navaja_core::tokenizer::{StreamDecoder, Tokenizer, TokenizerKind};

fn models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models")
}

/// The metadata of a GGUF file, reading only as far as its header.
fn gguf_metadata(rel: &str) -> Metadata {
    let path = models_dir().join(rel);
    let mut f = std::fs::File::open(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run scripts/setup.sh to fetch the models", path.display()));
    let len = f.metadata().unwrap().len();
    let mut stream = GgufStream::new(Some(len));
    let mut buf = vec![0u8; 1 << 20];
    while stream.header().is_none() {
        let n = f.read(&mut buf).unwrap();
        assert!(n > 0, "{}: no complete GGUF header", path.display());
        stream.push(&buf[..n], &mut |_| Ok(())).unwrap();
    }
    stream.header().unwrap().metadata.clone()
}

fn vocab(name: &str) -> Tokenizer {
    Tokenizer::from_gguf(&gguf_metadata(&format!("llama-vocab/ggml-vocab-{name}.gguf"))).unwrap()
}

fn smollm2() -> &'static Tokenizer {
    static T: OnceLock<Tokenizer> = OnceLock::new();
    T.get_or_init(|| Tokenizer::from_gguf(&gguf_metadata("SmolLM2-135M-Instruct.Q4_1.gguf")).unwrap())
}

fn gemma3() -> &'static Tokenizer {
    static T: OnceLock<Tokenizer> = OnceLock::new();
    T.get_or_init(|| Tokenizer::from_gguf(&gguf_metadata("gemma-3-270m-q4_k_m.gguf")).unwrap())
}

fn minilm() -> Tokenizer {
    let path = models_dir().join("all-MiniLM-L6-v2/tokenizer.json");
    let json = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run scripts/setup.sh to fetch the models", path.display()));
    Tokenizer::from_tokenizer_json(&json).unwrap()
}

fn reference() -> serde_json::Value {
    // Outputs of independent implementations (numpy), committed with the scripts that made them.
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/reference/reference.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

const VARIED: &str = "Hello, world! It's 2024: prices rose 3.5% (from $1,299.99).\n\n\tTabs\tand   spaces   \
                      Ünïcödé café naïve — “quotes” 你好世界 こんにちは 안녕하세요 Привет мир 🦙🚀👍🏽 😶‍🌫️\r\n\
                      fn main() { let x = vec![1, 2, 3]; println!(\"{x:?}\"); }  \n   trailing   ";

#[test]
fn smollm2_matches_reference_ids() {
    let r = reference();
    let want = ids(&r["smollm2-135m-instruct-q4_1"]["prompt_ids"]);
    let t = smollm2();
    assert_eq!(t.kind(), TokenizerKind::Bpe);
    assert_eq!(t.pre(), "smollm");
    assert_eq!(t.vocab_size(), 49152);
    assert_eq!(t.encode("Once upon a time", false, false).unwrap(), want);
    assert_eq!(want, [6403, 1980, 253, 655]);
    // The reference's greedy continuation decodes to its text.
    let next = ids(&r["smollm2-135m-instruct-q4_1"]["greedy_next_20_ids"]);
    let text = r["smollm2-135m-instruct-q4_1"]["greedy_text"].as_str().unwrap();
    let mut all = want.clone();
    all.extend(&next);
    assert_eq!(t.decode(&all).unwrap(), text);
    // Chat tokens are special: only parsed on request, and they end generation.
    let im_end = t.token_id("<|im_end|>").unwrap();
    assert!(t.is_eog(im_end));
    assert_eq!(t.encode("<|im_end|>", false, true).unwrap(), [im_end]);
    assert_ne!(t.encode("<|im_end|>", false, false).unwrap(), [im_end]);
}

#[test]
fn gemma3_matches_reference_ids_and_round_trips() {
    let r = reference();
    let want = ids(&r["gemma-3-270m-q4_k_m"]["prompt_ids"]);
    let t = gemma3();
    assert_eq!(t.kind(), TokenizerKind::Spm);
    assert_eq!(t.bos(), Some(2));
    assert_eq!(t.encode("Once upon a time", true, false).unwrap(), want);
    let next = ids(&r["gemma-3-270m-q4_k_m"]["greedy_next_16_ids"]);
    let text = r["gemma-3-270m-q4_k_m"]["greedy_text"].as_str().unwrap();
    let mut all = want.clone();
    all.extend(&next);
    assert_eq!(t.decode_skip_special(&all).unwrap(), text);
    let enc = t.encode(VARIED, false, false).unwrap();
    assert_eq!(t.decode(&enc).unwrap(), VARIED);
    let end_of_turn = t.token_id("<end_of_turn>").unwrap();
    assert!(t.is_eog(end_of_turn));
    assert_eq!(t.eot(), Some(end_of_turn));
}

#[test]
fn minilm_tokenizer_json_matches_reference_ids() {
    let r = reference();
    let t = minilm();
    assert_eq!(t.kind(), TokenizerKind::Wpm);
    for (text, want) in r["all-minilm-l6-v2"]["tokens"].as_object().unwrap() {
        assert_eq!(t.encode(text, true, false).unwrap(), ids(want), "{text:?}");
    }
    assert_eq!(t.encode("A man is eating food.", true, false).unwrap(), [101, 1037, 2158, 2003, 5983, 2833, 1012, 102]);
    // Accents are stripped, unknown characters become [UNK], long words too.
    let e = t.encode("Café ☃ ".to_string().as_str(), false, false).unwrap();
    assert_eq!(e[0], t.encode("cafe", false, false).unwrap()[0]);
    assert_eq!(t.encode(&"x".repeat(101), false, false).unwrap(), [100]);
}

#[test]
fn bpe_vocabs_round_trip() {
    // Spaces before punctuation are avoided: clean_up_tokenization_spaces
    // (gpt-2 family) removes them on purpose.
    for name in [
        "gpt-2",
        "llama-bpe",
        "qwen2",
        "qwen35",
        "falcon",
        "starcoder",
        "refact",
        "mpt",
        "command-r",
        "deepseek-llm",
        "deepseek-coder",
        "gemma-4",
        "llama-spm",
        "phi-3",
    ] {
        let t = vocab(name);
        let enc = t.encode(VARIED, false, false).unwrap();
        assert_eq!(t.decode(&enc).unwrap(), VARIED, "{name}");
    }
    let t = smollm2();
    assert_eq!(t.decode(&t.encode(VARIED, false, false).unwrap()).unwrap(), VARIED);
}

#[test]
fn stream_decoder_never_splits_a_character() {
    for t in [&vocab("llama-spm"), &vocab("gpt-2"), &vocab("qwen2"), gemma3()] {
        let text = "🦙 llamas, 你好, ü, 😶‍🌫️ and ✅ done 🏳️‍🌈";
        let enc = t.encode(text, false, false).unwrap();
        let mut dec = StreamDecoder::new(t);
        let mut out = String::new();
        let mut held_back = false;
        for &id in &enc {
            let s = dec.push(id).unwrap();
            assert!(!s.contains('\u{FFFD}'), "half a character emitted: {s:?}");
            held_back |= dec.pending_bytes() > 0;
            out.push_str(&s);
        }
        out.push_str(&dec.finish());
        // The stream emits every piece as is (a stream continues a prompt, so
        // SentencePiece's leading space is kept, unlike `decode`).
        let pieces: Vec<u8> = enc.iter().flat_map(|&id| t.token_to_piece(id).unwrap()).collect();
        assert_eq!(out, String::from_utf8(pieces).unwrap());
        assert_eq!(out.trim_start(), t.decode(&enc).unwrap().trim_start());
        assert!(held_back, "the test text should split some character across tokens");
    }
    // SentencePiece byte fallback: the llama splits into four byte tokens.
    let t = vocab("llama-spm");
    let enc = t.encode("🦙", false, false).unwrap();
    let mut dec = StreamDecoder::new(&t);
    let outs: Vec<String> = enc.iter().map(|&id| dec.push(id).unwrap()).collect();
    assert_eq!(outs.concat(), " 🦙");
    assert!(outs.iter().filter(|s| !s.is_empty()).count() <= 2, "{outs:?}");
    // Bytes that can never be UTF-8 come out at once as U+FFFD.
    let ff = t.token_id("<0xFF>").unwrap();
    let mut dec = StreamDecoder::new(&t);
    assert_eq!(dec.push(ff).unwrap(), "\u{FFFD}");
    assert!(dec.push(u32::MAX).is_err());
}

#[test]
fn add_special_follows_the_metadata() {
    let spm = vocab("llama-spm");
    assert_eq!(spm.encode("Hello", true, false).unwrap()[0], spm.bos().unwrap());
    let l3 = vocab("llama-bpe");
    assert_eq!(l3.encode("Hello", true, false).unwrap()[0], l3.bos().unwrap());
    let g2 = vocab("gpt-2");
    assert_eq!(g2.encode("Hello", true, false).unwrap(), g2.encode("Hello", false, false).unwrap());
    let bert = vocab("bert-bge");
    let e = bert.encode("Hello", true, false).unwrap();
    assert_eq!((e[0], *e.last().unwrap()), (101, 102));
    assert_eq!(bert.encode("", true, false).unwrap(), [101, 102]);
    assert!(spm.encode("", false, false).unwrap().is_empty());
}

#[test]
fn invalid_ids_and_unknown_pre_are_errors() {
    let t = vocab("gpt-2");
    let n = t.vocab_size() as u32;
    assert!(matches!(t.decode(&[n]), Err(NavajaError::InvalidArgument(_))));
    assert!(t.token_to_piece(n).is_err());
    assert!(t.token_to_piece(n - 1).is_ok());

    let meta = gguf_metadata("llama-vocab/ggml-vocab-gpt-2.gguf");
    let mut changed = Metadata::default();
    for (k, v) in meta.iter() {
        let v = if k == "tokenizer.ggml.pre" {
            navaja_core::gguf::GgufValue::String("no-such-pre".into())
        } else {
            v.clone()
        };
        changed.insert(k.to_string(), v).unwrap();
    }
    match Tokenizer::from_gguf(&changed) {
        Err(e @ NavajaError::UnsupportedModel(_)) => {
            assert_eq!(e.code(), "unsupported-model");
            assert!(e.to_string().contains("no-such-pre"), "{e}");
        }
        other => panic!("expected unsupported-model, got {other:?}"),
    }
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545F4914F6CDD1D)
    }
}

#[test]
fn any_text_encodes_and_any_valid_ids_decode() {
    let mut rng = Rng(0x9E3779B97F4A7C15);
    let pool: Vec<char> =
        "aZ09 \t\n\r'.,!?<>|_-—’“é\u{301}\u{A0}\u{85}\u{2028}\u{200B}\u{FEFF}你😀\u{10FFFF}\u{E000}\0▁"
            .chars()
            .collect();
    let toks = [
        vocab("gpt-2"),
        vocab("llama-bpe"),
        vocab("llama-spm"),
        vocab("bert-bge"),
        vocab("deepseek-llm"),
        vocab("gemma-4"),
        minilm(),
    ];
    for t in &toks {
        for _ in 0..200 {
            let len = (rng.next() % 40) as usize;
            let s: String = (0..len)
                .map(|_| {
                    if rng.next().is_multiple_of(4) {
                        char::from_u32((rng.next() % 0x110000) as u32).unwrap_or('x')
                    } else {
                        pool[(rng.next() % pool.len() as u64) as usize]
                    }
                })
                .collect();
            let enc = t.encode(&s, true, true).unwrap();
            assert!(enc.iter().all(|&id| (id as usize) < t.vocab_size()));
            t.decode(&enc).unwrap();
            let random: Vec<u32> = (0..10).map(|_| (rng.next() % t.vocab_size() as u64) as u32).collect();
            t.decode(&random).unwrap();
            t.decode_skip_special(&random).unwrap();
        }
    }
}

#[test]
fn encoding_a_thousand_tokens_takes_milliseconds() {
    let text = VARIED.repeat(12);
    for t in [smollm2(), gemma3(), &vocab("llama-bpe")] {
        let start = std::time::Instant::now();
        let n = t.encode(&text, false, false).unwrap().len();
        let ms = start.elapsed().as_secs_f64() * 1e3;
        println!("{} ({:?}): {n} tokens in {ms:.2} ms", t.pre(), t.kind());
        assert!(n > 1000);
        // Generous for debug builds on a shared CI machine; release is ~100x faster.
        assert!(ms < 2000.0, "{ms} ms");
    }
}
