//! Element types of the KV cache and their layouts: the CPU reference of
//! what `shaders/kv_write.wgsl` and `shaders/kv_quantize.wgsl` store and
//! `shaders/attention.wgsl` reads.
//!
//! `f32` and `f16` caches store each position's row (the keys, or the
//! values, of every kv head: `width = n_kv_heads * head_dim` values) when it
//! is written. The quantized types keep the most recent positions in a
//! small f16 ring and quantize them in groups of [`KV_GROUP`] positions once
//! a group is [`KvType::recent`] positions old (the "residual" of KIVI,
//! Liu et al. 2024): the keys a query attends to most stay exact, and the
//! keys can be quantized per channel across the group's positions, which
//! follows the channels' outliers instead of fighting them.
//!
//! The first [`KV_EXACT_START`] positions are never quantized: they stay
//! f16 in fixed slots of the ring (the attention sink).
//!
//! Everything is stored as 32-bit words, so that WGSL reads any type from an
//! `array<u32>`. Per position (row) or per group of 32 positions:
//!
//! | type | layout |
//! |---|---|
//! | `f32` | a row is `width` words of f32 bits |
//! | `f16` | a row is `width / 2` words: value `2i` in the low half of word `i` (`pack2x16float`) |
//! | `q8`  | a row is `nb = width / 32` blocks of 32 int8 (value `i` in byte `i % 4` of word `i / 4`), then one f16 scale per block, two per word: `8 nb + ceil(nb / 2)` words |
//! | `q4` values | a row is `nb` blocks of 32 4-bit codes (value `i` in bits `4 (i % 8)` of word `i / 8`), then per block a word with the f16 scale (low) and minimum (high): `5 nb` words |
//! | `q4` keys | a group of 32 positions is, per channel `c`, 32 codes over the positions (position `t`'s code in word `(t / 8) width + c`, bits `4 (t % 8)`), then per channel one (scale, minimum) word at `4 width + c`: `5 width` words, the size of 32 rows |
//!
//! `q8` is symmetric (`x = d q`, `q` in -127..=127); `q4` is asymmetric
//! (`x = d q + m`, `q` in 0..=15). Both round the scale to f16 first and
//! quantize with the rounded values, so the codes are the best ones for the
//! numbers that are stored. Rounding is to nearest, ties to even, like WGSL's
//! `round`. Quantization reads the f16 values of the ring, so its input is
//! f16-rounded.

use half::f16;

use crate::{NavajaError, Result};

/// Values per quantization block of a row.
pub const KV_BLOCK: usize = 32;

/// Positions per quantization group: the quantized types quantize whole groups.
pub const KV_GROUP: usize = 32;

/// Positions at the start of a sequence that the quantized types never
/// quantize: they stay f16 in fixed slots of the ring of recent positions.
/// Queries put a large share of their attention on the first tokens (the
/// "attention sink"), and one group of them kept exact takes SmolLM2's q4
/// cache from 96.7% to 98.9% top-1 agreement with f32 (docs/KV_CACHE.md).
pub const KV_EXACT_START: usize = KV_GROUP;

/// The ring slot of position `pos` in a ring whose positions from
/// [`KV_EXACT_START`] on cycle through `cycle` slots (the ring has
/// `KV_EXACT_START + cycle` rows).
pub fn ring_slot(pos: usize, cycle: usize) -> usize {
    if pos < KV_EXACT_START { pos } else { KV_EXACT_START + (pos - KV_EXACT_START) % cycle }
}

/// Whether a row holds keys or values (q4 lays them out differently).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvRole {
    Key,
    Value,
}

/// How keys and values are stored in the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KvType {
    #[default]
    F32,
    F16,
    Q8,
    Q4,
}

impl KvType {
    pub const ALL: [KvType; 4] = [KvType::F32, KvType::F16, KvType::Q8, KvType::Q4];

