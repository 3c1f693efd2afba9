//! Bidirectional attention over packed sequences (shaders/encoder_attention.wgsl),
//! the self-attention of BERT-family encoders, with optional ALiBi.
//!
//! A batch of texts is packed row after row with no padding; each query
//! sees exactly the keys of its own sequence. This is a kernel of its own
//! rather than the decoder's flash attention (ops::attention) because that
//! one reads keys from the start of a KV cache: a batch would need one call
//! and two K/V copies per sequence and layer (64 texts x 6 layers = 384
//! dispatches and 768 copies), and it has no ALiBi. Here one dispatch per
//! layer covers the whole batch: a work item is a tile of query rows of one
//! sequence for one head, each invocation owning one query row.

use navaja_core::ops::encoder_attention::check_encoder_attention;
use navaja_core::{NavajaError, Result};
use wgpu::util::DeviceExt;

use crate::GpuDevice;
use crate::kernels::{Kernel, KernelVariant};
use crate::ops::matmul::prefix_binding;
use crate::ops::support::{dispatch_bound, submit_scoped};

pub const ENCODER_ATTENTION: Kernel = Kernel {
    name: "encoder_attention",
    wgsl: include_str!("../../../../shaders/encoder_attention.wgsl"),
    constants: &[("WG", 32), ("D", 64), ("BC", 32)],
};

/// Mirrors `struct Params` in shaders/encoder_attention.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n_heads: u32,
    width4: u32,
    n_items: u32,
    alibi: u32,
    scale: f32,
    max_len: u32,
    _pad: [u32; 2],
}

/// Keys per tile of workgroup memory: 8 KiB of K (or V) for head sizes up to 64.
fn keys_per_tile(head_dim: u32) -> u32 {
    (2048 / head_dim).clamp(1, 32)
}

/// Query rows per workgroup for sequences of at most `longest` tokens: the
/// power of two covering them, within 16..=64 (fewer idle rows for short
/// texts), and never more than the adapter's workgroup cap (32 on
/// SwiftShader natively; see [`crate::device::workgroup_cap`]), which
/// [`EncoderAttention::encode`] enforces.
pub fn rows_per_tile(gpu: &GpuDevice, longest: usize) -> u32 {
    let wanted = (longest.min(64) as u32).next_power_of_two().clamp(16, 64);
    wanted.min(gpu.kernels.workgroup_size(64))
}

/// The work tiles of packed sequences of `lens`, `rows` queries each:
/// `(first row of the sequence, its length, first query, 0)` per tile.
pub fn tile_table(lens: &[usize], rows: u32) -> Result<Vec<u32>> {
    let rows = rows.max(1) as usize;
    let mut table = Vec::new();
    let mut first = 0usize;
    for &len in lens {
        for q0 in (0..len).step_by(rows) {
            let v = [first, len, q0].map(u32::try_from);
            let [Ok(a), Ok(b), Ok(c)] = v else {
                return Err(NavajaError::invalid("encoder attention: more than 2^32 rows"));
            };
            table.extend([a, b, c, 0]);
        }
        first += len;
    }
    Ok(table)
}

/// Attention of packed sequences; q, k, v and out are `rows` rows of
/// `n_heads * head_dim` f32 from the start of their buffers.
pub struct EncoderAttention<'a> {
    pub q: &'a wgpu::Buffer,
    pub k: &'a wgpu::Buffer,
    pub v: &'a wgpu::Buffer,
    /// Must not be q, k or v.
    pub out: &'a wgpu::Buffer,
    /// `n_tiles` entries of [`tile_table`] made with `rows_per_tile`.
    pub tiles: &'a wgpu::Buffer,
    pub n_tiles: u32,
    pub rows_per_tile: u32,
    /// The longest sequence of the table.
    pub max_len: u32,
    pub rows: u32,
    pub n_heads: u32,
    pub head_dim: u32,
    pub scale: f32,
    /// One ALiBi slope per head (f32), or `None`.
    pub slopes: Option<&'a wgpu::Buffer>,
}

