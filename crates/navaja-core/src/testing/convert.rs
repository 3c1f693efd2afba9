//! A Hugging Face BERT checkpoint rewritten as a GGUF `bert` file, the way
//! llama.cpp's converter lays it out (its tensor names, F32 vectors, the
//! matrices in F32, F16 or Q8_0), so tests can run the GGUF path on a real
//! model. The tokenizer metadata comes from the caller (for
//! all-MiniLM-L6-v2: llama.cpp's own bert-bge vocabulary file, the same
//! WordPiece vocabulary converted independently).

use crate::gguf::{GgufValue, GgufWriter, Metadata};
use crate::model::{ModelSpec, Pooling};
use crate::quant::GgmlType;
use crate::safetensors::SafetensorsFile;
use crate::{NavajaError, Result};

/// ggml's reference Q8_0 quantization (`quantize_row_q8_0_ref`): blocks of
/// 32 values as an f16 scale `max|x| / 127` and 32 rounded i8.
pub fn quantize_q8_0(values: &[f32]) -> Result<Vec<u8>> {
    if !values.len().is_multiple_of(32) {
        return Err(NavajaError::invalid(format!("Q8_0: {} values are not whole blocks of 32", values.len())));
    }
    let mut out = Vec::with_capacity(values.len() / 32 * 34);
    for block in values.chunks_exact(32) {
        let amax = block.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        out.extend_from_slice(&half::f16::from_f32(d).to_le_bytes());
        out.extend(block.iter().map(|&v| (v * id).round() as i8 as u8));
    }
    Ok(out)
}

/// The GGUF bert file of a safetensors BERT (`config_json`, `weights`), with
/// `tokenizer` (the `tokenizer.*` entries are copied) and `pooling`; 2-D
/// tensors in `ty` (F32, F16 or Q8_0).
pub fn bert_gguf_from_safetensors(
    config_json: &str,
    weights: &[u8],
    tokenizer: &Metadata,
    pooling: Pooling,
    ty: GgmlType,
) -> Result<Vec<u8>> {
    let st = SafetensorsFile::parse(weights)?;
    let spec = ModelSpec::from_safetensors(config_json, &st)?;
    let bert = spec.bert.as_ref().ok_or_else(|| NavajaError::invalid("not a BERT checkpoint"))?;
    let u = |v: usize| GgufValue::U32(v as u32);
    let pooling_type = match pooling {
        Pooling::None => 0,
        Pooling::Mean => 1,
        Pooling::Cls => 2,
        Pooling::Last => 3,
    };
    let mut w = GgufWriter::new()
        .meta("general.architecture", GgufValue::String("bert".into()))
        .meta("general.name", GgufValue::String(spec.name.clone().unwrap_or_else(|| "bert".into())))
        .meta("bert.block_count", u(spec.n_layers))
        .meta("bert.context_length", u(bert.max_position_embeddings))
        .meta("bert.embedding_length", u(spec.hidden_size))
        .meta("bert.feed_forward_length", u(spec.ffn_size))
        .meta("bert.attention.head_count", u(spec.n_heads))
        .meta("bert.attention.layer_norm_epsilon", GgufValue::F32(spec.norm_eps))
        .meta("bert.attention.causal", GgufValue::Bool(false))
        .meta("bert.pooling_type", u(pooling_type))
        .meta("tokenizer.ggml.token_type_count", u(bert.type_vocab_size));
    for (key, value) in
        tokenizer.iter().filter(|(k, _)| k.starts_with("tokenizer.") && !k.ends_with("token_type_count"))
    {
        w = w.meta(key, value.clone());
    }
    for t in spec.expected_tensors() {
        let values = st.tensor_f32(weights, st.require_tensor(&t.name)?)?;
        let (tensor_ty, data) = match (t.dims.len(), ty) {
            (1, _) | (_, GgmlType::F32) => (GgmlType::F32, values.iter().flat_map(|v| v.to_le_bytes()).collect()),
            (_, GgmlType::F16) => {
                (GgmlType::F16, values.iter().flat_map(|&v| half::f16::from_f32(v).to_le_bytes()).collect())
            }
            (_, GgmlType::Q8_0) => (GgmlType::Q8_0, quantize_q8_0(&values)?),
            (_, other) => {
                return Err(NavajaError::invalid(format!("the converter writes F32, F16 or Q8_0, not {other}")));
            }
        };
        w = w.tensor(&t.gguf_name, &t.dims, tensor_ty, data);
    }
    Ok(w.build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::dequant::dequantize;

    #[test]
    fn q8_0_round_trips_within_half_a_step() {
        let values: Vec<f32> = (0..64).map(|i| ((i * 37 % 29) as f32 - 14.0) / 7.0).collect();
        let bytes = quantize_q8_0(&values).unwrap();
        assert_eq!(bytes.len(), 2 * 34);
        let mut back = vec![0f32; 64];
        dequantize(GgmlType::Q8_0, &bytes, &mut back).unwrap();
        for (block, back) in values.chunks(32).zip(back.chunks(32)) {
            let step = block.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0;
            for (a, b) in block.iter().zip(back) {
                assert!((a - b).abs() <= 0.51 * step + 1e-3 * step, "{a} vs {b}");
            }
        }
        assert_eq!(quantize_q8_0(&[0.0; 32]).unwrap()[2..], [0u8; 32]);
        assert_eq!(quantize_q8_0(&[1.0; 3]).unwrap_err().code(), "invalid-argument");
    }
}
