//! `navaja tokenize --model FILE TEXT`: text to token ids (and back with
//! `--decode`), with the model's own tokenizer.

use std::path::Path;

use navaja_core::tokenizer::Tokenizer;
use navaja_core::{NavajaError, Result};
use serde_json::json;

use crate::model_files::{self, ModelFiles};

pub struct Options<'a> {
    pub model: &'a Path,
    pub text: &'a str,
    pub json: bool,
    pub decode: bool,
    /// Do not add BOS/EOS even where the model's metadata asks for them.
    pub no_special: bool,
    /// Treat special-token text such as `<|im_start|>` as plain text.
    pub no_parse_special: bool,
}

/// The model's tokenizer: from GGUF metadata, or the folder's tokenizer.json.
pub fn load_tokenizer(path: &Path) -> Result<Tokenizer> {
    match model_files::open(path)? {
        ModelFiles::Gguf { header, .. } => Tokenizer::from_gguf(&header.metadata),
        ModelFiles::Safetensors { dir, .. } => {
            let json = model_files::read_optional(&dir, "tokenizer.json")?
                .ok_or_else(|| NavajaError::format(format!("{} has no tokenizer.json", dir.display())))?;
            Tokenizer::from_tokenizer_json(&json)
        }
    }
}

pub fn run(opts: &Options<'_>) -> Result<()> {
    let tokenizer = load_tokenizer(opts.model)?;
    if opts.decode {
        let ids = parse_ids(opts.text)?;
        let text = tokenizer.decode(&ids)?;
        if opts.json {
            println!("{}", json!({ "ids": ids, "text": text }));
        } else {
            println!("{text}");
        }
        return Ok(());
    }
    let ids = tokenizer.encode(opts.text, !opts.no_special, !opts.no_parse_special)?;
    if opts.json {
        let tokens: Vec<String> =
            ids.iter().map(|&id| tokenizer.token_text(id).map(str::to_string)).collect::<Result<_>>()?;
        println!("{}", json!({ "ids": ids, "tokens": tokens, "count": ids.len() }));
    } else {
        println!("{}", ids.iter().map(u32::to_string).collect::<Vec<_>>().join(" "));
    }
    Ok(())
}

/// Ids separated by spaces and/or commas, optionally in brackets: `1 2 3`, `[1, 2, 3]`.
fn parse_ids(text: &str) -> Result<Vec<u32>> {
    text.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u32>().map_err(|_| NavajaError::invalid(format!("--decode expects token ids, got {s:?}"))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::parse_ids;

    #[test]
    fn id_lists() {
        assert_eq!(parse_ids("1 2  3").unwrap(), vec![1, 2, 3]);
        assert_eq!(parse_ids("[1, 2,3]").unwrap(), vec![1, 2, 3]);
        assert_eq!(parse_ids("").unwrap(), Vec::<u32>::new());
        assert_eq!(parse_ids("1 x").unwrap_err().code(), "invalid-argument");
    }
}
