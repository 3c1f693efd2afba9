//! How an encoder turns tokens into one vector: pooling, normalisation and
//! the longest input, from sentence-transformers' files beside the weights
//! (`modules.json`, `1_Pooling/config.json`, `sentence_bert_config.json`)
//! or from GGUF metadata.

use serde::Serialize;
use serde_json::Value;

use crate::model::{ModelSpec, Pooling};
use crate::{NavajaError, Result};

/// What happens after the encoder's last layer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EncoderConfig {
    /// Token vectors to one vector (a reranker always takes the first token).
    pub pooling: Pooling,
    /// Scale embeddings to unit length (sentence-transformers' `Normalize` module).
    pub normalize: bool,
    /// Longest input in tokens, specials included; longer texts are truncated.
    pub max_tokens: usize,
}

/// The modules of a sentence-transformers pipeline that navaja runs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SentenceTransformersModules {
    /// Folder of the `Pooling` module's config (usually `1_Pooling`).
    pub pooling_path: Option<String>,
    /// A `Normalize` module ends the pipeline.
    pub normalize: bool,
}

impl SentenceTransformersModules {
    /// Reads `modules.json`. Modules that would change the vectors in a way
    /// navaja does not implement (Dense projections, ...) are `unsupported-model`.
    pub fn from_modules_json(json: &str) -> Result<SentenceTransformersModules> {
        let v: Value = serde_json::from_str(json)
            .map_err(|e| NavajaError::format(format!("modules.json is not valid JSON: {e}")))?;
        let Value::Array(modules) = v else {
            return Err(NavajaError::format("modules.json should be a JSON array of modules"));
        };
        let mut out = SentenceTransformersModules::default();
        for m in &modules {
            let ty = m.get("type").and_then(Value::as_str).unwrap_or("");
            let path = m.get("path").and_then(Value::as_str).unwrap_or("");
            match ty.rsplit('.').next().unwrap_or("") {
                "Transformer" => {}
                "Pooling" => out.pooling_path = Some(path.to_string()),
                "Normalize" => out.normalize = true,
                _ => {
                    return Err(NavajaError::unsupported(format!(
                        "modules.json has a {ty:?} module ({path}); navaja runs Transformer, Pooling and Normalize only"
                    )));
                }
            }
        }
        Ok(out)
    }
}

/// `max_seq_length` of a `sentence_bert_config.json`, if it sets one.
pub fn max_seq_length(sentence_bert_config_json: &str) -> Result<Option<usize>> {
    let v: Value = serde_json::from_str(sentence_bert_config_json)
        .map_err(|e| NavajaError::format(format!("sentence_bert_config.json is not valid JSON: {e}")))?;
    match v.get("max_seq_length") {
        None | Some(Value::Null) => Ok(None),
        Some(n) => match n.as_u64() {
            Some(n) if n > 0 => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
            _ => Err(NavajaError::format(format!(
                "sentence_bert_config.json: max_seq_length {n} is not a positive integer"
            ))),
        },
    }
}

/// The text files of a Hugging Face / sentence-transformers folder that shape
/// the output (each `None` when the folder does not have it).
#[derive(Debug, Clone, Copy, Default)]
pub struct SentenceTransformersFiles<'a> {
    pub modules_json: Option<&'a str>,
    /// The config of the Pooling module (at the path modules.json names, else `1_Pooling/config.json`).
    pub pooling_json: Option<&'a str>,
    pub sentence_bert_config_json: Option<&'a str>,
}

/// `unsupported-model` unless `spec` is an encoder (BERT family): what both
/// backends check before reading an encoder's weights.
pub fn check_encoder(spec: &ModelSpec) -> Result<()> {
    if spec.bert.is_none() {
        return Err(NavajaError::unsupported(format!(
            "{} is a text generator, not an embedding model (navaja embeds with BERT-family encoders)",
            spec.architecture.name()
        )));
    }
    Ok(())
}

/// The files of a Hugging Face encoder folder, as text and bytes: what
/// both backends load a safetensors encoder from.
#[derive(Clone, Copy)]
pub struct HfEncoderFiles<'a> {
    pub config_json: &'a str,
    pub tokenizer_json: &'a str,
    /// model.safetensors, complete.
    pub weights: &'a [u8],
    pub sentence_transformers: SentenceTransformersFiles<'a>,
}

