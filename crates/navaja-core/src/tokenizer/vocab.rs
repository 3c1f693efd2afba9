//! The token table shared by every algorithm: text, score and attributes per
//! id, and the reverse map from text to id.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// FxHash (rustc's hasher): several times faster than SipHash on the short
/// keys of a vocabulary, which matters for loading 256k-token vocabularies
/// and for the lookups of every merge. The keys come from the model file and
/// the text being tokenized, so flooding resistance buys nothing here.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().unwrap_or([0; 8])));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(buf));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }

    fn write_u32(&mut self, i: u32) {
        self.add(i as u64);
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Token attributes, as llama.cpp derives them from `tokenizer.ggml.token_type`
/// (bit flags, so a token can be e.g. control and right-stripping).
pub(crate) mod attr {
    pub const UNKNOWN: u32 = 1 << 0;
    pub const UNUSED: u32 = 1 << 1;
    pub const NORMAL: u32 = 1 << 2;
    pub const CONTROL: u32 = 1 << 3;
    pub const USER_DEFINED: u32 = 1 << 4;
    pub const BYTE: u32 = 1 << 5;
    pub const LSTRIP: u32 = 1 << 7;
    pub const RSTRIP: u32 = 1 << 8;

    /// Maps a GGUF token type (1 normal, 2 unknown, 3 control, 4 user
    /// defined, 5 unused, 6 byte; anything else undefined) to attributes.
    pub fn from_token_type(t: i64) -> u32 {
        match t {
            1 => NORMAL,
            2 => UNKNOWN,
            3 => CONTROL,
            4 => USER_DEFINED,
            5 => UNUSED,
            6 => BYTE,
            _ => 0,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Vocab {
    texts: Vec<String>,
    scores: Vec<f32>,
    attrs: Vec<u32>,
    ids: FastMap<String, u32>,
    max_len: usize,
}

impl Vocab {
    /// Builds the table; an empty text becomes `[EMPTY_<id>]` (as in llama.cpp)
    /// so that it can neither match input nor vanish on output. A text seen
    /// twice maps to its last id.
    pub fn new(texts: Vec<String>, scores: Vec<f32>, attrs: Vec<u32>) -> Vocab {
        debug_assert!(scores.len() == texts.len() && attrs.len() == texts.len());
        let mut texts = texts;
        let mut ids = FastMap::with_capacity_and_hasher(texts.len(), Default::default());
        let mut max_len = 0;
        for (i, t) in texts.iter_mut().enumerate() {
            if t.is_empty() {
                *t = format!("[EMPTY_{i}]");
            }
            max_len = max_len.max(t.len());
            ids.insert(t.clone(), i as u32);
        }
        Vocab { texts, scores, attrs, ids, max_len }
    }

    pub fn len(&self) -> usize {
        self.texts.len()
    }

    pub fn id(&self, text: &str) -> Option<u32> {
        self.ids.get(text).copied()
    }

    pub fn text(&self, id: u32) -> &str {
        &self.texts[id as usize]
    }

    pub fn score(&self, id: u32) -> f32 {
        self.scores[id as usize]
    }

    pub fn attr(&self, id: u32) -> u32 {
        self.attrs[id as usize]
    }

    pub fn set_attr(&mut self, id: u32, a: u32) {
        self.attrs[id as usize] = a;
    }

    /// Longest token text in bytes (bounds WordPiece's longest-match search).
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// The `<0xXX>` byte-fallback token of SentencePiece vocabularies, or the
    /// one-character token as llama.cpp falls back to.
    pub fn byte_token_hex(&self, b: u8) -> Option<u32> {
        self.id(&format!("<0x{b:02X}>")).or_else(|| {
            let c = b as char;
            if b < 0x80 { self.id(c.encode_utf8(&mut [0; 4])) } else { None }
        })
    }
}
