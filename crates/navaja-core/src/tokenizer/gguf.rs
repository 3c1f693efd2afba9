//! Loading a tokenizer from GGUF metadata (`tokenizer.ggml.*`), with the
//! defaults and per-model rules of llama.cpp's `llama_vocab::load`.

use super::bpe::Bpe;
use super::pretokenize;
use super::vocab::{Vocab, attr};
use super::wpm::WpmOptions;
use super::{Algo, SpecialIds, Tokenizer, TokenizerKind};
use crate::gguf::{GgufArray, Metadata};
use crate::{NavajaError, Result};

const KEY_MODEL: &str = "tokenizer.ggml.model";
const KEY_PRE: &str = "tokenizer.ggml.pre";
const KEY_TOKENS: &str = "tokenizer.ggml.tokens";
const KEY_SCORES: &str = "tokenizer.ggml.scores";
const KEY_TYPES: &str = "tokenizer.ggml.token_type";
const KEY_MERGES: &str = "tokenizer.ggml.merges";

impl Tokenizer {
    /// The tokenizer described by a GGUF file's metadata.
    ///
    /// Errors: `unsupported-model` for a tokenizer model or pre-tokenizer
    /// navaja does not implement (the message names it), `model-format` for
    /// missing or malformed keys.
    pub fn from_gguf(meta: &Metadata) -> Result<Tokenizer> {
        let model = meta.require_str(KEY_MODEL)?;
        let kind = match model {
            "llama" => TokenizerKind::Spm,
            "bert" => TokenizerKind::Wpm,
            "gpt2" | "gemma4" => TokenizerKind::Bpe,
            other => {
                return Err(NavajaError::unsupported(format!(
                    "tokenizer model {other:?} ({KEY_MODEL}) is not supported; navaja has \"gpt2\", \"gemma4\", \"llama\" and \"bert\""
                )));
            }
        };
        let pre = match (model, meta.get_str(KEY_PRE)?) {
            ("gemma4", _) => "gemma4".to_string(),
            (_, Some(p)) if kind == TokenizerKind::Bpe => p.to_string(),
            (_, None) if kind == TokenizerKind::Bpe => "default".to_string(),
            _ => "default".to_string(),
        };

        let vocab = read_vocab(meta)?;
        let n = vocab.len() as u32;

        let mut ids = SpecialIds::default();
        let mut add_bos;
        let mut add_eos = false;
        let mut add_sep = false;
        let mut add_space_prefix = false;
        let clean_spaces;
        let algo = match kind {
            TokenizerKind::Spm => {
                ids.bos = Some(1);
                ids.eos = Some(2);
                ids.unk = Some(0);
                add_space_prefix = true;
                clean_spaces = false;
                add_bos = true;
                Algo::Spm
            }
            TokenizerKind::Wpm => {
                ids.bos = Some(101);
                ids.unk = Some(100);
                ids.sep = Some(102);
                ids.pad = Some(0);
                ids.mask = Some(103);
                add_bos = true;
                add_sep = true;
                clean_spaces = true;
                let lowercase = meta.get_bool("tokenizer.ggml.normalizer.lowercase").ok().flatten().unwrap_or(true);
                let strip_accents =
                    meta.get_bool("tokenizer.ggml.normalizer.strip_accents").ok().flatten().unwrap_or(lowercase);
                Algo::Wpm(WpmOptions { lowercase, strip_accents, hf_normalizer: false, max_word_chars: None })
            }
            TokenizerKind::Bpe => {
                let spec = pretokenize::spec(&pre).ok_or_else(|| {
                    NavajaError::unsupported(format!(
                        "pre-tokenizer {pre:?} ({KEY_PRE}) is not supported; navaja cannot tokenize exactly like this model"
                    ))
                })?;
                if model != "gemma4" {
                    ids.bos = Some(11);
                    ids.eos = Some(11);
                }
                if spec.no_bos {
                    ids.bos = None;
                }
                add_bos = spec.add_bos;
                clean_spaces = spec.clean_spaces;
                let merges = match meta.get_array(KEY_MERGES)? {
                    Some(GgufArray::String(m)) => m.as_slice(),
                    Some(other) => {
                        return Err(NavajaError::format(format!(
                            "{KEY_MERGES} should be an array of strings, but holds {}",
                            other.type_name()
                        )));
                    }
                    None => return Err(NavajaError::format(format!("{KEY_MERGES} is missing (BPE needs its merges)"))),
                };
                Algo::Bpe(Box::new(Bpe::new(&vocab, merges, spec)?))
            }
        };
        // Defaults outside the vocabulary are dropped, as llama.cpp does.
        for slot in [&mut ids.bos, &mut ids.eos, &mut ids.unk, &mut ids.sep, &mut ids.pad, &mut ids.mask] {
            if slot.is_some_and(|id| id >= n) {
                *slot = None;
            }
        }
        let keys: [(&str, &mut Option<u32>); 14] = [
            ("bos_token_id", &mut ids.bos),
            ("eos_token_id", &mut ids.eos),
            ("eot_token_id", &mut ids.eot),
            ("eom_token_id", &mut ids.eom),
            ("unknown_token_id", &mut ids.unk),
            ("seperator_token_id", &mut ids.sep),
            ("padding_token_id", &mut ids.pad),
            ("mask_token_id", &mut ids.mask),
            ("fim_pre_token_id", &mut ids.fim_pre),
            ("fim_suf_token_id", &mut ids.fim_suf),
            ("fim_mid_token_id", &mut ids.fim_mid),
            ("fim_pad_token_id", &mut ids.fim_pad),
            ("fim_rep_token_id", &mut ids.fim_rep),
            ("fim_sep_token_id", &mut ids.fim_sep),
        ];
        // An id outside the vocabulary (or not an id at all) is ignored, as in llama.cpp.
        let read_id = |key: &str| {
            meta.get_i64(&format!("tokenizer.ggml.{key}"))
                .ok()
                .flatten()
                .filter(|id| (0..n as i64).contains(id))
                .map(|id| id as u32)
        };
        for (key, slot) in keys {
            if let Some(id) = read_id(key) {
                *slot = Some(id);
            }
        }
        // BERT conversions name [CLS] `cls_token_id`; it is the BOS of a WordPiece tokenizer.
        if kind == TokenizerKind::Wpm && read_id("bos_token_id").is_none() {
            if let Some(id) = read_id("cls_token_id") {
                ids.bos = Some(id);
            }
        }
        // llama.cpp reads the deprecated FIM keys after the current ones, so they win when both exist.
        for (key, slot) in [
            ("prefix_token_id", &mut ids.fim_pre),
            ("suffix_token_id", &mut ids.fim_suf),
            ("middle_token_id", &mut ids.fim_mid),
        ] {
            if let Some(id) = read_id(key) {
                *slot = Some(id);
            }
        }

        let flag = |key: &str| meta.get_bool(&format!("tokenizer.ggml.{key}")).ok().flatten();
        add_bos = flag("add_bos_token").unwrap_or(add_bos);
        add_eos = flag("add_eos_token").unwrap_or(add_eos);
        add_sep = flag("add_sep_token").unwrap_or(add_sep);
        add_space_prefix = flag("add_space_prefix").unwrap_or(add_space_prefix);
        if pre == "gemma4" {
            // llama.cpp forces BOS for Gemma 4 whatever the file says.
            add_bos = true;
        }

        let model_name = meta.get_str("general.name").ok().flatten().unwrap_or("").to_string();
        let tok = Tokenizer {
            kind,
            pre,
            vocab,
            algo,
            ids,
            add_bos,
            add_eos,
            add_sep,
            add_space_prefix,
            clean_spaces,
            specials: Vec::new(),
            eog: Vec::new(),
            piece_bytes: Vec::new(),
            piece_ends: Vec::new(),
        };
        Ok(tok.finish(&model_name))
    }
}

