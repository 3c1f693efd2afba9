//! A small byte-level BPE vocabulary (`tokenizer.ggml.model = "gpt2"`) of
//! any size from 259 up: the 256 bytes, BOS and EOS, then two-byte tokens
//! with the merges that build them, so real tokenization happens.

use crate::gguf::{GgufArray, GgufValue};
use crate::{NavajaError, Result};

/// Token ids of the special tokens.
pub const BOS_ID: u32 = 256;
pub const EOS_ID: u32 = 257;
/// The 256 bytes plus BOS, EOS and at least one merged token.
pub const MIN_VOCAB: usize = 259;
/// Every pair of bytes merged.
pub const MAX_VOCAB: usize = 258 + 256 * 256;

/// GPT-2's byte-to-character map: printable bytes stand for themselves, the
/// others (controls, space, ...) for characters from U+0100 on.
fn byte_char(b: u8) -> char {
    let printable = matches!(b, b'!'..=b'~' | 0xa1..=0xac | 0xae..=0xff);
    if printable {
        char::from(b)
    } else {
        // Index of b among the non-printable bytes, in byte order.
        let rank = (0..b).filter(|&x| !matches!(x, b'!'..=b'~' | 0xa1..=0xac | 0xae..=0xff)).count() as u32;
        char::from_u32(256 + rank).unwrap_or('?')
    }
}

/// The `tokenizer.ggml.*` metadata entries of a `vocab`-token vocabulary.
pub fn tokenizer_metadata(vocab: usize) -> Result<Vec<(String, GgufValue)>> {
    if !(MIN_VOCAB..=MAX_VOCAB).contains(&vocab) {
        return Err(NavajaError::invalid(format!(
            "the test vocabulary has between {MIN_VOCAB} and {MAX_VOCAB} tokens, not {vocab}"
        )));
    }
    let mut tokens: Vec<String> = (0..=255u8).map(|b| byte_char(b).to_string()).collect();
    tokens.push("<|bos|>".into());
    tokens.push("<|eos|>".into());
    let mut merges = Vec::new();
    // Two-byte tokens, most common ASCII letters first so that text merges.
    let order: Vec<u8> = b"etaoinshrdlu cmfwypvbgkqjxz"
        .iter()
        .copied()
        .chain((0..=255u8).filter(|b| !b"etaoinshrdlu cmfwypvbgkqjxz".contains(b)))
        .collect();
    'outer: for &a in &order {
        for &b in &order {
            if tokens.len() == vocab {
                break 'outer;
            }
            let (ca, cb) = (byte_char(a), byte_char(b));
            tokens.push(format!("{ca}{cb}"));
            merges.push(format!("{ca} {cb}"));
        }
    }
    let mut types = vec![1i32; vocab]; // normal
    types[BOS_ID as usize] = 3; // control
    types[EOS_ID as usize] = 3;
    let s = |v: &str| GgufValue::String(v.into());
    Ok(vec![
        ("tokenizer.ggml.model".into(), s("gpt2")),
        ("tokenizer.ggml.pre".into(), s("default")),
        ("tokenizer.ggml.tokens".into(), GgufValue::Array(GgufArray::String(tokens))),
        ("tokenizer.ggml.token_type".into(), GgufValue::Array(GgufArray::I32(types))),
        ("tokenizer.ggml.merges".into(), GgufValue::Array(GgufArray::String(merges))),
        ("tokenizer.ggml.bos_token_id".into(), GgufValue::U32(BOS_ID)),
        ("tokenizer.ggml.eos_token_id".into(), GgufValue::U32(EOS_ID)),
        ("tokenizer.ggml.add_bos_token".into(), GgufValue::Bool(true)),
        ("tokenizer.ggml.add_eos_token".into(), GgufValue::Bool(false)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_chars_are_gpt2s() {
        assert_eq!(byte_char(b'A'), 'A');
        assert_eq!(byte_char(b' '), '\u{120}'); // "Ġ"
        assert_eq!(byte_char(b'\n'), '\u{10a}'); // "Ċ"
        assert_eq!(byte_char(0), '\u{100}');
        assert_eq!(byte_char(0xad), '\u{143}');
        let all: std::collections::HashSet<char> = (0..=255u8).map(byte_char).collect();
        assert_eq!(all.len(), 256);
    }
}
