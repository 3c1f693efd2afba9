//! SentencePiece BPE (llama.cpp's "SPM"): start from single UTF-8
//! characters and repeatedly merge the adjacent pair whose concatenation is
//! the highest-scoring token; characters that never become a token fall back
//! to `<0xXX>` byte tokens.
//!
//! The caller has already replaced spaces by '▁' and added the prefix space.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::vocab::Vocab;

/// A span of the text that is (or may become) one token; merged-away symbols have `len == 0`.
#[derive(Clone, Copy)]
struct Symbol {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

/// A candidate merge of `left` and its right neighbour, valid while both still
/// have the lengths they had when it was queued (`size` is their sum).
struct Bigram {
    score: f32,
    left: usize,
    right: usize,
    size: usize,
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
    /// Highest score first; on a tie, the leftmost pair (as llama.cpp).
    fn cmp(&self, other: &Self) -> Ordering {
        self.score.total_cmp(&other.score).then_with(|| other.left.cmp(&self.left))
    }
}

/// Appends the tokens of `text` to `out`. `unk` is used for a byte with no token.
pub(crate) fn tokenize(vocab: &Vocab, text: &str, unk: Option<u32>, out: &mut Vec<u32>) {
    let mut symbols: Vec<Symbol> = Vec::with_capacity(text.len());
    for (i, c) in text.char_indices() {
        let idx = symbols.len();
        symbols.push(Symbol {
            start: i,
            len: c.len_utf8(),
            prev: idx.checked_sub(1),
            next: (i + c.len_utf8() < text.len()).then_some(idx + 1),
        });
    }
    if symbols.is_empty() {
        return;
    }

    let mut queue = BinaryHeap::new();
    let try_add = |queue: &mut BinaryHeap<Bigram>, symbols: &[Symbol], left: Option<usize>, right: Option<usize>| {
        let (Some(left), Some(right)) = (left, right) else { return };
        let (l, r) = (symbols[left], symbols[right]);
        let piece = &text[l.start..r.start + r.len];
        if let Some(id) = vocab.id(piece) {
            queue.push(Bigram { score: vocab.score(id), left, right, size: piece.len() });
        }
    };
    for i in 1..symbols.len() {
        try_add(&mut queue, &symbols, Some(i - 1), Some(i));
    }

    while let Some(b) = queue.pop() {
        let (l, r) = (symbols[b.left], symbols[b.right]);
        // Stale: one side was merged into something else since.
        if l.len == 0 || r.len == 0 || l.len + r.len != b.size {
            continue;
        }
        symbols[b.left].len += r.len;
        symbols[b.right].len = 0;
        symbols[b.left].next = r.next;
        if let Some(n) = r.next {
            symbols[n].prev = Some(b.left);
        }
        let prev = symbols[b.left].prev;
        let next = symbols[b.left].next;
        try_add(&mut queue, &symbols, prev, Some(b.left));
        try_add(&mut queue, &symbols, Some(b.left), next);
    }

    let mut i = Some(0);
    while let Some(idx) = i {
        let s = symbols[idx];
        let piece = &text[s.start..s.start + s.len];
        match vocab.id(piece) {
            Some(id) => out.push(id),
            // Only single characters can get here (merges always form tokens).
            None => {
                for &byte in piece.as_bytes() {
                    if let Some(id) = vocab.byte_token_hex(byte).or(unk) {
                        out.push(id);
                    }
                }
            }
        }
        i = s.next;
    }
}