/// Token texts, scores (f32 or i32) and types.
fn read_vocab(meta: &Metadata) -> Result<Vocab> {
    let texts = match meta.get_array(KEY_TOKENS)? {
        Some(GgufArray::String(t)) => t.clone(),
        Some(other) => {
            return Err(NavajaError::format(format!(
                "{KEY_TOKENS} should be an array of strings, but holds {}",
                other.type_name()
            )));
        }
        None => return Err(NavajaError::format(format!("{KEY_TOKENS} is missing"))),
    };
    let n = texts.len();
    if n == 0 || n > u32::MAX as usize / 2 {
        return Err(NavajaError::format(format!("{KEY_TOKENS} holds {n} tokens")));
    }
    let scores: Vec<f32> = match meta.get_array(KEY_SCORES)? {
        None => vec![0.0; n],
        Some(GgufArray::F32(s)) if s.len() >= n => s[..n].to_vec(),
        Some(GgufArray::I32(s)) if s.len() >= n => s[..n].iter().map(|&v| v as f32).collect(),
        Some(other) => {
            return Err(NavajaError::format(format!(
                "{KEY_SCORES} should hold {n} f32 or i32 values, but holds {} {}",
                other.len(),
                other.type_name()
            )));
        }
    };
    let attrs: Vec<u32> = match meta.get_array(KEY_TYPES)? {
        None => vec![attr::NORMAL; n],
        Some(GgufArray::I32(t)) if t.len() >= n => t[..n].iter().map(|&v| attr::from_token_type(v as i64)).collect(),
        Some(other) => {
            return Err(NavajaError::format(format!(
                "{KEY_TYPES} should hold {n} i32 values, but holds {} {}",
                other.len(),
                other.type_name()
            )));
        }
    };
    Ok(Vocab::new(texts, scores, attrs))
}
