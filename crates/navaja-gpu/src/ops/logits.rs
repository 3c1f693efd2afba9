//! The logits of one row before sampling, on the GPU: penalties and biases
//! ([`LogitAdjust`]), then the best `k` candidates with the row's max and
//! log-sum-exp ([`TopK`]), so only `2k + 2` words travel back to the host.
//!
//! Top-1 (greedy decoding, every step) is a two-pass parallel reduction
//! (shaders/top_k_argmax.wgsl). Larger `k` over more than 1024 logits is a
//! radix select (shaders/top_k_{hist,select,gather,final}.wgsl): histograms
//! of the logits' top bits find a threshold with at least `k` and at most
//! [`RADIX_CAP`] logits above it, and only those are gathered and sorted.
//! Sorting every chunk of 1024 logits in workgroup memory and merging the
//! sorted runs (shaders/top_k_sort.wgsl) is far slower on CPU adapters,
//! which are slow at workgroup memory and barriers; it remains as the small
//! case and the exact fallback for rows whose ties defeat the threshold
//! (thousands of logits equal to the k-th), decided on the GPU: its passes
//! are always recorded and return at once when the radix path succeeded.
//! The conventions (NaN as -inf, ties by smaller id, the log-sum-exp) are
//! those of [`navaja_core::ops::logits`].

use navaja_core::ops::logits::{TopKResult, check_top_k, inverse_temperature};
use navaja_core::{NavajaError, Result};
use wgpu::util::DeviceExt;

use crate::GpuDevice;
use crate::kernels::{Kernel, KernelVariant};
use crate::ops::support::{check_span, dispatch, submit_scoped, upload_rw};

/// The largest `k` [`TopK`] supports.
pub const MAX_TOP_K: u32 = navaja_core::ops::logits::MAX_TOP_K as u32;

/// Applies penalties and biases in place.
pub const LOGIT_ADJUST: Kernel = Kernel {
    name: "logit_adjust",
    wgsl: include_str!("../../../../shaders/logit_adjust.wgsl"),
    constants: &[("WG", 64)],
};

/// Top-1 by parallel reduction.
pub const TOP_K_ARGMAX: Kernel = Kernel {
    name: "top_k_argmax",
    wgsl: concat!(
        include_str!("../../../../shaders/top_k_common.wgsl"),
        include_str!("../../../../shaders/top_k_argmax.wgsl")
    ),
    constants: &[("WG", 256), ("CHUNK", ARGMAX_CHUNK)],
};

/// Top-k (k >= 2) by sorting chunks and merging sorted runs.
pub const TOP_K_SORT: Kernel = Kernel {
    name: "top_k_sort",
    wgsl: concat!(
        include_str!("../../../../shaders/top_k_common.wgsl"),
        include_str!("../../../../shaders/top_k_sort.wgsl")
    ),
    constants: &[("WG", 256), ("N", SORT_N)],
};

/// Radix select, counting pass: histograms of the logits' top bits (and the log-sum-exp partials).
pub const TOP_K_HIST: Kernel = Kernel {
    name: "top_k_hist",
    wgsl: concat!(
        include_str!("../../../../shaders/top_k_common.wgsl"),
        include_str!("../../../../shaders/top_k_radix_common.wgsl"),
        include_str!("../../../../shaders/top_k_hist.wgsl")
    ),
    constants: &[("WG", 256), ("CHUNK", RADIX_CHUNK)],
};

/// Radix select, deciding pass: finds the threshold from the histograms.
pub const TOP_K_SELECT: Kernel = Kernel {
    name: "top_k_select",
    wgsl: concat!(
        include_str!("../../../../shaders/top_k_common.wgsl"),
        include_str!("../../../../shaders/top_k_radix_common.wgsl"),
        include_str!("../../../../shaders/top_k_select.wgsl")
    ),
    constants: &[("WG", 256), ("CAP", RADIX_CAP)],
};

/// Radix select, gathering pass: the logits at or above the threshold.
pub const TOP_K_GATHER: Kernel = Kernel {
    name: "top_k_gather",
    wgsl: concat!(
        include_str!("../../../../shaders/top_k_common.wgsl"),
        include_str!("../../../../shaders/top_k_radix_common.wgsl"),
        include_str!("../../../../shaders/top_k_gather.wgsl")
    ),
    constants: &[("WG", 256), ("CHUNK", RADIX_CHUNK), ("CAP", RADIX_CAP)],
};

