//! The wasm-bindgen surface of navaja. It only translates: JS values in,
//! navaja-gpu calls, JS values (or errors carrying a `code`) out. The
//! TypeScript in web/src wraps it into the public API.
//!
//! - [`engine`]: `WasmEngine` (device, language model and generation,
//!   embedding model with embed and rerank).
//! - [`load`]: `WasmModelLoad` (a model file streaming in, routed to the
//!   decoder or the encoder loader).
//! - [`encoder`]: the embedding model slot.
//! - [`requests`]: the plain objects exchanged with TypeScript.
//! - [`js`]: errors, serde conversions and the clock at the boundary.

mod encoder;
mod engine;
mod js;
mod load;
mod requests;

pub use engine::WasmEngine;
pub use load::WasmModelLoad;

use wasm_bindgen::prelude::*;

#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}
