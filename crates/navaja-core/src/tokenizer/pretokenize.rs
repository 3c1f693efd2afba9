//! Byte-level BPE pre-tokenizers: the regex list selected by
//! `tokenizer.ggml.pre`, and how llama.cpp runs it.
//!
//! Each regex of the list splits every piece produced by the previous one;
//! both the matches and the gaps between them become pieces (Hugging Face's
//! `Split` with `Isolated` behaviour). The regexes are the ones llama.cpp
//! ships (themselves adapted from each model's `tokenizer.json`).
//!
//! Unicode classes are not handed to the regex engine. Like llama.cpp, a
//! regex that uses `\p{..}` runs on a "collapsed" copy of the text in which
//! every non-ASCII code point is replaced by one placeholder per category
//! (and non-ASCII white space by `\x0B`), and each `\p{..}` is rewritten into
//! a class of that placeholder plus the ASCII members of the category. That
//! keeps the classes those of our own table ([`super::unicode`]), which is
//! what makes the splits identical to llama.cpp's.

use fancy_regex::Regex;

use super::unicode::{Category, category, is_whitespace};
use crate::{NavajaError, Result};

/// What a `tokenizer.ggml.pre` name selects, beyond the regexes themselves.
#[derive(Debug, Clone)]
pub(crate) struct PreSpec {
    /// The regexes, applied in turn (each splits the pieces of the previous).
    pub regexes: Vec<String>,
    /// GPT-2 byte-to-character encoding of the pieces (false for the
    /// SentencePiece-style BPE of Gemma 4, which works on raw UTF-8).
    pub byte_encode: bool,
    /// A piece that is a token as a whole is emitted without merging.
    pub ignore_merges: bool,
    /// Replace ' ' by '▁' before splitting (Gemma 4).
    pub escape_whitespaces: bool,
    /// Undo tokenization spaces (" ," -> ",") when decoding.
    pub clean_spaces: bool,
    /// The model adds a BOS by default (before `tokenizer.ggml.add_bos_token`).
    pub add_bos: bool,
    /// The vocabulary has no BOS at all (ChatGLM).
    pub no_bos: bool,
    /// Runs of newlines that are tokens are kept whole (Gemma 4).
    pub newline_runs: bool,
}

pub(crate) const GPT2: &str = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const LLAMA3: &str = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2: &str = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN35: &str = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const JAIS2: &str = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s{512}(?!\\S)|\\s{256}(?!\\S)|\\s{128}(?!\\S)|\\s{64}(?!\\S)|\\s{32}(?!\\S)|\\s{16}(?!\\S)|\\s{8}(?!\\S)|\\s{4}(?!\\S)|\\s{1,2}(?!\\S)|\\s{1}";
const DEEPSEEK3: &str = "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+";
const TEKKEN: &str = "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const GPT4O: &str = "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const GRANITE_EMB_MULTI: &str = "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))*((?=[\\p{L}\\p{M}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))+((?=[\\p{L}\\p{M}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const BLOOM: &str = " ?[^(\\s|.,!?\u{2026}\u{3002}\u{FF0C}\u{3001}\u{964}\u{6D4}\u{60C})]+";
const NEWLINES: &str = "[^\\n]+|[\\n]+";

