//! Values passed into a template from outside (messages, tools, extra
//! variables), kept in insertion order.
//!
//! Order matters: HF renders with Python dicts, which iterate in insertion
//! order, so `{% for k, v in tool.items() %}` and `tool|tojson` print keys in
//! the order the caller wrote them. minijinja's own maps and serde_json's
//! `Map` (without `preserve_order`) are sorted, so neither can carry a tool
//! schema faithfully; [`TemplateValue`] deserializes straight from any serde
//! source (a JSON string, a JS object through serde-wasm-bindgen) in order.

use std::fmt;
use std::sync::Arc;

use minijinja::Value;
use minijinja::value::{Enumerator, Object, ObjectRepr};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

/// A JSON-like value whose maps keep their key order.
#[derive(Debug, Clone, PartialEq)]
pub enum TemplateValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    List(Vec<TemplateValue>),
    /// Keys in insertion order; a repeated key keeps its first position and
    /// its last value, like a Python dict built from the same pairs.
    Map(Vec<(String, TemplateValue)>),
}

impl TemplateValue {
    /// Builds a map from pairs with Python dict semantics for repeated keys.
    pub fn map<K: Into<String>>(pairs: impl IntoIterator<Item = (K, TemplateValue)>) -> TemplateValue {
        let mut out: Vec<(String, TemplateValue)> = Vec::new();
        for (k, v) in pairs {
            insert_ordered(&mut out, k.into(), v);
        }
        TemplateValue::Map(out)
    }

    pub(crate) fn to_jinja(&self) -> Value {
        match self {
            TemplateValue::Null => Value::from(()),
            TemplateValue::Bool(b) => Value::from(*b),
            TemplateValue::Int(i) => Value::from(*i),
            TemplateValue::Float(f) => Value::from(*f),
            TemplateValue::String(s) => Value::from(s.as_str()),
            TemplateValue::List(items) => Value::from(items.iter().map(TemplateValue::to_jinja).collect::<Vec<_>>()),
            TemplateValue::Map(pairs) => {
                OrderedMap::new(pairs.iter().map(|(k, v)| (k.clone(), v.to_jinja())).collect()).into_value()
            }
        }
    }
}

impl From<&str> for TemplateValue {
    fn from(s: &str) -> Self {
        TemplateValue::String(s.to_owned())
    }
}

impl From<String> for TemplateValue {
    fn from(s: String) -> Self {
        TemplateValue::String(s)
    }
}

impl From<bool> for TemplateValue {
    fn from(b: bool) -> Self {
        TemplateValue::Bool(b)
    }
}

impl From<i64> for TemplateValue {
    fn from(i: i64) -> Self {
        TemplateValue::Int(i)
    }
}

impl From<f64> for TemplateValue {
    fn from(f: f64) -> Self {
        TemplateValue::Float(f)
    }
}

pub(crate) fn insert_ordered<V>(pairs: &mut Vec<(String, V)>, key: String, value: V) {
    match pairs.iter_mut().find(|(k, _)| *k == key) {
        Some(slot) => slot.1 = value,
        None => pairs.push((key, value)),
    }
}

/// A string-keyed map object for minijinja that iterates in insertion order.
///
/// Lookups scan linearly: template maps (a message, a tool schema, the
/// top-level context) have a handful of keys.
#[derive(Debug)]
pub(crate) struct OrderedMap {
    pairs: Vec<(String, Value)>,
}

impl OrderedMap {
    pub(crate) fn new(pairs: Vec<(String, Value)>) -> Self {
        OrderedMap { pairs }
    }

    pub(crate) fn into_value(self) -> Value {
        Value::from_object(self)
    }
}

impl Object for OrderedMap {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let key = key.as_str()?;
        self.pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.pairs.iter().map(|(k, _)| Value::from(k.as_str())).collect())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.pairs.len())
    }
}

impl<'de> Deserialize<'de> for TemplateValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TemplateValueVisitor)
    }
}

struct TemplateValueVisitor;

impl<'de> Visitor<'de> for TemplateValueVisitor {
    type Value = TemplateValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<TemplateValue, E> {
        Ok(TemplateValue::Null)
    }

    fn visit_none<E>(self) -> Result<TemplateValue, E> {
        Ok(TemplateValue::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<TemplateValue, D::Error> {
        TemplateValue::deserialize(d)
    }

    fn visit_bool<E>(self, b: bool) -> Result<TemplateValue, E> {
        Ok(TemplateValue::Bool(b))
    }

    fn visit_i64<E>(self, i: i64) -> Result<TemplateValue, E> {
        Ok(TemplateValue::Int(i))
    }

    fn visit_u64<E: de::Error>(self, u: u64) -> Result<TemplateValue, E> {
        i64::try_from(u)
            .map(TemplateValue::Int)
            .map_err(|_| E::custom(format!("integer {u} is too large for a template value (at most 2^63-1)")))
    }

    fn visit_f64<E>(self, f: f64) -> Result<TemplateValue, E> {
        Ok(TemplateValue::Float(f))
    }

    fn visit_str<E>(self, s: &str) -> Result<TemplateValue, E> {
        Ok(TemplateValue::String(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<TemplateValue, E> {
        Ok(TemplateValue::String(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TemplateValue, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(TemplateValue::List(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TemplateValue, A::Error> {
        let mut pairs = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, TemplateValue>()? {
            insert_ordered(&mut pairs, k, v);
        }
        Ok(TemplateValue::Map(pairs))
    }
}

impl Serialize for TemplateValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            TemplateValue::Null => s.serialize_unit(),
            TemplateValue::Bool(b) => s.serialize_bool(*b),
            TemplateValue::Int(i) => s.serialize_i64(*i),
            TemplateValue::Float(f) => s.serialize_f64(*f),
            TemplateValue::String(v) => s.serialize_str(v),
            TemplateValue::List(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            TemplateValue::Map(pairs) => {
                let mut map = s.serialize_map(Some(pairs.len()))?;
                for (k, v) in pairs {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}