    pub fn name(self) -> &'static str {
        match self {
            KvType::F32 => "f32",
            KvType::F16 => "f16",
            KvType::Q8 => "q8",
            KvType::Q4 => "q4",
        }
    }

    /// Parses `f32`, `f16`, `q8` or `q4` (as the CLI and the JS API spell them).
    pub fn parse(s: &str) -> Result<KvType> {
        KvType::ALL.into_iter().find(|t| t.name() == s).ok_or_else(|| {
            NavajaError::invalid(format!("unknown KV cache type {s:?}: expected one of f32, f16, q8, q4"))
        })
    }

    /// The type a session uses when none is asked for: the best quality per
    /// byte measured (docs/KV_CACHE.md: q8 agrees with an f32 cache on 99.7%
    /// of next tokens at the same perplexity, in 1/3.8 of the memory), or,
    /// for rows q8 cannot store, f16, else f32.
    pub fn preferred(width: usize, head_dim: usize) -> KvType {
        [KvType::Q8, KvType::F16].into_iter().find(|t| t.check(width, head_dim).is_ok()).unwrap_or(KvType::F32)
    }

    /// Whether positions are quantized in groups after a stay in the f16 ring.
    pub fn is_quantized(self) -> bool {
        matches!(self, KvType::Q8 | KvType::Q4)
    }

    /// Positions a quantized type keeps exact (f16) before quantizing them:
    /// a position is quantized once a whole group of [`KV_GROUP`] is at
    /// least this old. Measured on SmolLM2-135M over 1000 tokens (see
    /// docs/KV_CACHE.md): q8 agrees with f32 on 99.5% of next tokens with 32
    /// and 99.7% with 64; q4 gains 0.2 points going from 64 to 128. The cost
    /// is fixed (f16 ring rows), whatever the length of the conversation.
    pub fn recent(self) -> usize {
        match self {
            KvType::F32 | KvType::F16 => 0,
            KvType::Q8 => 64,
            KvType::Q4 => 128,
        }
    }

    /// The number the shaders use for this type (the `KV` constant).
    pub fn shader_id(self) -> u32 {
        match self {
            KvType::F32 => 0,
            KvType::F16 => 1,
            KvType::Q8 => 2,
            KvType::Q4 => 3,
        }
    }

    /// Checks that rows of `width` values with heads of `head_dim` can be
    /// stored as this type: the shaders read 4 values of a head at a time
    /// from one word, and blocks are whole.
    pub fn check(self, width: usize, head_dim: usize) -> Result<()> {
        let ok = match self {
            KvType::F32 => true,
            KvType::F16 => head_dim.is_multiple_of(4),
            KvType::Q8 | KvType::Q4 => head_dim.is_multiple_of(4) && width.is_multiple_of(KV_BLOCK),
        };
        if ok {
            Ok(())
        } else {
            Err(NavajaError::unsupported(format!(
                "a {} KV cache needs head_dim a multiple of 4 and rows a multiple of {KV_BLOCK} values \
                 (this model has head_dim {head_dim}, {width} values per row); use --kv f32",
                self.name()
            )))
        }
    }

    /// 32-bit words of one cache row of `width` values (see [`KvType::check`]).
    pub fn row_words(self, width: usize) -> usize {
        let nb = width / KV_BLOCK;
        match self {
            KvType::F32 => width,
            KvType::F16 => width.div_ceil(2),
            KvType::Q8 => 8 * nb + nb.div_ceil(2),
            KvType::Q4 => 5 * nb,
        }
    }

    /// Bytes of one cache row of `width` values.
    pub fn row_bytes(self, width: usize) -> usize {
        4 * self.row_words(width)
    }
}

impl std::fmt::Display for KvType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Rounds to nearest, ties to even (WGSL `round`).
fn round_even(x: f32) -> f32 {
    x.round_ties_even()
}

fn f16_bits(x: f32) -> u32 {
    u32::from(f16::from_f32(x).to_bits())
}

fn f16_value(bits: u32) -> f32 {
    f16::from_bits((bits & 0xffff) as u16).to_f32()
}

/// The words of one row of `values` stored as `kind` (`values.len()` must satisfy [`KvType::check`]).
pub fn quantize_row(kind: KvType, values: &[f32]) -> Vec<u32> {
    let width = values.len();
    let mut out = vec![0u32; kind.row_words(width)];
    match kind {
        KvType::F32 => {
            for (o, v) in out.iter_mut().zip(values) {
                *o = v.to_bits();
            }
        }
        KvType::F16 => {
            for (i, pair) in values.chunks(2).enumerate() {
                let hi = pair.get(1).map_or(0, |&v| f16_bits(v));
                out[i] = f16_bits(pair[0]) | (hi << 16);
            }
        }
        KvType::Q8 => {
            let nb = width / KV_BLOCK;
            for (b, block) in values.chunks_exact(KV_BLOCK).enumerate() {
                let (d, codes) = q8_block(block);
                for (j, q) in codes.iter().enumerate() {
                    out[b * 8 + j / 4] |= u32::from(*q as u8) << (8 * (j % 4));
                }
                out[8 * nb + b / 2] |= f16_bits(d) << (16 * (b % 2));
            }
        }
        KvType::Q4 => {
            let nb = width / KV_BLOCK;
            for (b, block) in values.chunks_exact(KV_BLOCK).enumerate() {
                let (d, m, codes) = q4_block(block);
                for (j, q) in codes.iter().enumerate() {
                    out[b * 4 + j / 8] |= u32::from(*q) << (4 * (j % 8));
                }
                out[4 * nb + b] = f16_bits(d) | (f16_bits(m) << 16);
            }
        }
    }
    out
}

