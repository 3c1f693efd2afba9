//! Byte-level BPE (GPT-2 family, llama.cpp's "BPE"): pre-tokenize, map each
//! piece's bytes to GPT-2's printable characters, then apply the merges in
//! rank order inside each piece.
//!
//! The merge loop keeps a heap of candidate pairs, so a piece of n characters
//! costs O(n log n) rather than the O(n^2) of rescanning for the best pair.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::pretokenize::{PreSpec, PreTokenizer};
use super::unicode::byte_to_char_table;
use super::vocab::{FastMap, Vocab};
use crate::Result;

#[derive(Debug)]
pub(crate) struct Bpe {
    pub spec: PreSpec,
    pre: PreTokenizer,
    /// Merge rank by the token ids of its two sides.
    ranks: FastMap<(u32, u32), u32>,
    /// Merges whose sides are not both tokens, by "left right" (rare; kept exact).
    text_ranks: FastMap<String, u32>,
    byte_chars: [char; 256],
}

/// A span of the encoded piece; merged-away symbols have `len == 0`.
#[derive(Clone, Copy)]
struct Symbol {
    start: usize,
    len: usize,
    id: Option<u32>,
    prev: Option<usize>,
    next: Option<usize>,
}

struct Bigram {
    rank: u32,
    left: usize,
    right: usize,
    left_len: usize,
    right_len: usize,
}

impl PartialEq for Bigram {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Bigram {}
impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Bigram {
    /// `BinaryHeap` is a max-heap: the lowest rank, then the leftmost pair, is "greatest".
    fn cmp(&self, other: &Self) -> Ordering {
        other.rank.cmp(&self.rank).then_with(|| other.left.cmp(&self.left))
    }
}

impl Bpe {
    /// `merges` are "left right" lines, rank = line number. As in llama.cpp
    /// the separator is the first space after the first byte, and a pair
    /// listed twice keeps its first rank.
    pub fn new(vocab: &Vocab, merges: &[String], spec: PreSpec) -> Result<Bpe> {
        let pre = PreTokenizer::new(&spec.regexes)?;
        let mut ranks = FastMap::with_capacity_and_hasher(merges.len(), Default::default());
        let mut text_ranks = FastMap::default();
        for (rank, line) in merges.iter().enumerate() {
            let rank = rank as u32;
            let sep = line.as_bytes().iter().skip(1).position(|&b| b == b' ').map(|p| p + 1);
            let (left, right) = match sep {
                Some(p) => (&line[..p], &line[p + 1..]),
                None => ("", ""),
            };
            match (vocab.id(left), vocab.id(right)) {
                (Some(l), Some(r)) => {
                    ranks.entry((l, r)).or_insert(rank);
                }
                _ => {
                    text_ranks.entry(format!("{left} {right}")).or_insert(rank);
                }
            }
        }
        Ok(Bpe { spec, pre, ranks, text_ranks, byte_chars: byte_to_char_table() })
    }

    fn rank(&self, word: &str, l: &Symbol, r: &Symbol) -> Option<u32> {
        if let (Some(a), Some(b)) = (l.id, r.id) {
            if let Some(&rank) = self.ranks.get(&(a, b)) {
                return Some(rank);
            }
        }
        if self.text_ranks.is_empty() {
            return None;
        }
        let key = format!("{} {}", &word[l.start..l.start + l.len], &word[r.start..r.start + r.len]);
        self.text_ranks.get(&key).copied()
    }

    /// Appends the tokens of `text` (one text fragment, specials already removed).
    pub fn tokenize(&self, vocab: &Vocab, text: &str, out: &mut Vec<u32>) -> Result<()> {
        let escaped;
        let text = if self.spec.escape_whitespaces {
            escaped = text.replace(' ', "\u{2581}");
            escaped.as_str()
        } else {
            text
        };
        let mut encoded = String::new();
        for range in self.pre.split(text)? {
            let piece = &text[range];
            let word = if self.spec.byte_encode {
                encoded.clear();
                encoded.extend(piece.bytes().map(|b| self.byte_chars[b as usize]));
                encoded.as_str()
            } else {
                piece
            };
            self.tokenize_word(vocab, word, out);
        }
        Ok(())
    }

    fn tokenize_word(&self, vocab: &Vocab, word: &str, out: &mut Vec<u32>) {
        if self.spec.ignore_merges || (self.spec.newline_runs && word.bytes().all(|b| b == b'\n')) {
            if let Some(id) = vocab.id(word) {
                out.push(id);
                return;
            }
        }

        let mut symbols: Vec<Symbol> = Vec::with_capacity(word.len());
        for (i, c) in word.char_indices() {
            let idx = symbols.len();
            let len = c.len_utf8();
            symbols.push(Symbol {
                start: i,
                len,
                id: vocab.id(&word[i..i + len]),
                prev: idx.checked_sub(1),
                next: (i + len < word.len()).then_some(idx + 1),
            });
        }

        let mut queue = BinaryHeap::new();
        let try_add =
            |queue: &mut BinaryHeap<Bigram>, symbols: &[Symbol], left: Option<usize>, right: Option<usize>| {
                let (Some(left), Some(right)) = (left, right) else { return };
                let (l, r) = (&symbols[left], &symbols[right]);
                if let Some(rank) = self.rank(word, l, r) {
                    queue.push(Bigram { rank, left, right, left_len: l.len, right_len: r.len });
                }
            };
        for i in 1..symbols.len() {
            try_add(&mut queue, &symbols, Some(i - 1), Some(i));
        }

        while let Some(b) = queue.pop() {
            let (l, r) = (symbols[b.left], symbols[b.right]);
            // Stale: a side changed since the pair was queued. Symbols only
            // grow by absorbing their right neighbour, so equal lengths mean
            // equal text.
            if l.len == 0 || r.len == 0 || l.len != b.left_len || r.len != b.right_len {
                continue;
            }
            let merged = &mut symbols[b.left];
            merged.len += r.len;
            merged.id = vocab.id(&word[merged.start..merged.start + merged.len]);
            merged.next = r.next;
            let (prev, next) = (merged.prev, merged.next);
            symbols[b.right].len = 0;
            if let Some(n) = next {
                symbols[n].prev = Some(b.left);
            }
            try_add(&mut queue, &symbols, prev, Some(b.left));
            try_add(&mut queue, &symbols, Some(b.left), next);
        }

        for s in symbols.iter().filter(|s| s.len > 0) {
            match s.id {
                Some(id) => out.push(id),
                None => self.push_bytes(vocab, &word[s.start..s.start + s.len], out),
            }
        }
    }

    /// A symbol that is not a token: llama.cpp emits, byte by byte, whatever
    /// token the single byte is (byte-level vocabularies: only ASCII can be;
    /// raw-UTF-8 vocabularies: the `<0xXX>` tokens) and drops the rest.
    fn push_bytes(&self, vocab: &Vocab, text: &str, out: &mut Vec<u32>) {
        for &b in text.as_bytes() {
            let id = if self.spec.byte_encode {
                if b.is_ascii() { vocab.id(&(b as char).to_string()) } else { None }
            } else {
                vocab.id(&format!("<0x{b:02X}>"))
            };
            out.extend(id);
        }
    }
}