impl EncoderConfig {
    /// Overrides the model's pooling (e.g. for a GGUF file that says "none");
    /// "none" itself is refused: it gives no sentence embedding.
    pub fn set_pooling(&mut self, pooling: Pooling) -> Result<()> {
        if pooling == Pooling::None {
            return Err(NavajaError::invalid("pooling \"none\" gives no sentence embedding"));
        }
        self.pooling = pooling;
        Ok(())
    }

    /// For a safetensors folder. Without sentence-transformers files the
    /// defaults are sentence-transformers' own for a plain transformers
    /// model: mean pooling, no normalisation, the model's position limit.
    /// A modules.json that names a Pooling module whose config is missing
    /// is a `model-format` error (the folder is incomplete).
    pub fn from_sentence_transformers(
        spec: &ModelSpec,
        files: &SentenceTransformersFiles<'_>,
    ) -> Result<EncoderConfig> {
        let bert = spec.bert.as_ref().ok_or_else(|| {
            NavajaError::unsupported(format!(
                "{} is not an encoder (embeddings need a BERT model)",
                spec.architecture.name()
            ))
        })?;
        let modules = files.modules_json.map(SentenceTransformersModules::from_modules_json).transpose()?;
        let pooling = match (files.pooling_json, &modules) {
            (Some(json), _) => Pooling::from_sentence_transformers(json)?,
            (None, Some(SentenceTransformersModules { pooling_path: Some(path), .. })) => {
                return Err(NavajaError::format(format!(
                    "modules.json has a Pooling module in {path:?}, but {path}/config.json is missing"
                )));
            }
            (None, _) => Pooling::Mean,
        };
        let pooling = if bert.classifier_labels.is_some() { Pooling::Cls } else { pooling };
        let st_max = files.sentence_bert_config_json.map(max_seq_length).transpose()?.flatten();
        Ok(EncoderConfig { pooling, normalize: modules.is_some_and(|m| m.normalize), max_tokens: limit(spec, st_max) })
    }

    /// For a GGUF file: its pooling type, and L2 normalisation as llama.cpp's
    /// embedding tool does by default (GGUF does not record it).
    pub fn from_gguf_spec(spec: &ModelSpec) -> Result<EncoderConfig> {
        let bert = spec.bert.as_ref().ok_or_else(|| {
            NavajaError::unsupported(format!(
                "{} is not an encoder (embeddings need a BERT model)",
                spec.architecture.name()
            ))
        })?;
        Ok(EncoderConfig {
            pooling: bert.pooling,
            normalize: bert.classifier_labels.is_none(),
            max_tokens: limit(spec, None),
        })
    }
}

/// The longest input: what the configuration asks for, within what the
/// position embedding (or, with ALiBi, the training context) allows.
fn limit(spec: &ModelSpec, wanted: Option<usize>) -> usize {
    let model_max = match spec.bert.as_ref() {
        Some(b) if b.alibi_max_bias.is_none() => b.max_position_embeddings,
        _ => spec.context_length,
    };
    wanted.map_or(model_max, |w| w.min(model_max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_json_of_a_sentence_transformer() {
        let json = r#"[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},
            {"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"},
            {"idx":2,"name":"2","path":"2_Normalize","type":"sentence_transformers.models.Normalize"}]"#;
        let m = SentenceTransformersModules::from_modules_json(json).unwrap();
        assert_eq!(m, SentenceTransformersModules { pooling_path: Some("1_Pooling".into()), normalize: true });
        let dense = r#"[{"path":"2_Dense","type":"sentence_transformers.models.Dense"}]"#;
        assert_eq!(SentenceTransformersModules::from_modules_json(dense).unwrap_err().code(), "unsupported-model");
        assert_eq!(SentenceTransformersModules::from_modules_json("{}").unwrap_err().code(), "model-format");
    }

    #[test]
    fn max_seq_length_is_read_and_checked() {
        assert_eq!(max_seq_length(r#"{"max_seq_length": 256, "do_lower_case": false}"#).unwrap(), Some(256));
        assert_eq!(max_seq_length("{}").unwrap(), None);
        assert_eq!(max_seq_length(r#"{"max_seq_length": 0}"#).unwrap_err().code(), "model-format");
        assert_eq!(max_seq_length("[").unwrap_err().code(), "model-format");
    }
}