/// Radix select, final pass: sorts the gathered candidates and writes `out`.
pub const TOP_K_FINAL: Kernel = Kernel {
    name: "top_k_final",
    wgsl: concat!(
        include_str!("../../../../shaders/top_k_common.wgsl"),
        include_str!("../../../../shaders/top_k_radix_common.wgsl"),
        include_str!("../../../../shaders/top_k_final.wgsl")
    ),
    constants: &[("WG", 256), ("CAP", RADIX_CAP)],
};

/// Logits per workgroup in the first argmax pass (8 per invocation).
const ARGMAX_CHUNK: u32 = 2048;
/// Entries sorted per workgroup: 8 KiB of workgroup memory.
const SORT_N: u32 = 1024;
/// Logits per workgroup in the radix counting and gathering passes.
const RADIX_CHUNK: u32 = 4096;
/// The most candidates the radix path sorts (in one workgroup: 8 KiB of
/// workgroup memory); more than this many logits tied at the threshold
/// send the row to the bitonic fallback.
pub const RADIX_CAP: u32 = 1024;
/// Words of the radix state before the log-sum-exp partials: 8 state
/// words and two histograms of 2048 buckets (top_k_radix_common.wgsl).
const RADIX_STATE_WORDS: u64 = 8 + 2 * 2048;

/// Bytes per entry of [`adjustment_bytes`]: id u32, penalty f32, bias f32.
const ENTRY_BYTES: u64 = 12;

/// Mirrors `struct Params` in shaders/logit_adjust.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct AdjustParams {
    count: u32,
    n_vocab: u32,
    offset: u32,
    _pad: u32,
}

/// Mirrors `struct Params` in shaders/top_k_argmax.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ArgmaxParams {
    n_items: u32,
    offset: u32,
    first: u32,
    last: u32,
    in_off: u32,
    out_off: u32,
    inv_t: f32,
    _pad: u32,
}

/// Mirrors `struct Params` in shaders/top_k_sort.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct SortParams {
    n_items: u32,
    offset: u32,
    k: u32,
    k2: u32,
    first: u32,
    last: u32,
    in_off: u32,
    out_off: u32,
    inv_t: f32,
    /// 1 + word offset of the radix path's fast flag in scratch, or 0.
    guard: u32,
    _pad: [u32; 2],
}

/// Mirrors `struct Params` in shaders/top_k_radix_common.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct RadixParams {
    n_items: u32,
    offset: u32,
    k: u32,
    level: u32,
    state: u32,
    n_groups: u32,
    inv_t: f32,
    _pad: u32,
}

/// For each of `count` entries (see [`adjustment_bytes`]):
/// `l = (l > 0 ? l / penalty : l * penalty) + bias`.
///
/// There is no vocabulary size here: ids past the end of `logits` (after
/// `offset`) are ignored, so when `logits` holds more than one row the
/// caller must leave out ids >= n_vocab. `count == 0` records nothing.
pub struct LogitAdjust<'a> {
    pub logits: &'a wgpu::Buffer,
    pub offset: u32,
    pub entries: &'a wgpu::Buffer,
    pub count: u32,
}

/// The `entries` buffer of [`LogitAdjust`]: `(id, penalty, bias)` as 12 little-endian bytes each.
pub fn adjustment_bytes(entries: &[(u32, f32, f32)]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(entries.len() * ENTRY_BYTES as usize);
    for &(id, penalty, bias) in entries {
        bytes.extend_from_slice(&id.to_le_bytes());
        bytes.extend_from_slice(&penalty.to_le_bytes());
        bytes.extend_from_slice(&bias.to_le_bytes());
    }
    bytes
}

