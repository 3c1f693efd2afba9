//! ggml's original 32-element blocks: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0.
//!
//! Each block starts with an f16 scale `d` (and, for the `_1` types, an f16
//! offset `m`). 4- and 5-bit blocks split their 32 elements in two halves:
//! element `j` (0..16) sits in the low nibble of `qs[j]`, element `j + 16` in
//! its high nibble. The 5th bit of element `i` is bit `i` of the
//! little-endian u32 `qh`.
//!
//! Values: `_0` types are symmetric, `d * (q - 2^(bits-1))`; `_1` types are
//! affine, `d * q + m`.

use super::dequant::f16_at;

/// Elements per legacy block.
pub(crate) const QK: usize = 32;

/// `block_q4_0`, 18 bytes: `d: f16 | qs: [u8; 16]`.
pub(crate) fn q4_0(b: &[u8; 18], y: &mut [f32; QK]) {
    let d = f16_at(b, 0);
    let qs = &b[2..18];
    for (j, &q) in qs.iter().enumerate() {
        y[j] = d * (i32::from(q & 0x0f) - 8) as f32;
        y[j + 16] = d * (i32::from(q >> 4) - 8) as f32;
    }
}

/// `block_q4_1`, 20 bytes: `d: f16 | m: f16 | qs: [u8; 16]`.
pub(crate) fn q4_1(b: &[u8; 20], y: &mut [f32; QK]) {
    let d = f16_at(b, 0);
    let m = f16_at(b, 2);
    let qs = &b[4..20];
    for (j, &q) in qs.iter().enumerate() {
        y[j] = d * f32::from(q & 0x0f) + m;
        y[j + 16] = d * f32::from(q >> 4) + m;
    }
}

/// `block_q5_0`, 22 bytes: `d: f16 | qh: u32 (LE) | qs: [u8; 16]`.
pub(crate) fn q5_0(b: &[u8; 22], y: &mut [f32; QK]) {
    let d = f16_at(b, 0);
    let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
    let qs = &b[6..22];
    for (j, &q) in qs.iter().enumerate() {
        let lo = u32::from(q & 0x0f) | (((qh >> j) & 1) << 4);
        let hi = u32::from(q >> 4) | (((qh >> (j + 16)) & 1) << 4);
        y[j] = d * (lo as i32 - 16) as f32;
        y[j + 16] = d * (hi as i32 - 16) as f32;
    }
}

/// `block_q5_1`, 24 bytes: `d: f16 | m: f16 | qh: u32 (LE) | qs: [u8; 16]`.
pub(crate) fn q5_1(b: &[u8; 24], y: &mut [f32; QK]) {
    let d = f16_at(b, 0);
    let m = f16_at(b, 2);
    let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    let qs = &b[8..24];
    for (j, &q) in qs.iter().enumerate() {
        let lo = u32::from(q & 0x0f) | (((qh >> j) & 1) << 4);
        let hi = u32::from(q >> 4) | (((qh >> (j + 16)) & 1) << 4);
        y[j] = d * lo as f32 + m;
        y[j + 16] = d * hi as f32 + m;
    }
}

/// `block_q8_0`, 34 bytes: `d: f16 | qs: [i8; 32]`, element `j` is `d * qs[j]`.
pub(crate) fn q8_0(b: &[u8; 34], y: &mut [f32; QK]) {
    let d = f16_at(b, 0);
    for (out, &q) in y.iter_mut().zip(&b[2..34]) {
        *out = d * f32::from(q as i8);
    }
}

#[cfg(test)]
mod tests {
    //! Hand-built blocks with values worked out by hand, one per type.
    use super::*;

    const HALF: [u8; 2] = [0x00, 0x38]; // f16 0.5
    const TWO: [u8; 2] = [0x00, 0x40]; // f16 2.0
    const MINUS_ONE: [u8; 2] = [0x00, 0xbc]; // f16 -1.0

    /// `qs[j] = j | (15 - j) << 4`: element j has nibble j, element j + 16 has 15 - j.
    fn nibbles() -> [u8; 16] {
        std::array::from_fn(|j| j as u8 | ((15 - j as u8) << 4))
    }

    fn block<const B: usize>(parts: &[&[u8]]) -> [u8; B] {
        let bytes: Vec<u8> = parts.concat();
        bytes.try_into().unwrap()
    }

    #[test]
    fn q8_0_hand_built() {
        // d = 0.5, qs = -16..16
        let qs: Vec<u8> = (-16i8..16).map(|q| q as u8).collect();
        let b: [u8; 34] = block(&[&HALF, &qs]);
        let mut y = [0.0; QK];
        q8_0(&b, &mut y);
        let want: Vec<f32> = (-16..16).map(|q| q as f32 * 0.5).collect();
        assert_eq!(y.to_vec(), want);
    }

    #[test]
    fn q8_0_extremes() {
        let mut qs = [0u8; 32];
        qs[0] = 0x80; // -128
        qs[1] = 0x7f; // 127
        let b: [u8; 34] = block(&[&MINUS_ONE, &qs]);
        let mut y = [0.0; QK];
        q8_0(&b, &mut y);
        assert_eq!((y[0], y[1], y[2]), (128.0, -127.0, -0.0));
    }

    #[test]
    fn q4_0_hand_built() {
        let b: [u8; 18] = block(&[&TWO, &nibbles()]);
        let mut y = [0.0; QK];
        q4_0(&b, &mut y);
        for j in 0..16 {
            assert_eq!(y[j], 2.0 * (j as f32 - 8.0), "element {j}");
            assert_eq!(y[j + 16], 2.0 * (15.0 - j as f32 - 8.0), "element {}", j + 16);
        }
    }

    #[test]
    fn q4_1_hand_built() {
        // d = 0.5, m = -1
        let b: [u8; 20] = block(&[&HALF, &MINUS_ONE, &nibbles()]);
        let mut y = [0.0; QK];
        q4_1(&b, &mut y);
        for j in 0..16 {
            assert_eq!(y[j], 0.5 * j as f32 - 1.0);
            assert_eq!(y[j + 16], 0.5 * (15 - j) as f32 - 1.0);
        }
    }

    #[test]
    fn q5_0_hand_built() {
        // High bit set for elements 0, 17 and 31 only.
        let qh: u32 = (1 << 0) | (1 << 17) | (1 << 31);
        let b: [u8; 22] = block(&[&TWO, &qh.to_le_bytes(), &nibbles()]);
        let mut y = [0.0; QK];
        q5_0(&b, &mut y);
        assert_eq!(y[0], 2.0 * (16.0 + 0.0 - 16.0)); // nibble 0 + 16
        assert_eq!(y[1], 2.0 * (1.0 - 16.0));
        assert_eq!(y[16], 2.0 * (15.0 - 16.0));
        assert_eq!(y[17], 2.0 * (16.0 + 14.0 - 16.0));
        assert_eq!(y[31], 2.0 * (16.0 + 0.0 - 16.0));
        assert_eq!(y[30], 2.0 * (1.0 - 16.0));
    }

    #[test]
    fn q5_1_hand_built() {
        // Every high bit set: element j is 16 + nibble.
        let b: [u8; 24] = block(&[&HALF, &TWO, &u32::MAX.to_le_bytes(), &nibbles()]);
        let mut y = [0.0; QK];
        q5_1(&b, &mut y);
        for j in 0..16 {
            assert_eq!(y[j], 0.5 * (16 + j) as f32 + 2.0);
            assert_eq!(y[j + 16], 0.5 * (31 - j) as f32 + 2.0);
        }
    }
}
