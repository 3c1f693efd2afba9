//! The wasm-bindgen surface of navaja. It only translates: JS values in,
//! navaja-gpu calls, JS values (or errors carrying a `code`) out. The
//! TypeScript in web/src wraps it into the public API.
//!
//! - [`engine`]: `WasmEngine` (device, language model, generation) and
//!   `WasmModelLoad` (a model file streaming in).
//! - [`requests`]: the plain objects exchanged with TypeScript.
//! - [`js`]: errors, serde conversions and the clock at the boundary.

mod engine;
mod js;
mod requests;

pub use engine::{WasmEngine, WasmModelLoad};

use wasm_bindgen::prelude::*;

#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}
