//! GGUF metadata values and typed access to them.

use std::collections::HashMap;

use super::cursor::{Cursor, ReadError, ReadResult};
use crate::{NavajaError, Result};

/// Arrays nested deeper than this are refused (real files nest at most once).
const MAX_ARRAY_DEPTH: usize = 4;

#[derive(Debug, Clone, PartialEq)]
pub enum GgufValue {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    String(String),
    Array(GgufArray),
}

/// Arrays keep their element type, so a 262k-entry vocabulary of scores is
/// one `Vec<f32>`, not 262k enum values.
#[derive(Debug, Clone, PartialEq)]
pub enum GgufArray {
    U8(Vec<u8>),
    I8(Vec<i8>),
    U16(Vec<u16>),
    I16(Vec<i16>),
    U32(Vec<u32>),
    I32(Vec<i32>),
    U64(Vec<u64>),
    I64(Vec<i64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    Bool(Vec<bool>),
    String(Vec<String>),
    Array(Vec<GgufArray>),
}

impl GgufArray {
    pub fn len(&self) -> usize {
        match self {
            GgufArray::U8(v) => v.len(),
            GgufArray::I8(v) => v.len(),
            GgufArray::U16(v) => v.len(),
            GgufArray::I16(v) => v.len(),
            GgufArray::U32(v) => v.len(),
            GgufArray::I32(v) => v.len(),
            GgufArray::U64(v) => v.len(),
            GgufArray::I64(v) => v.len(),
            GgufArray::F32(v) => v.len(),
            GgufArray::F64(v) => v.len(),
            GgufArray::Bool(v) => v.len(),
            GgufArray::String(v) => v.len(),
            GgufArray::Array(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            GgufArray::U8(_) => "u8",
            GgufArray::I8(_) => "i8",
            GgufArray::U16(_) => "u16",
            GgufArray::I16(_) => "i16",
            GgufArray::U32(_) => "u32",
            GgufArray::I32(_) => "i32",
            GgufArray::U64(_) => "u64",
            GgufArray::I64(_) => "i64",
            GgufArray::F32(_) => "f32",
            GgufArray::F64(_) => "f64",
            GgufArray::Bool(_) => "bool",
            GgufArray::String(_) => "string",
            GgufArray::Array(_) => "array",
        }
    }
}

impl GgufValue {
    pub fn type_name(&self) -> String {
        match self {
            GgufValue::U8(_) => "u8".into(),
            GgufValue::I8(_) => "i8".into(),
            GgufValue::U16(_) => "u16".into(),
            GgufValue::I16(_) => "i16".into(),
            GgufValue::U32(_) => "u32".into(),
            GgufValue::I32(_) => "i32".into(),
            GgufValue::U64(_) => "u64".into(),
            GgufValue::I64(_) => "i64".into(),
            GgufValue::F32(_) => "f32".into(),
            GgufValue::F64(_) => "f64".into(),
            GgufValue::Bool(_) => "bool".into(),
            GgufValue::String(_) => "string".into(),
            GgufValue::Array(a) => format!("array of {} {}", a.len(), a.type_name()),
        }
    }

    /// Any integer type, when it is non-negative.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            GgufValue::U8(v) => Some(v.into()),
            GgufValue::U16(v) => Some(v.into()),
            GgufValue::U32(v) => Some(v.into()),
            GgufValue::U64(v) => Some(v),
            GgufValue::I8(v) => u64::try_from(v).ok(),
            GgufValue::I16(v) => u64::try_from(v).ok(),
            GgufValue::I32(v) => u64::try_from(v).ok(),
            GgufValue::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// Any integer type, signed.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            GgufValue::I8(v) => Some(v.into()),
            GgufValue::I16(v) => Some(v.into()),
            GgufValue::I32(v) => Some(v.into()),
            GgufValue::I64(v) => Some(v),
            _ => self.as_u64().and_then(|v| i64::try_from(v).ok()),
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            GgufValue::F32(v) => Some(v.into()),
            GgufValue::F64(v) => Some(v),
            _ => self.as_i64().map(|v| v as f64),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            GgufValue::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            GgufValue::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&GgufArray> {
        match self {
            GgufValue::Array(a) => Some(a),
            _ => None,
        }
    }

