//! Flash attention on the GPU (shaders/attention.wgsl): keys in tiles, an
//! online softmax per query row, grouped-query heads sharing K/V tiles.
//!
//! How a call is cut up is an [`AttentionPlan`]: rows per workgroup (BR) and
//! keys per tile (BC) are chosen for the head size within 16 KiB of
//! workgroup memory, and when the rows alone give too few workgroups (decode:
//! one token, a few kv heads) the keys are split across workgroups
//! (flash-decoding) and a second small pass (shaders/attention_combine.wgsl)
//! merges the splits.
//!
//! CPU adapters decode with another kernel (shaders/attention_scores.wgsl,
//! an [`AttentionKernel::Scores`] plan): one pass writes every row's scores,
//! one invocation per key, and a second takes their softmax and sums the
//! values, one invocation per 4 output dims, without workgroup memory,
//! barriers or private arrays, which a CPU adapter pays for dearly.
//! shaders/attention_lanes.wgsl ([`AttentionKernel::Lanes`], one query row
//! per invocation over its split of the keys) was their decode kernel
//! before and is kept for tuning runs. All read the cache through
//! shaders/attention_cache.wgsl.

use navaja_core::ops::attention::AttentionShape;
use navaja_core::quant::kv::{KV_EXACT_START, KV_GROUP, KvRole, KvType, store_rows};
use navaja_core::{NavajaError, Result};

use crate::GpuDevice;
use crate::kernels::{Kernel, KernelVariant};
use crate::ops::matmul::shader;
use crate::ops::support::{check_span, dispatch, submit_scoped};

/// One pass over the keys for a tile of query rows (see the shader's header).
pub const ATTENTION: Kernel = Kernel {
    name: "attention",
    wgsl: shader!("kv_slots.wgsl", "attention_cache.wgsl", "attention.wgsl"),
    constants: &[
        ("WG", 256),
        ("D", 64),
        ("BR", 4),
        ("BC", 32),
        ("NS", 2),
        ("JP", 4),
        ("SPLIT", 1),
        ("RED", 256),
        ("KV", 3),
    ],
};

/// One query row per invocation (CPU adapters; see the shader's header).
pub const ATTENTION_LANES: Kernel = Kernel {
    name: "attention_lanes",
    wgsl: shader!("kv_slots.wgsl", "attention_cache.wgsl", "attention_lanes.wgsl"),
    constants: &[("WG", 16), ("D", 64), ("SPLIT", 1), ("KV", 3)],
};

/// Scores, then softmax-weighted values, in two plain passes (CPU adapters,
/// decode; see the shader's header). Entry points `scores` and `weighted`.
pub const ATTENTION_SCORES: Kernel = Kernel {
    name: "attention_scores",
    wgsl: shader!("kv_slots.wgsl", "attention_cache.wgsl", "attention_scores.wgsl"),
    constants: &[("WG", 32), ("D", 64), ("SPLIT", 0), ("KV", 3)],
};

/// Merges the key splits of [`ATTENTION`] and [`ATTENTION_LANES`] into the output.
pub const ATTENTION_COMBINE: Kernel = Kernel {
    name: "attention_combine",
    wgsl: include_str!("../../../../shaders/attention_combine.wgsl"),
    constants: &[("WG", 64), ("D", 64)],
};

/// Workgroups that keep a large GPU busy; below this, decode splits the keys.
const TARGET_WORKGROUPS: u32 = 128;
/// Splitting finer than this costs more in the combine pass than it gains.
const MIN_KEYS_PER_SPLIT: u32 = 128;
const MAX_SPLITS: u32 = 64;
/// Workgroup memory every target has (WebGPU's minimum, SwiftShader's maximum).
const WORKGROUP_MEMORY: u32 = 16384;
/// Lanes kernel: invocations per workgroup, the invocations (rows x splits)
/// that keep a CPU's SIMD lanes and cores busy, and the fewest keys worth a split.
const LANES_WORKGROUP: u32 = 16;
const LANES_TARGET_INVOCATIONS: u32 = 256;
const LANES_MIN_KEYS_PER_SPLIT: u32 = 32;
/// Above this many query rows per kv head (a few tokens), tiles win even on
/// a CPU adapter: each key they load serves a tile of rows. Below it CPU
/// adapters take the scores kernel.
const LANES_MAX_ROWS: u32 = 16;
/// The lanes kernel takes its keys 4 at a time.
const LANES_KEYS: u32 = 4;
/// Scores kernel: invocations per workgroup, and the step its scores' row
/// stride is rounded up to.
const SCORES_WORKGROUP: u32 = 32;
const SCORES_STRIDE_STEP: u32 = 256;

