//! How values look in the JSON the node serves: amounts as decimal strings, bytes as
//! base64. A leaf: every module may use it, it uses none.

use base64::{engine::general_purpose::STANDARD, Engine};
use serde::Serializer;

/// Serializes a `u128` amount as a decimal string (JSON numbers lose precision past 2^53).
pub fn decimal<S: Serializer>(value: &u128, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&value.to_string())
}

/// Serializes bytes as standard base64.
pub fn base64_bytes<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&STANDARD.encode(bytes))
}
