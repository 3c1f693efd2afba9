//! WordPiece (BERT): normalize, split on white space and punctuation, then
//! cut each word greedily into the longest tokens from the left.
//!
//! The vocabulary is in llama.cpp's form: a word-initial piece is stored as
//! "▁word" and a continuation as "ing" (Hugging Face's "word" / "##ing";
//! [`super::hf`] converts). A word is matched as "▁" + word, so the first
//! piece can only be a word-initial one and the rest only continuations.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::decompose_canonical;

use super::unicode::{Category, category, is_whitespace};
use super::vocab::Vocab;

#[derive(Debug, Clone)]
pub(crate) struct WpmOptions {
    pub lowercase: bool,
    pub strip_accents: bool,
    /// Hugging Face's normalizer: full NFD, only nonspacing marks (Mn)
    /// stripped. llama.cpp instead maps each code point to the first code
    /// point of its decomposition and drops every mark.
    pub hf_normalizer: bool,
    /// Words longer than this (in characters) become the unknown token (HF).
    pub max_word_chars: Option<usize>,
}

/// Appends the tokens of `text` to `out`.
pub(crate) fn tokenize(vocab: &Vocab, opts: &WpmOptions, unk: Option<u32>, text: &str, out: &mut Vec<u32>) {
    let mut word = String::from("\u{2581}");
    for w in split_words(opts, text) {
        if opts.max_word_chars.is_some_and(|max| w.chars().count() > max) {
            out.extend(unk);
            continue;
        }
        word.truncate('\u{2581}'.len_utf8());
        word.push_str(&w);
        let before = out.len();
        let mut i = 0;
        while i < word.len() {
            // Longest token starting at byte i (token texts are valid UTF-8,
            // so only character boundaries can match).
            let longest = (i + 1..=word.len().min(i + vocab.max_len()))
                .rev()
                .filter_map(|j| word.get(i..j).and_then(|s| vocab.id(s)).map(|id| (j, id)))
                .next();
            match longest {
                Some((j, id)) => {
                    out.push(id);
                    i = j;
                }
                None => {
                    // One unmatched position spoils the whole word.
                    out.truncate(before);
                    break;
                }
            }
        }
        if out.len() == before {
            out.extend(unk);
        }
    }
}

/// BERT's basic tokenizer: normalized words, each punctuation mark, ASCII
/// symbol and CJK ideograph being a word of its own.
fn split_words(opts: &WpmOptions, text: &str) -> Vec<String> {
    let chars: Vec<char> = if opts.strip_accents && opts.hf_normalizer {
        text.nfd().filter(|&c| !is_nonspacing_mark(c)).collect()
    } else if opts.strip_accents {
        text.chars().map(first_of_decomposition).collect()
    } else {
        text.chars().collect()
    };

    let mut words = vec![String::new()];
    for c in chars {
        if is_whitespace(c) {
            if !words.last().is_some_and(|w| w.is_empty()) {
                words.push(String::new());
            }
            continue;
        }
        let cat = category(c);
        if c == '\0' || c == '\u{FFFD}' || cat == Category::Control {
            continue;
        }
        if opts.strip_accents && !opts.hf_normalizer && cat.is_mark() {
            continue;
        }
        let c = if opts.lowercase { c.to_lowercase().next().unwrap_or(c) } else { c };
        let alone = cat == Category::Punctuation || (c.is_ascii() && cat == Category::Symbol) || is_cjk(c);
        if alone {
            if words.last().is_some_and(|w| w.is_empty()) {
                words.pop();
            }
            words.push(c.to_string());
            words.push(String::new());
        } else if let Some(w) = words.last_mut() {
            w.push(c);
        }
    }
    words.retain(|w| !w.is_empty());
    words
}

fn first_of_decomposition(c: char) -> char {
    let mut first = None;
    decompose_canonical(c, |d| {
        first.get_or_insert(d);
    });
    first.unwrap_or(c)
}

/// Unicode category Mn (what Hugging Face's `strip_accents` removes).
fn is_nonspacing_mark(c: char) -> bool {
    category(c) == Category::Mark
}

/// CJK ideographs as BERT defines them (code blocks, not the Han script).
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF
        | 0x3400..=0x4DBF
        | 0x20000..=0x2A6DF
        | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F
        | 0x2B920..=0x2CEAF
        | 0xF900..=0xFAFF
        | 0x2F800..=0x2FA1F)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_punctuation_and_lowercases() {
        let opts = WpmOptions { lowercase: true, strip_accents: true, hf_normalizer: false, max_word_chars: None };
        assert_eq!(split_words(&opts, "A man, Café!  中文"), ["a", "man", ",", "cafe", "!", "中", "文"]);
    }
}
