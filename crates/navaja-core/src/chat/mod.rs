//! Chat templates: turning a conversation into the prompt text a model was
//! trained on, by rendering the Jinja template shipped with the model
//! (`tokenizer.chat_template` in GGUF, `chat_template` in HF's
//! tokenizer_config.json).
//!
//! The reference is HF transformers' `apply_chat_template(..., tokenize=False)`:
//! Python jinja2 with `trim_blocks` and `lstrip_blocks`, loop controls,
//! `raise_exception(msg)`, `strftime_now(fmt)`, a `tojson` that is
//! `json.dumps(ensure_ascii=False)`, and variables `messages`,
//! `add_generation_prompt`, `tools` and `documents` (None unless given), the
//! special tokens (`bos_token`, `eos_token`) and any extra keyword arguments.
//! We render with minijinja plus the glue in [`env`] (Python method names via
//! minijinja-contrib's pycompat, Python's `str()` for printed values,
//! insertion-ordered maps) and check the result byte for byte against jinja2
//! (tests/chat_templates.rs, fixtures from tests/fixtures/chat/render_reference.py).
//!
//! Errors:
//! - a template that does not compile (syntax error, a tag minijinja lacks)
//!   is `unsupported-model` at [`ChatTemplate::new`];
//! - `raise_exception(msg)` while rendering is `invalid-argument`: the
//!   template rejected this conversation (say, roles that do not alternate),
//!   and the message is the template's own;
//! - `strftime_now` without [`RenderOptions::now`], and an `extra` variable
//!   that collides with one the renderer sets, are `invalid-argument`;
//! - anything else failing while rendering (an unknown filter, test, function
//!   or method, a type error) is `unsupported-model`: the template relies on
//!   something this renderer does not do like jinja2. minijinja reports
//!   unknown filters and functions only when rendering reaches them.
//!
//! Every message carries minijinja's detail and the template line.

mod date;
mod env;
mod pyfmt;
mod value;

#[cfg(test)]
mod tests;

use std::fmt;

use minijinja::{Environment, Value};
use serde::{Deserialize, Serialize};

pub use date::ChatDateTime;
pub use value::TemplateValue;

use crate::gguf::{GgufArray, Metadata};
use crate::{NavajaError, Result};
use env::{Signal, TEMPLATE_NAME};
use value::{OrderedMap, insert_ordered};

/// One message of a conversation, OpenAI style (`{"role": "user", "content": "..."}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        ChatMessage { role: role.into(), content: content.into() }
    }

    pub fn system(content: impl Into<String>) -> Self {
        ChatMessage::new("system", content)
    }

    pub fn user(content: impl Into<String>) -> Self {
        ChatMessage::new("user", content)
    }

    pub fn assistant(content: impl Into<String>) -> Self {
        ChatMessage::new("assistant", content)
    }

    /// As the template sees it: a dict with `role` then `content`.
    pub fn to_template_value(&self) -> TemplateValue {
        TemplateValue::Map(vec![
            ("role".into(), TemplateValue::String(self.role.clone())),
            ("content".into(), TemplateValue::String(self.content.clone())),
        ])
    }
}

/// What a render needs besides the messages.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RenderOptions {
    /// End with the header of an assistant turn so the model answers next.
    pub add_generation_prompt: bool,
    /// Overrides the template's own `bos_token` (from the GGUF) when set.
    pub bos_token: Option<String>,
    /// Overrides the template's own `eos_token` (from the GGUF) when set.
    pub eos_token: Option<String>,
    /// The date `strftime_now` formats; templates that call it fail without one.
    pub now: Option<ChatDateTime>,
    /// More template variables, like transformers' extra keyword arguments:
    /// `tools`, `documents`, `enable_thinking`, `date_string`...
    /// `messages`, `add_generation_prompt`, `raise_exception` and
    /// `strftime_now` are reserved.
    pub extra: Vec<(String, TemplateValue)>,
}

const RESERVED: [&str; 4] = ["messages", "add_generation_prompt", "raise_exception", "strftime_now"];

/// A compiled chat template, with the special tokens it prints.
#[derive(Clone)]
pub struct ChatTemplate {
    source: String,
    env: Environment<'static>,
    bos_token: Option<String>,
    eos_token: Option<String>,
}

impl fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("source_len", &self.source.len())
            .field("bos_token", &self.bos_token)
            .field("eos_token", &self.eos_token)
            .finish()
    }
}

impl ChatTemplate {
    /// Compiles `source` once; a syntax error is `unsupported-model` with its line.
    pub fn new(source: &str) -> Result<ChatTemplate> {
        let env = env::build(source)
            .map_err(|e| NavajaError::unsupported(format!("the chat template does not compile: {}", describe(&e))))?;
        Ok(ChatTemplate { source: source.to_owned(), env, bos_token: None, eos_token: None })
    }

    /// The template of a GGUF file (`tokenizer.chat_template`) with its BOS
    /// and EOS token texts; `None` when the file has no template (many
    /// GGUFs, e.g. Gemma 3 270m, ship without one).
    pub fn from_gguf(meta: &Metadata) -> Result<Option<ChatTemplate>> {
        let Some(source) = meta.get_str("tokenizer.chat_template")? else {
            return Ok(None);
        };
        let template = ChatTemplate::new(source)?.with_special_tokens(
            special_token(meta, "tokenizer.ggml.bos_token_id")?,
            special_token(meta, "tokenizer.ggml.eos_token_id")?,
        );
        Ok(Some(template))
    }