/// Mirrors `struct Params` in shaders/attention.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n_rows: u32,
    n_heads: u32,
    group: u32,
    row_words: u32,
    q_offset: u32,
    out_offset: u32,
    start_pos: u32,
    kv_len: u32,
    causal: u32,
    window: u32,
    n_splits: u32,
    split_len: u32,
    scale: f32,
    n_blocks: u32,
    sink: u32,
    ring_len: u32,
    q_end: u32,
    res_len: u32,
    res_words: u32,
    width: u32,
}

/// Mirrors `struct Params` in shaders/attention_combine.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct CombineParams {
    n_rows: u32,
    n_splits: u32,
    out_offset: u32,
    _pad: u32,
}

/// How a cache's buffers store their rows: the element type and which slot
/// holds which position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheLayout {
    pub kind: KvType,
    /// With `ring_len`: positions `0..sink` stay in slots `0..sink`.
    pub sink: u32,
    /// 0: position `p` is in slot `p`. Else the positions after the sink
    /// cycle through `ring_len` slots, so the cache keeps the sink and the
    /// last `ring_len` positions.
    pub ring_len: u32,
}

impl CacheLayout {
    pub fn linear(kind: KvType) -> CacheLayout {
        CacheLayout { kind, sink: 0, ring_len: 0 }
    }

    /// The slot that holds position `pos` (the shaders' `slot`).
    pub fn slot(&self, pos: u32) -> u32 {
        if self.ring_len == 0 || pos < self.sink { pos } else { self.sink + (pos - self.sink) % self.ring_len }
    }

    /// Slots a buffer needs so that positions `0..kv_len` have a place.
    pub fn slots_needed(&self, kv_len: u32) -> u32 {
        if self.ring_len == 0 { kv_len } else { kv_len.min(self.sink + self.ring_len) }
    }
}

/// The f16 ring in which a quantized cache keeps its recent positions and
/// its first [`KV_EXACT_START`] ones (`quant::kv::ring_slot`: `slots`
/// cycling slots after the fixed ones), and where its main store ends.
#[derive(Clone, Copy)]
pub struct RecentRing<'a> {
    pub k: &'a wgpu::Buffer,
    pub v: &'a wgpu::Buffer,
    pub slots: u32,
    /// Positions below this are read from the main store, the others from the ring.
    pub quantized_end: u32,
}

/// Attention of `q` against the first `start_pos + n_tokens` positions of
/// the KV cache. Layouts (offsets in f32 elements): q and out [n_tokens,
/// n_heads * head_dim] f32; k_cache and v_cache hold rows of n_kv_heads *
/// head_dim values stored as `cache` says. `out` must not be the buffer of `q`.
pub struct Attention<'a> {
    pub q: &'a wgpu::Buffer,
    pub q_offset: u32,
    pub k_cache: &'a wgpu::Buffer,
    pub v_cache: &'a wgpu::Buffer,
    pub cache: CacheLayout,
    /// The recent positions of a quantized cache (required for q8 and q4).
    pub recent: Option<RecentRing<'a>>,
    pub out: &'a wgpu::Buffer,
    pub out_offset: u32,
    pub n_tokens: u32,
    pub n_heads: u32,
    pub n_kv_heads: u32,
    pub head_dim: u32,
    /// Query `t` is at position `start_pos + t`; keys `0..start_pos + n_tokens` are in the cache.
    pub start_pos: u32,
    pub scale: f32,
    /// Causal: the query at position `p` sees keys `0..=p`; else every key in the cache.
    pub causal: bool,
    /// 0: no window; else a query at `p` sees only keys `j` with `p - j < window`,
    /// and the sink positions (`cache.sink`).
    pub window: u32,
}

