//! Writing a batch's keys and values into the KV cache (shaders/kv_write.wgsl),
//! converted to the cache's element type: this is where a quantized cache
//! quantizes, once per value; attention then reads the stored words.

use navaja_core::quant::kv::{KV_BLOCK, KvType, dequantize_rows};
use navaja_core::{NavajaError, Result};

use crate::GpuDevice;
use crate::kernels::{Kernel, KernelVariant};
use crate::ops::attention::CacheLayout;
use crate::ops::support::{check_span, dispatch, submit_scoped, upload_rw};

pub const KV_WRITE: Kernel = Kernel {
    name: "kv_write",
    wgsl: include_str!("../../../../shaders/kv_write.wgsl"),
    constants: &[("WG", 64), ("KV", 2)],
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
/// start of the buffers) as positions `start_pos..start_pos + n_rows` of
/// caches laid out as `cache` says.
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

/// The unit one invocation writes, in values: the smallest run of a row that owns whole words.
fn units_per_row(kind: KvType, width: u32) -> u32 {
    let blocks = width / KV_BLOCK as u32;
    match kind {
        KvType::F32 => width,
        KvType::F16 => width.div_ceil(2),
        KvType::Q8 => blocks.div_ceil(2),
        KvType::Q4 => blocks,
    }
}

impl KvWrite<'_> {
    pub fn encode(&self, gpu: &GpuDevice, encoder: &mut wgpu::CommandEncoder) -> Result<()> {
        let kind = self.cache.kind;
        kind.check(self.width as usize, self.head_dim as usize)?;
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

        let units = units_per_row(kind, self.width);
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

/// Writes `k` and `v` (`n_rows x width` f32 each) into fresh caches of
/// `slots` slots on the GPU and reads back what the caches hold, dequantized
/// on the CPU: the GPU quantizer, for tests against the CPU one.
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
) -> Result<(Vec<u32>, Vec<u32>, Vec<f32>, Vec<f32>)> {
    if width == 0 || k.len() != v.len() || !k.len().is_multiple_of(width) {
        return Err(NavajaError::invalid("kv write: k and v must be whole rows of the same size"));
    }
    let row_words = cache.kind.row_words(width);
    let words = slots as usize * row_words;
    let (k_cache, v_cache) = submit_scoped(gpu, |encoder| {
        let k_buf = gpu.upload_f32("kv k", k)?;
        let v_buf = gpu.upload_f32("kv v", v)?;
        let zeros = vec![0f32; words];
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
    let read = |b| gpu.read_f32(b, words);
    let k_words: Vec<u32> = read(&k_cache).await?.into_iter().map(f32::to_bits).collect();
    let v_words: Vec<u32> = read(&v_cache).await?.into_iter().map(f32::to_bits).collect();
    gpu.check_health()?;
    let k_values = dequantize_rows(cache.kind, &k_words, width);
    let v_values = dequantize_rows(cache.kind, &v_words, width);
    Ok((k_words, v_words, k_values, v_values))
}
