//! The KV cache of a session: per layer, a key and a value buffer holding
//! one row per cached position, stored as the session's [`KvType`].
//!
//! - f32 and f16 rows are stored when they are written (`ops::kv_write`).
//! - The quantized types (q8, q4) write each position into a small f16 ring
//!   of recent positions, and quantize whole groups of 32 positions into the
//!   main store once a group is [`KvType::recent`] positions old (all but
//!   the first group, which stays f16 in fixed ring slots: the attention sink)
//!   (`ops::kv_write::KvQuantize`). Attention reads the groups quantized
//!   before the batch from the store, dequantizing in registers, and every
//!   later position from the ring: each row of a prefill chunk sees at
//!   least `recent` exact positions, as a decode step does. The ring has `recent + max_batch + 31` slots:
//!   enough that a batch written into it never overwrites a position that is
//!   not quantized yet.
//!
//! Which positions a layer keeps:
//! - a global layer without a session window keeps every position, in slot
//!   = position; its buffers start small and double as the conversation grows
//!   (up to the session's context length), so a short chat costs little memory;
//! - a layer with a window (the model's sliding-window layers, or every layer
//!   when the session sets a [`KvWindow`]) keeps its sink positions and the
//!   last `window + max_batch - 1` positions in a ring: a query sees the sink
//!   and the last `window` keys, and a prefill chunk of up to `max_batch`
//!   tokens never overwrites a key one of its rows still needs. For the
//!   quantized types the sink and the ring are rounded up to whole groups.

use navaja_core::model::ModelSpec;
use navaja_core::quant::kv::{KV_EXACT_START, KV_GROUP, KvType};
use navaja_core::{NavajaError, Result};

use crate::GpuDevice;
use crate::ops::attention::{CacheLayout, RecentRing};
use crate::ops::kv_write::{KvQuantize, KvWrite};

/// A session-wide sliding window: every layer keeps the first `sink`
/// positions and the last `recent` ones, so a conversation may run to the
/// model's context length in the memory of `sink + recent + max_batch - 1` positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvWindow {
    pub sink: usize,
    pub recent: usize,
}

/// What one layer keeps, and the buffers it keeps it in.
pub struct LayerCache {
    pub k: wgpu::Buffer,
    pub v: wgpu::Buffer,
    /// The f16 ring of recent positions (quantized types).
    ring: Option<(wgpu::Buffer, wgpu::Buffer)>,
    pub layout: CacheLayout,
    /// Keys a query sees besides the sink (0: all of them).
    pub window: u32,
    /// Slots the main buffers hold now, and the most they will ever need.
    slots: u32,
    max_slots: u32,
    /// Lowest position above the sink whose key is still held (a ring
    /// overwrites old positions; a linear layer never does).
    held_from: u32,
}

/// Where one batch's attention reads a layer's keys and values.
pub struct CacheView<'a> {
    pub k: &'a wgpu::Buffer,
    pub v: &'a wgpu::Buffer,
    pub layout: CacheLayout,
    pub recent: Option<RecentRing<'a>>,
    pub window: u32,
}

/// Slots a growing layer starts with.
const INITIAL_SLOTS: u32 = 256;

pub struct KvCache {
    pub layers: Vec<LayerCache>,
    pub kind: KvType,
    /// Values per position per layer (n_kv_heads x head_dim).
    pub width: usize,
    head_dim: usize,
    /// Slots of each layer's f16 ring of recent positions (quantized types; else 0).
    ring_slots: u32,
    /// Positions below this are in the quantized store (a multiple of 32).
    quantized_end: u32,
    /// Positions below this are what attention reads from the store in the
    /// batch being recorded: the groups quantized before it. The groups the
    /// batch itself quantizes are still in the ring, so every row of a
    /// prefill chunk sees at least `recent` exact positions, as a decode
    /// step does (reading them from the store would leave the first rows of
    /// a chunk with none, and cost a point of top-1 at 8 bits).
    read_end: u32,
    /// Groups the batch being recorded quantizes: (first position, groups).
    pending: (u32, u32),
}

fn round_to_group(n: u32) -> u32 {
    n.div_ceil(KV_GROUP as u32) * KV_GROUP as u32
}

