//! Python's text forms of values: `str()`, `repr()` and `json.dumps`.
//!
//! HF renders chat templates with Python jinja2, where `{{ x }}` is `str(x)`
//! (`None`, `True`, `1e-05`, `['a', 1]`) and transformers' `tojson` is
//! `json.dumps(x, ensure_ascii=False)` (no HTML escaping, `", "`/`": "`
//! separators). minijinja prints `none`, `true` and JSON-style lists, and its
//! `tojson` escapes `<`/`>`/`&`/`'`, which would change prompts, so the
//! environment routes printing and `tojson` through here.

use std::fmt::Write;

use minijinja::value::ValueKind;
use minijinja::{Error, ErrorKind, Value};

/// Deeper nesting than this is refused instead of risking the stack.
const MAX_DEPTH: usize = 128;

/// `repr(float)` / `str(float)`: the shortest round-trip digits, in
/// exponent form when the decimal exponent is below -4 or at least 16.
pub(crate) fn float_repr(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    // `{:e}` gives Rust's shortest round-trip digits, e.g. "-1.25e-7".
    let sci = format!("{:e}", v.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if v.is_sign_negative() { "-" } else { "" };
    if !(-4..16).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() { String::new() } else { format!(".{rest}") };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{frac}e{esign}{:02}", exp.unsigned_abs());
    }
    let point = exp + 1; // digits before the decimal point
    let body = if point <= 0 {
        format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else if point as usize >= digits.len() {
        format!("{digits}{}.0", "0".repeat(point as usize - digits.len()))
    } else {
        let (int, frac) = digits.split_at(point as usize);
        format!("{int}.{frac}")
    };
    format!("{sign}{body}")
}

/// Python's `str(x)`, as jinja2 prints `{{ x }}`.
pub(crate) fn py_str(v: &Value) -> Result<String, Error> {
    match v.kind() {
        ValueKind::Undefined => Ok(String::new()),
        ValueKind::String => Ok(v.as_str().unwrap_or_default().to_owned()),
        _ => {
            let mut out = String::new();
            write_repr(&mut out, v, 0)?;
            Ok(out)
        }
    }
}

fn write_repr(out: &mut String, v: &Value, depth: usize) -> Result<(), Error> {
    if depth > MAX_DEPTH {
        return Err(Error::new(ErrorKind::InvalidOperation, "value nested too deeply to print"));
    }
    match v.kind() {
        ValueKind::Undefined => {}
        ValueKind::None => out.push_str("None"),
        ValueKind::Bool => out.push_str(if v.is_true() { "True" } else { "False" }),
        ValueKind::Number => out.push_str(&number_repr(v)),
        ValueKind::String => write_str_repr(out, v.as_str().unwrap_or_default()),
        ValueKind::Seq => {
            out.push('[');
            for (i, item) in v.try_iter()?.enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(out, &item, depth + 1)?;
            }
            out.push(']');
        }
        ValueKind::Map => {
            out.push('{');
            for (i, key) in v.try_iter()?.enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(out, &key, depth + 1)?;
                out.push_str(": ");
                write_repr(out, &v.get_item(&key)?, depth + 1)?;
            }
            out.push('}');
        }
        // Iterables, bytes, callables: no Python equivalent worth imitating.
        _ => {
            let _ = write!(out, "{v}");
        }
    }
    Ok(())
}

fn number_repr(v: &Value) -> String {
    if v.is_integer() {
        v.to_string()
    } else {
        f64::try_from(v.clone()).map(float_repr).unwrap_or_else(|_| v.to_string())
    }
}

/// `repr(str)`: single quotes unless the text has a `'` and no `"`.
fn write_str_repr(out: &mut String, s: &str) {
    let quote = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || (0x7f..0xa0).contains(&(c as u32)) => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

/// The arguments of `json.dumps` that transformers' `tojson` exposes.
#[derive(Debug, Clone)]
pub(crate) struct JsonStyle {
    pub ensure_ascii: bool,
    /// `None`: one line. `Some(s)`: one item per line, each level indented by `s`.
    pub indent: Option<String>,
    pub item_sep: String,
    pub key_sep: String,
    pub sort_keys: bool,
}

impl Default for JsonStyle {
    fn default() -> Self {
        JsonStyle { ensure_ascii: false, indent: None, item_sep: ", ".into(), key_sep: ": ".into(), sort_keys: false }
    }
}

/// `json.dumps(v, ...)`. Undefined values, iterators and other objects JSON
/// has no form for are errors, as they are in Python.
pub(crate) fn json_dumps(v: &Value, style: &JsonStyle) -> Result<String, Error> {
    let mut out = String::new();
    write_json(&mut out, v, style, 0)?;
    Ok(out)
}

fn write_json(out: &mut String, v: &Value, style: &JsonStyle, depth: usize) -> Result<(), Error> {
    if depth > MAX_DEPTH {
        return Err(Error::new(ErrorKind::InvalidOperation, "tojson: value nested too deeply"));
    }
    match v.kind() {
        ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
        ValueKind::Number if v.is_integer() => out.push_str(&v.to_string()),
        ValueKind::Number => {
            let f = f64::try_from(v.clone())?;
            out.push_str(&match f {
                f if f.is_nan() => "NaN".into(),
                f if f.is_infinite() => if f > 0.0 { "Infinity" } else { "-Infinity" }.into(),
                f => float_repr(f),
            })
        }
        ValueKind::String => write_json_str(out, v.as_str().unwrap_or_default(), style.ensure_ascii),
        ValueKind::Seq => {
            let items: Vec<Value> = v.try_iter()?.collect();
            write_container(out, style, depth, '[', ']', &items, |out, item| write_json(out, item, style, depth + 1))?;
        }
        ValueKind::Map => {
            let mut pairs = Vec::new();
            for key in v.try_iter()? {
                let value = v.get_item(&key)?;
                pairs.push((json_key(&key)?, value));
            }
            if style.sort_keys {
                pairs.sort_by(|a, b| a.0.cmp(&b.0));
            }
            write_container(out, style, depth, '{', '}', &pairs, |out, (k, value)| {
                write_json_str(out, k, style.ensure_ascii);
                out.push_str(&style.key_sep);
                write_json(out, value, style, depth + 1)
            })?;
        }
        kind => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("tojson: a value of type {kind} is not JSON serializable"),
            ));
        }
    }
    Ok(())
}