impl LogitAdjust<'_> {
    /// Records the op into `encoder`; nothing runs until the encoder is submitted.
    pub fn encode(&self, gpu: &GpuDevice, encoder: &mut wgpu::CommandEncoder) -> Result<()> {
        if self.count == 0 {
            return Ok(());
        }
        let row_end = self.logits.size() / 4;
        if u64::from(self.offset) >= row_end {
            return Err(NavajaError::invalid(format!(
                "logit_adjust: offset {} is past the {row_end} logits of the buffer",
                self.offset
            )));
        }
        let needed = u64::from(self.count) * ENTRY_BYTES;
        if self.entries.size() < needed {
            return Err(NavajaError::invalid(format!(
                "logit_adjust: {} entries need {needed} bytes, the buffer has {}",
                self.count,
                self.entries.size()
            )));
        }
        let n_vocab = u32::try_from(row_end - u64::from(self.offset)).unwrap_or(u32::MAX);
        let wg = gpu.kernels.workgroup_size(64);
        let (gx, gy) = gpu.dispatch_grid("logit_adjust", self.count.div_ceil(wg))?;
        let variant = KernelVariant { kernel: LOGIT_ADJUST, entry_point: "main", constants: vec![("WG", wg)] };
        let params = AdjustParams { count: self.count, n_vocab, offset: self.offset, _pad: 0 };
        let params = gpu.uniform("logit_adjust params", &params);
        dispatch(gpu, encoder, &variant, &[self.logits, self.entries, &params], (gx, gy, 1));
        Ok(())
    }
}

/// The best `k` of `n_vocab` logits at `offset`, written to `out` as
/// [`top_k_out_words`] u32 words: `k` pairs (id, logit bits) best first
/// (ties: smaller id; slots past `n_vocab` hold id `u32::MAX`), then the max
/// logit and `ln(sum_j exp((l_j - max) / T))` as f32 bits, with
/// `T = temperature`, or 1 when `temperature <= 0`. NaN logits count as -inf.
/// `scratch` needs [`top_k_scratch_bytes`]; `out` and `scratch` are
/// different buffers, both different from `logits`.
pub struct TopK<'a> {
    pub logits: &'a wgpu::Buffer,
    pub offset: u32,
    pub n_vocab: u32,
    /// 1..=[`MAX_TOP_K`]; 1 is the greedy argmax.
    pub k: u32,
    pub temperature: f32,
    pub out: &'a wgpu::Buffer,
    pub scratch: &'a wgpu::Buffer,
}

/// u32 words [`TopK`] writes for `k` candidates.
pub fn top_k_out_words(k: u32) -> u64 {
    2 * u64::from(k) + 2
}

/// Bytes of the scratch buffer [`TopK`] needs (at least 16). The size for
/// [`MAX_TOP_K`] suffices for every `k` at the same `n_vocab`.
pub fn top_k_scratch_bytes(n_vocab: u32, k: u32) -> u64 {
    let words = if k <= 1 {
        let partials = u64::from(n_vocab.div_ceil(ARGMAX_CHUNK));
        if partials > 1 { 3 * partials } else { 0 }
    } else {
        sort_words(n_vocab, k) + if uses_radix(n_vocab) { radix_words(n_vocab) } else { 0 }
    };
    (words * 4).max(16)
}

/// Whether `k >= 2` goes through the radix select (the bitonic sort of one chunk is as cheap below).
fn uses_radix(n_vocab: u32) -> bool {
    n_vocab > SORT_N
}

/// Scratch words of the bitonic sort's runs; the radix state follows them.
fn sort_words(n_vocab: u32, k: u32) -> u64 {
    let k2 = u64::from(k.next_power_of_two());
    let record = 2 * k2 + 2;
    let runs = u64::from(n_vocab.div_ceil(SORT_N));
    let merged = runs.div_ceil(u64::from(SORT_N) / k2);
    if runs > 1 { (runs + merged) * record } else { 0 }
}

/// Scratch words of the radix state, partials and candidates.
fn radix_words(n_vocab: u32) -> u64 {
    RADIX_STATE_WORDS + 2 * u64::from(n_vocab.div_ceil(RADIX_CHUNK)) + 2 * u64::from(RADIX_CAP)
}

/// Reads what [`TopK`] wrote. Empty slots (k > n_vocab) are dropped; words
/// missing from a too-short slice leave candidates out and read as NaN.
pub fn decode_top_k(words: &[u32], k: u32) -> TopKResult {
    let k = k as usize;
    let candidates = words
        .chunks_exact(2)
        .take(k)
        .filter(|pair| pair[0] != u32::MAX)
        .map(|pair| (pair[0], f32::from_bits(pair[1])))
        .collect();
    let word = |i: usize| words.get(i).map_or(f32::NAN, |&w| f32::from_bits(w));
    TopKResult { candidates, max: word(2 * k), log_sum_exp: word(2 * k + 1) }
}

