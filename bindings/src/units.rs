//! Token amounts and Cairo short strings, as users type and read them.
//!
//! CIRO has 18 decimals. Users write whole or fractional tokens (`1.5`); the chain sees base
//! units (`1500000000000000000`). Capabilities such as `gpu:h100` are Cairo short strings:
//! ASCII, at most 31 bytes, stored as one felt.

use cainome::cairo_serde::U256;
use starknet::core::types::Felt;
use starknet::core::utils::{cairo_short_string_to_felt, parse_cairo_short_string};

use crate::error::{ChainError, Result};

/// The token's decimals.
pub const DECIMALS: u32 = 18;
/// One whole token in base units.
pub const ONE: u128 = 10u128.pow(DECIMALS);

/// Parses `12`, `12.5` or `0.000000000000000001` (tokens) into base units.
pub fn parse_tokens(text: &str) -> Result<u128> {
    let bad = |why: &str| ChainError::Input(format!("bad amount {text:?}: {why}"));
    let text = text.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() && fraction.is_empty() {
        return Err(bad("empty"));
    }
    if !whole
        .chars()
        .chain(fraction.chars())
        .all(|c| c.is_ascii_digit())
    {
        return Err(bad("expected a decimal number of tokens, like 12 or 0.5"));
    }
    if fraction.len() > DECIMALS as usize {
        return Err(bad("more than 18 decimals"));
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad("too large"))?
    };
    let padded = format!("{fraction:0<18}");
    let fraction: u128 = padded.parse().map_err(|_| bad("bad decimals"))?;
    whole
        .checked_mul(ONE)
        .and_then(|w| w.checked_add(fraction))
        .ok_or_else(|| bad("too large"))
}

/// Formats base units as tokens, without trailing zeros: `1.5`, `100`, `0.000001`.
pub fn format_tokens(units: u128) -> String {
    let whole = units / ONE;
    let fraction = units % ONE;
    if fraction == 0 {
        return whole.to_string();
    }
    let digits = format!("{fraction:018}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// A `u128` as the contracts' `u256`.
pub fn u256(units: u128) -> U256 {
    U256 {
        low: units,
        high: 0,
    }
}

/// A contract `u256` as `u128`; amounts of CIRO never exceed it (total supply is far below).
pub fn from_u256(value: &U256) -> Result<u128> {
    if value.high != 0 {
        return Err(ChainError::Input(format!(
            "amount does not fit in 128 bits: high word {:#x}",
            value.high
        )));
    }
    Ok(value.low)
}

/// Encodes a capability name such as `wasm` or `gpu:h100` as a felt.
pub fn capability(name: &str) -> Result<Felt> {
    if name.is_empty() {
        return Err(ChainError::Input("capability is empty".into()));
    }
    if !name.is_ascii() || name.chars().any(|c| c.is_ascii_control() || c == ' ') {
        return Err(ChainError::Input(format!(
            "capability {name:?}: use printable ASCII without spaces"
        )));
    }
    cairo_short_string_to_felt(name).map_err(|_| {
        ChainError::Input(format!(
            "capability {name:?} is {} bytes; at most 31 fit in a felt",
            name.len()
        ))
    })
}

/// Decodes a capability felt back to its name, or its hex if it is not a short string.
pub fn capability_name(felt: Felt) -> String {
    parse_cairo_short_string(&felt).unwrap_or_else(|_| format!("{felt:#x}"))
}

/// Parses an address or felt written as `0x…` hex or decimal.
pub fn parse_felt(what: &str, text: &str) -> Result<Felt> {
    let text = text.trim();
    // Both parsers reduce values at or above the prime instead of refusing them; a value
    // that does not print back the same was reduced.
    let canonical = |digits: &str| {
        let trimmed = digits.trim_start_matches('0').to_ascii_lowercase();
        if trimmed.is_empty() {
            "0".to_owned()
        } else {
            trimmed
        }
    };
    let parsed = if let Some(hex) = text.strip_prefix("0x") {
        Felt::from_hex(&format!("0x{hex}"))
            .ok()
            .filter(|f| format!("{f:x}") == canonical(hex))
    } else if !text.is_empty() && text.chars().all(|c| c.is_ascii_digit()) {
        Felt::from_dec_str(text)
            .ok()
            .filter(|f| f.to_biguint().to_string() == canonical(text))
    } else {
        None
    };
    parsed.ok_or_else(|| {
        ChainError::Input(format!(
            "bad {what} {text:?}: expected 0x-prefixed hex or a decimal number below the field prime"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_round_trip() {
        for (text, units) in [
            ("1", ONE),
            ("1.5", ONE + ONE / 2),
            ("0.000000000000000001", 1),
            ("250", 250 * ONE),
            (".25", ONE / 4),
        ] {
            assert_eq!(parse_tokens(text).unwrap(), units, "{text}");
        }
        assert_eq!(format_tokens(ONE + ONE / 2), "1.5");
        assert_eq!(format_tokens(250 * ONE), "250");
        assert_eq!(format_tokens(1), "0.000000000000000001");
    }

    #[test]
    fn bad_amounts_are_refused_with_the_reason() {
        for (text, why) in [
            ("", "empty"),
            ("-1", "decimal number"),
            ("1e18", "decimal number"),
            ("0.0000000000000000001", "18 decimals"),
            ("999999999999999999999999999999999999999", "too large"),
        ] {
            let error = parse_tokens(text).unwrap_err().to_string();
            assert!(error.contains(why), "{text}: {error}");
        }
    }

    #[test]
    fn capabilities_encode_as_short_strings() {
        let felt = capability("gpu:h100").unwrap();
        assert_eq!(capability_name(felt), "gpu:h100");
        assert!(capability("").is_err());
        assert!(capability("has space").is_err());
        let long = "x".repeat(32);
        assert!(capability(&long)
            .unwrap_err()
            .to_string()
            .contains("32 bytes"));
    }

    #[test]
    fn felts_parse_from_hex_and_decimal() {
        assert_eq!(parse_felt("address", "0x10").unwrap(), Felt::from(16u8));
        assert_eq!(parse_felt("address", "16").unwrap(), Felt::from(16u8));
        assert!(parse_felt("address", "0xzz")
            .unwrap_err()
            .to_string()
            .contains("bad address"));
    }
}
