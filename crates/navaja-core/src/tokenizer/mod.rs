//! Tokenizers that match llama.cpp token for token.
//!
//! - [`Tokenizer::from_gguf`]: the vocabulary of a GGUF file
//!   (`tokenizer.ggml.*`): byte-level BPE with the pre-tokenizer named by
//!   `tokenizer.ggml.pre` ([`bpe`], [`pretokenize`]), SentencePiece with byte
//!   fallback ([`spm`]) and WordPiece ([`wpm`]).
//! - [`Tokenizer::from_tokenizer_json`]: a Hugging Face `tokenizer.json`
//!   (WordPiece, e.g. sentence-transformers' BERTs) ([`hf`]).
//! - [`StreamDecoder`]: incremental detokenization that never emits half a
//!   UTF-8 character ([`stream`]).
//!
//! `encode` follows llama.cpp's `llama_tokenize`: special tokens are cut out
//! first ([`special`]), each remaining text fragment goes through the
//! algorithm, and BOS/EOS are added per the metadata. The oracle is
//! llama.cpp's own conformance suite (`tests/tokenizer_llama_suite.rs`).

mod bpe;
mod gguf;
mod hf;
mod pretokenize;
mod special;
mod spm;
mod stream;
mod unicode;
mod unicode_data;
mod vocab;
mod wpm;

pub use stream::StreamDecoder;

use self::bpe::Bpe;
use self::special::{Fragment, partition};
use self::vocab::{Vocab, attr};
use self::wpm::WpmOptions;
use crate::{NavajaError, Result};

/// The tokenization algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenizerKind {
    /// Byte-level BPE (GPT-2 family; `tokenizer.ggml.model` = "gpt2", "gemma4").
    Bpe,
    /// SentencePiece BPE with byte fallback (`tokenizer.ggml.model` = "llama").
    Spm,
    /// WordPiece (BERT; `tokenizer.ggml.model` = "bert").
    Wpm,
}

#[derive(Debug)]
enum Algo {
    Bpe(Box<Bpe>),
    Spm,
    Wpm(WpmOptions),
}

/// Ids with a role; `None` where the vocabulary has none.
#[derive(Debug, Clone, Copy, Default)]
struct SpecialIds {
    bos: Option<u32>,
    eos: Option<u32>,
    eot: Option<u32>,
    eom: Option<u32>,
    unk: Option<u32>,
    sep: Option<u32>,
    pad: Option<u32>,
    mask: Option<u32>,
    fim_pre: Option<u32>,
    fim_suf: Option<u32>,
    fim_mid: Option<u32>,
    fim_pad: Option<u32>,
    fim_rep: Option<u32>,
    fim_sep: Option<u32>,
}

/// A loaded tokenizer. Immutable after loading; encode and decode take `&self`.
pub struct Tokenizer {
    kind: TokenizerKind,
    pre: String,
    vocab: Vocab,
    algo: Algo,
    ids: SpecialIds,
    add_bos: bool,
    add_eos: bool,
    add_sep: bool,
    add_space_prefix: bool,
    clean_spaces: bool,
    /// Ids cut out of the input by [`special::partition`], longest first.
    specials: Vec<u32>,
    /// End-of-generation ids, sorted.
    eog: Vec<u32>,
    /// Every token's bytes with special tokens rendered (llama.cpp's piece
    /// cache), concatenated; token i is `piece_bytes[piece_ends[i-1]..piece_ends[i]]`.
    piece_bytes: Vec<u8>,
    piece_ends: Vec<usize>,
}

/// A summary: the tables have hundreds of thousands of entries.
impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("kind", &self.kind)
            .field("pre", &self.pre)
            .field("vocab_size", &self.vocab.len())
            .field("bos", &self.ids.bos)
            .field("eos", &self.ids.eos)
            .field("eot", &self.ids.eot)
            .field("add_bos", &self.add_bos)
            .field("add_eos", &self.add_eos)
            .finish_non_exhaustive()
    }
}

impl Tokenizer {
    pub fn kind(&self) -> TokenizerKind {
        self.kind
    }

    /// The pre-tokenizer name (`tokenizer.ggml.pre`; "default" for SPM/WPM).
    pub fn pre(&self) -> &str {
        &self.pre
    }

    pub fn vocab_size(&self) -> usize {
        self.vocab.len()
    }

    pub fn bos(&self) -> Option<u32> {
        self.ids.bos
    }