/// Which shader runs an attention call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttentionKernel {
    /// shaders/attention.wgsl: tiles of rows and keys in workgroup memory (GPUs).
    Tiles,
    /// shaders/attention_lanes.wgsl: one row per invocation, no barriers.
    Lanes,
    /// shaders/attention_scores.wgsl: one invocation per key for the scores,
    /// then one per 4 output dims, no barriers and no private arrays (CPU
    /// adapters, decode).
    Scores,
}

impl AttentionKernel {
    pub const ALL: [AttentionKernel; 3] = [AttentionKernel::Tiles, AttentionKernel::Lanes, AttentionKernel::Scores];

    /// The kernel `gpu` runs fastest for `rows` query rows per kv head.
    /// Measured with SmolLM2 (9 heads, 3 kv heads, head_dim 64):
    /// - decode, whole model, 128-token prompt, q8 cache: SwiftShader 1.2
    ///   tokens/s with tiles, 1.6-1.8 with scores; lavapipe 1.2-1.4 with
    ///   lanes, 1.7-1.9 with scores;
    /// - decode at 2,000 keys (f32 cache, one call): lavapipe tiles 15 ms,
    ///   lanes and scores 13 ms; SwiftShader tiles 67, lanes 53, scores 71;
    /// - lavapipe, 128-token prefill chunks at 1,000 keys: tiles 91 ms, lanes
    ///   113 ms (the tiles share each key among 16 rows).
    pub fn preferred(gpu: &GpuDevice, rows: u32) -> AttentionKernel {
        if gpu.adapter.is_cpu() && rows <= LANES_MAX_ROWS { AttentionKernel::Scores } else { AttentionKernel::Tiles }
    }
}

/// What a test or a tuning run forces about an attention call's plan
/// (`default()`: the adapter's own plan).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanChoice {
    pub kernel: Option<AttentionKernel>,
    /// About this many key splits (see [`AttentionPlan::with_splits`]).
    pub splits: Option<u32>,
}

/// How one attention call is tiled and split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttentionPlan {
    kernel: AttentionKernel,
    workgroup: u32,
    /// Query rows per workgroup (BR; lanes: 1 per invocation).
    rows: u32,
    /// Keys per tile (BC; lanes: the 4 keys of a step).
    keys: u32,
    /// Keys per split (a multiple of `keys`) and the number of splits.
    split_len: u32,
    splits: u32,
    /// Longest key range a tile of rows can see, which the splits cover.
    range: u32,
}

impl AttentionPlan {
    pub fn kernel(&self) -> AttentionKernel {
        self.kernel
    }

    /// Query rows per workgroup and keys per tile.
    pub fn tile(&self) -> (u32, u32) {
        (self.rows, self.keys)
    }

    /// How many workgroups share the keys of one tile of rows (1: no combine pass).
    pub fn splits(&self) -> u32 {
        self.splits
    }

    /// The same plan with the keys cut into about `splits` parts (clamped to
    /// 1..=64 and to whole tiles), for tests and tuning.
    /// Scores plans have no splits and ignore this.
    pub fn with_splits(self, splits: u32) -> AttentionPlan {
        if self.kernel == AttentionKernel::Scores {
            return self;
        }
        self.split_into(splits.clamp(1, MAX_SPLITS))
    }

    fn split_into(mut self, wanted: u32) -> AttentionPlan {
        self.split_len = self.range.div_ceil(wanted).next_multiple_of(self.keys);
        self.splits = self.range.div_ceil(self.split_len);
        self
    }
}

/// Workgroup memory (f32 words) of a tile of `br` rows by `bc` keys, as the shader declares it
/// (q and the K/V tile as vec4 rows, the K/V rows padded by one vec4).
fn tile_words(d: u32, br: u32, bc: u32, wg: u32) -> u32 {
    let d4 = d.div_ceil(4);
    let red = if br * bc < wg { wg } else { 1 };
    4 * br * d4 + 4 * bc * (d4 + 1) + br * bc + red + 2 * br
}

