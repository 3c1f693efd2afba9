//! Writing a batch's keys and values into the KV cache: f32 or f16 rows
//! (shaders/kv_write.wgsl) into an f32/f16 cache or into the recent ring of
//! a quantized one, and the quantization of whole groups of 32 positions
//! from that ring into the quantized store (shaders/kv_quantize.wgsl): each
//! value is quantized once, and attention then reads the stored words.

use navaja_core::quant::kv::{KV_BLOCK, KV_EXACT_START, KV_GROUP, KvType};
use navaja_core::{NavajaError, Result};

use crate::GpuDevice;
use crate::kernels::{Kernel, KernelVariant};
use crate::ops::attention::CacheLayout;
use crate::ops::matmul::shader;
use crate::ops::support::{check_span, dispatch, submit_scoped, upload_rw};

pub const KV_WRITE: Kernel =
    Kernel { name: "kv_write", wgsl: shader!("kv_slots.wgsl", "kv_write.wgsl"), constants: &[("WG", 64), ("KV", 1)] };

pub const KV_QUANTIZE: Kernel = Kernel {
    name: "kv_quantize",
    wgsl: shader!("kv_slots.wgsl", "kv_quantize.wgsl"),
    constants: &[("WG", 64), ("KV", 3)],
};

/// Mirrors `struct Params` in shaders/kv_write.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n_rows: u32,
    width: u32,
    row_words: u32,
    n_blocks: u32,
    units: u32,
    start_pos: u32,
    sink: u32,
    ring_len: u32,
}

/// Stores rows `0..n_rows` of `k` and `v` (f32, `width` values each, from the
/// start of the buffers) as positions `start_pos..start_pos + n_rows` of f32
/// or f16 stores laid out as `cache` says.
pub struct KvWrite<'a> {
    pub k: &'a wgpu::Buffer,
    pub v: &'a wgpu::Buffer,
    pub k_cache: &'a wgpu::Buffer,
    pub v_cache: &'a wgpu::Buffer,
    pub cache: CacheLayout,
    pub n_rows: u32,
    pub width: u32,
    /// Values per head (the shaders read a head's values 4 at a time).
    pub head_dim: u32,
    pub start_pos: u32,
}

impl KvWrite<'_> {
    pub fn encode(&self, gpu: &GpuDevice, encoder: &mut wgpu::CommandEncoder) -> Result<()> {
        let kind = self.cache.kind;
        kind.check(self.width as usize, self.head_dim as usize)?;
        if kind.is_quantized() {
            return Err(NavajaError::invalid("kv write: quantized caches are written to their f16 ring"));
        }
        if self.n_rows == 0 {
            return Err(NavajaError::invalid("kv write: no rows"));
        }
        if self.cache.ring_len != 0 && self.n_rows > self.cache.ring_len {
            return Err(NavajaError::invalid(format!(
                "kv write: {} rows do not fit in a ring of {} slots",
                self.n_rows, self.cache.ring_len
            )));
        }
        let end = self
            .start_pos
            .checked_add(self.n_rows)
            .ok_or_else(|| NavajaError::invalid("kv write: position overflows"))?;
        let values = u64::from(self.n_rows) * u64::from(self.width);
        check_span("kv write: k", self.k, 0, values)?;
        check_span("kv write: v", self.v, 0, values)?;
        let row_words = kind.row_words(self.width as usize) as u32;
        let cache_words = u64::from(self.cache.slots_needed(end)) * u64::from(row_words);
        check_span("kv write: k_cache", self.k_cache, 0, cache_words)?;
        check_span("kv write: v_cache", self.v_cache, 0, cache_words)?;

        let units = kind.row_words(self.width as usize) as u32;
        let wg = gpu.kernels.workgroup_size(64);
        let invocations =
            self.n_rows.checked_mul(units).ok_or_else(|| NavajaError::invalid("kv write: too many rows"))?;
        let (gx, gy) = gpu.dispatch_grid("kv write", invocations.div_ceil(wg))?;
        let params = Params {
            n_rows: self.n_rows,
            width: self.width,
            row_words,
            n_blocks: self.width / KV_BLOCK as u32,
            units,
            start_pos: self.start_pos,
            sink: self.cache.sink,
            ring_len: self.cache.ring_len,
        };
        let params = gpu.uniform("kv write params", &params);
        let variant = KernelVariant {
            kernel: KV_WRITE,
            entry_point: "main",
            constants: vec![("WG", wg), ("KV", kind.shader_id())],
        };
        dispatch(gpu, encoder, &variant, &[self.k, self.v, self.k_cache, self.v_cache, &params], (gx, gy, 1));
        Ok(())
    }
}

