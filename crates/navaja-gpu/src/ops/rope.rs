//! RoPE on the GPU, in place, one invocation per rotated pair.
//!
//! The host computes each frequency in f64 as turns per position (so the
//! shader never evaluates `pow`) and hands it over as two f32 (hi + lo); the
//! shader keeps the angle exact to ~1e-9 turns at any position below 2^24
//! (see shaders/rope.wgsl).

use navaja_core::model::RopeOrdering;
use navaja_core::ops::rope::{check_rope, rope_frequency};
use navaja_core::{NavajaError, Result};

use crate::GpuDevice;
use crate::kernels::{Kernel, KernelVariant};
use crate::ops::support::{check_span, dispatch, submit_scoped, upload_rw};

/// RoPE in place, one invocation per pair.
pub const ROPE: Kernel =
    Kernel { name: "rope", wgsl: include_str!("../../../../shaders/rope.wgsl"), constants: &[("WG", 256)] };

/// Mirrors `struct Params` in shaders/rope.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    pairs: u32,
    half: u32,
    n_heads: u32,
    head_dim: u32,
    start_pos: u32,
    neox: u32,
    has_factors: u32,
    x_offset: u32,
}

/// Rotates `x` ([n_tokens, n_heads * head_dim] f32 at `x_offset`) in place;
/// token `t` is at position `start_pos + t`.
pub struct Rope<'a> {
    pub x: &'a wgpu::Buffer,
    pub x_offset: u32,
    pub n_tokens: u32,
    pub n_heads: u32,
    pub head_dim: u32,
    pub rot_dims: u32,
    pub start_pos: u32,
    pub ordering: RopeOrdering,
    pub freq_base: f32,
    pub freq_scale: f32,
    /// f32[rot_dims / 2]: each angle theta_i is divided by it (Llama 3.1 `rope_freqs`).
    pub freq_factors: Option<&'a wgpu::Buffer>,
}

impl Rope<'_> {
    /// Records the op into `encoder`; nothing runs until the encoder is submitted.
    pub fn encode(&self, gpu: &GpuDevice, encoder: &mut wgpu::CommandEncoder) -> Result<()> {
        check_rope(
            self.n_tokens as usize,
            self.n_heads as usize,
            self.head_dim as usize,
            self.rot_dims as usize,
            self.start_pos as usize,
            self.freq_base,
            self.freq_scale,
        )?;
        let half = self.rot_dims / 2;
        let values = u64::from(self.n_tokens) * u64::from(self.n_heads) * u64::from(self.head_dim);
        check_span("rope: x", self.x, self.x_offset, values)?;
        if let Some(f) = self.freq_factors {
            check_span("rope: freq_factors", f, 0, u64::from(half))?;
        }
        let pairs = u32::try_from(u64::from(self.n_tokens) * u64::from(self.n_heads) * u64::from(half))
            .map_err(|_| NavajaError::invalid("rope: more than 2^32 pairs"))?;

        // Turns per position of each frequency, as hi + lo f32.
        let table: Vec<[f32; 2]> = (0..half as usize)
            .map(|i| {
                let turns =
                    rope_frequency(i, self.rot_dims as usize, self.freq_base, self.freq_scale) / std::f64::consts::TAU;
                let hi = turns as f32;
                [hi, (turns - f64::from(hi)) as f32]
            })
            .collect();
        let table = gpu.constant_buffer("rope frequencies", wgpu::BufferUsages::STORAGE, bytemuck::cast_slice(&table));

        let wg = gpu.kernels.workgroup_size(256);
        let (gx, gy) = gpu.dispatch_grid("rope pairs", pairs.div_ceil(wg))?;
        let variant = KernelVariant { kernel: ROPE, entry_point: "main", constants: vec![("WG", wg)] };
        let params = Params {
            pairs,
            half,
            n_heads: self.n_heads,
            head_dim: self.head_dim,
            start_pos: self.start_pos,
            neox: u32::from(self.ordering == RopeOrdering::Neox),
            has_factors: u32::from(self.freq_factors.is_some()),
            x_offset: self.x_offset,
        };
        let params = gpu.uniform("rope params", &params);
        // Without factors the table stands in for the unused binding (both are read-only).
        let factors = self.freq_factors.unwrap_or(&table);
        dispatch(gpu, encoder, &variant, &[self.x, &table, factors, &params], (gx, gy, 1));
        Ok(())
    }
}

/// Uploads `x`, rotates it on the GPU and reads it back; the arguments are
/// those of [`navaja_core::ops::rope::rope_ref`].
#[allow(clippy::too_many_arguments)]
pub async fn rope(
    gpu: &GpuDevice,
    x: &[f32],
    n_tokens: u32,
    n_heads: u32,
    head_dim: u32,
    rot_dims: u32,
    start_pos: u32,
    ordering: RopeOrdering,
    freq_base: f32,
    freq_scale: f32,
    freq_factors: Option<&[f32]>,
) -> Result<Vec<f32>> {
    check_rope(
        n_tokens as usize,
        n_heads as usize,
        head_dim as usize,
        rot_dims as usize,
        start_pos as usize,
        freq_base,
        freq_scale,
    )?;
    if x.len() as u64 != u64::from(n_tokens) * u64::from(n_heads) * u64::from(head_dim) {
        return Err(NavajaError::invalid(format!(
            "rope: x has {} values, expected {n_tokens} x {n_heads} x {head_dim}",
            x.len()
        )));
    }
    if let Some(f) = freq_factors
        && f.len() != (rot_dims / 2) as usize
    {
        return Err(NavajaError::invalid(format!("rope: {} freq factors, expected {}", f.len(), rot_dims / 2)));
    }
    let x_buf = submit_scoped(gpu, |encoder| {
        let x_buf = upload_rw(gpu, "rope x", x)?;
        let factors = freq_factors.map(|f| gpu.upload_f32("rope freq factors", f)).transpose()?;
        Rope {
            x: &x_buf,
            x_offset: 0,
            n_tokens,
            n_heads,
            head_dim,
            rot_dims,
            start_pos,
            ordering,
            freq_base,
            freq_scale,
            freq_factors: factors.as_ref(),
        }
        .encode(gpu, encoder)?;
        Ok(x_buf)
    })
    .await?;
    let out = gpu.read_f32(&x_buf, x.len()).await?;
    gpu.check_health()?;
    Ok(out)
}