/// Key parts of the accumulation (the shader's JP): spare invocations of a
/// row take every JP-th key when a row has more invocations than vec4
/// columns. Their sums meet in the K/V tile memory, which holds BC rows, so
/// BR * JP <= BC.
fn key_parts(d: u32, br: u32, bc: u32, wg: u32) -> u32 {
    (wg / br / d.div_ceil(4)).min(bc / br).max(1)
}

/// Rows and keys per tile: as many rows as there are (up to 16), fewer when
/// the head is so large that the tile would have under 8 keys.
fn choose_tile(d: u32, n_rows: u32, wg: u32, budget_words: u32) -> Option<(u32, u32)> {
    let mut br = n_rows.next_power_of_two().min(16).min(wg);
    loop {
        let bc = [64, 32, 16, 8, 4, 2, 1].into_iter().find(|&bc| tile_words(d, br, bc, wg) <= budget_words);
        match bc {
            Some(bc) if bc >= 8 || br == 1 => return Some((br, bc)),
            _ if br == 1 => return None,
            _ => br /= 2,
        }
    }
}

/// Query rows that share a kv head: n_tokens * (n_heads / n_kv_heads).
fn rows_per_kv_head(shape: &AttentionShape) -> Result<u32> {
    (shape.n_tokens.checked_mul(shape.group()))
        .and_then(|rows| u32::try_from(rows).ok())
        .filter(|rows| rows.checked_mul(shape.n_kv_heads as u32).is_some())
        .ok_or_else(|| NavajaError::invalid("attention: n_tokens * n_heads does not fit in u32"))
}

