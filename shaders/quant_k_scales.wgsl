// The 6-bit sub-block scales and mins shared by Q4_K and Q5_K: 12 bytes in
// words s.x, s.y, s.z (bytes 0..4, 4..8, 8..12) of the block. For sub-block
// j < 4, scale = byte j & 63 and min = byte j+4 & 63; for j >= 4, the low 4
// bits come from byte j+4 (scale: low nibble, min: high nibble) and the
// high 2 bits from the top of bytes j-4 (scale) and j (min).
//
// Returns (scale, min) of sub-blocks j and j + 1 (j even) as
// vec4(scale_j, min_j, scale_j1, min_j1).
fn k_scale_min_pair(s: vec3<u32>, j: u32) -> vec4<f32> {
    let shift = vec2<u32>(8u * (j % 4u)) + vec2<u32>(0u, 8u);
    let b0 = (vec2<u32>(s.x) >> shift) & vec2<u32>(0xffu);
    let b1 = (vec2<u32>(s.y) >> shift) & vec2<u32>(0xffu);
    let b2 = (vec2<u32>(s.z) >> shift) & vec2<u32>(0xffu);
    let six = vec2<u32>(63u);
    let sc = select((b2 & vec2<u32>(0xfu)) | ((b0 >> vec2<u32>(6u)) << vec2<u32>(4u)), b0 & six, j < 4u);
    let mn = select((b2 >> vec2<u32>(4u)) | ((b1 >> vec2<u32>(6u)) << vec2<u32>(4u)), b1 & six, j < 4u);
    return vec4<f32>(vec4<u32>(sc.x, mn.x, sc.y, mn.y));
}
