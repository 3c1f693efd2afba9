//! Texts to encoder inputs: `[CLS] text [SEP]` for an embedding,
//! `[CLS] query [SEP] document [SEP]` with segment ids for a cross-encoder,
//! truncated to the model's limit as Hugging Face's tokenizers do; and the
//! split of a batch into chunks that fit the GPU's scratch.

use crate::tokenizer::Tokenizer;
use crate::{NavajaError, Result};

/// Token ids and their segment (token type) ids, of equal length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncoderInput {
    pub ids: Vec<u32>,
    pub type_ids: Vec<u32>,
}

impl EncoderInput {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// The [CLS] and [SEP] ids a BERT tokenizer wraps inputs in.
fn specials(tok: &Tokenizer) -> Result<(u32, u32)> {
    match (tok.bos(), tok.sep()) {
        (Some(cls), Some(sep)) => Ok((cls, sep)),
        _ => Err(NavajaError::unsupported("the tokenizer has no [CLS] and [SEP] tokens; an encoder needs both")),
    }
}

fn check_limit(max_tokens: usize, specials: usize) -> Result<()> {
    if max_tokens < specials + 1 {
        return Err(NavajaError::invalid(format!(
            "a limit of {max_tokens} tokens leaves no room for text beside {specials} special tokens"
        )));
    }
    Ok(())
}

/// `[CLS] text [SEP]`, the text cut to `max_tokens - 2` tokens (an empty
/// text gives just the two specials, as sentence-transformers does).
/// `parse_special` is off: user text never becomes control tokens.
pub fn text_input(tok: &Tokenizer, text: &str, max_tokens: usize) -> Result<EncoderInput> {
    let (cls, sep) = specials(tok)?;
    check_limit(max_tokens, 2)?;
    let mut body = tok.encode(text, false, false)?;
    body.truncate(max_tokens - 2);
    let mut ids = Vec::with_capacity(body.len() + 2);
    ids.push(cls);
    ids.extend(body);
    ids.push(sep);
    let type_ids = vec![0; ids.len()];
    Ok(EncoderInput { ids, type_ids })
}

/// `[CLS] a [SEP] b [SEP]` with segment 0 up to the first [SEP] and
/// `b_type` after it (1 for BERT, 0 for models with a single token type).
/// Too long a pair loses tokens from the end of the longer part first
/// (tokenizers' `longest_first`).
pub fn pair_input(tok: &Tokenizer, a: &str, b: &str, max_tokens: usize, b_type: u32) -> Result<EncoderInput> {
    let (cls, sep) = specials(tok)?;
    check_limit(max_tokens, 3)?;
    let mut a = tok.encode(a, false, false)?;
    let mut b = tok.encode(b, false, false)?;
    let budget = max_tokens - 3;
    while a.len() + b.len() > budget {
        if a.len() > b.len() {
            a.pop()
        } else {
            b.pop()
        };
    }
    let first = a.len() + 2;
    let mut ids = Vec::with_capacity(a.len() + b.len() + 3);
    ids.push(cls);
    ids.extend(a);
    ids.push(sep);
    ids.extend(b);
    ids.push(sep);
    let type_ids = (0..ids.len()).map(|i| if i < first { 0 } else { b_type }).collect();
    Ok(EncoderInput { ids, type_ids })
}

/// Consecutive chunks of inputs (by index) of at most `max_tokens` tokens
/// together, in order; every input must fit alone.
pub fn chunks(lens: &[usize], max_tokens: usize) -> Result<Vec<std::ops::Range<usize>>> {
    let mut out = Vec::new();
    let (mut start, mut total) = (0, 0);
    for (i, &len) in lens.iter().enumerate() {
        if len > max_tokens {
            return Err(NavajaError::invalid(format!(
                "input {i} has {len} tokens, more than the {max_tokens} one batch holds"
            )));
        }
        if total + len > max_tokens {
            out.push(start..i);
            (start, total) = (i, 0);
        }
        total += len;
    }
    if start < lens.len() {
        out.push(start..lens.len());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_keep_order_and_fit() {
        assert_eq!(chunks(&[3, 3, 3, 1], 6).unwrap(), vec![0..2, 2..4]);
        assert_eq!(chunks(&[6], 6).unwrap(), vec![0..1]);
        assert!(chunks(&[], 6).unwrap().is_empty());
        assert_eq!(chunks(&[7], 6).unwrap_err().code(), "invalid-argument");
    }
}