impl Attention<'_> {
    fn shape(&self) -> Result<AttentionShape> {
        AttentionShape::new(
            self.n_tokens as usize,
            self.n_heads as usize,
            self.n_kv_heads as usize,
            self.head_dim as usize,
            self.start_pos as usize,
            self.scale,
            self.causal,
            self.window as usize,
        )
        .map(|s| s.with_sink(self.cache.sink as usize))
    }

    /// The default plan on `gpu`: its preferred kernel, see [`Attention::plan_for`].
    pub fn plan(&self, gpu: &GpuDevice) -> Result<AttentionPlan> {
        let rows = rows_per_kv_head(&self.shape()?)?;
        self.plan_for(gpu, AttentionKernel::preferred(gpu, rows))
    }

    /// The plan for `kernel` on `gpu`. Tiles split the keys only when the
    /// rows give fewer than ~128 workgroups and each split would still have
    /// 128+ keys; lanes when the rows give fewer than ~256 invocations and
    /// each split would have 32+ keys.
    pub fn plan_for(&self, gpu: &GpuDevice, kernel: AttentionKernel) -> Result<AttentionPlan> {
        match kernel {
            AttentionKernel::Lanes => return self.lanes_plan(gpu),
            AttentionKernel::Scores => return Ok(self.scores_plan(gpu)),
            AttentionKernel::Tiles => {}
        }
        let shape = self.shape()?;
        let wg = gpu.kernels.workgroup_size(256);
        let budget = WORKGROUP_MEMORY.min(gpu.limits.max_compute_workgroup_storage_size) / 4;
        let group = shape.group() as u32;
        let n_rows = rows_per_kv_head(&shape)?;
        let (rows, keys) = choose_tile(self.head_dim, n_rows, wg, budget).ok_or_else(|| {
            NavajaError::unsupported(format!("attention: head_dim {} does not fit in workgroup memory", self.head_dim))
        })?;
        let kv_len = self.start_pos + self.n_tokens;
        // A causal window bounds the keys a tile sees; otherwise they run to the end of the cache.
        let range = if self.window == 0 || !self.causal {
            kv_len
        } else {
            let tokens_per_tile = self.n_tokens.min(rows.div_ceil(group) + 1);
            kv_len.min((self.window - 1).saturating_add(tokens_per_tile).saturating_add(self.cache.sink))
        };
        let groups = n_rows.div_ceil(rows).saturating_mul(self.n_kv_heads);
        let wanted = TARGET_WORKGROUPS.div_ceil(groups).min(range.div_ceil(MIN_KEYS_PER_SPLIT)).clamp(1, MAX_SPLITS);
        let plan = AttentionPlan { kernel, workgroup: wg, rows, keys, split_len: 0, splits: 0, range };
        Ok(plan.split_into(wanted))
    }

    /// The most keys one query row sees: the cache, or its window and the sink.
    fn row_key_range(&self) -> u32 {
        let kv_len = self.start_pos + self.n_tokens;
        if self.window == 0 || !self.causal { kv_len } else { kv_len.min(self.window.saturating_add(self.cache.sink)) }
    }

    fn lanes_plan(&self, gpu: &GpuDevice) -> Result<AttentionPlan> {
        let shape = self.shape()?;
        let n_rows = rows_per_kv_head(&shape)?;
        let range = self.row_key_range();
        let invocations = n_rows.saturating_mul(self.n_kv_heads);
        let wanted = LANES_TARGET_INVOCATIONS
            .div_ceil(invocations)
            .min(range.div_ceil(LANES_MIN_KEYS_PER_SPLIT))
            .clamp(1, MAX_SPLITS);
        let workgroup = gpu.kernels.workgroup_size(LANES_WORKGROUP);
        let plan = AttentionPlan {
            kernel: AttentionKernel::Lanes,
            workgroup,
            rows: 1,
            keys: LANES_KEYS,
            split_len: 0,
            splits: 0,
            range,
        };
        Ok(plan.split_into(wanted))
    }

    /// Keys per scores row rounded up to whole steps (`split_len`), so that
    /// the scratch buffer of the scores stays the same for many tokens.
    fn scores_plan(&self, gpu: &GpuDevice) -> AttentionPlan {
        let range = self.row_key_range();
        AttentionPlan {
            kernel: AttentionKernel::Scores,
            workgroup: gpu.kernels.workgroup_size(SCORES_WORKGROUP),
            rows: 1,
            keys: 1,
            split_len: range.max(1).next_multiple_of(SCORES_STRIDE_STEP),
            splits: 1,
            range,
        }
    }

    /// Records the op with the default plan; nothing runs until the encoder is submitted.
    pub fn encode(&self, gpu: &GpuDevice, encoder: &mut wgpu::CommandEncoder) -> Result<()> {
        let plan = self.plan(gpu)?;
        self.encode_with(gpu, encoder, &plan)
    }

    /// Records the op cut up as `plan` says (a plan from [`Attention::plan`] of this same call).
    pub fn encode_with(&self, gpu: &GpuDevice, encoder: &mut wgpu::CommandEncoder, plan: &AttentionPlan) -> Result<()> {
        let shape = self.shape()?;
        if self.q == self.out {
            return Err(NavajaError::invalid("attention: out must not be the buffer of q"));
        }
        let q_len = shape.q_len() as u64;
        check_span("attention: q", self.q, self.q_offset, q_len)?;
        check_span("attention: out", self.out, self.out_offset, q_len)?;
        let layout = self.cache;
        layout.kind.check(shape.kv_width(), shape.head_dim)?;
        if layout.ring_len != 0 {
            // A ring keeps the last ring_len positions: each row's window must be among them
            // after this batch's keys were written.
            let needed = u64::from(self.window) + u64::from(self.n_tokens) - 1;
            if self.window == 0 || !self.causal || u64::from(layout.ring_len) < needed {
                return Err(NavajaError::invalid(format!(
                    "attention: a ring cache of {} slots needs a causal window of at most {} keys for {} tokens",
                    layout.ring_len,
                    u64::from(layout.ring_len) + 1 - u64::from(self.n_tokens).min(u64::from(layout.ring_len)),
                    self.n_tokens
                )));
            }
        }
        let row_words = layout.kind.row_words(shape.kv_width()) as u64;
        let kv_len = shape.kv_len() as u32;
        let res_words = shape.kv_width().div_ceil(2) as u32;
        let (main_end, res_len, q_end) = match (layout.kind.is_quantized(), self.recent) {
            (false, _) => (kv_len, 1, 0),
            (true, None) => {
                return Err(NavajaError::invalid("attention: a quantized cache needs its ring of recent positions"));
            }
            (true, Some(r)) => {
                let group = KV_GROUP as u32;
                let exact = KV_EXACT_START as u32;
                if r.quantized_end > kv_len
                    || kv_len.saturating_sub(r.quantized_end.max(exact)) > r.slots
                    || !r.quantized_end.is_multiple_of(group)
                {
                    return Err(NavajaError::invalid(format!(
                        "attention: positions {}..{kv_len} do not fit in a ring of {} recent slots",
                        r.quantized_end, r.slots
                    )));
                }
                if !layout.sink.is_multiple_of(group) || !layout.ring_len.is_multiple_of(group) {
                    return Err(NavajaError::invalid(
                        "attention: a quantized ring cache needs sink and ring in whole groups",
                    ));
                }
                let ring_words = (u64::from(r.slots) + u64::from(exact)) * u64::from(res_words);
                check_span("attention: k ring", r.k, 0, ring_words)?;
                check_span("attention: v ring", r.v, 0, ring_words)?;
                (r.quantized_end, r.slots, r.quantized_end)
            }
        };
        let cache_words = u64::from(layout.slots_needed(main_end)) * row_words;
        check_span("attention: k_cache", self.k_cache, 0, cache_words)?;
        check_span("attention: v_cache", self.v_cache, 0, cache_words)?;

        let d = self.head_dim;
        let group = shape.group() as u32;
        let n_rows = rows_per_kv_head(&shape)?;
        let row_words = u32::try_from(row_words)
            .map_err(|_| NavajaError::invalid("attention: n_kv_heads * head_dim does not fit in u32"))?;
        let split = plan.splits > 1;
        let params = Params {
            n_rows,
            n_heads: self.n_heads,
            group,
            row_words,
            q_offset: self.q_offset,
            out_offset: self.out_offset,
            start_pos: self.start_pos,
            kv_len: shape.kv_len() as u32,
            causal: u32::from(self.causal),
            window: self.window,
            n_splits: plan.splits,
            // One split covers every key; the shader adds it to the tile's first key.
            // (Scores: the stride of the scores' rows.)
            split_len: if split || plan.kernel == AttentionKernel::Scores {
                plan.split_len
            } else {
                shape.kv_len() as u32
            },
            scale: self.scale,
            n_blocks: (shape.kv_width() / navaja_core::quant::kv::KV_BLOCK) as u32,
            sink: layout.sink,
            ring_len: layout.ring_len,
            q_end,
            res_len,
            res_words,
            width: shape.kv_width() as u32,
        };
        let (variant, grid) = match plan.kernel {
            AttentionKernel::Tiles => {
                let (wg, br, bc) = (plan.workgroup, plan.rows, plan.keys);
                let ns = (wg / (br * bc)).max(1);
                let jp = key_parts(d, br, bc, wg);
                let variant = KernelVariant {
                    kernel: ATTENTION,
                    entry_point: "main",
                    constants: vec![
                        ("WG", wg),
                        ("D", d),
                        ("BR", br),
                        ("BC", bc),
                        ("NS", ns),
                        ("JP", jp),
                        ("SPLIT", u32::from(split)),
                        ("RED", if ns > 1 { wg } else { 1 }),
                        ("KV", layout.kind.shader_id()),
                    ],
                };
                (variant, (n_rows.div_ceil(br), self.n_kv_heads, plan.splits))
            }
            AttentionKernel::Scores => {
                let params = gpu.uniform("attention params", &params);
                return self.encode_scores(gpu, encoder, plan, &params, n_rows, layout.kind);
            }
            AttentionKernel::Lanes => {
                let variant = KernelVariant {
                    kernel: ATTENTION_LANES,
                    entry_point: "main",
                    constants: vec![
                        ("WG", plan.workgroup),
                        ("D", d),
                        ("SPLIT", u32::from(split)),
                        ("KV", layout.kind.shader_id()),
                    ],
                };
                // One invocation per (row, split), all along x.
                let lanes = n_rows.saturating_mul(plan.splits);
                (variant, (lanes.div_ceil(plan.workgroup), self.n_kv_heads, 1))
            }
        };
        check_grid(gpu, grid)?;
        let params = gpu.uniform("attention params", &params);
        let (k_res, v_res) = self.recent.map_or((self.k_cache, self.v_cache), |r| (r.k, r.v));
        if !split {
            dispatch(
                gpu,
                encoder,
                &variant,
                &[self.q, self.k_cache, self.v_cache, self.out, &params, k_res, v_res],
                grid,
            );
            return Ok(());
        }

        // Flash-decoding: (acc, max, sum) of every split, then the combine pass.
        let q_rows = n_rows * self.n_kv_heads; // n_tokens * n_heads
        let partial_bytes = u64::from(q_rows) * u64::from(plan.splits) * u64::from(d + 2) * 4;
        let partials = gpu.reusable_scratch("attention split partials", partial_bytes)?;
        dispatch(gpu, encoder, &variant, &[self.q, self.k_cache, self.v_cache, &partials, &params, k_res, v_res], grid);

        let combine_wg = gpu.kernels.workgroup_size(64);
        let (gx, gy) = gpu.dispatch_grid("attention combine rows", q_rows)?;
        let combine = KernelVariant {
            kernel: ATTENTION_COMBINE,
            entry_point: "main",
            constants: vec![("WG", combine_wg), ("D", d)],
        };
        let combine_params =
            CombineParams { n_rows: q_rows, n_splits: plan.splits, out_offset: self.out_offset, _pad: 0 };
        let combine_params = gpu.uniform("attention combine params", &combine_params);
        dispatch(gpu, encoder, &combine, &[&partials, self.out, &combine_params], (gx, gy, 1));
        Ok(())
    }
}

