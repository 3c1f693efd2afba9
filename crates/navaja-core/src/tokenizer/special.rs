//! Special-token partitioning: before any algorithm runs, occurrences of
//! special tokens' texts are cut out of the input and become those tokens.
//!
//! As in llama.cpp (and Hugging Face's added tokens), user-defined tokens are
//! always cut out; control and unknown tokens only with `parse_special`, so
//! that text coming from a user cannot smuggle in "<|im_end|>". Longer
//! tokens are tried first, so "<|im_end|>" wins over a "<|im" token.

use super::vocab::{Vocab, attr};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fragment<'a> {
    Text(&'a str),
    Token(u32),
}

/// The ids that can be cut out, longest text first (`Vocab` order on ties).
pub(crate) fn special_cache(vocab: &Vocab) -> Vec<u32> {
    let mut ids: Vec<u32> = (0..vocab.len() as u32)
        .filter(|&id| vocab.attr(id) & (attr::CONTROL | attr::USER_DEFINED | attr::UNKNOWN) != 0)
        .collect();
    ids.sort_by_key(|&id| std::cmp::Reverse(vocab.text(id).len()));
    ids
}

/// C's `isspace` in the "C" locale, which llama.cpp's l/r-strip uses.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r')
}

/// Splits `text` into text fragments and special tokens.
pub(crate) fn partition<'a>(text: &'a str, vocab: &Vocab, specials: &[u32], parse_special: bool) -> Vec<Fragment<'a>> {
    let mut fragments = if text.is_empty() { Vec::new() } else { vec![Fragment::Text(text)] };
    for &id in specials {
        let a = vocab.attr(id);
        if !parse_special && a & (attr::CONTROL | attr::UNKNOWN) != 0 {
            continue;
        }
        let needle = vocab.text(id);
        if !fragments.iter().any(|f| matches!(f, Fragment::Text(t) if t.contains(needle))) {
            continue;
        }
        let mut next = Vec::with_capacity(fragments.len() + 2);
        for f in fragments {
            let Fragment::Text(mut rest) = f else {
                next.push(f);
                continue;
            };
            while let Some(pos) = rest.find(needle) {
                let mut left = &rest[..pos];
                if a & attr::LSTRIP != 0 {
                    left = left.trim_end_matches(|c: char| c.is_ascii() && is_c_space(c as u8));
                }
                if !left.is_empty() {
                    next.push(Fragment::Text(left));
                }
                next.push(Fragment::Token(id));
                rest = &rest[pos + needle.len()..];
                if a & attr::RSTRIP != 0 {
                    rest = rest.trim_start_matches(|c: char| c.is_ascii() && is_c_space(c as u8));
                }
            }
            if !rest.is_empty() {
                next.push(Fragment::Text(rest));
            }
        }
        fragments = next;
    }
    fragments
}