    /// A short human-readable rendering (long arrays abbreviated) for `navaja inspect`.
    pub fn summary(&self) -> String {
        match self {
            GgufValue::String(s) if s.chars().count() > 80 => {
                format!("{:?}… ({} chars)", s.chars().take(77).collect::<String>(), s.chars().count())
            }
            GgufValue::String(s) => format!("{s:?}"),
            GgufValue::Array(a) => format!("[{} x {}]", a.len(), a.type_name()),
            GgufValue::U8(v) => v.to_string(),
            GgufValue::I8(v) => v.to_string(),
            GgufValue::U16(v) => v.to_string(),
            GgufValue::I16(v) => v.to_string(),
            GgufValue::U32(v) => v.to_string(),
            GgufValue::I32(v) => v.to_string(),
            GgufValue::U64(v) => v.to_string(),
            GgufValue::I64(v) => v.to_string(),
            GgufValue::F32(v) => v.to_string(),
            GgufValue::F64(v) => v.to_string(),
            GgufValue::Bool(v) => v.to_string(),
        }
    }
}

/// A value of GGUF type `ty`, read at the cursor. `what` names it for errors.
pub(crate) fn read_value(
    cur: &mut Cursor<'_>,
    ty: u32,
    what: &dyn Fn() -> String,
    depth: usize,
) -> ReadResult<GgufValue> {
    Ok(match ty {
        0 => GgufValue::U8(cur.u8(what)?),
        1 => GgufValue::I8(cur.u8(what)? as i8),
        2 => GgufValue::U16(cur.u16(what)?),
        3 => GgufValue::I16(cur.u16(what)? as i16),
        4 => GgufValue::U32(cur.u32(what)?),
        5 => GgufValue::I32(cur.u32(what)? as i32),
        6 => GgufValue::F32(f32::from_bits(cur.u32(what)?)),
        7 => GgufValue::Bool(read_bool(cur, what)?),
        8 => GgufValue::String(cur.string(what)?),
        9 => GgufValue::Array(read_array(cur, what, depth + 1)?),
        10 => GgufValue::U64(cur.u64(what)?),
        11 => GgufValue::I64(cur.u64(what)? as i64),
        12 => GgufValue::F64(f64::from_bits(cur.u64(what)?)),
        other => {
            return Err(ReadError::Invalid(NavajaError::format(format!(
                "{} has unknown GGUF value type {other}",
                what()
            ))));
        }
    })
}

fn read_bool(cur: &mut Cursor<'_>, what: &dyn Fn() -> String) -> ReadResult<bool> {
    match cur.u8(what)? {
        0 => Ok(false),
        1 => Ok(true),
        b => Err(ReadError::Invalid(NavajaError::format(format!("{} is a bool with invalid byte {b}", what())))),
    }
}

/// Smallest encoded size of one element of GGUF type `ty` (strings: their length field).
fn min_element_bytes(ty: u32) -> u64 {
    match ty {
        0 | 1 | 7 => 1,
        2 | 3 => 2,
        4..=6 => 4,
        8 | 10..=12 => 8,
        9 => 12, // element type + length
        _ => 1,
    }
}

fn read_array(cur: &mut Cursor<'_>, what: &dyn Fn() -> String, depth: usize) -> ReadResult<GgufArray> {
    if depth > MAX_ARRAY_DEPTH {
        return Err(ReadError::Invalid(NavajaError::format(format!(
            "{} nests arrays deeper than {MAX_ARRAY_DEPTH} levels",
            what()
        ))));
    }
    let ty = cur.u32(&|| format!("the element type of {}", what()))?;
    let len = cur.u64(&|| format!("the length of {}", what()))?;
    // Refuse (or wait for) a length the bytes cannot back before allocating anything.
    cur.require(len.saturating_mul(min_element_bytes(ty)), &|| format!("{} ({len} elements)", what()))?;
    let n = len as usize;
    let elem = |i: usize| move || format!("element {i} of {}", what());
    macro_rules! collect {
        ($variant:ident, $read:expr) => {{
            let mut v = Vec::with_capacity(n);
            for i in 0..n {
                v.push($read(&elem(i))?);
            }
            GgufArray::$variant(v)
        }};
    }
    Ok(match ty {
        0 => GgufArray::U8(cur.take(len, what)?.to_vec()),
        1 => GgufArray::I8(cur.take(len, what)?.iter().map(|&b| b as i8).collect()),
        2 => collect!(U16, |w: &dyn Fn() -> String| cur.u16(w)),
        3 => collect!(I16, |w: &dyn Fn() -> String| cur.u16(w).map(|v| v as i16)),
        4 => collect!(U32, |w: &dyn Fn() -> String| cur.u32(w)),
        5 => collect!(I32, |w: &dyn Fn() -> String| cur.u32(w).map(|v| v as i32)),
        6 => collect!(F32, |w: &dyn Fn() -> String| cur.u32(w).map(f32::from_bits)),
        7 => collect!(Bool, |w: &dyn Fn() -> String| read_bool(cur, w)),
        8 => collect!(String, |w: &dyn Fn() -> String| cur.string(w)),
        9 => collect!(Array, |w: &dyn Fn() -> String| read_array(cur, w, depth + 1)),
        10 => collect!(U64, |w: &dyn Fn() -> String| cur.u64(w)),
        11 => collect!(I64, |w: &dyn Fn() -> String| cur.u64(w).map(|v| v as i64)),
        12 => collect!(F64, |w: &dyn Fn() -> String| cur.u64(w).map(f64::from_bits)),
        other => {
            return Err(ReadError::Invalid(NavajaError::format(format!(
                "{} has unknown GGUF element type {other}",
                what()
            ))));
        }
    })
}

/// The key/value pairs of a GGUF header, in file order, with typed getters
/// whose errors name the key and what was found instead.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metadata {
    entries: Vec<(String, GgufValue)>,
    index: HashMap<String, usize>,
}

impl Metadata {
    /// Adds a pair; a key seen twice is a format error (llama.cpp refuses it too).
    pub fn insert(&mut self, key: String, value: GgufValue) -> Result<()> {
        if self.index.contains_key(&key) {
            return Err(NavajaError::format(format!("metadata key {key:?} appears twice")));
        }
        self.index.insert(key.clone(), self.entries.len());
        self.entries.push((key, value));
        Ok(())
    }

