//! `navaja devices`: what GPU adapters this machine offers, and which one
//! navaja would use.

use navaja_core::{NavajaError, Result};
use navaja_gpu::device::list_adapters;
use navaja_gpu::{AdapterSummary, DeviceOptions, GpuDevice};
use serde::Serialize;

#[derive(Serialize)]
struct Selected {
    name: String,
    backend: String,
}

#[derive(Serialize)]
struct DevicesReport {
    /// The adapter navaja opens by default (or as `NAVAJA_ADAPTER` says).
    selected: Option<Selected>,
    /// Why no adapter could be opened, when none could.
    selection_error: Option<String>,
    adapters: Vec<AdapterSummary>,
}

pub fn run(json: bool) -> Result<()> {
    let adapters = list_adapters();
    let (selected, selection_error) = match pollster::block_on(GpuDevice::new(&DeviceOptions::from_env())) {
        Ok(gpu) => (Some(Selected { name: gpu.adapter.name.clone(), backend: gpu.adapter.backend.clone() }), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let report = DevicesReport { selected, selection_error, adapters };
    if json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| NavajaError::Gpu(e.to_string()))?;
        println!("{text}");
    } else {
        print_text(&report);
    }
    if report.adapters.is_empty() {
        return Err(NavajaError::WebGpuUnavailable(
            "wgpu found no adapter. Install a Vulkan driver (Debian: mesa-vulkan-drivers) or run on a machine with a GPU".into(),
        ));
    }
    Ok(())
}

fn print_text(report: &DevicesReport) {
    for a in &report.adapters {
        let is_selected = report.selected.as_ref().is_some_and(|s| s.name == a.name && s.backend == a.backend);
        let mark = if is_selected { "*" } else { " " };
        let mib = |b: u64| b / (1 << 20);
        println!("{mark} {} [{} / {}] driver: {} {}", a.name, a.backend, a.device_type, a.driver, a.driver_info);
        println!(
            "    shader-f16: {}  subgroups: {} (size {}..{})",
            yes_no(a.shader_f16),
            yes_no(a.subgroups),
            a.subgroup_min_size,
            a.subgroup_max_size
        );
        let l = &a.limits;
        println!(
            "    max storage binding {} MiB, max buffer {} MiB, {} invocations/workgroup, {} workgroups/dimension, {} KiB workgroup memory, {} storage buffers/stage, {} bind groups",
            mib(l.max_storage_buffer_binding_size),
            mib(l.max_buffer_size),
            l.max_compute_invocations_per_workgroup,
            l.max_compute_workgroups_per_dimension,
            l.max_compute_workgroup_storage_size / 1024,
            l.max_storage_buffers_per_shader_stage,
            l.max_bind_groups,
        );
    }
    if let Some(e) = &report.selection_error {
        println!("no adapter can be opened: {e}");
    }
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}