fn write_container<T>(
    out: &mut String,
    style: &JsonStyle,
    depth: usize,
    open: char,
    close: char,
    items: &[T],
    mut each: impl FnMut(&mut String, &T) -> Result<(), Error>,
) -> Result<(), Error> {
    out.push(open);
    // Python prints empty containers as `[]`/`{}` even when indenting.
    if !items.is_empty() {
        let newline = |out: &mut String, level: usize| {
            if let Some(indent) = &style.indent {
                out.push('\n');
                for _ in 0..level {
                    out.push_str(indent);
                }
            }
        };
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push_str(&style.item_sep);
            }
            newline(out, depth + 1);
            each(out, item)?;
        }
        newline(out, depth);
    }
    out.push(close);
    Ok(())
}

/// Python's json turns str, int, float, bool and None keys into strings.
fn json_key(key: &Value) -> Result<String, Error> {
    Ok(match key.kind() {
        ValueKind::String => key.as_str().unwrap_or_default().to_owned(),
        ValueKind::None => "null".into(),
        ValueKind::Bool => if key.is_true() { "true" } else { "false" }.into(),
        ValueKind::Number => number_repr(key),
        kind => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("tojson: keys must be str, int, float, bool or None, not {kind}"),
            ));
        }
    })
}

/// Python's JSON string escaping: `"`, `\`, the short control escapes, other
/// control characters as `\u00XX`, and with `ensure_ascii` every non-ASCII
/// character as `\uXXXX` (surrogate pairs beyond the BMP).
fn write_json_str(out: &mut String, s: &str, ensure_ascii: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if ensure_ascii && !c.is_ascii() => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_python_repr() {
        let cases = [
            (1.0, "1.0"),
            (0.5, "0.5"),
            (-0.0, "-0.0"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (1.5e16, "1.5e+16"),
            (1e16, "1e+16"),
            (123456789012345.6, "123456789012345.6"),
            (1e15, "1000000000000000.0"),
            (0.1 + 0.2, "0.30000000000000004"),
            (-2.5e-7, "-2.5e-07"),
            (1e300, "1e+300"),
        ];
        for (v, want) in cases {
            assert_eq!(float_repr(v), want, "{v:e}");
        }
    }

    #[test]
    fn str_of_containers_is_python_repr() {
        let v = Value::from(vec![Value::from("it's"), Value::from(()), Value::from(true), Value::from(2.0)]);
        assert_eq!(py_str(&v).unwrap(), "[\"it's\", None, True, 2.0]");
        assert_eq!(py_str(&Value::from("a\nb")).unwrap(), "a\nb");
    }

    #[test]
    fn json_matches_python_separators_and_escapes() {
        let v = Value::from(vec![Value::from("é<&>\"\u{1}"), Value::from(1), Value::from(1e-5)]);
        assert_eq!(json_dumps(&v, &JsonStyle::default()).unwrap(), r#"["é<&>\"\u0001", 1, 1e-05]"#);
        let ascii = JsonStyle { ensure_ascii: true, ..JsonStyle::default() };
        assert_eq!(json_dumps(&Value::from("é😀"), &ascii).unwrap(), r#""\u00e9\ud83d\ude00""#);
        let pretty = JsonStyle { indent: Some("  ".into()), item_sep: ",".into(), ..JsonStyle::default() };
        let nested = Value::from(vec![Value::from(Vec::<Value>::new()), Value::from(vec![Value::from(1)])]);
        assert_eq!(json_dumps(&nested, &pretty).unwrap(), "[\n  [],\n  [\n    1\n  ]\n]");
    }

    #[test]
    fn json_refuses_undefined() {
        assert!(json_dumps(&Value::UNDEFINED, &JsonStyle::default()).is_err());
    }
}