impl KvCache {
    /// Plans the cache of a session of `context` positions with prefill
    /// chunks of at most `max_batch` tokens. Buffers are allocated now at
    /// their starting size (`preallocate`: their full size).
    pub fn new(
        gpu: &GpuDevice,
        spec: &ModelSpec,
        kind: KvType,
        context: usize,
        max_batch: usize,
        window: Option<KvWindow>,
        preallocate: bool,
    ) -> Result<KvCache> {
        let width = spec.kv_width();
        kind.check(width, spec.head_dim)?;
        let to_u32 = |n: usize, what: &str| {
            u32::try_from(n).map_err(|_| NavajaError::invalid(format!("KV cache: {what} {n} is too large")))
        };
        let context = to_u32(context, "context length")?;
        let max_batch = to_u32(max_batch.max(1), "batch")?;
        let ring_slots =
            if kind.is_quantized() { to_u32(kind.recent(), "recent")? + max_batch + KV_GROUP as u32 - 1 } else { 0 };
        let mut layers = Vec::with_capacity(spec.n_layers);
        for layer in 0..spec.n_layers {
            // The model's own window (gemma3's local layers), or the session's.
            let model_window = spec.sliding_window.filter(|_| spec.is_local_layer(layer));
            let (sink, recent) = match (model_window, window) {
                (Some(w), Some(s)) => (0, w.min(s.recent)),
                (Some(w), None) => (0, w),
                (None, Some(s)) => (s.sink, s.recent),
                (None, None) => (0, 0),
            };
            let (mut sink, recent) = (to_u32(sink, "sink")?, to_u32(recent, "window")?);
            if window.is_some() && recent == 0 {
                return Err(NavajaError::invalid("a KV window must keep at least one recent position"));
            }
            let mut ring_len = if recent == 0 { 0 } else { recent.saturating_add(max_batch - 1) };
            if kind.is_quantized() && ring_len != 0 {
                // The quantized store holds whole groups.
                sink = round_to_group(sink);
                ring_len = round_to_group(ring_len);
            }
            let layout = CacheLayout { kind, sink, ring_len };
            let mut max_slots = layout.slots_needed(context);
            if kind.is_quantized() {
                max_slots = round_to_group(max_slots);
            }
            let slots = if preallocate || ring_len != 0 { max_slots } else { max_slots.min(INITIAL_SLOTS) };
            let (k, v) = allocate(gpu, kind.row_bytes(width) as u64, slots, "cache", layer)?;
            let ring = if kind.is_quantized() {
                let rows = ring_slots + KV_EXACT_START as u32;
                Some(allocate(gpu, KvType::F16.row_bytes(width) as u64, rows, "recent", layer)?)
            } else {
                None
            };
            layers.push(LayerCache { k, v, ring, layout, window: recent, slots, max_slots, held_from: sink });
        }
        Ok(KvCache {
            layers,
            kind,
            width,
            head_dim: spec.head_dim,
            ring_slots,
            quantized_end: 0,
            read_end: 0,
            pending: (0, 0),
        })
    }

    fn row_bytes(&self) -> u64 {
        self.kind.row_bytes(self.width) as u64
    }

    /// Bytes of cache each position costs (keys and values of every layer that keeps it).
    pub fn bytes_per_token(&self) -> u64 {
        self.layers.len() as u64 * 2 * self.row_bytes()
    }

    /// Bytes of the rings of recent positions, whatever the conversation's length.
    pub fn ring_bytes(&self) -> u64 {
        let rows = if self.kind.is_quantized() { u64::from(self.ring_slots) + KV_EXACT_START as u64 } else { 0 };
        self.layers.len() as u64 * 2 * rows * KvType::F16.row_bytes(self.width) as u64
    }

    /// Bytes the cache buffers take now.
    pub fn allocated_bytes(&self) -> u64 {
        self.layers.iter().map(|l| 2 * u64::from(l.slots) * self.row_bytes()).sum::<u64>() + self.ring_bytes()
    }

