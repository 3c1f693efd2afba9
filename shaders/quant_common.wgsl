// Shared by every quantized-weight kernel: the weight binding, the unit a
// decoder returns, and bit-unpacking helpers. Concatenated first, then one
// quant_<type>.wgsl (the decoder), then the kernel body (matvec.wgsl,
// matmul.wgsl, embedding.wgsl).
//
// The weight is a row-major matrix in the GPU block layout of
// navaja_core::quant::gpu_layout: rows of whole u32 words, each row a
// sequence of blocks of BLOCK_WORDS words holding BLOCK_VALUES values.
//
// A decoder splits each block into UNITS_PER_BLOCK units of 16 values: four
// runs of four consecutive columns, chosen so that one unit reads a few
// whole words and the four runs share those words (4-bit types keep element
// j and j + 16 in one byte, so a unit takes both nibbles). Run i of a unit
// holds the values `q[i] * d[i] + m[i]`; `unit_cols(k)` says where the runs
// of unit k start, relative to the block's first column. Kernels never
// need to know a type's bit layout, only these few names:
//
//   const BLOCK_VALUES: u32, BLOCK_WORDS: u32, UNITS_PER_BLOCK: u32
//   const HAS_MIN: bool            (false: every m is 0, kernels skip it)
//   struct Header                  (what all units of a block share: scales)
//   fn block_header(block_word: u32) -> Header
//   fn unit_cols(k: u32) -> vec4<u32>
//   fn unit_values(block_word: u32, k: u32, h: Header) -> Unit
//
// Kernels that walk several units of one block load its header once.
@group(0) @binding(0) var<storage, read> w: array<u32>;

struct Unit {
    // Column i: the 4 integer quants (as f32) of run i.
    q: mat4x4<f32>,
    // Scale and offset of each run.
    d: vec4<f32>,
    m: vec4<f32>,
}

const BYTE_SHIFTS = vec4<u32>(0u, 8u, 16u, 24u);

// The three below unpack with unpack4x8unorm on a masked word (one builtin
// for 4 values) rather than a shift, mask and u32 -> f32 convert per value
// (SwiftShader has no unsigned convert instruction; in the block matvec this
// unpacking alone took a Q4_1 matvec from 1450 to about 760 us there, and
// prefill through this file went from 6.7 to 6.9 tok/s). unorm gives byte / 255 rounded to f32, so the integers come
// back within an ulp, far below the quantization step.

// The low nibbles of the 4 bytes of `word`, as floats.
fn lo_nibbles(word: u32) -> vec4<f32> {
    return unpack4x8unorm(word & 0x0f0f0f0fu) * 255.0;
}

// The high nibbles of the 4 bytes of `word`, as floats.
fn hi_nibbles(word: u32) -> vec4<f32> {
    return unpack4x8unorm(word & 0xf0f0f0f0u) * (255.0 / 16.0);
}

// The 4 bytes of `word` as signed 8-bit integers (sign bits flipped, so
// unorm reads q + 128).
fn i8x4(word: u32) -> vec4<f32> {
    return unpack4x8unorm(word ^ 0x80808080u) * 255.0 - 128.0;
}

// Byte `i` (0..4) of `word`.
fn byte_of(word: u32, i: u32) -> u32 {
    return (word >> (8u * i)) & 0xffu;
}

// The f16 in the low half of `word`.
fn f16_lo(word: u32) -> f32 {
    return unpack2x16float(word).x;
}
