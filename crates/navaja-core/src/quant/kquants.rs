//! ggml's K-quants: 256-element super-blocks (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K).
//!
//! A super-block is split into sub-blocks (16 of 16 elements for Q2_K, Q3_K
//! and Q6_K; 8 of 32 for Q4_K and Q5_K), each with its own small integer
//! scale (and, for Q2_K/Q4_K/Q5_K, a min), which f16 super-block factors
//! `d` (and `dmin`) turn into floats: element = `d * scale * q - dmin * min`.
//!
//! Low-bit quants are packed "across": the 2-bit types (and the 2 high bits
//! of Q6_K) take 32 consecutive bytes and store element group `j` of a
//! 128-element half in bits `2j..2j+2` of each; 4-bit quants take 32 bytes per
//! 64 elements, low nibbles first. Single high bits (Q3_K's `hmask`, Q5_K's
//! `qh`) use 32 bytes, element `32k + l` in bit `k` of byte `l`.

use super::dequant::f16_at;

/// Elements per super-block.
pub(crate) const QK_K: usize = 256;

/// `block_q2_K`, 84 bytes:
/// `scales: [u8; 16] | qs: [u8; 64] | d: f16 | dmin: f16`.
///
/// Sub-block `s` (16 elements) has scale `scales[s] & 15` and min
/// `scales[s] >> 4`. Element `128n + 32j + l` is bits `2j..2j+2` of
/// `qs[32n + l]`.
pub(crate) fn q2_k(b: &[u8; 84], y: &mut [f32; QK_K]) {
    let scales = &b[0..16];
    let qs = &b[16..80];
    let d = f16_at(b, 80);
    let dmin = f16_at(b, 82);
    let dl: [f32; 16] = std::array::from_fn(|s| d * f32::from(scales[s] & 0x0f));
    let ml: [f32; 16] = std::array::from_fn(|s| dmin * f32::from(scales[s] >> 4));
    for (e, out) in y.iter_mut().enumerate() {
        let (n, j, l) = (e / 128, (e % 128) / 32, e % 32);
        let q = (qs[32 * n + l] >> (2 * j)) & 3;
        *out = dl[e / 16] * f32::from(q) - ml[e / 16];
    }
}

/// `block_q3_K`, 110 bytes:
/// `hmask: [u8; 32] | qs: [u8; 64] | scales: [u8; 12] | d: f16`.
///
/// Quants are 3 bits: the low 2 as in Q2_K, the 3rd is bit `4n + j` of
/// `hmask[l]` for element `128n + 32j + l`, and is *subtracted when clear*:
/// `q = low2 - (bit ? 0 : 4)`, so q is in -4..=3.
///
/// The 16 scales are 6 bits, stored as 16 low nibbles (bytes 0..8, low
/// nibbles for scales 0..8, high nibbles for 8..16) and 16 2-bit high parts
/// (bytes 8..12: scale `s` uses bits `2(s/4)..` of byte `8 + s%4`), biased
/// by 32.
pub(crate) fn q3_k(b: &[u8; 110], y: &mut [f32; QK_K]) {
    let hmask = &b[0..32];
    let qs = &b[32..96];
    let sc = &b[96..108];
    let d = f16_at(b, 108);
    let dl: [f32; 16] = std::array::from_fn(|s| {
        let low = (sc[s % 8] >> (4 * (s / 8))) & 0x0f;
        let high = (sc[8 + s % 4] >> (2 * (s / 4))) & 3;
        d * (i32::from(low | (high << 4)) - 32) as f32
    });
    for (e, out) in y.iter_mut().enumerate() {
        let (n, j, l) = (e / 128, (e % 128) / 32, e % 32);
        let low = i32::from((qs[32 * n + l] >> (2 * j)) & 3);
        let high_set = (hmask[l] >> (4 * n + j)) & 1 == 1;
        let q = if high_set { low } else { low - 4 };
        *out = dl[e / 16] * q as f32;
    }
}

/// Scale and min of sub-block `j` (0..8) of Q4_K/Q5_K's 12 packed bytes.
///
/// Eight 6-bit scales and eight 6-bit mins: for `j < 4`, scale `j` is the low
/// 6 bits of byte `j` and min `j` the low 6 bits of byte `j + 4`; for
/// `j >= 4`, the low 4 bits come from byte `j + 4` (scale: low nibble, min:
/// high nibble) and the high 2 bits from the top bits of bytes `j - 4`
/// (scale) and `j` (min).
fn scale_min_k4(packed: &[u8], j: usize) -> (u8, u8) {
    if j < 4 {
        (packed[j] & 63, packed[j + 4] & 63)
    } else {
        let scale = (packed[j + 4] & 0x0f) | ((packed[j - 4] >> 6) << 4);
        let min = (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4);
        (scale, min)
    }
}

/// The 8 (scale, min) float pairs of a Q4_K/Q5_K super-block.
fn sub_block_factors(d: f32, dmin: f32, packed: &[u8]) -> [(f32, f32); 8] {
    std::array::from_fn(|j| {
        let (scale, min) = scale_min_k4(packed, j);
        (d * f32::from(scale), dmin * f32::from(min))
    })
}