    /// Bytes of cache one decode step at `kv_len` positions reads (each
    /// layer's visible keys and values, the recent ones from the f16 ring).
    pub fn read_bytes(&self, kv_len: u32) -> u64 {
        let recent = if self.kind.is_quantized() {
            // The step's own position is new: the store holds what was quantized before it.
            let before = kv_len.saturating_sub(1);
            let end = before.saturating_sub(self.kind.recent() as u32) / KV_GROUP as u32 * KV_GROUP as u32;
            let exact = (KV_EXACT_START as u32).min(kv_len);
            kv_len - end.max(exact) + exact
        } else {
            0
        };
        let f16_row = KvType::F16.row_bytes(self.width) as u64;
        self.layers
            .iter()
            .map(|l| {
                let seen = if l.window == 0 { kv_len } else { kv_len.min(l.window + l.layout.sink) };
                let from_ring = u64::from(recent.min(seen));
                2 * (from_ring * f16_row + (u64::from(seen) - from_ring) * self.row_bytes())
            })
            .sum()
    }

    /// Grows the buffers (doubling, keeping their contents) so that
    /// positions `0..end` have slots. A refused allocation is
    /// `out-of-memory` and leaves the cache as it was.
    pub async fn reserve(&mut self, gpu: &GpuDevice, end: u32) -> Result<()> {
        let row_bytes = self.row_bytes();
        let quantized = self.kind.is_quantized();
        let mut encoder = None;
        let oom = gpu.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let mut grown = Vec::new();
        let result = (|| {
            for (i, layer) in self.layers.iter().enumerate() {
                let mut needed = layer.layout.slots_needed(end);
                if quantized {
                    needed = round_to_group(needed);
                }
                let needed = needed.min(layer.max_slots);
                if needed <= layer.slots {
                    continue;
                }
                let slots = needed.max(layer.slots.saturating_mul(2)).min(layer.max_slots);
                let (k, v) = allocate(gpu, row_bytes, slots, "cache", i)?;
                let enc = encoder.get_or_insert_with(|| gpu.device.create_command_encoder(&Default::default()));
                let used = u64::from(layer.slots) * row_bytes;
                enc.copy_buffer_to_buffer(&layer.k, 0, &k, 0, used);
                enc.copy_buffer_to_buffer(&layer.v, 0, &v, 0, used);
                grown.push((i, k, v, slots));
            }
            Ok::<_, NavajaError>(())
        })();
        if let Some(enc) = encoder {
            gpu.queue.submit([enc.finish()]);
        }
        if let Some(e) = oom.pop().await {
            return Err(NavajaError::OutOfMemory(format!("growing the KV cache to {end} positions: {e}")));
        }
        result?;
        for (i, k, v, slots) in grown {
            let layer = &mut self.layers[i];
            (layer.k, layer.v, layer.slots) = (k, v, slots);
        }
        Ok(())
    }

    /// Before recording a batch at `positions`: decides which groups it
    /// quantizes (those a whole `recent` old once it is written). Returns
    /// the state to give [`KvCache::undo_prepare`] if the batch is not run.
    pub fn prepare(&mut self, positions: std::ops::Range<u32>) -> u32 {
        let before = self.quantized_end;
        self.read_end = before;
        if self.kind.is_quantized() {
            let group = KV_GROUP as u32;
            let end = positions.end.saturating_sub(self.kind.recent() as u32) / group * group;
            let end = end.max(self.quantized_end);
            // The first group is never quantized.
            let first = self.quantized_end.max(KV_EXACT_START as u32).min(end);
            self.pending = (first, (end - first) / group);
            self.quantized_end = end;
        }
        before
    }

    /// Forgets a [`KvCache::prepare`] whose batch was not submitted.
    pub fn undo_prepare(&mut self, before: u32) {
        self.quantized_end = before;
        self.read_end = before;
        self.pending = (before, 0);
    }

