//! Incremental detokenization for streaming generated text.
//!
//! A token's bytes can end inside a UTF-8 character (SentencePiece byte
//! tokens like `<0xF0>`, byte-level BPE pieces of an emoji). Emitting each
//! piece as it comes would show U+FFFD for every split character, so the
//! decoder holds back an incomplete tail until the bytes that finish it
//! arrive; bytes that can never become UTF-8 are emitted as U+FFFD at once.
//!
//! Pieces are emitted as they are: no prefix-space removal and no
//! clean-up of tokenization spaces, since a stream continues a prompt.

use super::Tokenizer;
use crate::Result;

/// Turns generated token ids into text, one token at a time.
#[derive(Debug)]
pub struct StreamDecoder<'a> {
    tok: &'a Tokenizer,
    pending: Vec<u8>,
    render_special: bool,
}

impl<'a> StreamDecoder<'a> {
    /// A decoder that renders control tokens (BOS, "<|im_end|>") as nothing.
    pub fn new(tok: &'a Tokenizer) -> StreamDecoder<'a> {
        StreamDecoder { tok, pending: Vec::new(), render_special: false }
    }

    /// Render control tokens as their text ("<|im_end|>") instead of nothing.
    pub fn render_special(mut self, yes: bool) -> StreamDecoder<'a> {
        self.render_special = yes;
        self
    }

    /// Adds one token; returns the text that is now complete (possibly empty).
    /// An id outside the vocabulary is an error and changes nothing.
    pub fn push(&mut self, id: u32) -> Result<String> {
        let piece = self.tok.piece(id, self.render_special)?;
        self.pending.extend_from_slice(piece);
        Ok(self.take_complete())
    }

    /// Ends the stream: whatever is held back (an unfinished character) as U+FFFD.
    pub fn finish(&mut self) -> String {
        let out = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        out
    }

    /// Bytes held back because they may start a character not yet complete.
    pub fn pending_bytes(&self) -> usize {
        self.pending.len()
    }

    fn take_complete(&mut self) -> String {
        let mut out = String::new();
        let mut rest: &[u8] = &self.pending;
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    out.push_str(s);
                    rest = &[];
                    break;
                }
                Err(e) => {
                    let (good, bad) = rest.split_at(e.valid_up_to());
                    out.push_str(std::str::from_utf8(good).unwrap_or_default());
                    match e.error_len() {
                        // Invalid bytes: they can never complete, replace them now.
                        Some(n) => {
                            out.push('\u{FFFD}');
                            rest = &bad[n..];
                        }
                        // A character cut short at the end: wait for more bytes.
                        None => {
                            rest = bad;
                            break;
                        }
                    }
                }
            }
        }
        let keep = rest.len();
        let start = self.pending.len() - keep;
        self.pending.drain(..start);
        out
    }
}
