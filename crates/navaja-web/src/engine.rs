//! `WasmEngine`: one GPU device with a language model and an embedding
//! model (a BERT-family encoder) loaded on it, each optional, both at once;
//! or, created with `createCpu`, no GPU at all: both models on navaja-core's
//! CPU backend (WebAssembly SIMD), for browsers without WebGPU or with only
//! a software adapter.
//!
//! The TypeScript layer runs one call at a time per engine (its queue), so
//! a model is simply taken out of its cell for the length of a generation
//! (or an embedding batch) and put back, never borrowed across an `await`.

use std::cell::RefCell;
use std::sync::Arc;

use navaja_core::NavajaError;
use navaja_core::chat::ChatTemplate;
use navaja_core::cpu::{CpuDecoder, CpuDecoderSession};
use navaja_core::generate::{Generation, TokenModel, generate};
use navaja_core::gguf::GgufHeader;
use navaja_core::quant::kv::KvType;
use navaja_core::tokenizer::Tokenizer;
use navaja_gpu::device::AdapterSummary;
use navaja_gpu::generation::chat_prompt_ids;
use navaja_gpu::ops::rms_norm::rms_norm;
use navaja_gpu::session::Session;
use navaja_gpu::{DeviceOptions, GpuDevice};
use wasm_bindgen::prelude::*;

use crate::encoder::{Embedder, load_cpu_embedder, load_embedder, upload_encoder};
use crate::js::{from_js, now_ms, to_js, to_js_error};
use crate::load::{Arrived, WasmModelLoad};
use crate::requests::{GenerateRequest, GenerateResponse, LoadOptions, ModelInfo};

/// Where a language model runs, with its conversation cache.
enum LlmSession {
    Gpu(Session),
    Cpu(CpuDecoderSession),
}

/// A loaded language model.
struct Llm {
    session: LlmSession,
    tokenizer: Tokenizer,
    chat_template: Option<ChatTemplate>,
    info: ModelInfo,
}

/// One GPU device (or none: the CPU backend) and everything loaded on it.
#[wasm_bindgen]
pub struct WasmEngine {
    gpu: Option<Arc<GpuDevice>>,
    adapter: AdapterSummary,
    llm: RefCell<Option<Llm>>,
    embedder: RefCell<Option<Embedder>>,
}

/// What `adapterInfo` reports on the CPU backend.
fn cpu_adapter() -> AdapterSummary {
    AdapterSummary {
        name: "CPU (WebAssembly SIMD, 1 thread)".into(),
        backend: "cpu".into(),
        device_type: "Cpu".into(),
        driver: "navaja-core".into(),
        ..AdapterSummary::default()
    }
}

fn no_gpu(what: &str) -> NavajaError {
    NavajaError::unsupported(format!(
        "{what} needs WebGPU: this engine runs on the CPU backend, which runs language models only"
    ))
}

fn no_model() -> JsValue {
    to_js_error(NavajaError::invalid("no language model is loaded: call engine.load(...) first"))
}

fn no_embedder() -> JsValue {
    to_js_error(NavajaError::invalid(
        "no embedding model is loaded: call engine.load(...) with a BERT-family model first \
         (a GGUF file, or a sentence-transformers folder URL ending in /)",
    ))
}

/// A JS object `{ <key>: Float32Array, prompt_tokens }`.
fn vectors_object(key: &str, values: &[f32], prompt_tokens: usize) -> JsValue {
    let object = js_sys::Object::new();
    // Setting properties on a fresh plain object cannot fail.
    let _ = js_sys::Reflect::set(&object, &JsValue::from_str(key), &js_sys::Float32Array::from(values));
    let _ = js_sys::Reflect::set(&object, &JsValue::from_str("prompt_tokens"), &JsValue::from(prompt_tokens as f64));
    object.into()
}

#[wasm_bindgen]
impl WasmEngine {
    /// Opens the browser's WebGPU adapter. Rejects with code
    /// `webgpu-unavailable` when the browser has none.
    pub async fn create(allow_shader_f16: bool) -> Result<WasmEngine, JsValue> {
        let options = DeviceOptions { allow_shader_f16, ..Default::default() };
        let gpu = GpuDevice::new(&options).await.map_err(to_js_error)?;
        let adapter = gpu.adapter.clone();
        Ok(WasmEngine { gpu: Some(Arc::new(gpu)), adapter, llm: RefCell::new(None), embedder: RefCell::new(None) })
    }

