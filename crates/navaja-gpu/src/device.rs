//! Opening a GPU device: adapter selection, optional features, limits.
//!
//! The same code runs natively (Vulkan/Metal/DX12; lavapipe on CI) and in
//! the browser (WebGPU). What the adapter can do is recorded once in
//! [`GpuDevice`] so that ops check sizes against the real limits instead of
//! failing inside the driver.

use std::sync::{Arc, Mutex};

use navaja_core::{NavajaError, Result};
use serde::Serialize;

use crate::kernels::KernelRegistry;

/// How to pick and open an adapter.
#[derive(Clone, Debug)]
pub struct DeviceOptions {
    /// Case-insensitive substring of the adapter name to use (native only;
    /// the browser offers exactly one adapter). `None`: let wgpu choose.
    pub adapter_name: Option<String>,
    pub power_preference: wgpu::PowerPreference,
    /// Enable `shader-f16` when the adapter has it. Off forces the packed-f16 paths.
    pub allow_shader_f16: bool,
    /// Enable subgroup operations when the adapter has them.
    pub allow_subgroups: bool,
}

impl Default for DeviceOptions {
    fn default() -> Self {
        DeviceOptions {
            adapter_name: None,
            power_preference: wgpu::PowerPreference::HighPerformance,
            allow_shader_f16: true,
            allow_subgroups: true,
        }
    }
}

impl DeviceOptions {
    /// Defaults, with the adapter chosen by the `NAVAJA_ADAPTER` environment
    /// variable when it is set (native tools and tests use this).
    pub fn from_env() -> Self {
        let adapter_name = std::env::var("NAVAJA_ADAPTER").ok().filter(|s| !s.is_empty());
        DeviceOptions { adapter_name, ..Default::default() }
    }
}

/// The limits navaja's kernels depend on, in a form that serialises to JSON.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct LimitsSummary {
    pub max_storage_buffer_binding_size: u64,
    pub max_buffer_size: u64,
    pub max_uniform_buffer_binding_size: u64,
    pub max_storage_buffers_per_shader_stage: u32,
    pub max_bind_groups: u32,
    pub max_compute_invocations_per_workgroup: u32,
    pub max_compute_workgroup_size_x: u32,
    pub max_compute_workgroup_size_y: u32,
    pub max_compute_workgroup_size_z: u32,
    pub max_compute_workgroups_per_dimension: u32,
    pub max_compute_workgroup_storage_size: u32,
}

impl From<&wgpu::Limits> for LimitsSummary {
    fn from(l: &wgpu::Limits) -> Self {
        LimitsSummary {
            max_storage_buffer_binding_size: l.max_storage_buffer_binding_size,
            max_buffer_size: l.max_buffer_size,
            max_uniform_buffer_binding_size: l.max_uniform_buffer_binding_size,
            max_storage_buffers_per_shader_stage: l.max_storage_buffers_per_shader_stage,
            max_bind_groups: l.max_bind_groups,
            max_compute_invocations_per_workgroup: l.max_compute_invocations_per_workgroup,
            max_compute_workgroup_size_x: l.max_compute_workgroup_size_x,
            max_compute_workgroup_size_y: l.max_compute_workgroup_size_y,
            max_compute_workgroup_size_z: l.max_compute_workgroup_size_z,
            max_compute_workgroups_per_dimension: l.max_compute_workgroups_per_dimension,
            max_compute_workgroup_storage_size: l.max_compute_workgroup_storage_size,
        }
    }
}

/// What an adapter is and can do; printed by `navaja devices` and shown by the web demo.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub vendor: u32,
    pub device: u32,
    pub driver: String,
    pub driver_info: String,
    pub shader_f16: bool,
    pub subgroups: bool,
    pub subgroup_min_size: u32,
    pub subgroup_max_size: u32,
    /// Every feature the adapter reports, by wgpu's name.
    pub features: Vec<String>,
    pub limits: LimitsSummary,
}

impl AdapterSummary {
    /// A CPU implementation of the GPU API (lavapipe, SwiftShader, WARP): the
    /// kernels with CPU-tuned shapes and smaller workgroups serve it better.
    pub fn is_cpu(&self) -> bool {
        self.device_type == "Cpu"
    }

    /// SwiftShader, the CPU adapter of headless Chromium (in a browser a CPU
    /// adapter is SwiftShader or Windows' WARP, and wgpu reports no name).
    pub fn is_swiftshader(&self) -> bool {
        self.is_cpu() && (cfg!(target_arch = "wasm32") || self.name.to_lowercase().contains("swiftshader"))
    }