    /// Sets the texts of `bos_token` and `eos_token` (`None`: undefined in the template).
    pub fn with_special_tokens(mut self, bos_token: Option<String>, eos_token: Option<String>) -> ChatTemplate {
        self.bos_token = bos_token;
        self.eos_token = eos_token;
        self
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn bos_token(&self) -> Option<&str> {
        self.bos_token.as_deref()
    }

    pub fn eos_token(&self) -> Option<&str> {
        self.eos_token.as_deref()
    }

    /// Renders a conversation of plain-text messages.
    pub fn render(&self, messages: &[ChatMessage], opts: &RenderOptions) -> Result<String> {
        let messages: Vec<Value> = messages.iter().map(|m| m.to_template_value().to_jinja()).collect();
        self.render_jinja(messages, opts)
    }

    /// Renders messages given as free-form values, for templates that read
    /// more than `role` and `content` (content parts, `tool_calls`...).
    pub fn render_values(&self, messages: &[TemplateValue], opts: &RenderOptions) -> Result<String> {
        self.render_jinja(messages.iter().map(TemplateValue::to_jinja).collect(), opts)
    }

    fn render_jinja(&self, messages: Vec<Value>, opts: &RenderOptions) -> Result<String> {
        let ctx = self.context(messages, opts)?;
        let template = self
            .env
            .get_template(TEMPLATE_NAME)
            .map_err(|e| NavajaError::unsupported(format!("the chat template is not available: {}", describe(&e))))?;
        template.render(ctx).map_err(|e| render_error(&e))
    }

    /// The variables transformers passes: special tokens, `tools` and
    /// `documents` as None, the extras, then the fixed ones.
    fn context(&self, messages: Vec<Value>, opts: &RenderOptions) -> Result<Value> {
        let mut vars: Vec<(String, Value)> = Vec::new();
        let bos = opts.bos_token.as_ref().or(self.bos_token.as_ref());
        let eos = opts.eos_token.as_ref().or(self.eos_token.as_ref());
        for (name, token) in [("bos_token", bos), ("eos_token", eos)] {
            if let Some(token) = token {
                vars.push((name.into(), Value::from(token.as_str())));
            }
        }
        // None, not undefined: templates test `tools is not none`.
        vars.push(("tools".into(), Value::from(())));
        vars.push(("documents".into(), Value::from(())));
        for (name, value) in &opts.extra {
            if RESERVED.contains(&name.as_str()) {
                return Err(NavajaError::invalid(format!(
                    "template variable {name:?} is set by the renderer and cannot be passed as an extra"
                )));
            }
            insert_ordered(&mut vars, name.clone(), value.to_jinja());
        }
        vars.push(("messages".into(), Value::from(messages)));
        vars.push(("add_generation_prompt".into(), Value::from(opts.add_generation_prompt)));
        vars.push(("strftime_now".into(), env::strftime_now(opts.now)));
        Ok(OrderedMap::new(vars).into_value())
    }
}

/// The text of a special token given by its id key, if the file names one.
fn special_token(meta: &Metadata, id_key: &str) -> Result<Option<String>> {
    let Some(id) = meta.get_u64(id_key)? else {
        return Ok(None);
    };
    // A template can be rendered without the token texts; only an id that
    // points outside an existing vocabulary is a broken file.
    match meta.get_array("tokenizer.ggml.tokens")? {
        Some(GgufArray::String(tokens)) => {
            let token = usize::try_from(id).ok().and_then(|i| tokens.get(i));
            token.cloned().map(Some).ok_or_else(|| {
                NavajaError::format(format!("{id_key} is {id}, outside the vocabulary of {} tokens", tokens.len()))
            })
        }
        Some(other) => Err(NavajaError::format(format!(
            "metadata key \"tokenizer.ggml.tokens\" should be an array of strings, but holds {}",
            other.type_name()
        ))),
        None => Ok(None),
    }
}

/// minijinja's kind, detail and template line, without its debug dump.
fn describe(e: &minijinja::Error) -> String {
    let mut msg = e.kind().to_string();
    if let Some(detail) = e.detail() {
        msg.push_str(": ");
        msg.push_str(detail);
    }
    if let Some(line) = e.line() {
        msg.push_str(&format!(" (template line {line})"));
    }
    msg
}

fn render_error(e: &minijinja::Error) -> NavajaError {
    let line = e.line().map(|l| format!(" (template line {l})")).unwrap_or_default();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(signal) = s.downcast_ref::<Signal>() {
            return match signal {
                Signal::Raised(msg) => {
                    NavajaError::invalid(format!("the chat template rejected the conversation: {msg}{line}"))
                }
                Signal::NoDate => NavajaError::invalid(format!(
                    "the chat template calls strftime_now(){line}; pass the current date in RenderOptions::now"
                )),
            };
        }
        source = s.source();
    }
    NavajaError::unsupported(format!("the chat template cannot be rendered: {}", describe(e)))
}