    /// An engine without a GPU: language models run on the CPU backend.
    #[wasm_bindgen(js_name = createCpu)]
    pub fn create_cpu() -> WasmEngine {
        WasmEngine { gpu: None, adapter: cpu_adapter(), llm: RefCell::new(None), embedder: RefCell::new(None) }
    }

    /// The adapter's name, features and limits, as a plain object (backend
    /// `"cpu"` on the CPU backend).
    #[wasm_bindgen(js_name = adapterInfo)]
    pub fn adapter_info(&self) -> Result<JsValue, JsValue> {
        to_js(&self.adapter)
    }

    /// Whether `shader-f16` is enabled on the device.
    #[wasm_bindgen(js_name = shaderF16)]
    pub fn shader_f16(&self) -> bool {
        self.gpu.as_ref().is_some_and(|g| g.shader_f16)
    }

    /// Row-wise RMSNorm of `x` (rows of `weight.length` values) on the GPU
    /// (on the CPU backend, navaja-core's).
    #[wasm_bindgen(js_name = rmsNorm)]
    pub async fn rms_norm(&self, x: Vec<f32>, weight: Vec<f32>, eps: f32) -> Result<Vec<f32>, JsValue> {
        match &self.gpu {
            Some(gpu) => rms_norm(gpu, &x, &weight, eps).await.map_err(to_js_error),
            None => navaja_core::ops::rms_norm(&x, &weight, eps).map_err(to_js_error),
        }
    }

    /// Starts loading a model file; push its bytes into the result in
    /// order, then pass it to `finishLoad`. `file_len`: the file's size when
    /// known. `format`: `"gguf"` (default; a language model or a BERT-family
    /// encoder, as its header says) or `"safetensors"` (an encoder's
    /// model.safetensors; its folder's text files go in the load options).
    #[wasm_bindgen(js_name = beginLoad)]
    pub fn begin_load(&self, file_len: Option<f64>, format: Option<String>) -> Result<WasmModelLoad, JsValue> {
        if let Some(gpu) = &self.gpu {
            gpu.check_health().map_err(to_js_error)?;
        }
        let file_len = file_len.filter(|l| l.is_finite() && *l >= 0.0).map(|l| l as u64);
        match format.as_deref() {
            None | Some("gguf") => Ok(WasmModelLoad::gguf(self.gpu.clone(), file_len)),
            Some("safetensors") => Ok(WasmModelLoad::safetensors(file_len)),
            Some(other) => Err(to_js_error(NavajaError::invalid(format!(
                "unknown model format {other:?} (\"gguf\" or \"safetensors\")"
            )))),
        }
    }