impl TopK<'_> {
    /// Records the passes into `encoder`; nothing runs until the encoder is submitted.
    pub fn encode(&self, gpu: &GpuDevice, encoder: &mut wgpu::CommandEncoder) -> Result<()> {
        check_top_k(self.n_vocab as usize, self.k as usize, self.temperature)?;
        if self.out == self.scratch || self.out == self.logits || self.scratch == self.logits {
            return Err(NavajaError::invalid("top_k: logits, out and scratch must be three different buffers"));
        }
        check_span("top_k: logits", self.logits, self.offset, u64::from(self.n_vocab))?;
        check_span("top_k: out", self.out, 0, top_k_out_words(self.k))?;
        let scratch_bytes = top_k_scratch_bytes(self.n_vocab, self.k);
        if self.scratch.size() < scratch_bytes {
            return Err(NavajaError::invalid(format!(
                "top_k: scratch has {} bytes, needs {scratch_bytes}",
                self.scratch.size()
            )));
        }
        let inv_t = inverse_temperature(self.temperature);
        if self.k == 1 {
            self.encode_argmax(gpu, encoder, inv_t)
        } else if uses_radix(self.n_vocab) {
            self.encode_radix(gpu, encoder, inv_t)
        } else {
            self.encode_sort(gpu, encoder, inv_t, 0)
        }
    }

    fn encode_argmax(&self, gpu: &GpuDevice, encoder: &mut wgpu::CommandEncoder, inv_t: f32) -> Result<()> {
        let wg = gpu.kernels.workgroup_size(256);
        let variant = KernelVariant {
            kernel: TOP_K_ARGMAX,
            entry_point: "main",
            constants: vec![("WG", wg), ("CHUNK", ARGMAX_CHUNK)],
        };
        let partials = self.n_vocab.div_ceil(ARGMAX_CHUNK);
        let first = ArgmaxParams {
            n_items: self.n_vocab,
            offset: self.offset,
            first: 1,
            last: u32::from(partials == 1),
            in_off: 0,
            out_off: 0,
            inv_t,
            _pad: 0,
        };
        let params = gpu.uniform("top_k argmax params", &first);
        let (gx, gy) = gpu.dispatch_grid("top_k argmax", partials)?;
        dispatch(gpu, encoder, &variant, &[self.logits, self.scratch, self.out, &params], (gx, gy, 1));
        if partials > 1 {
            let merge = ArgmaxParams { n_items: partials, first: 0, last: 1, ..first };
            let params = gpu.uniform("top_k argmax merge params", &merge);
            dispatch(gpu, encoder, &variant, &[self.logits, self.scratch, self.out, &params], (1, 1, 1));
        }
        Ok(())
    }

    /// The radix select, then the bitonic passes guarded by its fast flag.
    fn encode_radix(&self, gpu: &GpuDevice, encoder: &mut wgpu::CommandEncoder, inv_t: f32) -> Result<()> {
        let state = u32::try_from(sort_words(self.n_vocab, self.k))
            .map_err(|_| NavajaError::invalid("top_k: the scratch offsets overflow u32"))?;
        let n_groups = self.n_vocab.div_ceil(RADIX_CHUNK);
        let params = |level| {
            let p = RadixParams {
                n_items: self.n_vocab,
                offset: self.offset,
                k: self.k,
                level,
                state,
                n_groups,
                inv_t,
                _pad: 0,
            };
            gpu.uniform("top_k radix params", &p)
        };
        let wg = gpu.kernels.workgroup_size(256);
        let variant = |kernel: Kernel| {
            let constants =
                kernel.constants.iter().map(|&(name, v)| (name, if name == "WG" { wg } else { v })).collect();
            KernelVariant { kernel, entry_point: "main", constants }
        };
        let (gx, gy) = gpu.dispatch_grid("top_k radix", n_groups)?;
        let (select, hist) = (variant(TOP_K_SELECT), variant(TOP_K_HIST));
        dispatch(gpu, encoder, &select, &[self.scratch, &params(0)], (1, 1, 1));
        for level in [1, 2] {
            let params = params(level);
            dispatch(gpu, encoder, &hist, &[self.logits, self.scratch, &params], (gx, gy, 1));
            dispatch(gpu, encoder, &select, &[self.scratch, &params], (1, 1, 1));
        }
        let params = params(3);
        dispatch(gpu, encoder, &variant(TOP_K_GATHER), &[self.logits, self.scratch, &params], (gx, gy, 1));
        dispatch(gpu, encoder, &variant(TOP_K_FINAL), &[self.scratch, self.out, &params], (1, 1, 1));
        self.encode_sort(gpu, encoder, inv_t, state + 1)
    }

    /// The bitonic sort and merge passes; `guard` (1 + the radix fast flag's word, or 0) skips them.
    fn encode_sort(&self, gpu: &GpuDevice, encoder: &mut wgpu::CommandEncoder, inv_t: f32, guard: u32) -> Result<()> {
        let wg = gpu.kernels.workgroup_size(256);
        let variant =
            KernelVariant { kernel: TOP_K_SORT, entry_point: "main", constants: vec![("WG", wg), ("N", SORT_N)] };
        let k2 = self.k.next_power_of_two();
        let record = 2 * k2 + 2;
        let runs_per_group = SORT_N / k2;
        let mut runs = self.n_vocab.div_ceil(SORT_N);
        let mut pass = SortParams {
            n_items: self.n_vocab,
            offset: self.offset,
            k: self.k,
            k2,
            first: 1,
            last: u32::from(runs == 1),
            in_off: 0,
            out_off: 0,
            inv_t,
            guard,
            _pad: [0; 2],
        };
        let mut groups = runs;
        // Runs ping-pong between two regions of scratch: [0, runs) records and after them.
        let (mut region_in, mut region_out) = (0, runs * record);
        loop {
            let params = gpu.uniform("top_k sort params", &pass);
            let (gx, gy) = gpu.dispatch_grid("top_k sort", groups)?;
            dispatch(gpu, encoder, &variant, &[self.logits, self.scratch, self.out, &params], (gx, gy, 1));
            if pass.last == 1 {
                return Ok(());
            }
            groups = runs.div_ceil(runs_per_group);
            pass = SortParams {
                n_items: runs,
                first: 0,
                last: u32::from(groups == 1),
                in_off: region_in,
                out_off: region_out,
                ..pass
            };
            runs = groups;
            (region_in, region_out) = (region_out, region_in);
        }
    }
}