    pub fn get(&self, key: &str) -> Option<&GgufValue> {
        self.index.get(key).map(|&i| &self.entries[i].1)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.index.contains_key(key)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &GgufValue)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    fn typed<T>(&self, key: &str, want: &str, conv: impl Fn(&GgufValue) -> Option<T>) -> Result<Option<T>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => conv(v).map(Some).ok_or_else(|| {
                NavajaError::format(format!("metadata key {key:?} should be {want}, but is {}", v.type_name()))
            }),
        }
    }

    /// A non-negative integer of any width.
    pub fn get_u64(&self, key: &str) -> Result<Option<u64>> {
        self.typed(key, "a non-negative integer", GgufValue::as_u64)
    }

    pub fn get_i64(&self, key: &str) -> Result<Option<i64>> {
        self.typed(key, "an integer", GgufValue::as_i64)
    }

    /// A float (f32/f64; integers are accepted too).
    pub fn get_f64(&self, key: &str) -> Result<Option<f64>> {
        self.typed(key, "a number", GgufValue::as_f64)
    }

    pub fn get_str(&self, key: &str) -> Result<Option<&str>> {
        match self.get(key) {
            None => Ok(None),
            Some(GgufValue::String(s)) => Ok(Some(s)),
            Some(v) => {
                Err(NavajaError::format(format!("metadata key {key:?} should be a string, but is {}", v.type_name())))
            }
        }
    }

    pub fn get_bool(&self, key: &str) -> Result<Option<bool>> {
        self.typed(key, "a bool", GgufValue::as_bool)
    }

    pub fn get_array(&self, key: &str) -> Result<Option<&GgufArray>> {
        match self.get(key) {
            None => Ok(None),
            Some(GgufValue::Array(a)) => Ok(Some(a)),
            Some(v) => {
                Err(NavajaError::format(format!("metadata key {key:?} should be an array, but is {}", v.type_name())))
            }
        }
    }

    /// Like `get_u64`, but a missing key is an error naming it.
    pub fn require_u64(&self, key: &str) -> Result<u64> {
        self.get_u64(key)?.ok_or_else(|| NavajaError::format(format!("metadata key {key:?} is missing")))
    }

    pub fn require_str(&self, key: &str) -> Result<&str> {
        self.get_str(key)?.ok_or_else(|| NavajaError::format(format!("metadata key {key:?} is missing")))
    }
}