    /// Completes a load: checks the file and builds the model. A language
    /// model gets its KV cache planned and becomes the engine's language
    /// model; an encoder becomes its embedding model (each replacing the
    /// previous one of its kind only). Resolves to the model's info, whose
    /// `kind` says which.
    #[wasm_bindgen(js_name = finishLoad)]
    pub async fn finish_load(&self, load: WasmModelLoad, options: JsValue) -> Result<JsValue, JsValue> {
        let options: LoadOptions = if options.is_undefined() || options.is_null() {
            LoadOptions::default()
        } else {
            from_js("load options", options)?
        };
        let gpu = self.gpu.clone();
        let stream = match (load.arrived(), &gpu) {
            (Ok(Arrived::Decoder(stream)), _) => stream,
            (Ok(Arrived::CpuDecoder { bytes }), _) => {
                if options.encoder_files.is_some() {
                    return Err(to_js_error(NavajaError::invalid("encoder_files given for a language model")));
                }
                let llm = load_cpu_llm(&bytes, &options).map_err(to_js_error)?;
                let result = to_js(&llm.info)?;
                *self.llm.borrow_mut() = Some(llm);
                return Ok(result);
            }
            (Ok(Arrived::Encoder { format, bytes }), None) => {
                let loaded = load_cpu_embedder(format, &bytes, options.encoder_files.as_ref(), wasm_memory_bytes);
                drop(bytes);
                let embedder = loaded.map_err(to_js_error)?;
                let result = to_js(&embedder.info)?;
                *self.embedder.borrow_mut() = Some(embedder);
                return Ok(result);
            }
            (Ok(Arrived::Encoder { format, bytes }), Some(gpu)) => {
                let gpu = gpu.clone();
                let uploaded = upload_encoder(&gpu, format, &bytes, options.encoder_files.as_ref());
                drop(bytes);
                let loaded = match uploaded {
                    Ok(loaded) => load_embedder(&gpu, format, loaded, wasm_memory_bytes).await,
                    Err(e) => Err(e),
                };
                return match loaded {
                    Ok(embedder) => {
                        let result = to_js(&embedder.info)?;
                        *self.embedder.borrow_mut() = Some(embedder);
                        Ok(result)
                    }
                    Err(e) => Err(to_js_error(settle(Some(&gpu), e).await)),
                };
            }
            (Err(e), _) => return Err(to_js_error(settle(gpu.as_deref(), e).await)),
        };
        // A GPU decoder stream only comes from an engine with a GPU.
        let Some(gpu) = gpu else { return Err(to_js_error(no_gpu("this load"))) };
        if options.encoder_files.is_some() {
            return Err(to_js_error(NavajaError::invalid("encoder_files given for a language model")));
        }
        let loaded = match stream.finish().await {
            Ok(loaded) => loaded,
            Err(e) => return Err(to_js_error(settle(Some(&gpu), e).await)),
        };
        let session_options = options.session_options();
        let session = match Session::new(gpu.clone(), loaded.model.clone(), &session_options).await {
            Ok(session) => session,
            Err(e) => return Err(to_js_error(settle(Some(&gpu), e).await)),
        };
        let spec = loaded.model.spec();
        let cache = CacheFacts {
            context_length: session.capacity(),
            kv_bytes_per_token: session.kv_bytes_per_token(),
            kv: session.kv().kind,
            kv_requested: options.kv,
        };
        let info = llm_info(spec, loaded.model.weight_bytes(), cache, loaded.chat_template.is_some());
        let result = to_js(&info)?;
        let (tokenizer, chat_template) = (loaded.tokenizer, loaded.chat_template);
        *self.llm.borrow_mut() = Some(Llm { session: LlmSession::Gpu(session), tokenizer, chat_template, info });
        Ok(result)
    }

    /// The loaded language model's info, or `null`.
    #[wasm_bindgen(js_name = modelInfo)]
    pub fn model_info(&self) -> Result<JsValue, JsValue> {
        match &*self.llm.borrow() {
            Some(llm) => to_js(&llm.info),
            None => Ok(JsValue::NULL),
        }
    }

    /// Frees the language model and its cache.
    #[wasm_bindgen(js_name = unloadModel)]
    pub fn unload_model(&self) {
        self.llm.borrow_mut().take();
    }

    /// The loaded embedding model's info, or `null`.
    #[wasm_bindgen(js_name = embeddingModelInfo)]
    pub fn embedding_model_info(&self) -> Result<JsValue, JsValue> {
        match &*self.embedder.borrow() {
            Some(e) => to_js(&e.info),
            None => Ok(JsValue::NULL),
        }
    }

    /// Frees the embedding model and its scratch.
    #[wasm_bindgen(js_name = unloadEmbeddingModel)]
    pub fn unload_embedding_model(&self) {
        self.embedder.borrow_mut().take();
    }

    /// Embeds `texts` in batches (on the GPU, or the CPU backend), pooled and normalised as the
    /// model says: resolves to `{ embeddings: Float32Array, prompt_tokens }`,
    /// the vectors (`dim` each) one after the other in input order.
    pub async fn embed(&self, texts: Vec<String>) -> Result<JsValue, JsValue> {
        let mut embedder = self.embedder.borrow_mut().take().ok_or_else(no_embedder)?;
        let result = embedder.embed(&texts).await;
        *self.embedder.borrow_mut() = Some(embedder);
        match result {
            Ok((values, tokens)) => Ok(vectors_object("embeddings", &values, tokens)),
            Err(e) => Err(to_js_error(settle(self.gpu.as_deref(), e).await)),
        }
    }

    /// A cross-encoder's relevance score of each document for `query`:
    /// resolves to `{ scores: Float32Array, prompt_tokens }` in document order.
    pub async fn rerank(&self, query: String, documents: Vec<String>) -> Result<JsValue, JsValue> {
        let mut embedder = self.embedder.borrow_mut().take().ok_or_else(no_embedder)?;
        let result = embedder.rerank(&query, &documents).await;
        *self.embedder.borrow_mut() = Some(embedder);
        match result {
            Ok((scores, tokens)) => Ok(vectors_object("scores", &scores, tokens)),
            Err(e) => Err(to_js_error(settle(self.gpu.as_deref(), e).await)),
        }
    }

