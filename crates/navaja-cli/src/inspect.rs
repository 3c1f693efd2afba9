//! `navaja inspect FILE`: what a model file is, before loading it.

use std::collections::BTreeMap;
use std::path::Path;

use navaja_core::chat::ChatTemplate;
use navaja_core::gguf::GgufHeader;
use navaja_core::model::{ModelSpec, Pooling};
use navaja_core::tokenizer::Tokenizer;
use navaja_core::{NavajaError, Result};
use serde::Serialize;
use serde_json::{Value, json};

use crate::model_files::{self, ModelFiles};

#[derive(Serialize, Default)]
struct TypeTotal {
    tensors: usize,
    parameters: u64,
    bytes: u64,
}

#[derive(Serialize)]
struct TensorRow {
    name: String,
    #[serde(rename = "type")]
    ty: String,
    dims: Vec<u64>,
    bytes: u64,
}

#[derive(Serialize)]
struct Report {
    path: String,
    format: String,
    file_bytes: u64,
    architecture: Option<String>,
    /// The model spec, or (in `spec_error`) why it could not be read.
    spec: Option<ModelSpec>,
    spec_error: Option<String>,
    parameters: u64,
    context_length: Option<u64>,
    tensor_types: BTreeMap<String, TypeTotal>,
    tokenizer: Value,
    chat_template: Value,
    tensors: Vec<TensorRow>,
    metadata: BTreeMap<String, String>,
}

pub fn run(path: &Path, json_out: bool) -> Result<()> {
    let report = match model_files::open(path)? {
        ModelFiles::Gguf { path, header, file_len } => gguf_report(&path, &header, file_len),
        ModelFiles::Safetensors { dir, weights, bytes, file } => {
            let config = model_files::read_optional(&dir, "config.json")?.ok_or_else(|| {
                NavajaError::format(format!("{} has no config.json beside the weights", dir.display()))
            })?;
            let mut spec = ModelSpec::from_safetensors(&config, &file);
            if let (Ok(s), Some(pooling)) = (&mut spec, model_files::read_optional(&dir, "1_Pooling/config.json")?) {
                s.set_pooling(Pooling::from_sentence_transformers(&pooling)?)?;
            }
            let tokenizer = match model_files::read_optional(&dir, "tokenizer.json")? {
                None => json!(null),
                Some(text) => tokenizer_summary(Tokenizer::from_tokenizer_json(&text)),
            };
            let mut tensor_types: BTreeMap<String, TypeTotal> = BTreeMap::new();
            let mut tensors = Vec::new();
            for t in &file.tensors {
                let total = tensor_types.entry(t.dtype.name().to_string()).or_default();
                total.tensors += 1;
                total.parameters += t.n_elements;
                total.bytes += t.n_bytes();
                tensors.push(TensorRow {
                    name: t.name.clone(),
                    ty: t.dtype.name().to_string(),
                    dims: t.shape.clone(),
                    bytes: t.n_bytes(),
                });
            }
            Report {
                path: weights.display().to_string(),
                format: "safetensors".into(),
                file_bytes: bytes.len() as u64,
                architecture: spec.as_ref().ok().map(|s| s.architecture.name().to_string()),
                parameters: file.tensors.iter().map(|t| t.n_elements).sum(),
                context_length: spec.as_ref().ok().map(|s| s.context_length as u64),
                spec_error: spec.as_ref().err().map(|e| e.to_string()),
                spec: spec.ok(),
                tensor_types,
                tokenizer,
                chat_template: json!(null),
                tensors,
                metadata: file.metadata.iter().cloned().collect(),
            }
        }
    };
    if json_out {
        println!("{}", serde_json::to_string_pretty(&report).map_err(|e| NavajaError::invalid(e.to_string()))?);
    } else {
        print_text(&report);
    }
    Ok(())
}

fn gguf_report(path: &Path, header: &GgufHeader, file_len: u64) -> Report {
    let spec = ModelSpec::from_gguf(header);
    let mut tensor_types: BTreeMap<String, TypeTotal> = BTreeMap::new();
    for t in &header.tensors {
        let total = tensor_types.entry(t.ty.name()).or_default();
        total.tensors += 1;
        total.parameters += t.n_elements;
        total.bytes += t.n_bytes;
    }
    let arch = header.metadata.get_str("general.architecture").ok().flatten().map(str::to_string);
    let context_length =
        arch.as_ref().and_then(|a| header.metadata.get_u64(&format!("{a}.context_length")).ok().flatten());
    let chat_template = match ChatTemplate::from_gguf(&header.metadata) {
        Ok(Some(t)) => json!({
            "present": true,
            "chars": t.source().chars().count(),
            "bos_token": t.bos_token(),
            "eos_token": t.eos_token(),
        }),
        Ok(None) => json!({ "present": false }),
        Err(e) => json!({ "present": true, "error": e.to_string() }),
    };
    Report {
        path: path.display().to_string(),
        format: format!("gguf v{}", header.version),
        file_bytes: file_len,
        architecture: arch,
        parameters: header.tensors.iter().map(|t| t.n_elements).sum(),
        context_length,
        spec_error: spec.as_ref().err().map(|e| e.to_string()),
        spec: spec.ok(),
        tensor_types,
        tokenizer: tokenizer_summary(Tokenizer::from_gguf(&header.metadata)),
        chat_template,
        tensors: header
            .tensors
            .iter()
            .map(|t| TensorRow { name: t.name.clone(), ty: t.ty.name(), dims: t.dims.clone(), bytes: t.n_bytes })
            .collect(),
        metadata: header.metadata.iter().map(|(k, v)| (k.to_string(), v.summary())).collect(),
    }
}

fn tokenizer_summary(tokenizer: Result<Tokenizer>) -> Value {
    match tokenizer {
        Ok(t) => {
            let text = |id: Option<u32>| id.and_then(|i| t.token_text(i).ok().map(str::to_string));
            json!({
                "kind": format!("{:?}", t.kind()),
                "pre": t.pre(),
                "vocab_size": t.vocab_size(),
                "bos": t.bos().map(|id| json!({ "id": id, "text": text(Some(id)) })),
                "eos": t.eos().map(|id| json!({ "id": id, "text": text(Some(id)) })),
                "adds_bos": t.adds_bos(),
                "adds_eos": t.adds_eos(),
            })
        }
        Err(e) => json!({ "error": e.to_string() }),
    }
}

fn print_text(r: &Report) {
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    println!("{}", r.path);
    println!("  format: {}, {:.1} MiB, {} tensors", r.format, mib(r.file_bytes), r.tensors.len());
    println!("  architecture: {}", r.architecture.as_deref().unwrap_or("unknown"));
    println!("  parameters: {} ({:.1} M)", r.parameters, r.parameters as f64 / 1e6);
    if let Some(c) = r.context_length {
        println!("  context length: {c}");
    }
    if let Some(spec) = &r.spec {
        for line in spec.summary().lines() {
            println!("  {line}");
        }
    }
    if let Some(e) = &r.spec_error {
        println!("  spec: {e}");
    }
    let types: Vec<String> =
        r.tensor_types.iter().map(|(ty, t)| format!("{ty} x{} ({:.1} MiB)", t.tensors, mib(t.bytes))).collect();
    println!("  tensor types: {}", types.join(", "));
    println!("  tokenizer: {}", compact(&r.tokenizer));
    println!("  chat template: {}", compact(&r.chat_template));
}

fn compact(v: &Value) -> String {
    match v {
        Value::Null => "none".into(),
        Value::Object(map) => map
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| format!("{k}={}", if let Value::Object(_) = v { compact(v) } else { v.to_string() }))
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}
