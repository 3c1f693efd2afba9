//! Sharded checkpoints: `model.safetensors.index.json` says which shard file
//! holds each tensor.
//!
//! ```json
//! {"metadata": {"total_size": 123}, "weight_map": {"lm_head.weight": "model-00002-of-00002.safetensors", ...}}
//! ```

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;

use super::header::SafetensorsFile;
use crate::{NavajaError, Result};

#[derive(Debug, Clone, PartialEq)]
pub struct ShardedIndex {
    /// Shard file names, sorted, each once.
    shards: Vec<String>,
    /// (tensor name, index into `shards`), sorted by tensor name.
    tensors: Vec<(String, usize)>,
    by_name: HashMap<String, usize>,
    /// `metadata.total_size` when present: total bytes of tensor data.
    pub total_size: Option<u64>,
}

#[derive(Deserialize)]
struct RawIndex {
    #[serde(default)]
    metadata: Option<Value>,
    weight_map: serde_json::Map<String, Value>,
}

impl ShardedIndex {
    /// Parses an index file. Shard names must be plain file names (no
    /// directories, no `..`), because callers join them to the model's
    /// directory or URL.
    pub fn parse(json: &str) -> Result<ShardedIndex> {
        let raw: RawIndex = serde_json::from_str(json)
            .map_err(|e| NavajaError::format(format!("model.safetensors.index.json: {e}")))?;
        let total_size = match raw.metadata.as_ref().and_then(|m| m.get("total_size")) {
            None => None,
            Some(v) => Some(v.as_u64().ok_or_else(|| {
                NavajaError::format(format!(
                    "model.safetensors.index.json: metadata.total_size must be a non-negative integer, got {v}"
                ))
            })?),
        };
        if raw.weight_map.is_empty() {
            return Err(NavajaError::format("model.safetensors.index.json: weight_map is empty"));
        }
        let mut tensors = Vec::with_capacity(raw.weight_map.len());
        for (tensor, shard) in raw.weight_map {
            let Value::String(shard) = shard else {
                return Err(NavajaError::format(format!(
                    "model.safetensors.index.json: tensor {tensor:?} maps to {shard}, not to a shard file name"
                )));
            };
            check_shard_name(&tensor, &shard)?;
            tensors.push((tensor, shard));
        }
        // Shards sorted by name: model-00001-of-00003 comes first.
        let mut shards: Vec<String> = tensors.iter().map(|(_, s)| s.clone()).collect();
        shards.sort();
        shards.dedup();
        let shard_ids: HashMap<&str, usize> = shards.iter().enumerate().map(|(i, s)| (s.as_str(), i)).collect();
        let tensors: Vec<(String, usize)> = tensors
            .into_iter()
            .map(|(t, s)| {
                let id = shard_ids.get(s.as_str()).copied().unwrap_or(0);
                (t, id)
            })
            .collect();
        let by_name = tensors.iter().enumerate().map(|(i, (name, _))| (name.clone(), i)).collect();
        Ok(ShardedIndex { shards, tensors, by_name, total_size })
    }

    /// Shard file names, each once.
    pub fn shards(&self) -> &[String] {
        &self.shards
    }

    /// The shard file holding `tensor`.
    pub fn shard_of(&self, tensor: &str) -> Option<&str> {
        let &(_, shard) = self.tensors.get(*self.by_name.get(tensor)?)?;
        self.shards.get(shard).map(String::as_str)
    }

    /// Every tensor name in the index, sorted.
    pub fn tensor_names(&self) -> impl Iterator<Item = &str> {
        self.tensors.iter().map(|(n, _)| n.as_str())
    }

    /// The tensors the index places in `shard`.
    pub fn tensors_in<'a>(&'a self, shard: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        let id = self.shards.iter().position(|s| s == shard);
        self.tensors.iter().filter(move |(_, s)| Some(*s) == id).map(|(n, _)| n.as_str())
    }

    /// Checks a shard's parsed header against the index: every tensor mapped
    /// to `shard` must be in it, and it must not hold a tensor the index maps
    /// to another shard (which copy would be meant?). Tensors the index does
    /// not mention at all are tolerated, as transformers does.
    pub fn check_shard(&self, shard: &str, file: &SafetensorsFile) -> Result<()> {
        if !self.shards.iter().any(|s| s == shard) {
            return Err(NavajaError::invalid(format!(
                "{shard:?} is not one of the {} shards named by the index",
                self.shards.len()
            )));
        }
        if let Some(missing) = self.tensors_in(shard).find(|name| file.tensor(name).is_none()) {
            return Err(NavajaError::format(format!(
                "the index maps tensor {missing:?} to shard {shard:?}, but that shard does not contain it"
            )));
        }
        for t in &file.tensors {
            if let Some(other) = self.shard_of(&t.name).filter(|other| *other != shard) {
                return Err(NavajaError::format(format!(
                    "shard {shard:?} contains tensor {:?}, which the index maps to shard {other:?}",
                    t.name
                )));
            }
        }
        Ok(())
    }
}

fn check_shard_name(tensor: &str, shard: &str) -> Result<()> {
    let plain = !shard.is_empty()
        && shard != "."
        && shard != ".."
        && !shard.contains(['/', '\\', '\0'])
        && !shard.starts_with("..");
    if plain {
        Ok(())
    } else {
        Err(NavajaError::format(format!(
            "model.safetensors.index.json: tensor {tensor:?} maps to {shard:?}, which is not a plain file name"
        )))
    }
}