    pub fn of(adapter: &wgpu::Adapter) -> Self {
        let info = adapter.get_info();
        let features = adapter.features();
        AdapterSummary {
            name: info.name,
            backend: format!("{:?}", info.backend).to_lowercase(),
            device_type: format!("{:?}", info.device_type),
            vendor: info.vendor,
            device: info.device,
            driver: info.driver,
            driver_info: info.driver_info,
            shader_f16: features.contains(wgpu::Features::SHADER_F16),
            subgroups: features.contains(wgpu::Features::SUBGROUP),
            subgroup_min_size: info.subgroup_min_size,
            subgroup_max_size: info.subgroup_max_size,
            features: features.iter_names().map(|(name, _)| name.to_string()).collect(),
            limits: LimitsSummary::from(&adapter.limits()),
        }
    }
}

/// Every adapter wgpu can see on this machine (native only: a browser exposes one).
#[cfg(not(target_arch = "wasm32"))]
pub fn list_adapters() -> Vec<AdapterSummary> {
    let instance = wgpu::Instance::new(instance_descriptor());
    let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    adapters.iter().map(AdapterSummary::of).collect()
}

/// Why the device stopped working, written by wgpu's callbacks and read by ops.
#[derive(Default)]
struct Health {
    lost: Option<String>,
    uncaptured: Option<String>,
}

/// An open device with its queue, recorded capabilities and pipeline cache.
pub struct GpuDevice {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub adapter: AdapterSummary,
    /// The limits the device was opened with (the adapter's own maxima).
    pub limits: wgpu::Limits,
    /// `shader-f16` is enabled on this device.
    pub shader_f16: bool,
    /// Subgroup operations are enabled on this device.
    pub subgroups: bool,
    pub kernels: KernelRegistry,
    /// Read-only buffers by content (op parameters, small tables), so that a
    /// decode step re-encoding the same ops allocates nothing new.
    pub(crate) constant_buffers: crate::buffers::ConstantBuffers,
    /// Per-op intermediate buffers by (label, size); see `GpuDevice::reusable_scratch`.
    pub(crate) scratch_buffers: Mutex<std::collections::HashMap<(&'static str, u64), wgpu::Buffer>>,
    health: Arc<Mutex<Health>>,
}

impl GpuDevice {
    /// Opens the adapter chosen by `options` with its full limits and the
    /// optional features navaja can use.
    pub async fn new(options: &DeviceOptions) -> Result<GpuDevice> {
        let instance = wgpu::Instance::new(instance_descriptor());
        let adapter = select_adapter(&instance, options).await?;
        let summary = AdapterSummary::of(&adapter);

        let available = adapter.features();
        let mut features = wgpu::Features::empty();
        if options.allow_shader_f16 && available.contains(wgpu::Features::SHADER_F16) {
            features |= wgpu::Features::SHADER_F16;
        }
        if options.allow_subgroups && available.contains(wgpu::Features::SUBGROUP) {
            features |= wgpu::Features::SUBGROUP;
        }
        // Ask for everything the adapter allows: the default WebGPU limits
        // (128 MiB bindings, 256 MiB buffers) are far below what models need.
        let limits = adapter.limits();
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("navaja"),
                required_features: features,
                required_limits: limits.clone(),
                ..Default::default()
            })
            .await
            .map_err(|e| NavajaError::WebGpuUnavailable(format!("could not open {}: {e}", summary.name)))?;

        let health = Arc::new(Mutex::new(Health::default()));
        {
            let health = health.clone();
            device.set_device_lost_callback(move |reason, message| {
                if let Ok(mut h) = health.lock() {
                    h.lost = Some(format!("{reason:?}: {message}"));
                }
            });
        }
        {
            // Without a handler wgpu panics on an uncaptured error; record it
            // instead so the op that caused it returns a typed error.
            let health = health.clone();
            device.on_uncaptured_error(Arc::new(move |error: wgpu::Error| {
                if let Ok(mut h) = health.lock() {
                    h.uncaptured.get_or_insert_with(|| error.to_string());
                }
            }));
        }

