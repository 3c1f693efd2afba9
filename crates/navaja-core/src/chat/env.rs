//! The minijinja environment configured to render like transformers.
//!
//! transformers compiles chat templates with
//! `ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
//! extensions=[AssistantTracker, loopcontrols])`, adds `raise_exception` and
//! `strftime_now` globals and replaces `tojson`; this module mirrors each of
//! those choices.

use std::fmt;

use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Kwargs, ValueKind};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, UndefinedBehavior, Value};

use super::date::ChatDateTime;
use super::pyfmt::{JsonStyle, json_dumps, py_str};

/// The name templates are compiled under; it shows up in error messages.
pub(crate) const TEMPLATE_NAME: &str = "chat_template";

/// Errors the template raises on purpose, carried as the `source` of a
/// minijinja error so the caller can tell them from template bugs.
#[derive(Debug, Clone)]
pub(crate) enum Signal {
    /// `raise_exception(message)`: the template rejects the conversation.
    Raised(String),
    /// `strftime_now` was called but the caller gave no date.
    NoDate,
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Signal::Raised(msg) => f.write_str(msg),
            Signal::NoDate => f.write_str("the template calls strftime_now() but no date was given"),
        }
    }
}

impl std::error::Error for Signal {}

fn signal(s: Signal) -> Error {
    Error::new(ErrorKind::InvalidOperation, s.to_string()).with_source(s)
}

/// Builds the environment holding one compiled template.
pub(crate) fn build(source: &str) -> Result<Environment<'static>, Error> {
    let mut env = Environment::new();
    // jinja2's default (kept by transformers): one trailing newline of the
    // template is dropped.
    let syntax = SyntaxConfig::builder().trim_blocks(true).lstrip_blocks(true).keep_trailing_newline(false).build()?;
    env.set_syntax(syntax);
    // jinja2's default `Undefined`: prints empty, iterates empty, is falsy,
    // but attribute access on it fails.
    env.set_undefined_behavior(UndefinedBehavior::Lenient);
    // Prompts are plain text; the template name has no extension anyway.
    env.set_auto_escape_callback(|_| AutoEscape::None);
    // `.strip()`, `.startswith()`, `.items()`, `.get()`... on strings and dicts.
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.set_formatter(|out, _state, value| {
        let text = py_str(value)?;
        out.write_str(&text).map_err(|_| Error::new(ErrorKind::WriteFailure, "cannot write the rendered prompt"))
    });
    env.add_function("raise_exception", |msg: Value| -> Result<Value, Error> {
        Err(signal(Signal::Raised(py_str(&msg)?)))
    });
    env.add_filter("tojson", tojson);
    // `|string` is Python's `str()` too, so `{{ flag|string }}` gives "True".
    env.add_filter("string", |v: Value| py_str(&v).map(Value::from));
    env.add_template_owned(TEMPLATE_NAME, rewrite_generation_tags(source))?;
    Ok(env)
}

/// The per-render `strftime_now(format)`: a context variable rather than an
/// environment global because the date comes with each render call (jinja2
/// looks both up the same way).
pub(crate) fn strftime_now(now: Option<ChatDateTime>) -> Value {
    Value::from_function(move |fmt: &str| -> Result<String, Error> {
        let now = now.ok_or_else(|| signal(Signal::NoDate))?;
        now.strftime(fmt).map_err(|msg| Error::new(ErrorKind::InvalidOperation, msg))
    })
}

/// transformers' `tojson(x, ensure_ascii=False, indent=None, separators=None,
/// sort_keys=False)`, i.e. `json.dumps` with the same arguments.
fn tojson(value: &Value, indent: Option<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let mut style = JsonStyle::default();
    let indent = match indent {
        Some(v) => Some(v),
        None => kwargs.get::<Option<Value>>("indent")?,
    };
    match indent {
        None => {}
        Some(v) if v.is_none() => {}
        Some(v) => {
            style.indent = Some(match v.kind() {
                ValueKind::String => v.as_str().unwrap_or_default().to_owned(),
                // json.dumps: a negative or zero indent means newlines only.
                _ => " ".repeat(usize::try_from(v.as_i64().unwrap_or(0).max(0)).unwrap_or(0)),
            });
            style.item_sep = ",".into();
        }
    }
    if let Some(seps) = kwargs.get::<Option<Value>>("separators")?
        && !seps.is_none()
    {
        let parts: Vec<Value> = seps.try_iter()?.collect();
        match parts.as_slice() {
            [item, key] if item.as_str().is_some() && key.as_str().is_some() => {
                style.item_sep = item.as_str().unwrap_or_default().to_owned();
                style.key_sep = key.as_str().unwrap_or_default().to_owned();
            }
            _ => return Err(Error::new(ErrorKind::InvalidOperation, "tojson: separators must be two strings")),
        }
    }
    if let Some(v) = kwargs.get::<Option<bool>>("ensure_ascii")? {
        style.ensure_ascii = v;
    }
    if let Some(v) = kwargs.get::<Option<bool>>("sort_keys")? {
        style.sort_keys = v;
    }
    kwargs.assert_all_used()?;
    json_dumps(value, &style).map(Value::from)
}

/// Turns transformers' `{% generation %}...{% endgeneration %}` (its
/// AssistantTracker extension, which only marks assistant text for training
/// masks) into `{% if true %}...{% endif %}`: the same output and the same
/// whitespace handling, since only the tag's keyword changes.
fn rewrite_generation_tags(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(start) = rest.find("{%") {
        let (before, tag) = rest.split_at(start);
        out.push_str(before);
        let inner = &tag[2..];
        let marker = inner.chars().next().filter(|c| *c == '-' || *c == '+').map_or(0, char::len_utf8);
        let body = inner[marker..].trim_start();
        let lead = inner.len() - body.len(); // marker plus blanks
        let replaced = [("endgeneration", "endif"), ("generation", "if true")].into_iter().find_map(|(kw, with)| {
            let after = body.strip_prefix(kw)?;
            // The whole keyword, not a prefix of `generations` or `generation_x`.
            let whole = after.chars().next().is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
            whole.then_some((kw, with))
        });
        match replaced {
            Some((kw, with)) => {
                out.push_str("{%");
                out.push_str(&inner[..lead]);
                out.push_str(with);
                rest = &inner[lead + kw.len()..];
            }
            None => {
                out.push_str("{%");
                rest = inner;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_tags_become_if_true() {
        let src = "a{% generation %}b{%- endgeneration -%}c{%generation%}{% endgeneration%}{% generations %}";
        assert_eq!(rewrite_generation_tags(src), "a{% if true %}b{%- endif -%}c{%if true%}{% endif%}{% generations %}");
        assert_eq!(rewrite_generation_tags("{% if x %}{%"), "{% if x %}{%");
    }
}
