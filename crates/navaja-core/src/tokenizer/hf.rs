//! Loading a Hugging Face `tokenizer.json` (the `tokenizers` library format).
//!
//! Supported:
//! - WordPiece with the BERT normalizer and pre-tokenizer (sentence-
//!   transformers' BERTs such as all-MiniLM-L6-v2). The vocabulary is
//!   converted to llama.cpp's WordPiece form ("word" -> "▁word", "##ing" ->
//!   "ing") so that one algorithm ([`super::wpm`]) serves both file formats.
//! - Byte-level BPE whose pre-tokenizer is `ByteLevel` or a sequence of
//!   isolating regex `Split`s (+ `ByteLevel` without regex, `Digits`), which
//!   covers GPT-2, Llama 3, Qwen 2 and SmolLM style files. The regexes run
//!   through the same machinery as the GGUF pre-tokenizers.

use serde_json::Value;

use super::bpe::Bpe;
use super::pretokenize::{GPT2, PreSpec};
use super::vocab::{Vocab, attr};
use super::wpm::WpmOptions;
use super::{Algo, SpecialIds, Tokenizer, TokenizerKind};
use crate::{NavajaError, Result};

/// Ids beyond this are refused (no real vocabulary is near it; it bounds allocation).
const MAX_VOCAB: u64 = 1 << 24;

fn bad(msg: impl Into<String>) -> NavajaError {
    NavajaError::format(format!("tokenizer.json: {}", msg.into()))
}

impl Tokenizer {
    /// The tokenizer described by a `tokenizer.json`'s text.
    pub fn from_tokenizer_json(json: &str) -> Result<Tokenizer> {
        let root: Value = serde_json::from_str(json).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        let model = root.get("model").ok_or_else(|| bad("no \"model\""))?;
        let model_type = model.get("type").and_then(Value::as_str).unwrap_or("");
        match model_type {
            "WordPiece" => wordpiece(&root, model),
            "BPE" => byte_level_bpe(&root, model),
            _ => Err(NavajaError::unsupported(format!(
                "tokenizer.json model {model_type:?} is not supported (only \"WordPiece\" and byte-level \"BPE\"); use the GGUF file's tokenizer"
            ))),
        }
    }
}

/// Added tokens: `(id, content, special)`.
fn added_tokens(root: &Value) -> Result<Vec<(u32, String, bool)>> {
    let mut added = Vec::new();
    for t in root.get("added_tokens").and_then(Value::as_array).into_iter().flatten() {
        let id = t.get("id").and_then(Value::as_u64).ok_or_else(|| bad("an added token has no id"))?;
        let content = t.get("content").and_then(Value::as_str).ok_or_else(|| bad("an added token has no content"))?;
        let special = t.get("special").and_then(Value::as_bool).unwrap_or(false);
        if id >= MAX_VOCAB {
            return Err(bad(format!("added token id {id} is too large")));
        }
        added.push((id as u32, content.to_string(), special));
    }
    Ok(added)
}

/// The vocabulary size: one past the largest id of the model or the added tokens.
fn vocab_len(vocab_obj: &serde_json::Map<String, Value>, added: &[(u32, String, bool)]) -> Result<usize> {
    let mut n = added.iter().map(|a| a.0 as u64 + 1).max().unwrap_or(0);
    for v in vocab_obj.values() {
        let id = v.as_u64().ok_or_else(|| bad("a vocabulary id is not a non-negative integer"))?;
        if id >= MAX_VOCAB {
            return Err(bad(format!("vocabulary id {id} is too large")));
        }
        n = n.max(id + 1);
    }
    Ok(n as usize)
}