impl EncoderAttention<'_> {
    /// Records the op into `encoder`; nothing runs until the encoder is submitted.
    pub fn encode(&self, gpu: &GpuDevice, encoder: &mut wgpu::CommandEncoder) -> Result<()> {
        let d = self.head_dim;
        if d == 0 || !d.is_multiple_of(4) || d > 256 {
            return Err(NavajaError::unsupported(format!(
                "encoder attention: head_dim {d} (it must be a multiple of 4, at most 256)"
            )));
        }
        if self.n_heads == 0 || self.rows == 0 || self.n_tiles == 0 || self.max_len > self.rows {
            return Err(NavajaError::invalid("encoder attention: no heads, rows or tiles, or sequences past the rows"));
        }
        if !self.rows_per_tile.is_power_of_two() || self.rows_per_tile > gpu.kernels.workgroup_size(256) {
            return Err(NavajaError::invalid(format!("encoder attention: {} rows per tile", self.rows_per_tile)));
        }
        if [self.q, self.k, self.v].contains(&self.out) {
            return Err(NavajaError::invalid("encoder attention: out must not be q, k or v"));
        }
        let width = u64::from(self.n_heads) * u64::from(d);
        let bytes = u64::from(self.rows) * width * 4;
        for (what, b) in [("q", self.q), ("k", self.k), ("v", self.v), ("out", self.out)] {
            if b.size() < bytes {
                return Err(NavajaError::invalid(format!(
                    "encoder attention: {what} needs {bytes} bytes, has {}",
                    b.size()
                )));
            }
        }
        gpu.check_binding_size("encoder attention q", bytes)?;
        let tile_bytes = u64::from(self.n_tiles) * 16;
        if self.tiles.size() < tile_bytes {
            return Err(NavajaError::invalid("encoder attention: the tile table is too small"));
        }
        if let Some(s) = self.slopes.filter(|s| s.size() < u64::from(self.n_heads) * 4) {
            return Err(NavajaError::invalid(format!("encoder attention: {} bytes of slopes", s.size())));
        }
        let items = self.n_tiles.checked_mul(self.n_heads).ok_or_else(|| NavajaError::invalid("too many tiles"))?;
        let (gx, gy) = gpu.dispatch_grid("encoder attention tiles", items)?;
        let bc = keys_per_tile(d);
        let variant = KernelVariant {
            kernel: ENCODER_ATTENTION,
            entry_point: "main",
            constants: vec![("WG", self.rows_per_tile), ("D", d), ("BC", bc)],
        };
        let params = Params {
            n_heads: self.n_heads,
            width4: (width / 4) as u32,
            n_items: items,
            alibi: u32::from(self.slopes.is_some()),
            scale: self.scale,
            max_len: self.max_len,
            _pad: [0; 2],
        };
        let params = gpu.uniform("encoder attention params", &params);
        // Without ALiBi the kernel never reads the slopes; any read-only buffer will do.
        let slopes = match self.slopes {
            Some(s) => prefix_binding(s, u64::from(self.n_heads) * 4),
            None => prefix_binding(self.tiles, tile_bytes),
        };
        dispatch_bound(
            gpu,
            encoder,
            &variant,
            &[
                prefix_binding(self.q, bytes),
                prefix_binding(self.k, bytes),
                prefix_binding(self.v, bytes),
                prefix_binding(self.out, bytes),
                prefix_binding(self.tiles, tile_bytes),
                slopes,
                params.as_entire_binding(),
            ],
            (gx, gy, 1),
        );
        Ok(())
    }
}

/// Uploads q, k and v (packed sequences of `lens`), runs the attention on the
/// GPU and reads the output back. `rows_per_tile` overrides the default tile.
#[allow(clippy::too_many_arguments)] // mirrors the CPU reference's arguments
pub async fn encoder_attention(
    gpu: &GpuDevice,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    lens: &[usize],
    n_heads: usize,
    head_dim: usize,
    scale: f32,
    slopes: Option<&[f32]>,
    rows_per_tile_override: Option<u32>,
) -> Result<Vec<f32>> {
    let rows = check_encoder_attention(q.len(), lens, n_heads, head_dim, scale, slopes)?;
    if k.len() != q.len() || v.len() != q.len() {
        return Err(NavajaError::invalid("encoder attention: q, k and v differ in length"));
    }
    let to_u32 = |x: usize| u32::try_from(x).map_err(|_| NavajaError::invalid("encoder attention: size past 2^32"));
    let tile_rows =
        rows_per_tile_override.unwrap_or_else(|| rows_per_tile(gpu, lens.iter().copied().max().unwrap_or(1)));
    let table = tile_table(lens, tile_rows)?;
    let out = submit_scoped(gpu, |encoder| {
        let init = |label: &str, contents: &[u8]| {
            gpu.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents,
                usage: wgpu::BufferUsages::STORAGE,
            })
        };
        let (qb, kb, vb) = (gpu.upload_f32("attn q", q)?, gpu.upload_f32("attn k", k)?, gpu.upload_f32("attn v", v)?);
        let tiles = init("attn tiles", bytemuck::cast_slice(&table));
        let slope_buf = slopes.map(|s| init("attn slopes", bytemuck::cast_slice(s)));
        let out = gpu.output_f32("attn out", q.len())?;
        EncoderAttention {
            q: &qb,
            k: &kb,
            v: &vb,
            out: &out,
            tiles: &tiles,
            n_tiles: to_u32(table.len() / 4)?,
            rows_per_tile: tile_rows,
            max_len: to_u32(lens.iter().copied().max().unwrap_or(0))?,
            rows: to_u32(rows)?,
            n_heads: to_u32(n_heads)?,
            head_dim: to_u32(head_dim)?,
            scale,
            slopes: slope_buf.as_ref(),
        }
        .encode(gpu, encoder)?;
        Ok(out)
    })
    .await?;
    let values = gpu.read_f32(&out, q.len()).await?;
    gpu.check_health()?;
    Ok(values)
}
