//! Code point classes the way llama.cpp's tokenizers see them.
//!
//! llama.cpp classifies every code point into one general-category group
//! (letter, number, ...) plus a separate white-space flag, and its
//! pre-tokenizer regexes and BERT normalizer only ever ask those questions.
//! Matching its token ids means asking exactly the same questions, so the
//! classes come from our own table ([`super::unicode_data`]) rather than from
//! whatever Unicode version the regex engine was built with.

use super::unicode_data::CATEGORY_RANGES;

/// The first letter of a Unicode general category; `Unassigned` is `Cn`.
/// Marks are split because only BERT's Hugging Face normalizer tells them
/// apart: `Mark` is Mn, `SpacingMark` is Mc and Me (llama.cpp's `\p{M}` is both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Category {
    Unassigned,
    Letter,
    Number,
    Separator,
    Mark,
    SpacingMark,
    Punctuation,
    Symbol,
    Control,
}

impl Category {
    /// `\p{M}`: any mark.
    pub fn is_mark(self) -> bool {
        matches!(self, Category::Mark | Category::SpacingMark)
    }
}

pub(crate) fn category(c: char) -> Category {
    let cp = c as u32;
    // Last range starting at or before `cp`; the table starts at 0.
    let i = CATEGORY_RANGES.partition_point(|&(start, _)| start <= cp);
    CATEGORY_RANGES[i.saturating_sub(1)].1
}

/// The Unicode `White_Space` property (llama.cpp's `\s`), not Rust's
/// `char::is_whitespace` (which agrees today, but this is the documented set).
pub(crate) fn is_whitespace(c: char) -> bool {
    matches!(
        c,
        '\t'..='\r'
            | ' '
            | '\u{85}'
            | '\u{A0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200A}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202F}'
            | '\u{205F}'
            | '\u{3000}'
    )
}

/// GPT-2's reversible byte-to-character map: printable Latin-1 bytes stand
/// for themselves, the other 68 bytes are moved to U+0100.. so that every
/// byte-level BPE token is printable text.
pub(crate) fn byte_to_char_table() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut next = 256u32;
    for b in 0..256u32 {
        let printable = (0x21..=0x7E).contains(&b) || (0xA1..=0xAC).contains(&b) || (0xAE..=0xFF).contains(&b);
        let cp = if printable {
            b
        } else {
            next += 1;
            next - 1
        };
        table[b as usize] = char::from_u32(cp).unwrap_or('\0');
    }
    table
}

/// The inverse of [`byte_to_char_table`], for decoding byte-level tokens.
pub(crate) fn char_to_byte(c: char) -> Option<u8> {
    let cp = c as u32;
    match cp {
        0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF => Some(cp as u8),
        // The 68 remapped bytes, in increasing order: 0x00-0x20, 0x7F-0xA0, 0xAD.
        0x100..=0x120 => Some((cp - 0x100) as u8),
        0x121..=0x142 => Some((cp - 0x121 + 0x7F) as u8),
        0x143 => Some(0xAD),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_of_known_characters() {
        assert_eq!(category('a'), Category::Letter);
        assert_eq!(category('7'), Category::Number);
        assert_eq!(category('.'), Category::Punctuation);
        assert_eq!(category('$'), Category::Symbol);
        assert_eq!(category('\u{301}'), Category::Mark);
        assert_eq!(category('\u{903}'), Category::SpacingMark);
        assert_eq!(category('я'), Category::Letter);
        assert_eq!(category('\u{378}'), Category::Unassigned);
        assert_eq!(category('\u{10FFFF}'), Category::Unassigned);
        assert_eq!(category('\0'), Category::Control);
    }

    #[test]
    fn byte_map_round_trips() {
        let table = byte_to_char_table();
        assert_eq!(table[b' ' as usize], 'Ġ');
        assert_eq!(table[b'\n' as usize], 'Ċ');
        for b in 0..=255u8 {
            assert_eq!(char_to_byte(table[b as usize]), Some(b));
        }
    }
}