impl Attention<'_> {
    /// [`AttentionKernel::Scores`]: the scores of every row into a scratch
    /// buffer, then the softmax-weighted values into the output.
    fn encode_scores(
        &self,
        gpu: &GpuDevice,
        encoder: &mut wgpu::CommandEncoder,
        plan: &AttentionPlan,
        params: &wgpu::Buffer,
        n_rows: u32,
        kind: KvType,
    ) -> Result<()> {
        let wg = plan.workgroup;
        let scores_grid = (plan.range.div_ceil(wg), self.n_kv_heads, n_rows);
        let weighted_grid = (n_rows.saturating_mul(self.head_dim.div_ceil(4)).div_ceil(wg), self.n_kv_heads, 1);
        check_grid(gpu, scores_grid)?;
        check_grid(gpu, weighted_grid)?;
        let q_rows = u64::from(n_rows) * u64::from(self.n_kv_heads);
        let scores = gpu.reusable_scratch("attention scores", q_rows * u64::from(plan.split_len) * 4)?;
        let (k_res, v_res) = self.recent.map_or((self.k_cache, self.v_cache), |r| (r.k, r.v));
        let constants = vec![("WG", wg), ("D", self.head_dim), ("SPLIT", 0), ("KV", kind.shader_id())];
        let pass = |entry_point| KernelVariant { kernel: ATTENTION_SCORES, entry_point, constants: constants.clone() };
        // The weighted pass reads the scores through the binding of q (see the shader's header).
        dispatch(
            gpu,
            encoder,
            &pass("scores"),
            &[self.q, self.k_cache, self.v_cache, &scores, params, k_res, v_res],
            scores_grid,
        );
        dispatch(
            gpu,
            encoder,
            &pass("weighted"),
            &[&scores, self.k_cache, self.v_cache, self.out, params, k_res, v_res],
            weighted_grid,
        );
        Ok(())
    }
}

