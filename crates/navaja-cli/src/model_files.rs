//! Finding and reading model files from the command line: a GGUF file, or a
//! safetensors folder (config.json, tokenizer.json, sentence-transformers'
//! 1_Pooling/config.json beside model.safetensors).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use navaja_core::gguf::{GgufHeader, GgufStream};
use navaja_core::safetensors::SafetensorsFile;
use navaja_core::{NavajaError, Result};

pub enum ModelFiles {
    Gguf { path: PathBuf, header: GgufHeader, file_len: u64 },
    Safetensors { dir: PathBuf, weights: PathBuf, bytes: Vec<u8>, file: SafetensorsFile },
}

fn io_error(path: &Path, e: std::io::Error) -> NavajaError {
    NavajaError::invalid(format!("cannot read {}: {e}", path.display()))
}

/// Opens `path`: a `.gguf` file (only its header is read), a safetensors
/// folder, or a `.safetensors` file inside one.
pub fn open(path: &Path) -> Result<ModelFiles> {
    if path.is_dir() {
        let weights = path.join("model.safetensors");
        if weights.is_file() {
            return open_safetensors(path, &weights);
        }
        if path.join("model.safetensors.index.json").is_file() {
            return Err(NavajaError::unsupported(
                "sharded safetensors folders are read by the library (ShardedIndex) but not yet by the CLI",
            ));
        }
        return Err(NavajaError::invalid(format!("{} holds no model.safetensors", path.display())));
    }
    let mut magic = [0u8; 4];
    File::open(path).and_then(|mut f| f.read_exact(&mut magic)).map_err(|e| io_error(path, e))?;
    if &magic == b"GGUF" {
        let (header, file_len) = read_gguf_header(path)?;
        return Ok(ModelFiles::Gguf { path: path.to_owned(), header, file_len });
    }
    if path.extension().is_some_and(|e| e == "safetensors") {
        let dir = path.parent().unwrap_or(Path::new("."));
        return open_safetensors(dir, path);
    }
    Err(NavajaError::format(format!(
        "{}: not a GGUF file (magic {:?}) and not a safetensors file or folder",
        path.display(),
        String::from_utf8_lossy(&magic)
    )))
}

/// Reads just enough of a GGUF file for its header, checked against the file's size.
pub fn read_gguf_header(path: &Path) -> Result<(GgufHeader, u64)> {
    let mut file = File::open(path).map_err(|e| io_error(path, e))?;
    let file_len = file.metadata().map_err(|e| io_error(path, e))?.len();
    let mut stream = GgufStream::new(Some(file_len));
    let mut chunk = vec![0u8; 1 << 20];
    while stream.header().is_none() {
        let n = file.read(&mut chunk).map_err(|e| io_error(path, e))?;
        if n == 0 {
            break;
        }
        stream.push(&chunk[..n], &mut |_| Ok(()))?;
    }
    match stream.header() {
        Some(h) => Ok((h.clone(), file_len)),
        None => Err(NavajaError::format(format!("{}: truncated GGUF header", path.display()))),
    }
}

fn open_safetensors(dir: &Path, weights: &Path) -> Result<ModelFiles> {
    let bytes = std::fs::read(weights).map_err(|e| io_error(weights, e))?;
    let file = SafetensorsFile::parse(&bytes)?;
    Ok(ModelFiles::Safetensors { dir: dir.to_owned(), weights: weights.to_owned(), bytes, file })
}

/// A text file beside the weights, if present.
pub fn read_optional(dir: &Path, name: &str) -> Result<Option<String>> {
    let path = dir.join(name);
    if !path.is_file() {
        return Ok(None);
    }
    std::fs::read_to_string(&path).map(Some).map_err(|e| io_error(&path, e))
}

/// The text files of an encoder folder beside model.safetensors.
pub struct EncoderFolder {
    pub config: String,
    pub tokenizer: String,
    pub modules: Option<String>,
    pub pooling: Option<String>,
    pub sentence_bert_config: Option<String>,
}

impl EncoderFolder {
    /// The files as the library takes them, with the weights' bytes.
    pub fn files<'a>(&'a self, weights: &'a [u8]) -> navaja_gpu::encoder::HfEncoderFiles<'a> {
        navaja_gpu::encoder::HfEncoderFiles {
            config_json: &self.config,
            tokenizer_json: &self.tokenizer,
            weights,
            sentence_transformers: navaja_core::encoder::SentenceTransformersFiles {
                modules_json: self.modules.as_deref(),
                pooling_json: self.pooling.as_deref(),
                sentence_bert_config_json: self.sentence_bert_config.as_deref(),
            },
        }
    }
}

/// Reads config.json and tokenizer.json (required), and sentence-transformers'
/// modules.json, the Pooling module's config (at the path modules.json names,
/// else 1_Pooling/) and sentence_bert_config.json when present.
pub fn read_encoder_folder(dir: &Path) -> Result<EncoderFolder> {
    let required = |name: &str, why: &str| {
        read_optional(dir, name)?.ok_or_else(|| NavajaError::format(format!("{} has no {name} ({why})", dir.display())))
    };
    let config = required("config.json", "the model's configuration")?;
    let tokenizer = required("tokenizer.json", "the tokenizer; vocab.txt alone is not read")?;
    let modules = read_optional(dir, "modules.json")?;
    let pooling_dir = match &modules {
        Some(json) => navaja_core::encoder::SentenceTransformersModules::from_modules_json(json)?
            .pooling_path
            .unwrap_or_else(|| "1_Pooling".to_string()),
        None => "1_Pooling".to_string(),
    };
    if pooling_dir.split(['/', '\\']).any(|part| part == "..") {
        return Err(NavajaError::format(format!("modules.json: pooling path {pooling_dir:?} leaves the model folder")));
    }
    let pooling = read_optional(dir, &format!("{pooling_dir}/config.json"))?;
    let sentence_bert_config = read_optional(dir, "sentence_bert_config.json")?;
    Ok(EncoderFolder { config, tokenizer, modules, pooling, sentence_bert_config })
}