    pub fn eos(&self) -> Option<u32> {
        self.ids.eos
    }

    /// End of turn ("<|im_end|>", "<end_of_turn>", ...), if any.
    pub fn eot(&self) -> Option<u32> {
        self.ids.eot
    }

    pub fn unk(&self) -> Option<u32> {
        self.ids.unk
    }

    /// BERT's [SEP].
    pub fn sep(&self) -> Option<u32> {
        self.ids.sep
    }

    pub fn pad(&self) -> Option<u32> {
        self.ids.pad
    }

    /// Whether `encode(.., add_special = true, ..)` starts with BOS ([CLS] for BERT).
    pub fn adds_bos(&self) -> bool {
        self.add_bos && self.ids.bos.is_some()
    }

    /// Whether `encode(.., add_special = true, ..)` ends with EOS ([SEP] for BERT).
    pub fn adds_eos(&self) -> bool {
        match self.kind {
            TokenizerKind::Wpm => self.add_sep && self.ids.sep.is_some(),
            _ => self.add_eos && self.ids.eos.is_some(),
        }
    }

    /// Whether generation should stop at `id` (EOS, EOT, "<|im_end|>", ...).
    pub fn is_eog(&self, id: u32) -> bool {
        self.eog.binary_search(&id).is_ok()
    }

    /// All end-of-generation ids, sorted.
    pub fn eog_ids(&self) -> &[u32] {
        &self.eog
    }

    /// Control tokens (BOS, "<|im_end|>", ...) are not text: decoding skips
    /// them unless asked to render specials.
    pub fn is_control(&self, id: u32) -> bool {
        (id as usize) < self.vocab.len() && self.vocab.attr(id) & (attr::CONTROL | attr::UNKNOWN) != 0
    }