fn check_grid(gpu: &GpuDevice, grid: (u32, u32, u32)) -> Result<()> {
    let max_groups = gpu.limits.max_compute_workgroups_per_dimension;
    if grid.0 > max_groups || grid.1 > max_groups || grid.2 > max_groups {
        return Err(NavajaError::AdapterLimit {
            what: format!("attention workgroups ({} x {} kv heads x {})", grid.0, grid.1, grid.2),
            needed: u64::from(grid.0.max(grid.1).max(grid.2)),
            limit: u64::from(max_groups),
        });
    }
    Ok(())
}

/// Uploads q and f32 caches (exactly `start_pos + n_tokens` rows each), runs
/// attention on the GPU and reads the output back, with the default plan or
/// what `choice` forces.
pub async fn attention(
    gpu: &GpuDevice,
    q: &[f32],
    k_cache: &[f32],
    v_cache: &[f32],
    shape: &AttentionShape,
    scale: f32,
    choice: PlanChoice,
) -> Result<Vec<f32>> {
    let width = shape.kv_width();
    let kv_needed = shape.kv_len() * width;
    if k_cache.len() != kv_needed || v_cache.len() != kv_needed {
        return Err(NavajaError::invalid(format!(
            "attention: k_cache and v_cache have {} and {} values, expected {kv_needed}",
            k_cache.len(),
            v_cache.len(),
        )));
    }
    let cache = StoredCache {
        k: &store_rows(KvType::F32, KvRole::Key, k_cache, width),
        v: &store_rows(KvType::F32, KvRole::Value, v_cache, width),
        layout: CacheLayout::default(),
        recent: None,
    };
    attention_stored(gpu, q, &cache, shape, scale, choice).await
}