/// Quantizes `n_groups` whole groups of positions from `first_pos` on (a
/// multiple of 32) from the f16 ring of a quantized cache into its store.
pub struct KvQuantize<'a> {
    pub k_ring: &'a wgpu::Buffer,
    pub v_ring: &'a wgpu::Buffer,
    /// Cycling slots of the ring (`quant::kv::ring_slot`; the ring has
    /// `KV_EXACT_START + ring_slots` rows).
    pub ring_slots: u32,
    pub k_cache: &'a wgpu::Buffer,
    pub v_cache: &'a wgpu::Buffer,
    pub cache: CacheLayout,
    pub width: u32,
    pub head_dim: u32,
    pub first_pos: u32,
    pub n_groups: u32,
}

/// Mirrors `struct Params` in shaders/kv_quantize.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct QuantizeParams {
    width: u32,
    row_words: u32,
    n_blocks: u32,
    units: u32,
    first_pos: u32,
    n_groups: u32,
    res_len: u32,
    res_words: u32,
    sink: u32,
    ring_len: u32,
    _pad: [u32; 2],
}

impl KvQuantize<'_> {
    pub fn encode(&self, gpu: &GpuDevice, encoder: &mut wgpu::CommandEncoder) -> Result<()> {
        let kind = self.cache.kind;
        kind.check(self.width as usize, self.head_dim as usize)?;
        let group = KV_GROUP as u32;
        if !kind.is_quantized() {
            return Err(NavajaError::invalid("kv quantize: the cache is not a quantized type"));
        }
        if self.n_groups == 0 || !self.first_pos.is_multiple_of(group) || (self.first_pos as usize) < KV_EXACT_START {
            return Err(NavajaError::invalid(
                "kv quantize: give whole groups of 32 positions after the first group (never quantized)",
            ));
        }
        if !self.cache.sink.is_multiple_of(group) || !self.cache.ring_len.is_multiple_of(group) {
            return Err(NavajaError::invalid("kv quantize: a ring cache needs sink and ring in whole groups"));
        }
        let end = self
            .n_groups
            .checked_mul(group)
            .and_then(|n| n.checked_add(self.first_pos))
            .ok_or_else(|| NavajaError::invalid("kv quantize: position overflows"))?;
        let res_words = self.width.div_ceil(2);
        let ring_words = (u64::from(self.ring_slots) + KV_EXACT_START as u64) * u64::from(res_words);
        check_span("kv quantize: k ring", self.k_ring, 0, ring_words)?;
        check_span("kv quantize: v ring", self.v_ring, 0, ring_words)?;
        let row_words = kind.row_words(self.width as usize) as u32;
        let cache_words = u64::from(self.cache.slots_needed(end)) * u64::from(row_words);
        check_span("kv quantize: k_cache", self.k_cache, 0, cache_words)?;
        check_span("kv quantize: v_cache", self.v_cache, 0, cache_words)?;

        let n_blocks = self.width / KV_BLOCK as u32;
        let units = match kind {
            KvType::Q8 => group * n_blocks.div_ceil(2),
            _ => self.width,
        };
        let wg = gpu.kernels.workgroup_size(64);
        let invocations =
            self.n_groups.checked_mul(units).ok_or_else(|| NavajaError::invalid("kv quantize: too many groups"))?;
        let (gx, gy) = gpu.dispatch_grid("kv quantize", invocations.div_ceil(wg))?;
        let params = QuantizeParams {
            width: self.width,
            row_words,
            n_blocks,
            units,
            first_pos: self.first_pos,
            n_groups: self.n_groups,
            res_len: self.ring_slots,
            res_words,
            sink: self.cache.sink,
            ring_len: self.cache.ring_len,
            _pad: [0; 2],
        };
        let params = gpu.uniform("kv quantize params", &params);
        let variant = KernelVariant {
            kernel: KV_QUANTIZE,
            entry_point: "main",
            constants: vec![("WG", wg), ("KV", kind.shader_id())],
        };
        dispatch(gpu, encoder, &variant, &[self.k_ring, self.v_ring, self.k_cache, self.v_cache, &params], (gx, gy, 1));
        Ok(())
    }
}

