//! Proptest strategies shared by the property tests: arbitrary JSON that uses the names and
//! values the decoders look for, so generated inputs reach past the first field check.

use proptest::prelude::*;
use serde_json::{Map, Value};

/// A JSON leaf: null, a bool, a number, a string of up to `max_chars`, or one of `words`.
pub fn leaf(max_chars: usize, words: &'static [&'static str]) -> BoxedStrategy<Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        proptest::string::string_regex(&format!(".{{0,{max_chars}}}"))
            .expect("a valid pattern")
            .prop_map(Value::String),
        prop::sample::select(words).prop_map(|s| Value::String(s.to_owned())),
    ]
    .boxed()
}

/// How [`nested`] grows arrays and objects out of leaves.
pub struct Shape {
    /// Nesting levels at most.
    pub depth: u32,
    /// Total nodes proptest aims for.
    pub size: u32,
    /// Items of one array or object at most.
    pub width: usize,
    /// Whether a value may also appear as JSON text inside a string.
    pub stringified: bool,
}

/// Arrays and objects of `leaf`, with keys drawn from `keys`.
pub fn nested(
    leaf: BoxedStrategy<Value>,
    keys: BoxedStrategy<String>,
    shape: Shape,
) -> BoxedStrategy<Value> {
    let Shape {
        depth,
        size,
        width,
        stringified,
    } = shape;
    leaf.prop_recursive(depth, size, width as u32, move |inner| {
        let array = prop::collection::vec(inner.clone(), 0..width).prop_map(Value::Array);
        let object = prop::collection::vec((keys.clone(), inner.clone()), 0..width)
            .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>()));
        if stringified {
            prop_oneof![
                array,
                object,
                inner.prop_map(|value| Value::String(value.to_string()))
            ]
            .boxed()
        } else {
            prop_oneof![array, object].boxed()
        }
    })
    .boxed()
}