    /// Token ids of `text` (`add_special`: with the model's BOS where it adds one).
    pub fn tokenize(&self, text: &str, add_special: bool) -> Result<Vec<u32>, JsValue> {
        let llm = self.llm.borrow();
        let tok = &llm.as_ref().ok_or_else(no_model)?.tokenizer;
        tok.encode(text, add_special && tok.adds_bos(), true).map_err(to_js_error)
    }

    /// The text of `ids`.
    pub fn detokenize(&self, ids: Vec<u32>) -> Result<String, JsValue> {
        let llm = self.llm.borrow();
        llm.as_ref().ok_or_else(no_model)?.tokenizer.decode(&ids).map_err(to_js_error)
    }

    /// Generates from a raw prompt or chat messages (see `GenerateRequest`),
    /// calling `on_text(delta)` with each piece of text; `on_text` returning
    /// false (or throwing) stops the generation, which then resolves with
    /// `finish_reason: "aborted"`. The KV cache keeps the longest prefix the
    /// next request shares.
    pub async fn generate(&self, request: JsValue, on_text: js_sys::Function) -> Result<JsValue, JsValue> {
        let request: GenerateRequest = from_js("generation request", request)?;
        let mut llm = self.llm.borrow_mut().take().ok_or_else(no_model)?;
        let result = run_generation(&mut llm, &request, &on_text).await;
        *self.llm.borrow_mut() = Some(llm);
        match result {
            Ok(generation) => to_js(&GenerateResponse::from(generation)),
            Err(e) => Err(to_js_error(settle(self.gpu.as_deref(), e).await)),
        }
    }

    /// Destroys the GPU device, as a driver reset or the browser would:
    /// for tests of what the engine reports then. The engine cannot be
    /// used afterwards.
    #[wasm_bindgen(js_name = loseDeviceForTesting)]
    pub fn lose_device_for_testing(&self) {
        if let Some(gpu) = &self.gpu {
            gpu.device.destroy();
        }
    }
}

/// Bytes of this module's linear memory (0 outside WebAssembly).
fn wasm_memory_bytes() -> u64 {
    #[cfg(target_arch = "wasm32")]
    return core::arch::wasm32::memory_size::<0>() as u64 * 65536;
    #[cfg(not(target_arch = "wasm32"))]
    return 0;
}

/// The error to report for `e`: when the device was lost, `device-lost`.
/// In the browser a pending readback fails as soon as the device goes, but
/// the device's `lost` promise, which says why, resolves a little later (up
/// to hundreds of ms on a busy machine): after a `gpu` error, wait for it
/// for up to half a second.
async fn settle(gpu: Option<&GpuDevice>, e: NavajaError) -> NavajaError {
    let Some(gpu) = gpu else { return e };
    if matches!(e, NavajaError::Gpu(_)) {
        for _ in 0..25 {
            if let Err(lost @ NavajaError::DeviceLost(_)) = gpu.check_health() {
                return lost;
            }
            sleep_ms(20).await;
        }
    }
    match gpu.check_health() {
        Err(lost @ NavajaError::DeviceLost(_)) => lost,
        _ => e,
    }
}