/// The scale and codes of one q8 block.
fn q8_block(block: &[f32]) -> (f32, [i8; KV_BLOCK]) {
    let amax = block.iter().fold(0f32, |a, v| a.max(v.abs()));
    let d = f16_value(f16_bits(amax / 127.0));
    let id = if d > 0.0 { 1.0 / d } else { 0.0 };
    let mut codes = [0i8; KV_BLOCK];
    for (c, v) in codes.iter_mut().zip(block) {
        *c = round_even(v * id).clamp(-127.0, 127.0) as i8;
    }
    (d, codes)
}

/// The scale, minimum and codes of one q4 block.
fn q4_block(block: &[f32]) -> (f32, f32, [u8; KV_BLOCK]) {
    let (lo, hi) = block.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let m = f16_value(f16_bits(lo));
    let d = f16_value(f16_bits((hi - lo) / 15.0));
    let id = if d > 0.0 { 1.0 / d } else { 0.0 };
    let mut codes = [0u8; KV_BLOCK];
    for (c, v) in codes.iter_mut().zip(block) {
        *c = round_even((v - m) * id).clamp(0.0, 15.0) as u8;
    }
    (d, m, codes)
}

/// The `width` values a row of `kind` words stands for.
pub fn dequantize_row(kind: KvType, words: &[u32], width: usize) -> Vec<f32> {
    let nb = width / KV_BLOCK;
    (0..width)
        .map(|i| match kind {
            KvType::F32 => f32::from_bits(words[i]),
            KvType::F16 => f16_value(words[i / 2] >> (16 * (i % 2))),
            KvType::Q8 => {
                let b = i / KV_BLOCK;
                let q = (words[i / 4] >> (8 * (i % 4))) as u8 as i8;
                f16_value(words[8 * nb + b / 2] >> (16 * (b % 2))) * f32::from(q)
            }
            KvType::Q4 => {
                let b = i / KV_BLOCK;
                let q = (words[i / 8] >> (4 * (i % 8))) & 0xf;
                let dm = words[4 * nb + b];
                f16_value(dm) * q as f32 + f16_value(dm >> 16)
            }
        })
        .collect()
}

/// The values an f16 store (or the quantized types' ring) holds for `values`.
pub fn f16_round(values: &[f32]) -> Vec<f32> {
    values.iter().map(|&v| f16::from_f32(v).to_f32()).collect()
}

/// Words of q4 keys for one group of [`KV_GROUP`] rows (`rows`: `KV_GROUP x width`), per channel.
fn quantize_q4_key_group(rows: &[f32], width: usize) -> Vec<u32> {
    let mut out = vec![0u32; 5 * width];
    let mut column = [0f32; KV_GROUP];
    for c in 0..width {
        for (t, x) in column.iter_mut().enumerate() {
            *x = rows[t * width + c];
        }
        let (d, m, codes) = q4_block(&column);
        for (t, q) in codes.iter().enumerate() {
            out[(t / 8) * width + c] |= u32::from(*q) << (4 * (t % 8));
        }
        out[4 * width + c] = f16_bits(d) | (f16_bits(m) << 16);
    }
    out
}

fn dequantize_q4_key_group(words: &[u32], width: usize) -> Vec<f32> {
    let mut out = vec![0f32; KV_GROUP * width];
    for c in 0..width {
        let dm = words[4 * width + c];
        let (d, m) = (f16_value(dm), f16_value(dm >> 16));
        for t in 0..KV_GROUP {
            let q = (words[(t / 8) * width + c] >> (4 * (t % 8))) & 0xf;
            out[t * width + c] = d * q as f32 + m;
        }
    }
    out
}

/// The words that store `values` (rows of `width`) as `kind` holds them in
/// its main store: row by row for f32, f16, q8 and q4 values; group by group
/// for q4 keys (`values` then whole groups of [`KV_GROUP`] rows).
pub fn store_rows(kind: KvType, role: KvRole, values: &[f32], width: usize) -> Vec<u32> {
    if kind == KvType::Q4 && role == KvRole::Key {
        return values.chunks_exact(KV_GROUP * width).flat_map(|g| quantize_q4_key_group(g, width)).collect();
    }
    values.chunks_exact(width).flat_map(|row| quantize_row(kind, row)).collect()
}

