//! llama.cpp's tokenizer conformance suite: every `models/llama-vocab/ggml-vocab-*.gguf`
//! that has `.inp`/`.out` expectations (fetched by `scripts/setup.sh`) is
//! tokenized the way `tests/test-tokenizer-0.cpp` does it (`add_special =
//! false`, `parse_special = false`) and compared token for token.
//!
//! A vocabulary whose tokenizer navaja does not support is listed as such; a
//! supported one must pass every case.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use navaja_core::NavajaError;
use navaja_core::gguf::GgufHeader;
use navaja_core::tokenizer::Tokenizer;

fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/llama-vocab")
}

/// Cases as test-tokenizer-0.cpp reads them: inputs separated by
/// "\n__ggml_vocab_test__\n", one output line of ids per input, and a
/// `std::map` keyed by input (a repeated input keeps its last expectation).
fn read_cases(inp: &Path, out: &Path) -> BTreeMap<String, Vec<u32>> {
    let raw = std::fs::read_to_string(inp).unwrap_or_else(|e| panic!("{}: {e}", inp.display()));
    let expected = std::fs::read_to_string(out).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
    let sep = "\n__ggml_vocab_test__\n";
    let mut inputs = Vec::new();
    let mut pos = 0;
    while pos < raw.len() {
        match raw[pos..].find(sep) {
            Some(i) => {
                inputs.push(raw[pos..pos + i].to_string());
                pos += i + sep.len();
            }
            None => {
                inputs.push(raw[pos..].to_string());
                break;
            }
        }
    }
    let lines: Vec<&str> = expected.lines().collect();
    assert_eq!(inputs.len(), lines.len(), "{}: inputs and outputs differ in number", inp.display());
    inputs
        .into_iter()
        .zip(lines)
        .map(|(i, o)| (i, o.split_whitespace().map(|t| t.parse().expect("token id")).collect()))
        .collect()
}

#[test]
fn llama_cpp_tokenizer_suite() {
    let dir = suite_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}; run scripts/setup.sh to fetch llama.cpp's vocab suite", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with("ggml-vocab-") && name.ends_with(".gguf")
        })
        .filter(|p| p.with_extension("gguf.inp").exists() && p.with_extension("gguf.out").exists())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no ggml-vocab-*.gguf with .inp/.out in {}; run scripts/setup.sh", dir.display());

    let mut failures = Vec::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let start = std::time::Instant::now();
        let bytes = std::fs::read(path).unwrap();
        let header = GgufHeader::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let tok = match Tokenizer::from_gguf(&header.metadata) {
            Ok(t) => t,
            Err(NavajaError::UnsupportedModel(why)) => {
                println!("{name}: unsupported ({why})");
                continue;
            }
            Err(e) => panic!("{name}: {e}"),
        };
        let loaded_ms = start.elapsed().as_secs_f64() * 1e3;
        let cases = read_cases(&path.with_extension("gguf.inp"), &path.with_extension("gguf.out"));
        let mut pass = 0;
        for (text, want) in &cases {
            let got = tok.encode(text, false, false).unwrap_or_else(|e| panic!("{name}: {text:?}: {e}"));
            if &got == want {
                pass += 1;
            } else {
                failures.push(format!("{name}: {text:?}\n  want {want:?}\n  got  {got:?}"));
            }
        }
        println!(
            "{name} ({:?}, pre {:?}): {pass}/{} cases pass (loaded in {loaded_ms:.0} ms, total {:.0} ms)",
            tok.kind(),
            tok.pre(),
            cases.len(),
            start.elapsed().as_secs_f64() * 1e3
        );
    }
    for f in &failures {
        println!("FAIL {f}");
    }
    assert!(failures.is_empty(), "{} case(s) fail; see the output above", failures.len());
}
