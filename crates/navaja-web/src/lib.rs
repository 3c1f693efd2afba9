//! The wasm-bindgen surface of navaja. It only translates: JS values in,
//! navaja-gpu calls, JS values (or errors carrying a `code`) out. The
//! TypeScript in web/src wraps it into the public API.

use navaja_core::NavajaError;
use navaja_gpu::ops::rms_norm::rms_norm;
use navaja_gpu::{DeviceOptions, GpuDevice};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// A JS `Error` whose `code` property is the navaja error code, so the
/// TypeScript wrapper can rethrow it as a typed `NavajaError`.
fn to_js_error(e: NavajaError) -> JsValue {
    let error = js_sys::Error::new(&e.to_string());
    // Setting a property on a fresh Error object cannot fail.
    let _ = js_sys::Reflect::set(&error, &JsValue::from_str("code"), &JsValue::from_str(e.code()));
    error.into()
}

/// One GPU device and everything loaded on it.
#[wasm_bindgen]
pub struct WasmEngine {
    gpu: GpuDevice,
}

#[wasm_bindgen]
impl WasmEngine {
    /// Opens the browser's WebGPU adapter. Rejects with code
    /// `webgpu-unavailable` when the browser has none.
    pub async fn create(allow_shader_f16: bool) -> Result<WasmEngine, JsValue> {
        let options = DeviceOptions { allow_shader_f16, ..Default::default() };
        let gpu = GpuDevice::new(&options).await.map_err(to_js_error)?;
        Ok(WasmEngine { gpu })
    }

    /// The adapter's name, features and limits, as a plain object.
    #[wasm_bindgen(js_name = adapterInfo)]
    pub fn adapter_info(&self) -> Result<JsValue, JsValue> {
        let serializer = serde_wasm_bindgen::Serializer::json_compatible();
        serde::Serialize::serialize(&self.gpu.adapter, &serializer)
            .map_err(|e| to_js_error(NavajaError::Gpu(e.to_string())))
    }

    /// Whether `shader-f16` is enabled on the device.
    #[wasm_bindgen(js_name = shaderF16)]
    pub fn shader_f16(&self) -> bool {
        self.gpu.shader_f16
    }

    /// Row-wise RMSNorm of `x` (rows of `weight.length` values) on the GPU.
    #[wasm_bindgen(js_name = rmsNorm)]
    pub async fn rms_norm(&self, x: Vec<f32>, weight: Vec<f32>, eps: f32) -> Result<Vec<f32>, JsValue> {
        rms_norm(&self.gpu, &x, &weight, eps).await.map_err(to_js_error)
    }
}