/// Uploads `logits`, applies `entries` on the GPU and reads the row back.
pub async fn logit_adjust(gpu: &GpuDevice, logits: &[f32], entries: &[(u32, f32, f32)]) -> Result<Vec<f32>> {
    if logits.is_empty() {
        return Err(NavajaError::invalid("logit_adjust: the logits are empty"));
    }
    let count = u32::try_from(entries.len()).map_err(|_| NavajaError::invalid("logit_adjust: too many entries"))?;
    let logits_buf = submit_scoped(gpu, |encoder| {
        let logits_buf = upload_rw(gpu, "logits", logits)?;
        let bytes = adjustment_bytes(entries);
        let entries_buf = gpu.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("logit adjustments"),
            // Never empty: a zero-sized buffer cannot be bound.
            contents: if bytes.is_empty() { &[0; ENTRY_BYTES as usize] } else { &bytes },
            usage: wgpu::BufferUsages::STORAGE,
        });
        LogitAdjust { logits: &logits_buf, offset: 0, entries: &entries_buf, count }.encode(gpu, encoder)?;
        Ok(logits_buf)
    })
    .await?;
    let out = gpu.read_f32(&logits_buf, logits.len()).await?;
    gpu.check_health()?;
    Ok(out)
}

/// Uploads `logits`, runs [`TopK`] on the GPU and decodes its output.
pub async fn top_k(gpu: &GpuDevice, logits: &[f32], k: u32, temperature: f32) -> Result<TopKResult> {
    check_top_k(logits.len(), k as usize, temperature)?;
    let n_vocab = u32::try_from(logits.len()).map_err(|_| NavajaError::invalid("top_k: more than 2^32 logits"))?;
    let out_bytes = top_k_out_words(k) * 4;
    let staging = submit_scoped(gpu, |encoder| {
        let logits_buf = gpu.upload_f32("top_k logits", logits)?;
        let out = gpu.storage("top_k out", out_bytes)?;
        let scratch = gpu.storage("top_k scratch", top_k_scratch_bytes(n_vocab, k))?;
        TopK { logits: &logits_buf, offset: 0, n_vocab, k, temperature, out: &out, scratch: &scratch }
            .encode(gpu, encoder)?;
        let staging = gpu.staging("top_k readback", out_bytes);
        encoder.copy_buffer_to_buffer(&out, 0, &staging, 0, out_bytes);
        Ok(staging)
    })
    .await?;
    let bytes = gpu.read_staging(&staging, out_bytes).await?;
    gpu.check_health()?;
    let words: Vec<u32> = bytes.chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    Ok(decode_top_k(&words, k))
}