fn wordpiece(root: &Value, model: &Value) -> Result<Tokenizer> {
    let vocab_obj = model.get("vocab").and_then(Value::as_object).ok_or_else(|| bad("model.vocab is not an object"))?;
    let prefix = model.get("continuing_subword_prefix").and_then(Value::as_str).unwrap_or("##");

    // Added tokens keep their text and are cut out of the input before WordPiece runs.
    let added = added_tokens(root)?;
    let n = vocab_len(vocab_obj, &added)?;

    let mut texts = vec![String::new(); n];
    let mut attrs = vec![attr::NORMAL; n];
    for (tok, id) in vocab_obj {
        let id = id.as_u64().unwrap_or(0) as usize;
        texts[id] = match tok.strip_prefix(prefix) {
            Some(rest) if !rest.is_empty() => rest.to_string(),
            _ => format!("\u{2581}{tok}"),
        };
    }
    for (id, content, special) in &added {
        texts[*id as usize] = content.clone();
        attrs[*id as usize] = if *special { attr::CONTROL } else { attr::USER_DEFINED };
    }

    let normalizer = root.get("normalizer").filter(|v| !v.is_null());
    let ntype = normalizer.and_then(|v| v.get("type")).and_then(Value::as_str);
    let (lowercase, strip_accents) = match ntype {
        Some("BertNormalizer") => {
            let n = normalizer.unwrap_or(&Value::Null);
            let lowercase = n.get("lowercase").and_then(Value::as_bool).unwrap_or(true);
            let strip = n.get("strip_accents").and_then(Value::as_bool).unwrap_or(lowercase);
            (lowercase, strip)
        }
        None => (false, false),
        Some(other) => {
            return Err(NavajaError::unsupported(format!(
                "tokenizer.json normalizer {other:?} is not supported with WordPiece (only \"BertNormalizer\")"
            )));
        }
    };
    let max_word_chars = model.get("max_input_chars_per_word").and_then(Value::as_u64).map(|m| m as usize);

    let id_of = |text: &str| -> Option<u32> {
        added
            .iter()
            .find(|a| a.1 == text)
            .map(|a| a.0)
            .or_else(|| vocab_obj.get(text).and_then(Value::as_u64).map(|v| v as u32))
    };
    let unk_text = model.get("unk_token").and_then(Value::as_str).unwrap_or("[UNK]");
    let (cls, sep) = post_processor_ids(root, &id_of);
    let ids = SpecialIds {
        bos: cls.or_else(|| id_of("[CLS]")),
        sep: sep.or_else(|| id_of("[SEP]")),
        unk: id_of(unk_text),
        pad: id_of("[PAD]"),
        mask: id_of("[MASK]"),
        ..SpecialIds::default()
    };

    let tok = Tokenizer {
        kind: TokenizerKind::Wpm,
        pre: "bert".to_string(),
        vocab: Vocab::new(texts, vec![0.0; n], attrs),
        algo: Algo::Wpm(WpmOptions { lowercase, strip_accents, hf_normalizer: true, max_word_chars }),
        ids,
        add_bos: true,
        add_eos: false,
        add_sep: true,
        add_space_prefix: false,
        clean_spaces: true,
        specials: Vec::new(),
        eog: Vec::new(),
        piece_bytes: Vec::new(),
        piece_ends: Vec::new(),
    };
    Ok(tok.finish(""))
}

/// The [CLS] and [SEP] ids of a `TemplateProcessing` or `BertProcessing` post-processor.
fn post_processor_ids(root: &Value, id_of: &dyn Fn(&str) -> Option<u32>) -> (Option<u32>, Option<u32>) {
    let Some(pp) = root.get("post_processor").filter(|v| !v.is_null()) else { return (None, None) };
    match pp.get("type").and_then(Value::as_str) {
        Some("BertProcessing") | Some("RobertaProcessing") => {
            let id = |k: &str| pp.get(k).and_then(|v| v.get(1)).and_then(Value::as_u64).map(|v| v as u32);
            (id("cls"), id("sep"))
        }
        Some("TemplateProcessing") => {
            // single = [SpecialToken first, Sequence A, SpecialToken last]
            let single = pp.get("single").and_then(Value::as_array);
            let special_id = |item: Option<&Value>| {
                item.and_then(|v| v.get("SpecialToken")).and_then(|s| s.get("id")).and_then(Value::as_str).and_then(
                    |name| {
                        pp.get("special_tokens")
                            .and_then(|st| st.get(name))
                            .and_then(|t| t.get("ids"))
                            .and_then(|ids| ids.get(0))
                            .and_then(Value::as_u64)
                            .map(|v| v as u32)
                            .or_else(|| id_of(name))
                    },
                )
            };
            let first = single.and_then(|s| s.first());
            let last = single.and_then(|s| s.last());
            (special_id(first), special_id(last))
        }
        _ => (None, None),
    }
}