    /// Records the write of a batch's keys and values (one row of `width`
    /// f32 per position, from the start of `k` and `v`) as `positions` of
    /// `layer`, and the quantization of the groups [`KvCache::prepare`] chose.
    pub fn write(
        &self,
        gpu: &GpuDevice,
        encoder: &mut wgpu::CommandEncoder,
        layer: usize,
        (k, v): (&wgpu::Buffer, &wgpu::Buffer),
        positions: std::ops::Range<u32>,
    ) -> Result<()> {
        let l = &self.layers[layer];
        let stored_end = if self.kind.is_quantized() { self.quantized_end } else { positions.end };
        if l.layout.slots_needed(stored_end) > l.slots {
            return Err(NavajaError::ContextOverflow(format!(
                "the KV cache of layer {layer} holds {} positions; writing up to position {}",
                l.slots, positions.end
            )));
        }
        let n_rows = positions.len() as u32;
        let (width, head_dim) = (self.width as u32, self.head_dim as u32);
        let Some((k_ring, v_ring)) = &l.ring else {
            let (k_cache, v_cache, cache) = (&l.k, &l.v, l.layout);
            let start_pos = positions.start;
            return KvWrite { k, v, k_cache, v_cache, cache, n_rows, width, head_dim, start_pos }.encode(gpu, encoder);
        };
        KvWrite {
            k,
            v,
            k_cache: k_ring,
            v_cache: v_ring,
            // quant::kv::ring_slot: the first positions in fixed slots, the rest cycling.
            cache: CacheLayout { kind: KvType::F16, sink: KV_EXACT_START as u32, ring_len: self.ring_slots },
            n_rows,
            width,
            head_dim,
            start_pos: positions.start,
        }
        .encode(gpu, encoder)?;
        let (first_pos, n_groups) = self.pending;
        if n_groups == 0 {
            return Ok(());
        }
        KvQuantize {
            k_ring,
            v_ring,
            ring_slots: self.ring_slots,
            k_cache: &l.k,
            v_cache: &l.v,
            cache: l.layout,
            width,
            head_dim,
            first_pos,
            n_groups,
        }
        .encode(gpu, encoder)
    }

    /// What attention reads for `layer`.
    pub fn view(&self, layer: usize) -> CacheView<'_> {
        let l = &self.layers[layer];
        let recent =
            l.ring.as_ref().map(|(k, v)| RecentRing { k, v, slots: self.ring_slots, quantized_end: self.read_end });
        CacheView { k: &l.k, v: &l.v, layout: l.layout, recent, window: l.window }
    }

    /// Notes that positions up to `end` were written: rings forget old ones.
    pub fn advance(&mut self, end: u32) {
        for l in self.layers.iter_mut().filter(|l| l.layout.ring_len != 0) {
            l.held_from = l.held_from.max(end.saturating_sub(l.layout.ring_len));
        }
    }

    /// The longest prefix of the first `len` positions the cache can
    /// continue from: all of them when every key the next query would see is
    /// still held as it was, else a shorter prefix whose continuation can be
    /// computed again (within every ring's sink, or, for a quantized cache,
    /// the last whole group below `len` when `len` cuts into quantized groups).
    pub fn resumable_prefix(&self, len: u32) -> u32 {
        let mut keep = len;
        // A cut inside a quantized group restarts at the group (the first group is never quantized).
        if keep < self.quantized_end && keep as usize >= KV_EXACT_START {
            keep = keep / KV_GROUP as u32 * KV_GROUP as u32;
        }
        loop {
            let next = self.layers.iter().fold(keep, |keep, l| {
                let first_needed = (keep + 1).saturating_sub(l.window).max(l.layout.sink);
                let lost = l.layout.ring_len != 0 && keep > l.layout.sink && first_needed < l.held_from;
                if lost { keep.min(l.layout.sink) } else { keep }
            });
            if next == keep {
                return keep;
            }
            keep = next;
        }
    }

    /// Forgets every position from `len` on (`len` from [`KvCache::resumable_prefix`]).
    pub fn truncate(&mut self, len: u32) {
        self.quantized_end = self.quantized_end.min(len / KV_GROUP as u32 * KV_GROUP as u32);
        self.read_end = self.quantized_end;
        for l in self.layers.iter_mut().filter(|l| l.layout.ring_len != 0 && len <= l.layout.sink) {
            l.held_from = l.layout.sink; // the ring starts over
        }
    }
}

fn allocate(
    gpu: &GpuDevice,
    row_bytes: u64,
    slots: u32,
    what: &str,
    layer: usize,
) -> Result<(wgpu::Buffer, wgpu::Buffer)> {
    let bytes = u64::from(slots.max(1)) * row_bytes;
    let k = gpu.storage(&format!("k {what} {layer}"), bytes)?;
    let v = gpu.storage(&format!("v {what} {layer}"), bytes)?;
    Ok((k, v))
}