/// `block_q4_K`, 144 bytes:
/// `d: f16 | dmin: f16 | scales: [u8; 12] | qs: [u8; 128]`.
///
/// Sub-block `s` (32 elements) is `2c + h`: nibble `h` (0 low, 1 high) of
/// `qs[32c .. 32c + 32]`.
pub(crate) fn q4_k(b: &[u8; 144], y: &mut [f32; QK_K]) {
    let factors = sub_block_factors(f16_at(b, 0), f16_at(b, 2), &b[4..16]);
    let qs = &b[16..144];
    for (e, out) in y.iter_mut().enumerate() {
        let (c, h, l) = (e / 64, (e % 64) / 32, e % 32);
        let q = (qs[32 * c + l] >> (4 * h)) & 0x0f;
        let (dl, ml) = factors[e / 32];
        *out = dl * f32::from(q) - ml;
    }
}

/// `block_q5_K`, 176 bytes:
/// `d: f16 | dmin: f16 | scales: [u8; 12] | qh: [u8; 32] | qs: [u8; 128]`.
///
/// As Q4_K, plus a 5th bit: bit `s` of `qh[l]` for element `32s + l`.
pub(crate) fn q5_k(b: &[u8; 176], y: &mut [f32; QK_K]) {
    let factors = sub_block_factors(f16_at(b, 0), f16_at(b, 2), &b[4..16]);
    let qh = &b[16..48];
    let qs = &b[48..176];
    for (e, out) in y.iter_mut().enumerate() {
        let (s, c, h, l) = (e / 32, e / 64, (e % 64) / 32, e % 32);
        let q = ((qs[32 * c + l] >> (4 * h)) & 0x0f) | (((qh[l] >> s) & 1) << 4);
        let (dl, ml) = factors[s];
        *out = dl * f32::from(q) - ml;
    }
}

/// `block_q6_K`, 210 bytes:
/// `ql: [u8; 128] | qh: [u8; 64] | scales: [i8; 16] | d: f16`.
///
/// Element `128n + 32j + l` (j in 0..4): low 4 bits are nibble `j / 2` of
/// `ql[64n + 32(j % 2) + l]`, high 2 bits are bits `2j..2j+2` of
/// `qh[32n + l]`; the 6-bit value is biased by 32. Sub-block `s` (16
/// elements) has the signed 8-bit scale `scales[s]`.
pub(crate) fn q6_k(b: &[u8; 210], y: &mut [f32; QK_K]) {
    let ql = &b[0..128];
    let qh = &b[128..192];
    let scales = &b[192..208];
    let d = f16_at(b, 208);
    let dl: [f32; 16] = std::array::from_fn(|s| d * f32::from(scales[s] as i8));
    for (e, out) in y.iter_mut().enumerate() {
        let (n, j, l) = (e / 128, (e % 128) / 32, e % 32);
        let low = (ql[64 * n + 32 * (j % 2) + l] >> (4 * (j / 2))) & 0x0f;
        let high = (qh[32 * n + l] >> (2 * j)) & 3;
        let q = i32::from(low | (high << 4)) - 32;
        *out = dl[e / 16] * q as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_min_unpacking() {
        // Scales 0..8 = 1, 2, ..., 8 + 48 (top bits set for j >= 4),
        // mins 0..8 = 60 - j, packed by hand following the layout above.
        let scales: [u8; 8] = [1, 2, 3, 4, 5 + 48, 6 + 48, 7 + 48, 8 + 48];
        let mins: [u8; 8] = std::array::from_fn(|j| 60 - j as u8);
        let mut packed = [0u8; 12];
        for j in 0..4 {
            packed[j] = scales[j] | ((scales[j + 4] >> 4) << 6);
            packed[j + 4] = mins[j] | ((mins[j + 4] >> 4) << 6);
            packed[j + 8] = (scales[j + 4] & 0x0f) | ((mins[j + 4] & 0x0f) << 4);
        }
        for j in 0..8 {
            assert_eq!(scale_min_k4(&packed, j), (scales[j], mins[j]), "sub-block {j}");
        }
    }

    #[test]
    fn q6_k_constant_block() {
        // All quants 63 (ql nibbles 15, qh bits 3) -> q = 31; scale 2, d = 0.5.
        let mut b = [0u8; 210];
        b[0..128].fill(0xff);
        b[128..192].fill(0xff);
        b[192..208].fill(2);
        b[208..210].copy_from_slice(&[0x00, 0x38]);
        let mut y = [0.0; QK_K];
        q6_k(&b, &mut y);
        assert!(y.iter().all(|&v| v == 31.0), "{y:?}");
    }

    #[test]
    fn q3_k_high_bit_clear_subtracts_four() {
        // All-zero quants, hmask clear, all scales 33 (i.e. +1), d = 1:
        // every element is 1 * (0 - 4).
        let mut b = [0u8; 110];
        // low nibbles 1 (33 = 0b10_0001), high 2 bits 0b10 in every slot.
        b[96..104].fill(0x11);
        b[104..108].fill(0b1010_1010);
        b[108..110].copy_from_slice(&[0x00, 0x3c]);
        let mut y = [0.0; QK_K];
        q3_k(&b, &mut y);
        assert!(y.iter().all(|&v| v == -4.0), "{y:?}");
        // Setting every hmask bit removes the -4.
        b[0..32].fill(0xff);
        q3_k(&b, &mut y);
        assert!(y.iter().all(|&v| v == 0.0), "{y:?}");
    }
}