/// A cache in its stored form, for tests: the words of every slot of the
/// main store (`quant::kv` layouts; position `p` in slot `layout.slot(p)`),
/// and for the quantized types the f16 words of the recent ring.
pub struct StoredCache<'a> {
    pub k: &'a [u32],
    pub v: &'a [u32],
    pub layout: CacheLayout,
    /// (k words, v words, slots, quantized_end)
    pub recent: Option<(&'a [u32], &'a [u32], u32, u32)>,
}

/// Like [`attention`], over a cache already in its stored form.
pub async fn attention_stored(
    gpu: &GpuDevice,
    q: &[f32],
    cache: &StoredCache<'_>,
    shape: &AttentionShape,
    scale: f32,
    choice: PlanChoice,
) -> Result<Vec<f32>> {
    let to_u32 = |v: usize, what: &str| {
        u32::try_from(v).map_err(|_| NavajaError::invalid(format!("attention: {what} does not fit in u32")))
    };
    let s = AttentionShape::new(
        shape.n_tokens,
        shape.n_heads,
        shape.n_kv_heads,
        shape.head_dim,
        shape.start_pos,
        scale,
        shape.causal,
        shape.window,
    )?;
    if q.len() != s.q_len() || cache.k.len() != cache.v.len() {
        return Err(NavajaError::invalid(format!(
            "attention: q has {} values (expected {}); the caches have {} and {} words",
            q.len(),
            s.q_len(),
            cache.k.len(),
            cache.v.len()
        )));
    }
    let out = submit_scoped(gpu, |encoder| {
        let words = |label, w: &[u32]| {
            // A buffer needs at least one word.
            let w = if w.is_empty() { &[0u32][..] } else { w };
            gpu.upload_bytes(label, bytemuck::cast_slice(w))
        };
        let q_buf = gpu.upload_f32("attention q", q)?;
        let k_buf = words("attention k", cache.k)?;
        let v_buf = words("attention v", cache.v)?;
        let ring = match cache.recent {
            Some((k, v, slots, end)) => {
                Some((words("attention k ring", k)?, words("attention v ring", v)?, slots, end))
            }
            None => None,
        };
        let out = gpu.output_f32("attention out", q.len())?;
        let op = Attention {
            q: &q_buf,
            q_offset: 0,
            k_cache: &k_buf,
            v_cache: &v_buf,
            cache: cache.layout,
            recent: ring.as_ref().map(|(k, v, slots, end)| RecentRing { k, v, slots: *slots, quantized_end: *end }),
            out: &out,
            out_offset: 0,
            n_tokens: to_u32(s.n_tokens, "n_tokens")?,
            n_heads: to_u32(s.n_heads, "n_heads")?,
            n_kv_heads: to_u32(s.n_kv_heads, "n_kv_heads")?,
            head_dim: to_u32(s.head_dim, "head_dim")?,
            start_pos: to_u32(s.start_pos, "start_pos")?,
            scale,
            causal: s.causal,
            window: to_u32(s.window, "window")?,
        };
        let mut plan = match choice.kernel {
            Some(kernel) => op.plan_for(gpu, kernel)?,
            None => op.plan(gpu)?,
        };
        if let Some(n) = choice.splits {
            plan = plan.with_splits(n);
        }
        op.encode_with(gpu, encoder, &plan)?;
        Ok(out)
    })
    .await?;
    let values = gpu.read_f32(&out, q.len()).await?;
    gpu.check_health()?;
    Ok(values)
}