/// Reads `words` words of each buffer back as u32.
async fn read_words(gpu: &GpuDevice, buffers: [&wgpu::Buffer; 2], words: usize) -> Result<[Vec<u32>; 2]> {
    let k = gpu.read_f32(buffers[0], words).await?.into_iter().map(f32::to_bits).collect();
    let v = gpu.read_f32(buffers[1], words).await?.into_iter().map(f32::to_bits).collect();
    gpu.check_health()?;
    Ok([k, v])
}

/// Writes `k` and `v` (`n_rows x width` f32 each) as positions
/// `start_pos..` into fresh f32/f16 stores of `slots` slots on the GPU and
/// returns the words they hold: the GPU writer, for tests against the CPU layouts.
#[allow(clippy::too_many_arguments)]
pub async fn kv_write_roundtrip(
    gpu: &GpuDevice,
    k: &[f32],
    v: &[f32],
    width: usize,
    head_dim: usize,
    cache: CacheLayout,
    start_pos: u32,
    slots: u32,
) -> Result<[Vec<u32>; 2]> {
    if width == 0 || k.len() != v.len() || !k.len().is_multiple_of(width) {
        return Err(NavajaError::invalid("kv write: k and v must be whole rows of the same size"));
    }
    let words = slots as usize * cache.kind.row_words(width);
    let (k_cache, v_cache) = submit_scoped(gpu, |encoder| {
        let k_buf = gpu.upload_f32("kv k", k)?;
        let v_buf = gpu.upload_f32("kv v", v)?;
        let zeros = vec![0f32; words.max(1)];
        let k_cache = upload_rw(gpu, "kv k cache", &zeros)?;
        let v_cache = upload_rw(gpu, "kv v cache", &zeros)?;
        KvWrite {
            k: &k_buf,
            v: &v_buf,
            k_cache: &k_cache,
            v_cache: &v_cache,
            cache,
            n_rows: (k.len() / width) as u32,
            width: width as u32,
            head_dim: head_dim as u32,
            start_pos,
        }
        .encode(gpu, encoder)?;
        Ok((k_cache, v_cache))
    })
    .await?;
    read_words(gpu, [&k_cache, &v_cache], words).await
}

/// Quantizes `n_groups` groups from `first_pos` on out of f16 rings (the
/// words `ring_k`, `ring_v` of `ring_slots` rows) into fresh stores of
/// `slots` slots, and returns the words they hold: the GPU quantizer, for
/// tests against the CPU one.
#[allow(clippy::too_many_arguments)]
pub async fn kv_quantize_roundtrip(
    gpu: &GpuDevice,
    ring_k: &[u32],
    ring_v: &[u32],
    ring_slots: u32,
    width: usize,
    head_dim: usize,
    cache: CacheLayout,
    first_pos: u32,
    n_groups: u32,
    slots: u32,
) -> Result<[Vec<u32>; 2]> {
    let words = slots as usize * cache.kind.row_words(width);
    let (k_cache, v_cache) = submit_scoped(gpu, |encoder| {
        let k_ring = gpu.upload_bytes("kv k ring", bytemuck::cast_slice(ring_k))?;
        let v_ring = gpu.upload_bytes("kv v ring", bytemuck::cast_slice(ring_v))?;
        let zeros = vec![0f32; words.max(1)];
        let k_cache = upload_rw(gpu, "kv k cache", &zeros)?;
        let v_cache = upload_rw(gpu, "kv v cache", &zeros)?;
        KvQuantize {
            k_ring: &k_ring,
            v_ring: &v_ring,
            ring_slots,
            k_cache: &k_cache,
            v_cache: &v_cache,
            cache,
            width: width as u32,
            head_dim: head_dim as u32,
            first_pos,
            n_groups,
        }
        .encode(gpu, encoder)?;
        Ok((k_cache, v_cache))
    })
    .await?;
    read_words(gpu, [&k_cache, &v_cache], words).await
}