/// The spec for a `tokenizer.ggml.pre` value, or `None` for one we do not know.
pub(crate) fn spec(pre: &str) -> Option<PreSpec> {
    let base = |regexes: &[&str]| PreSpec {
        regexes: regexes.iter().map(|r| r.to_string()).collect(),
        byte_encode: true,
        ignore_merges: false,
        escape_whitespaces: false,
        clean_spaces: true,
        add_bos: false,
        no_bos: false,
        newline_runs: false,
    };
    let keep_spaces = |regexes: &[&str]| PreSpec { clean_spaces: false, ..base(regexes) };
    Some(match pre {
        "default" => base(&["[\\p{P}\\$\\+<=>\\^~\\|]+", GPT2, "\\p{N}+", "[0-9][0-9][0-9]"]),
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "pixtral" | "midm-2.0" | "lfm2"
        | "jina-v5-nano" => PreSpec { ignore_merges: true, add_bos: true, ..base(&[LLAMA3]) },
        "dbrx" | "smaug-bpe" => base(&[LLAMA3]),
        "jais-2" => base(&[JAIS2]),
        "deepseek-llm" => keep_spaces(&[
            "[\r\n]",
            "\\s?[A-Za-z\u{B5}\u{C0}-\u{D6}\u{D8}-\u{F6}\u{F8}-\u{1BA}\u{1BC}-\u{1BF}\u{1C4}-\u{293}\u{295}-\u{2AF}\u{370}-\u{373}\u{376}\u{377}\u{37B}-\u{37D}\u{37F}\u{386}\u{388}-\u{38A}\u{38C}\u{38E}-\u{3A1}\u{3A3}-\u{3F5}\u{3F7}-\u{481}\u{48A}-\u{52F}\u{531}-\u{556}\u{10A0}-\u{10C5}\u{13A0}-\u{13F5}\u{13F8}-\u{13FD}\u{1C90}-\u{1CBA}\u{1CBD}-\u{1CBF}\u{1D00}-\u{1D2B}\u{1D6B}-\u{1D77}\u{1D79}-\u{1D9A}\u{1E00}-\u{1F15}\u{1F18}-\u{1F1D}\u{1F20}-\u{1F45}\u{1F48}-\u{1F4D}\u{1F50}-\u{1F57}\u{1F59}\u{1F5B}\u{1F5D}\u{1F5F}-\u{1F7D}\u{1F80}-\u{1FB4}\u{1FB6}-\u{1FBC}\u{1FBE}\u{1FC2}-\u{1FC4}\u{1FC6}-\u{1FCC}\u{1FD0}-\u{1FD3}\u{1FD6}-\u{1FDB}\u{1FE0}-\u{1FEC}\u{1FF2}-\u{1FF4}\u{1FF6}-\u{1FFC}\u{2102}\u{2107}\u{210A}-\u{2113}\u{2115}\u{2119}-\u{211D}\u{2124}\u{2126}\u{2128}\u{212A}-\u{212D}\u{212F}-\u{2134}\u{2139}\u{213C}-\u{213F}\u{2145}-\u{2149}\u{214E}\u{2183}\u{2184}\u{2C00}-\u{2C7B}\u{2C7E}-\u{2CE4}\u{2CEB}-\u{2CEE}\u{2CF2}\u{2CF3}\u{A640}-\u{A66D}\u{A680}-\u{A69B}\u{A722}-\u{A76F}\u{A771}-\u{A787}\u{A78B}-\u{A78E}\u{AB70}-\u{ABBF}\u{FB00}-\u{FB06}\u{FB13}-\u{FB17}\u{FF21}-\u{FF3A}\u{FF41}-\u{FF5A}\u{10400}-\u{1044F}\u{104B0}-\u{104D3}\u{104D8}-\u{104FB}\u{10C80}-\u{10CB2}\u{10CC0}-\u{10CF2}\u{118A0}-\u{118DF}\u{1E900}-\u{1E943}]+",
            "\\s?[!-/:-~\u{FF01}-\u{FF0F}\u{FF1A}-\u{FF5E}\u{2018}-\u{201F}\u{3000}-\u{3002}]+",
            "\\s+$",
            "[\u{4E00}-\u{9FA5}\u{800}-\u{4E00}\u{AC00}-\u{D7FF}]+",
            "\\p{N}+",
        ]),
        "deepseek-coder" => keep_spaces(&[
            "[\r\n]",
            "\\s?\\p{L}+",
            "\\s?\\p{P}+",
            "[\u{4E00}-\u{9FA5}\u{800}-\u{4E00}\u{AC00}-\u{D7FF}]+",
            "\\p{N}",
        ]),
        "deepseek-v3" | "hunyuan-dense" | "joyai-llm" | "hy_v4" => {
            keep_spaces(&["\\p{N}{1,3}", "[\u{4E00}-\u{9FA5}\u{3040}-\u{309F}\u{30A0}-\u{30FF}]+", DEEPSEEK3])
        }
        "falcon" => base(&["[\\p{P}\\$\\+<=>\\^~\\|`]+", GPT2, "[0-9][0-9][0-9]"]),
        "starcoder" | "refact" | "codeshell" | "exaone" | "minerva-7b" | "mellum2" => base(&["\\p{N}", GPT2]),
        "command-r" | "smollm" => keep_spaces(&["\\p{N}", GPT2]),
        "gpt-2" | "phi-2" | "jina-es" | "jina-de" | "gigachat" | "jina-v2-es" | "jina-v2-de" | "a.x-4.0" | "mellum"
        | "modern-bert" | "exaone4" | "mpt" | "olmo" | "jais" => base(&[GPT2]),
        "trillion" | "granite-docling" => keep_spaces(&[GPT2]),
        "qwen2" | "deepseek-r1-qwen" | "kormo" | "f2llmv2" | "hunyuan" | "solar-open" => keep_spaces(&[QWEN2]),
        "stablelm2" | "megrez" => base(&[QWEN2]),
        "qwen35" => keep_spaces(&[QWEN35]),
        "poro-chat" => keep_spaces(&[BLOOM]),
        "bloom" | "gpt3-finnish" => base(&[BLOOM]),
        "viking" => keep_spaces(&[BLOOM, "\\p{N}"]),
        "chatglm-bpe" => PreSpec { no_bos: true, ..base(&[LLAMA3]) },
        "glm4" | "glm5" => PreSpec { no_bos: true, ignore_merges: true, ..base(&[LLAMA3]) },
        "tekken" => PreSpec { ignore_merges: true, add_bos: true, clean_spaces: false, ..base(&[TEKKEN]) },
        "gpt-4o" | "llama4" | "kanana2" | "talkie" | "minimax-m2" => keep_spaces(&[GPT4O]),
        "granite-embed-multi-97m" => PreSpec { ignore_merges: true, ..keep_spaces(&[GRANITE_EMB_MULTI]) },
        "chameleon" => PreSpec {
            add_bos: true,
            ..keep_spaces(&[
                "<sentinel:[0-9]+>",
                "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z",
                "([\\t\\n]|    |  )",
                "\\p{N}",
                "[\\p{P}!-/:-@\\[-`{-~]",
                GPT2,
            ])
        },
        "bailingmoe" | "bailingmoe2" | "llada-moe" => keep_spaces(&[
            "'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+",
        ]),
        "seed-coder" => keep_spaces(&[
            "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        ]),
        "ufakzeka" => keep_spaces(&[
            "[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        ]),
        "grok-2" => keep_spaces(&[QWEN2]),
        "laguna" => keep_spaces(&[NEWLINES, QWEN2]),
        "exaone-moe" => base(&[
            "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?(?:\\p{L}\\p{M}*(?: \\p{L}\\p{M}*)*)+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]?|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+",
        ]),
        "minicpm5" => PreSpec {
            ignore_merges: true,
            ..base(&[
                "\\p{N}{1,3}",
                "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}+| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
            ])
        },
        "gemma4" | "granite-embed-multi-311m" => PreSpec {
            byte_encode: false,
            escape_whitespaces: true,
            add_bos: true,
            newline_runs: true,
            ..base(&[NEWLINES])
        },
        "sarvam-moe" => {
            PreSpec { byte_encode: false, escape_whitespaces: true, clean_spaces: false, ..base(&[NEWLINES]) }
        }
        _ => return None,
    })
}

/// One compiled regex of the list.
#[derive(Debug)]
struct Step {
    re: Regex,
    /// Runs on the collapsed text (the regex used `\p{..}`).
    collapsed: bool,
}

/// A compiled pre-tokenizer (compiled once per tokenizer).
#[derive(Debug)]
pub(crate) struct PreTokenizer {
    steps: Vec<Step>,
}

/// The placeholder a non-ASCII code point of each category becomes in the
/// collapsed text (llama.cpp's bytes 0xD0..0xD5, here as code points).
fn placeholder(c: Category) -> char {
    match c {
        Category::Number => '\u{D1}',
        Category::Letter => '\u{D2}',
        Category::Punctuation => '\u{D3}',
        Category::Mark | Category::SpacingMark => '\u{D4}',
        Category::Symbol => '\u{D5}',
        _ => '\u{D0}',
    }
}

/// Class members (without brackets) standing for `\p{name}` on collapsed text.
fn class_members(name: &str) -> Option<String> {
    let cat = match name {
        "N" => Category::Number,
        "L" | "Lu" | "Ll" | "Lt" | "Lm" | "Lo" => Category::Letter,
        "P" => Category::Punctuation,
        "M" => Category::Mark,
        "S" => Category::Symbol,
        _ => return None,
    };
    let mut s = format!("\\x{{{:X}}}", placeholder(cat) as u32);
    for b in 0u8..0x80 {
        if category(b as char) == cat {
            // (No ASCII character is a mark, so Mark never needs SpacingMark here.)
            s.push_str(&format!("\\x{{{b:X}}}"));
        }
    }
    Some(s)
}

/// Rewrites every `\p{..}` of `re` for the collapsed text; `None` when the
/// regex has no category (it then runs on the text itself).
fn collapse_regex(re: &str) -> Result<Option<String>> {
    if !re.contains("\\p{") {
        return Ok(None);
    }
    if !re.is_ascii() {
        // The collapsed text has lost its non-ASCII characters; llama.cpp refuses these too.
        return Err(NavajaError::unsupported(format!(
            "pre-tokenizer regex mixes Unicode classes and non-ASCII characters: {re}"
        )));
    }
    let b = re.as_bytes();
    let mut out = String::with_capacity(re.len() * 4);
    let mut inside = false;
    let mut i = 0;
    while i < b.len() {
        let escaped = i > 0 && b[i - 1] == b'\\';
        if b[i] == b'[' && !escaped {
            inside = true;
        } else if b[i] == b']' && inside && !escaped {
            inside = false;
        } else if b[i] == b'\\' && b.get(i + 1) == Some(&b'p') && b.get(i + 2) == Some(&b'{') {
            if let Some(close) = re[i + 3..].find('}') {
                if let Some(members) = class_members(&re[i + 3..i + 3 + close]) {
                    if inside {
                        out.push_str(&members);
                    } else {
                        out.push('[');
                        out.push_str(&members);
                        out.push(']');
                    }
                    i += 3 + close + 1;
                    continue;
                }
            }
        }
        out.push(b[i] as char);
        i += 1;
    }
    Ok(Some(out))
}

impl PreTokenizer {
    pub fn new(regexes: &[String]) -> Result<PreTokenizer> {
        let mut steps = Vec::with_capacity(regexes.len());
        for re in regexes {
            let (pattern, collapsed) = match collapse_regex(re)? {
                Some(p) => (p, true),
                None => (re.to_string(), false),
            };
            let re = Regex::new(&pattern)
                .map_err(|e| NavajaError::unsupported(format!("pre-tokenizer regex {re:?} does not compile: {e}")))?;
            steps.push(Step { re, collapsed });
        }
        Ok(PreTokenizer { steps })
    }

    /// Splits `text` into pieces (byte ranges into `text`, in order, covering it).
    pub fn split(&self, text: &str) -> Result<Vec<std::ops::Range<usize>>> {
        // Byte offset of every code point, plus the end.
        let mut bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        bounds.push(text.len());
        let n = bounds.len() - 1;

        let need_collapsed = self.steps.iter().any(|s| s.collapsed);
        let need_wide = self.steps.iter().any(|s| !s.collapsed);
        let collapsed = need_collapsed.then(|| Transformed::new(text, true));
        let wide = need_wide.then(|| Transformed::new(text, false));

        // Pieces as code point counts, like llama.cpp's offsets.
        let mut pieces: Vec<usize> = if n == 0 { Vec::new() } else { vec![n] };
        for step in &self.steps {
            let t = if step.collapsed { collapsed.as_ref() } else { wide.as_ref() };
            let t = t.expect("transformed text was built for every kind of step");
            let mut next = Vec::with_capacity(pieces.len() * 2);
            let mut start = 0;
            for &len in &pieces {
                t.split_piece(&step.re, start, start + len, &mut next)?;
                start += len;
            }
            pieces = next;
        }

        let mut out = Vec::with_capacity(pieces.len());
        let mut start = 0;
        for len in pieces {
            out.push(bounds[start]..bounds[start + len]);
            start += len;
        }
        Ok(out)
    }
}

/// The text as one kind of regex sees it, with the byte offset of each code point.
struct Transformed {
    text: String,
    bounds: Vec<usize>,
}

impl Transformed {
    fn new(text: &str, collapse: bool) -> Transformed {
        let mut out = String::with_capacity(text.len());
        let mut bounds = Vec::with_capacity(text.len() + 1);
        for c in text.chars() {
            bounds.push(out.len());
            let t = if c.is_ascii() {
                c
            } else if is_whitespace(c) {
                // The regex engines' `\s` must see non-ASCII white space too.
                '\x0B'
            } else if collapse {
                placeholder(category(c))
            } else {
                c
            };
            out.push(t);
        }
        bounds.push(out.len());
        Transformed { text: out, bounds }
    }

    /// Splits code points `start..end` into matches and gaps, appending their lengths.
    fn split_piece(&self, re: &Regex, start: usize, end: usize, out: &mut Vec<usize>) -> Result<()> {
        let base = self.bounds[start];
        let hay = &self.text[base..self.bounds[end]];
        let cp_at = |byte: usize| self.bounds.partition_point(|&b| b < base + byte);
        let mut last = start;
        for m in re.find_iter(hay) {
            let m = m.map_err(|e| NavajaError::invalid(format!("pre-tokenizer regex failed on this text: {e}")))?;
            let (ms, me) = (cp_at(m.start()), cp_at(m.end()));
            if ms > last {
                out.push(ms - last);
            }
            if me > ms {
                out.push(me - ms);
            }
            last = me;
        }
        if end > last {
            out.push(end - last);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(pre: &str, text: &str) -> Vec<String> {
        let p = PreTokenizer::new(&spec(pre).unwrap().regexes).unwrap();
        p.split(text).unwrap().into_iter().map(|r| text[r].to_string()).collect()
    }

    #[test]
    fn gpt2_splits_words_numbers_and_spaces() {
        assert_eq!(pieces("gpt-2", "Hello world's   3 men!!"), ["Hello", " world", "'s", "  ", " 3", " men", "!!"]);
    }

    #[test]
    fn llama3_groups_digits_by_three_and_newlines() {
        assert_eq!(pieces("llama-bpe", "12345 ab\n\n  x"), ["123", "45", " ab", "\n\n", " ", " x"]);
    }

    #[test]
    fn every_known_regex_compiles() {
        for name in [
            "default",
            "llama-bpe",
            "deepseek-llm",
            "deepseek-coder",
            "deepseek-v3",
            "falcon",
            "tekken",
            "gpt-4o",
            "chameleon",
            "bloom",
            "exaone-moe",
            "granite-embed-multi-97m",
            "jais-2",
            "qwen35",
            "gemma4",
            "bailingmoe",
            "seed-coder",
            "minicpm5",
            "viking",
        ] {
            PreTokenizer::new(&spec(name).unwrap().regexes).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn non_ascii_classes_use_the_placeholders() {
        assert_eq!(pieces("gpt-2", "нещо на 3х"), ["нещо", " на", " 3", "х"]);
        // No-break spaces are white space, but not the optional ' ' of ` ?\p{L}+`.
        assert_eq!(pieces("gpt-2", "a\u{A0}\u{A0}b"), ["a", "\u{A0}", "\u{A0}", "b"]);
    }
}