/// A byte-level BPE `tokenizer.json` (GPT-2 style vocabulary and merges).
fn byte_level_bpe(root: &Value, model: &Value) -> Result<Tokenizer> {
    let vocab_obj = model.get("vocab").and_then(Value::as_object).ok_or_else(|| bad("model.vocab is not an object"))?;
    if model.get("byte_fallback").and_then(Value::as_bool) == Some(true) {
        return Err(NavajaError::unsupported(
            "tokenizer.json: SentencePiece-style BPE (byte_fallback) is not supported; use the GGUF file's tokenizer",
        ));
    }
    // Merges are "a b" strings, or [a, b] pairs in newer files.
    let mut merges = Vec::new();
    for m in model.get("merges").and_then(Value::as_array).ok_or_else(|| bad("model.merges is not an array"))? {
        match m {
            Value::String(s) => merges.push(s.clone()),
            Value::Array(pair) if pair.len() == 2 => {
                let (Some(a), Some(b)) = (pair[0].as_str(), pair[1].as_str()) else {
                    return Err(bad("a merge pair is not two strings"));
                };
                merges.push(format!("{a} {b}"));
            }
            _ => return Err(bad("a merge is neither \"a b\" nor [a, b]")),
        }
    }

    let added = added_tokens(root)?;
    let n = vocab_len(vocab_obj, &added)?;
    let mut texts = vec![String::new(); n];
    let mut attrs = vec![attr::NORMAL; n];
    for (tok, id) in vocab_obj {
        texts[id.as_u64().unwrap_or(0) as usize] = tok.clone();
    }
    for (id, content, special) in &added {
        texts[*id as usize] = content.clone();
        attrs[*id as usize] = if *special { attr::CONTROL } else { attr::USER_DEFINED };
    }
    let vocab = Vocab::new(texts, vec![0.0; n], attrs);

    let regexes = pre_tokenizer_regexes(root.get("pre_tokenizer").unwrap_or(&Value::Null))?;
    let spec = PreSpec {
        regexes,
        byte_encode: true,
        ignore_merges: model.get("ignore_merges").and_then(Value::as_bool).unwrap_or(false),
        escape_whitespaces: false,
        // clean_up_tokenization_spaces lives in tokenizer_config.json; recent models leave it off.
        clean_spaces: false,
        add_bos: false,
        no_bos: false,
        newline_runs: false,
    };
    let bpe = Bpe::new(&vocab, &merges, spec)?;

    // BOS/EOS the post-processor adds (TemplateProcessing), else none.
    let id_of = |text: &str| vocab.id(text);
    let (first, last) = post_processor_ids(root, &id_of);
    let eos = last.or_else(|| ["<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>"].iter().find_map(|t| vocab.id(t)));
    let ids = SpecialIds { bos: first, eos, ..SpecialIds::default() };
    let tok = Tokenizer {
        kind: TokenizerKind::Bpe,
        pre: "tokenizer.json".to_string(),
        vocab,
        algo: Algo::Bpe(Box::new(bpe)),
        ids,
        add_bos: first.is_some(),
        add_eos: last.is_some(),
        add_sep: false,
        add_space_prefix: false,
        clean_spaces: false,
        specials: Vec::new(),
        eog: Vec::new(),
        piece_bytes: Vec::new(),
        piece_ends: Vec::new(),
    };
    Ok(tok.finish(""))
}

/// The regex list of a byte-level pre-tokenizer, or `unsupported-model`.
fn pre_tokenizer_regexes(pre: &Value) -> Result<Vec<String>> {
    let unsupported = |what: &str| {
        NavajaError::unsupported(format!("tokenizer.json pre-tokenizer {what} is not supported with byte-level BPE"))
    };
    let mut regexes = Vec::new();
    let mut byte_level = false;
    let items: Vec<&Value> = match pre.get("type").and_then(Value::as_str) {
        Some("Sequence") => pre.get("pretokenizers").and_then(Value::as_array).into_iter().flatten().collect(),
        Some(_) => vec![pre],
        None => return Err(unsupported("(none)")),
    };
    for p in items {
        match p.get("type").and_then(Value::as_str).unwrap_or("") {
            "ByteLevel" => {
                if p.get("add_prefix_space").and_then(Value::as_bool) == Some(true) {
                    return Err(unsupported("ByteLevel with add_prefix_space"));
                }
                if p.get("use_regex").and_then(Value::as_bool).unwrap_or(true) {
                    regexes.push(GPT2.to_string());
                }
                byte_level = true;
            }
            "Split" => {
                let pattern = p.get("pattern").and_then(|v| v.get("Regex")).and_then(Value::as_str);
                let behavior = p.get("behavior").and_then(Value::as_str);
                let invert = p.get("invert").and_then(Value::as_bool).unwrap_or(false);
                match (pattern, behavior, invert) {
                    (Some(re), Some("Isolated"), false) => regexes.push(re.to_string()),
                    _ => return Err(unsupported("Split other than an isolating regex")),
                }
            }
            "Digits" => {
                let individual = p.get("individual_digits").and_then(Value::as_bool).unwrap_or(false);
                regexes.push(if individual { "\\p{N}" } else { "\\p{N}+" }.to_string());
            }
            other => return Err(unsupported(&format!("{other:?}"))),
        }
    }
    if !byte_level {
        return Err(unsupported("without ByteLevel"));
    }
    Ok(regexes)
}
