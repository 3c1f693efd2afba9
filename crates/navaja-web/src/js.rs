//! Crossing the JS boundary: errors with a `code`, plain objects in and
//! out through serde, and the browser's clock.

use navaja_core::NavajaError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::prelude::*;

/// A JS `Error` whose `code` property is the navaja error code, so the
/// TypeScript wrapper can rethrow it as a typed `NavajaError`.
pub fn to_js_error(e: NavajaError) -> JsValue {
    let error = js_sys::Error::new(&e.to_string());
    // Setting a property on a fresh Error object cannot fail.
    let _ = js_sys::Reflect::set(&error, &JsValue::from_str("code"), &JsValue::from_str(e.code()));
    error.into()
}

/// A Rust value as a plain JS object (maps become objects, u64 numbers).
pub fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    let serializer = serde_wasm_bindgen::Serializer::json_compatible();
    value.serialize(&serializer).map_err(|e| to_js_error(NavajaError::Gpu(format!("serialising a result: {e}"))))
}

/// A plain JS object as a Rust value; a wrong shape is `invalid-argument`
/// naming `what` (the TypeScript layer validates first, this is the backstop).
pub fn from_js<T: DeserializeOwned>(what: &str, value: JsValue) -> Result<T, JsValue> {
    serde_wasm_bindgen::from_value(value).map_err(|e| to_js_error(NavajaError::invalid(format!("{what}: {e}"))))
}

/// `performance.now()` in a window or a worker; 0 where there is none.
pub fn now_ms() -> f64 {
    let global = js_sys::global();
    let performance = js_sys::Reflect::get(&global, &JsValue::from_str("performance")).ok();
    let now = performance
        .as_ref()
        .and_then(|p| js_sys::Reflect::get(p, &JsValue::from_str("now")).ok())
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
    match (performance, now) {
        (Some(p), Some(f)) => f.call0(&p).ok().and_then(|v| v.as_f64()).unwrap_or(0.0),
        _ => 0.0,
    }
}