/// The values the words of [`store_rows`] stand for.
pub fn load_rows(kind: KvType, role: KvRole, words: &[u32], width: usize) -> Vec<f32> {
    if kind == KvType::Q4 && role == KvRole::Key {
        return words.chunks_exact(5 * width).flat_map(|g| dequantize_q4_key_group(g, width)).collect();
    }
    words.chunks_exact(kind.row_words(width)).flat_map(|row| dequantize_row(kind, row, width)).collect()
}

/// What attention sees of `values` stored as `kind`: exact for f32, f16 for
/// f16, and for the quantized types f16 then quantized (whole groups).
pub fn stored_values(kind: KvType, role: KvRole, values: &[f32], width: usize) -> Vec<f32> {
    match kind {
        KvType::F32 => values.to_vec(),
        KvType::F16 => f16_round(values),
        _ => load_rows(kind, role, &store_rows(kind, role, &f16_round(values), width), width),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(n: usize, f: impl Fn(usize) -> f32) -> Vec<f32> {
        (0..n).map(f).collect()
    }

    #[test]
    fn row_sizes() {
        assert_eq!(KvType::F32.row_bytes(192), 768);
        assert_eq!(KvType::F16.row_bytes(192), 384);
        assert_eq!(KvType::Q8.row_bytes(192), 4 * (48 + 3));
        assert_eq!(KvType::Q4.row_bytes(192), 4 * 30);
        // q4 must be at most 1/6 of f32.
        assert!(KvType::Q4.row_bytes(192) * 6 <= KvType::F32.row_bytes(192));
        assert!(KvType::Q8.check(192, 64).is_ok());
        assert!(KvType::Q8.check(80, 40).is_err());
        assert!(KvType::F32.check(120, 40).is_ok());
        assert_eq!(KvType::parse("q4").unwrap(), KvType::Q4);
        assert!(KvType::parse("q3").is_err());
    }

    #[test]
    fn round_trip_errors_are_within_half_a_step() {
        let values = ramp(96, |i| ((i * 37 % 101) as f32 - 50.0) * 0.013 + if i == 5 { 3.0 } else { 0.0 });
        for kind in KvType::ALL {
            let back = dequantize_row(kind, &quantize_row(kind, &values), values.len());
            for (b, block) in values.chunks(KV_BLOCK).enumerate() {
                let (lo, hi) = block.iter().fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
                let amax = lo.abs().max(hi.abs());
                let step = match kind {
                    KvType::F32 => 0.0,
                    KvType::F16 => amax / 1024.0,
                    KvType::Q8 => amax / 127.0,
                    KvType::Q4 => (hi - lo) / 15.0,
                };
                for (j, v) in block.iter().enumerate() {
                    let got = back[b * KV_BLOCK + j];
                    assert!((got - v).abs() <= 0.52 * step + 1e-6, "{kind:?} {v} -> {got}");
                }
            }
        }
    }

    #[test]
    fn q4_keys_are_quantized_per_channel() {
        // Channel 1 is large and constant, channel 0 varies: per channel, both are kept well.
        let width = 32;
        let rows: Vec<f32> = (0..KV_GROUP * width)
            .map(|i| match i % width {
                0 => (i / width) as f32 * 0.01,
                1 => 40.0,
                _ => 0.0,
            })
            .collect();
        let back = load_rows(KvType::Q4, KvRole::Key, &store_rows(KvType::Q4, KvRole::Key, &rows, width), width);
        for (i, (a, b)) in rows.iter().zip(&back).enumerate() {
            assert!((a - b).abs() <= 0.011, "value {i}: {a} -> {b}");
        }
        assert_eq!(store_rows(KvType::Q4, KvRole::Key, &rows, width).len(), KV_GROUP * KvType::Q4.row_words(width));
    }

    #[test]
    fn constant_and_zero_blocks_are_exact() {
        for kind in [KvType::Q8, KvType::Q4] {
            let zeros = vec![0.0; 64];
            assert_eq!(dequantize_row(kind, &quantize_row(kind, &zeros), 64), zeros);
        }
        let ones = vec![0.5; 32];
        assert_eq!(dequantize_row(KvType::Q4, &quantize_row(KvType::Q4, &ones), 32), ones);
    }
}
