//! Embedding lookup: the reference for the GPU gather kernel.
//!
//! The table has `rows` entries (the vocabulary) of `cols` values each,
//! stored as a ggml-typed matrix like any weight. Token `t` gets row
//! `ids[t]`, dequantized and multiplied by `scale` (1.0 for most models;
//! Gemma multiplies by `sqrt(cols)`).

use crate::quant::GgmlType;
use crate::quant::dequant::dequantize;
use crate::{NavajaError, Result};

/// Checks an embedding lookup: a non-empty table and every id a row of it.
/// Shared by the CPU reference and the GPU op.
pub fn check_embedding_ids(rows: usize, cols: usize, ids: &[u32]) -> Result<()> {
    if rows == 0 || cols == 0 {
        return Err(NavajaError::invalid(format!("embedding: the table is {rows}x{cols}; both must be > 0")));
    }
    if let Some((t, &id)) = ids.iter().enumerate().find(|(_, id)| **id as usize >= rows) {
        return Err(NavajaError::invalid(format!(
            "embedding: token {t} has id {id}, but the table has only {rows} rows"
        )));
    }
    Ok(())
}

/// The rows `ids` of the table, dequantized and times `scale`, one after
/// the other (`ids.len() * cols` values).
///
/// Errors: an id `>= rows`, an empty table, or table bytes that are not
/// `rows` rows of `cols` values are `invalid-argument`; a type navaja cannot
/// dequantize is `unsupported-model`.
pub fn embedding_ref(
    ty: GgmlType,
    table_bytes: &[u8],
    rows: usize,
    cols: usize,
    ids: &[u32],
    scale: f32,
) -> Result<Vec<f32>> {
    check_embedding_ids(rows, cols, ids)?;
    let row_bytes = ty.bytes_for(cols as u64).and_then(|b| usize::try_from(b).ok()).ok_or_else(|| {
        NavajaError::invalid(format!("embedding: {cols} values are not a whole number of {ty} blocks"))
    })?;
    if row_bytes.checked_mul(rows) != Some(table_bytes.len()) {
        return Err(NavajaError::invalid(format!(
            "embedding: a {rows}x{cols} {ty} table takes {rows} * {row_bytes} bytes, but {} bytes were given",
            table_bytes.len()
        )));
    }
    let mut out = vec![0.0f32; ids.len() * cols];
    for (&id, y) in ids.iter().zip(out.chunks_exact_mut(cols)) {
        let at = id as usize * row_bytes;
        dequantize(ty, &table_bytes[at..at + row_bytes], y)?;
        y.iter_mut().for_each(|v| *v *= scale);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_and_scales_rows() {
        let table: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0].iter().flat_map(|f| f.to_le_bytes()).collect();
        let y = embedding_ref(GgmlType::F32, &table, 3, 2, &[2, 0, 2], 0.5).unwrap();
        assert_eq!(y, vec![2.5, 3.0, 0.5, 1.0, 2.5, 3.0]);
        assert!(embedding_ref(GgmlType::F32, &table, 3, 2, &[], 1.0).unwrap().is_empty());
    }

    #[test]
    fn errors() {
        let table = vec![0u8; 3 * 34];
        let err = embedding_ref(GgmlType::Q8_0, &table, 3, 32, &[0, 3], 1.0).unwrap_err();
        assert_eq!(err.code(), "invalid-argument", "{err}");
        assert!(err.to_string().contains("token 1 has id 3"), "{err}");
        let err = embedding_ref(GgmlType::Q8_0, &table[1..], 3, 32, &[0], 1.0).unwrap_err();
        assert_eq!(err.code(), "invalid-argument", "{err}");
        let err = embedding_ref(GgmlType::Q8_0, &table, 3, 33, &[0], 1.0).unwrap_err();
        assert_eq!(err.code(), "invalid-argument", "{err}");
        let err = embedding_ref(GgmlType::IQ2_XXS, &[0; 66], 1, 256, &[0], 1.0).unwrap_err();
        assert_eq!(err.code(), "unsupported-model", "{err}");
    }
}