    /// The id of a token by its exact vocabulary text (e.g. "<|im_start|>").
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.vocab.id(text)
    }

    /// The vocabulary text of a token (byte-level BPE texts are in GPT-2's
    /// byte-to-character form; see [`Tokenizer::token_to_piece`] for bytes).
    pub fn token_text(&self, id: u32) -> Result<&str> {
        self.check_id(id)?;
        Ok(self.vocab.text(id))
    }

    fn check_id(&self, id: u32) -> Result<()> {
        if (id as usize) < self.vocab.len() {
            Ok(())
        } else {
            Err(NavajaError::invalid(format!(
                "token id {id} is out of range: the vocabulary has {} tokens",
                self.vocab.len()
            )))
        }
    }

    /// Text to token ids, as llama.cpp's `llama_tokenize(text, add_special, parse_special)`.
    ///
    /// `add_special` adds what the model asks for: BOS (and EOS) per
    /// `tokenizer.ggml.add_bos_token`/`add_eos_token`, [CLS] ... [SEP] for
    /// BERT. `parse_special` turns the texts of control tokens ("<|im_end|>")
    /// into those tokens; leave it off for untrusted text.
    pub fn encode(&self, text: &str, add_special: bool, parse_special: bool) -> Result<Vec<u32>> {
        let fragments = partition(text, &self.vocab, &self.specials, parse_special);
        let mut out = Vec::with_capacity(text.len() / 3 + 2);
        match &self.algo {
            Algo::Spm => {
                if add_special && self.add_bos {
                    out.extend(self.ids.bos);
                }
                // SentencePiece adds a space before the text, and again after
                // every special token (the text then starts a new "sentence").
                let mut after_special = true;
                let mut buf = String::new();
                for f in fragments {
                    match f {
                        Fragment::Text(t) => {
                            buf.clear();
                            if self.add_space_prefix && after_special {
                                buf.push('\u{2581}');
                            }
                            for c in t.chars() {
                                buf.push(if c == ' ' { '\u{2581}' } else { c });
                            }
                            spm::tokenize(&self.vocab, &buf, self.ids.unk, &mut out);
                            after_special = false;
                        }
                        Fragment::Token(id) => {
                            out.push(id);
                            after_special = true;
                        }
                    }
                }
                if add_special && self.add_eos {
                    out.extend(self.ids.eos);
                }
            }
            Algo::Bpe(bpe) => {
                if add_special && self.add_bos {
                    out.extend(self.ids.bos);
                }
                for f in fragments {
                    match f {
                        Fragment::Text(t) => bpe.tokenize(&self.vocab, t, &mut out)?,
                        Fragment::Token(id) => out.push(id),
                    }
                }
                if add_special && self.add_eos {
                    out.extend(self.ids.eos);
                }
            }
            Algo::Wpm(opts) => {
                // BERT always wraps in [CLS] ... [SEP] (llama.cpp ignores add_bos here).
                if add_special {
                    out.extend(self.ids.bos);
                }
                for f in fragments {
                    match f {
                        Fragment::Text(t) => wpm::tokenize(&self.vocab, opts, self.ids.unk, t, &mut out),
                        Fragment::Token(id) => out.push(id),
                    }
                }
                if add_special && self.add_sep {
                    out.extend(self.ids.sep);
                }
            }
        }
        Ok(out)
    }

    /// The bytes of one token, special tokens rendered as their text. A piece
    /// can be part of a UTF-8 character (byte tokens); see [`StreamDecoder`].
    pub fn token_to_piece(&self, id: u32) -> Result<Vec<u8>> {
        self.check_id(id)?;
        Ok(self.piece_of(id).to_vec())
    }

    pub(crate) fn piece(&self, id: u32, render_special: bool) -> Result<&[u8]> {
        self.check_id(id)?;
        if !render_special && self.is_control(id) {
            return Ok(&[]);
        }
        Ok(self.piece_of(id))
    }

    fn piece_of(&self, id: u32) -> &[u8] {
        let i = id as usize;
        let start = if i == 0 { 0 } else { self.piece_ends[i - 1] };
        &self.piece_bytes[start..self.piece_ends[i]]
    }

    /// Token ids to text, special tokens rendered (llama.cpp's
    /// `common_detokenize(.., special = true)`). Bytes that do not form UTF-8
    /// become U+FFFD. An id outside the vocabulary is an error.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.detokenize(ids, false, true)
    }

    /// Like [`Tokenizer::decode`], but control tokens (BOS, EOS, "<|im_end|>",
    /// [CLS], ...) produce no text, and the BOS/EOS the model adds are dropped.
    pub fn decode_skip_special(&self, ids: &[u32]) -> Result<String> {
        self.detokenize(ids, true, false)
    }

    /// llama.cpp's `llama_detokenize(remove_special, unparse_special)`.
    fn detokenize(&self, ids: &[u32], remove_special: bool, unparse_special: bool) -> Result<String> {
        let mut ids = ids;
        // SentencePiece's prefix space comes off the first token, unless a
        // BOS (kept as text) comes first.
        let mut remove_space = self.add_space_prefix;
        if remove_special && self.add_bos && !ids.is_empty() && Some(ids[0]) == self.ids.bos {
            remove_space = false;
            ids = &ids[1..];
        }
        if remove_special && self.add_eos && !ids.is_empty() && Some(ids[ids.len() - 1]) == self.ids.eos {
            ids = &ids[..ids.len() - 1];
        }
        let mut bytes = Vec::with_capacity(ids.len() * 4);
        for &id in ids {
            let mut piece = self.piece(id, unparse_special)?;
            if remove_space && piece.first() == Some(&b' ') {
                piece = &piece[1..];
            }
            remove_space = false;
            bytes.extend_from_slice(piece);
        }
        if self.clean_spaces {
            clean_up_spaces(&mut bytes);
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Finishes loading: special-token roles found by text, end-of-generation
    /// set, special cache and piece cache (llama.cpp's `llama_vocab::load` tail).
    fn finish(mut self, model_name: &str) -> Tokenizer {
        self.detect_roles_by_text();
        self.build_eog();
        if model_name.to_ascii_lowercase().contains("phi-3") || model_name.to_ascii_lowercase().contains("phi3") {
            // Phi-3 strips the spaces after its special tokens (llama.cpp's per-model attribute fix).
            for id in special::special_cache(&self.vocab) {
                self.vocab.set_attr(id, self.vocab.attr(id) | attr::RSTRIP);
            }
            if let Some(id) = self.vocab.id("</s>") {
                self.vocab.set_attr(id, self.vocab.attr(id) | attr::RSTRIP);
            }
            for t in ["<unk>", "<s>", "<|endoftext|>"] {
                if let Some(id) = self.vocab.id(t) {
                    self.vocab.set_attr(id, self.vocab.attr(id) & !attr::RSTRIP);
                }
            }
        }
        self.specials = special::special_cache(&self.vocab);
        let mut bytes = Vec::with_capacity(self.vocab.len() * 6);
        let mut ends = Vec::with_capacity(self.vocab.len());
        for id in 0..self.vocab.len() as u32 {
            self.render_piece(id, &mut bytes);
            ends.push(bytes.len());
        }
        self.piece_bytes = bytes;
        self.piece_ends = ends;
        self
    }

    /// Roles the metadata did not name, recognised by their text; such a
    /// token is made a control token so that user text cannot produce it.
    fn detect_roles_by_text(&mut self) {
        const EOT: &[&str] = &[
            "<|eot_id|>",
            "<|im_end|>",
            "<|end|>",
            "<end_of_turn>",
            "<|endoftext|>",
            "<|end_of_text|>",
            "<EOT>",
            "_<EOT>",
            "[EOT]",
            "<｜end▁of▁sentence｜>",
            "<end_of_utterance>",
        ];
        const EOM: &[&str] = &["<|eom_id|>"];
        const FIM_PRE: &[&str] = &[
            "<|fim_prefix|>",
            "<fim-prefix>",
            "<fim_prefix>",
            "<｜fim▁begin｜>",
            "<PRE>",
            "▁<PRE>",
            "<|code_prefix|>",
            "<|prefix|>",
        ];
        const FIM_SUF: &[&str] = &[
            "<|fim_suffix|>",
            "<fim-suffix>",
            "<fim_suffix>",
            "<｜fim▁hole｜>",
            "<SUF>",
            "▁<SUF>",
            "<|code_suffix|>",
            "<|suffix|>",
        ];
        const FIM_MID: &[&str] = &[
            "<|fim_middle|>",
            "<fim-middle>",
            "<fim_middle>",
            "<｜fim▁end｜>",
            "<MID>",
            "▁<MID>",
            "<|code_middle|>",
            "<|middle|>",
        ];
        const FIM_PAD: &[&str] = &["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"];
        const FIM_REP: &[&str] = &["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"];
        const FIM_SEP: &[&str] = &["<|file_sep|>"];
        let vocab = &mut self.vocab;
        let mut find = |slot: &mut Option<u32>, texts: &[&str]| {
            if slot.is_some() {
                return;
            }
            if let Some(id) = texts.iter().find_map(|t| vocab.id(t)) {
                *slot = Some(id);
                vocab.set_attr(id, vocab.attr(id) | attr::CONTROL);
            }
        };
        let ids = &mut self.ids;
        find(&mut ids.eot, EOT);
        find(&mut ids.eom, EOM);
        find(&mut ids.fim_pre, FIM_PRE);
        find(&mut ids.fim_suf, FIM_SUF);
        find(&mut ids.fim_mid, FIM_MID);
        find(&mut ids.fim_pad, FIM_PAD);
        find(&mut ids.fim_rep, FIM_REP);
        find(&mut ids.fim_sep, FIM_SEP);

        // Control tokens named "unused" are unused.
        for id in 0..self.vocab.len() as u32 {
            let a = self.vocab.attr(id);
            if a & attr::CONTROL != 0 && self.vocab.text(id).contains("unused") {
                self.vocab.set_attr(id, a | attr::UNUSED);
            }
        }
    }

    fn build_eog(&mut self) {
        const EOG: &[&str] = &[
            "<|eot_id|>",
            "<|im_end|>",
            "<|end|>",
            "<|return|>",
            "<|call|>",
            "<|flush|>",
            "<|calls|>",
            "<end_of_turn>",
            "<|endoftext|>",
            "</s>",
            "<|eom_id|>",
            "<EOT>",
            "_<EOT>",
            "[EOT]",
            "[EOS]",
            "<|end_of_text|>",
            "<end_of_utterance>",
            "<eos>",
            "<turn|>",
            "<|tool_response>",
            "<｜end▁of▁sentence｜>",
            "[e~[",
        ];
        let mut eog: Vec<u32> = [self.ids.fim_pad, self.ids.fim_rep, self.ids.fim_sep].into_iter().flatten().collect();
        for t in EOG {
            if let Some(id) = self.vocab.id(t) {
                eog.push(id);
                self.vocab.set_attr(id, self.vocab.attr(id) | attr::CONTROL);
            }
        }
        eog.extend([self.ids.eos, self.ids.eot, self.ids.eom].into_iter().flatten());
        eog.sort_unstable();
        eog.dedup();

        let has = |vocab: &Vocab, eog: &[u32], t: &str| vocab.id(t).is_some_and(|id| eog.binary_search(&id).is_ok());
        // Harmony / Solar-Open: "<|end|>" ends a message, not the generation.
        let v = &self.vocab;
        if has(v, &eog, "<|end|>")
            && ((has(v, &eog, "<|return|>") && has(v, &eog, "<|call|>"))
                || ((has(v, &eog, "<|call|>") || has(v, &eog, "<|calls|>")) && has(v, &eog, "<|flush|>")))
        {
            let end = self.vocab.id("<|end|>").unwrap_or(u32::MAX);
            eog.retain(|&id| id != end);
            self.vocab.set_attr(end, attr::USER_DEFINED);
        }
        // Gemma 4 (and PLaMo) use "</s>" as ordinary text.
        let v = &self.vocab;
        if has(v, &eog, "</s>") && (has(v, &eog, "<|tool_response>") || has(v, &eog, "<|plamo:eos|>")) {
            let s = self.vocab.id("</s>").unwrap_or(u32::MAX);
            eog.retain(|&id| id != s);
            self.vocab.set_attr(s, attr::NORMAL);
        }
        self.eog = eog;
    }

    /// llama.cpp's `token_to_piece(special = true)` for one token, appended to `out`.
    fn render_piece(&self, id: u32, out: &mut Vec<u8>) {
        let a = self.vocab.attr(id);
        let text = self.vocab.text(id);
        if a & (attr::CONTROL | attr::UNKNOWN | attr::USER_DEFINED) != 0 {
            out.extend_from_slice(text.as_bytes());
        } else if a & attr::NORMAL != 0 {
            let byte_level = matches!(&self.algo, Algo::Bpe(b) if b.spec.byte_encode);
            if !byte_level {
                for c in text.chars() {
                    let c = if c == '\u{2581}' { ' ' } else { c };
                    out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                }
                return;
            }
            for c in text.chars() {
                match unicode::char_to_byte(c) {
                    Some(b) => out.push(b),
                    None => {
                        // Not a byte-level character (a broken vocabulary):
                        // llama.cpp writes this marker instead.
                        out.extend_from_slice(b"[UNK_BYTE_0x");
                        for b in c.encode_utf8(&mut [0; 4]).bytes() {
                            out.extend_from_slice(format!("{b:02x}").as_bytes());
                        }
                        out.extend_from_slice(text.as_bytes());
                        out.push(b']');
                    }
                }
            }
        } else if a & attr::BYTE != 0 {
            // "<0xXX>"
            out.extend(text.get(3..5).and_then(|h| u8::from_str_radix(h, 16).ok()));
        }
    }
}

/// llama.cpp's `clean_up_tokenization_spaces`, three passes in place: " ?",
/// " !", " .", " ," lose their space; a lone " ' " loses both; " 's", " 'm",
/// " 're", " 've" lose theirs.
fn clean_up_spaces(t: &mut Vec<u8>) {
    let n = t.len();
    let mut total = usize::from(n > 0);
    for i in 1..n {
        let x = t[i];
        if t[i - 1] == b' ' && matches!(x, b'?' | b'!' | b'.' | b',') {
            total -= 1;
        }
        t[total] = x;
        total += 1;
    }

    let n = total;
    total = usize::from(n > 0);
    let mut i = 1;
    while i < n {
        let x = t[i];
        if x == b'\'' && i + 1 < n && t[i - 1] == b' ' && t[i + 1] == b' ' {
            total -= 1;
            i += 1;
            t[i] = 0;
        }
        t[total] = x;
        total += 1;
        i += 1;
    }

    let n = total;
    total = usize::from(n > 0);
    for i in 1..n {
        let x = t[i];
        if t[i - 1] == b' ' && x == b'\'' && i + 1 < n {
            let x1 = t[i + 1];
            if x1 == b's' || x1 == b'm' {
                total -= 1;
            } else if i + 2 < n {
                let x2 = t[i + 2];
                if (x1 == b'r' || x1 == b'v') && x2 == b'e' {
                    total -= 1;
                }
            }
        }
        t[total] = x;
        total += 1;
    }
    t.truncate(total);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_up_spaces_matches_llama_cpp() {
        let mut t = b"Hello , world ! it 's a ' test ' ok .".to_vec();
        clean_up_spaces(&mut t);
        assert_eq!(String::from_utf8(t).unwrap(), "Hello, world! it's a'test'ok.");
    }
}