/// Resolves after `ms` milliseconds (`setTimeout`, in a window or a worker).
pub(crate) async fn sleep_ms(ms: u32) {
    let tick = js_sys::Promise::new(&mut |resolve, _| {
        let global = js_sys::global();
        let set_timeout = js_sys::Reflect::get(&global, &JsValue::from_str("setTimeout"))
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
        let scheduled = set_timeout.is_some_and(|f| f.call2(&global, &resolve, &JsValue::from(ms)).is_ok());
        if !scheduled {
            let _ = resolve.call0(&JsValue::NULL);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(tick).await;
}

/// A language model on the CPU backend, from its whole GGUF file. Its cache
/// is q8 by default; `options.kv` gets the nearest type the backend stores
/// (`CpuDecoderSession::supported_kv`), reported as `kv` beside `kv_requested`.
fn load_cpu_llm(bytes: &[u8], options: &LoadOptions) -> navaja_core::Result<Llm> {
    let header = GgufHeader::parse(bytes)?;
    let tokenizer = Tokenizer::from_gguf(&header.metadata)?;
    let chat_template = ChatTemplate::from_gguf(&header.metadata)?;
    let model = Arc::new(CpuDecoder::from_gguf(bytes)?);
    let kv = CpuDecoderSession::supported_kv(&model, options.kv.unwrap_or(KvType::Q8));
    let session = CpuDecoderSession::new(model.clone(), options.context_length.unwrap_or(0), kv)?;
    let cache = CacheFacts {
        context_length: session.capacity(),
        kv_bytes_per_token: session.kv_bytes_per_token(),
        kv,
        kv_requested: options.kv,
    };
    let info = llm_info(model.spec(), model.weight_bytes(), cache, chat_template.is_some());
    Ok(Llm { session: LlmSession::Cpu(session), tokenizer, chat_template, info })
}

/// What a language model's session holds, for its [`ModelInfo`].
struct CacheFacts {
    context_length: usize,
    kv_bytes_per_token: u64,
    kv: KvType,
    kv_requested: Option<KvType>,
}

/// The info `finishLoad` resolves to for a language model (either backend).
fn llm_info(
    spec: &navaja_core::model::ModelSpec,
    weight_bytes: u64,
    cache: CacheFacts,
    has_chat_template: bool,
) -> ModelInfo {
    ModelInfo {
        kind: "llm",
        architecture: spec.architecture.name(),
        name: spec.name.clone(),
        n_layers: spec.n_layers,
        hidden_size: spec.hidden_size,
        vocab_size: spec.vocab_size,
        context_length: cache.context_length,
        model_context_length: spec.context_length,
        weight_bytes,
        kv_bytes_per_token: cache.kv_bytes_per_token,
        kv: cache.kv,
        kv_requested: cache.kv_requested,
        has_chat_template,
        wasm_memory_bytes: wasm_memory_bytes(),
    }
}

async fn run_generation(
    llm: &mut Llm,
    request: &GenerateRequest,
    on_text: &js_sys::Function,
) -> navaja_core::Result<Generation> {
    let opts = request.options()?;
    let tok = &llm.tokenizer;
    let prompt = match (&request.prompt, &request.messages) {
        (Some(prompt), None) => tok.encode(prompt, request.add_special.unwrap_or(true) && tok.adds_bos(), true)?,
        (None, Some(messages)) => {
            let template = llm.chat_template.as_ref().ok_or_else(|| {
                NavajaError::unsupported("this model file has no chat template: use completions with a raw prompt")
            })?;
            let messages = messages.iter().map(|m| m.to_chat()).collect::<navaja_core::Result<Vec<_>>>()?;
            if messages.is_empty() {
                return Err(NavajaError::invalid("messages must not be empty"));
            }
            chat_prompt_ids(template, &messages, tok)?
        }
        _ => return Err(NavajaError::invalid("a request needs exactly one of prompt and messages")),
    };
    let mut stream = |text: &str| -> bool {
        match on_text.call1(&JsValue::NULL, &JsValue::from_str(text)) {
            Ok(keep_going) => keep_going.is_truthy(),
            Err(_) => false,
        }
    };
    match &mut llm.session {
        LlmSession::Gpu(session) => generate(session, tok, &prompt, &opts, &mut stream, &now_ms).await,
        LlmSession::Cpu(session) => {
            let mut yielding = YieldingCpu { session, last_yield: now_ms() };
            generate(&mut yielding, tok, &prompt, &opts, &mut stream, &now_ms).await
        }
    }
}

/// Longest stretch the CPU backend computes without letting the Worker's
/// event loop run.
const CPU_YIELD_MS: f64 = 50.0;

/// The CPU session as the generation loop sees it: its steps never wait, so
/// every [`CPU_YIELD_MS`] it yields to the event loop, where the Worker
/// receives an abort (which the next `on_text` then reports).
struct YieldingCpu<'a> {
    session: &'a mut CpuDecoderSession,
    last_yield: f64,
}

impl TokenModel for YieldingCpu<'_> {
    fn tokens(&self) -> &[u32] {
        self.session.tokens()
    }

    fn capacity(&self) -> usize {
        self.session.capacity()
    }

    fn vocab_size(&self) -> usize {
        self.session.vocab_size()
    }

    fn truncate(&mut self, len: usize) -> usize {
        self.session.truncate(len)
    }

    async fn feed(
        &mut self,
        ids: &[u32],
        pick: &navaja_core::generate::Pick,
    ) -> navaja_core::Result<navaja_core::ops::logits::TopKResult> {
        if now_ms() - self.last_yield >= CPU_YIELD_MS {
            sleep_ms(0).await;
            self.last_yield = now_ms();
        }
        self.session.feed(ids, pick).await
    }
}