        let limits = device.limits();
        Ok(GpuDevice {
            shader_f16: device.features().contains(wgpu::Features::SHADER_F16),
            subgroups: device.features().contains(wgpu::Features::SUBGROUP),
            kernels: KernelRegistry::new(&limits, workgroup_cap(&summary)),
            constant_buffers: Default::default(),
            scratch_buffers: Default::default(),
            adapter: summary,
            limits,
            device,
            queue,
            health,
        })
    }

    /// Ok while the device works; `DeviceLost` once the driver or browser took it
    /// away, `Gpu` if an error escaped every error scope since the last check.
    pub fn check_health(&self) -> Result<()> {
        let mut h = self.health.lock().map_err(|_| NavajaError::Gpu("device state poisoned".into()))?;
        if let Some(reason) = &h.lost {
            return Err(NavajaError::DeviceLost(reason.clone()));
        }
        match h.uncaptured.take() {
            Some(message) => Err(NavajaError::Gpu(message)),
            None => Ok(()),
        }
    }

    /// Fails with `AdapterLimit` when one binding of `bytes` exceeds the adapter.
    pub fn check_binding_size(&self, what: &str, bytes: u64) -> Result<()> {
        let limit = self.limits.max_storage_buffer_binding_size.min(self.limits.max_buffer_size);
        if bytes > limit {
            return Err(NavajaError::AdapterLimit { what: format!("{what} ({bytes} bytes)"), needed: bytes, limit });
        }
        Ok(())
    }

    /// Splits `groups` workgroups into an (x, y) grid within the per-dimension limit.
    /// Kernels recover the linear index as `id.x + id.y * num_workgroups.x`.
    pub fn dispatch_grid(&self, what: &str, groups: u32) -> Result<(u32, u32)> {
        let max = self.limits.max_compute_workgroups_per_dimension;
        if groups <= max {
            return Ok((groups, 1));
        }
        let y = groups.div_ceil(max);
        if y > max {
            return Err(NavajaError::AdapterLimit {
                what: format!("{what} ({groups} workgroups)"),
                needed: u64::from(groups),
                limit: u64::from(max) * u64::from(max),
            });
        }
        Ok((max, y))
    }

    /// Blocks natively until submitted work is done; a no-op in the browser,
    /// which drives the queue itself.
    pub fn wait_idle(&self) -> Result<()> {
        #[cfg(not(target_arch = "wasm32"))]
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| NavajaError::Gpu(format!("waiting for the GPU failed: {e}")))?;
        Ok(())
    }
}

/// The largest workgroup kernels should use on this adapter, when smaller
/// than its limits. CPU adapters run a workgroup's invocations on one
/// thread, a few SIMD lanes at a time, switching fibres at every barrier, and
/// spread only whole workgroups over cores: many small workgroups beat few
/// large ones. Measured decode of SmolLM2 with the cap at 1024 / 64 / 32 / 16
/// invocations: SwiftShader 1.15 / 1.67 / 1.79 / 1.85 tokens/s, lavapipe
/// 5.8 / 6.1 / 5.7 / 5.3. In a browser a CPU adapter is SwiftShader (or
/// Windows' WARP); wgpu reports no name there. `NAVAJA_MAX_WORKGROUP`
/// overrides it natively, for tuning.
pub fn workgroup_cap(adapter: &AdapterSummary) -> Option<u32> {
    #[cfg(not(target_arch = "wasm32"))]
    if let Some(cap) = std::env::var("NAVAJA_MAX_WORKGROUP").ok().and_then(|v| v.parse().ok()) {
        return Some(cap);
    }
    if !adapter.is_cpu() {
        return None;
    }
    Some(if adapter.is_swiftshader() { 32 } else { 64 })
}

/// Natively, honour wgpu's environment variables (`WGPU_BACKEND`, ...); the
/// browser has nothing to configure.
fn instance_descriptor() -> wgpu::InstanceDescriptor {
    #[cfg(not(target_arch = "wasm32"))]
    return wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    #[cfg(target_arch = "wasm32")]
    return wgpu::InstanceDescriptor::new_without_display_handle();
}

async fn select_adapter(instance: &wgpu::Instance, options: &DeviceOptions) -> Result<wgpu::Adapter> {
    if let Some(wanted) = &options.adapter_name {
        let wanted_lc = wanted.to_lowercase();
        let adapters = instance.enumerate_adapters(wgpu::Backends::all()).await;
        let names: Vec<String> = adapters
            .iter()
            .map(|a| {
                let info = a.get_info();
                format!("{} ({:?})", info.name, info.backend)
            })
            .collect();
        return adapters.into_iter().find(|a| a.get_info().name.to_lowercase().contains(&wanted_lc)).ok_or_else(|| {
            NavajaError::WebGpuUnavailable(format!(
                "no adapter matches {wanted:?}; available: {}",
                if names.is_empty() { "none".to_string() } else { names.join(", ") }
            ))
        });
    }
    instance
        .request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: options.power_preference,
            ..Default::default()
        })
        .await
        .map_err(|e| {
            NavajaError::WebGpuUnavailable(format!(
                "{e}. Natively, install a Vulkan driver (on Debian: mesa-vulkan-drivers for lavapipe); \
                 in a browser, use one with WebGPU enabled"
            ))
        })
}
