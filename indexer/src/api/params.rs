//! Query and path parsing with errors that name the field. Unknown query parameters are
//! refused, so a misspelt filter is a 400 rather than a silently unfiltered answer.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;

use starknet::core::types::Felt;

use super::error::ApiError;
use crate::model::{hex, JobState, WorkerStatus};
use crate::store::WorkerFilter;

/// The default and largest page sizes.
pub const DEFAULT_LIMIT: u32 = 50;
/// The largest page size.
pub const MAX_LIMIT: u32 = 500;

/// Refuses parameters outside `allowed`.
pub fn only(query: &HashMap<String, String>, allowed: &[&str]) -> Result<(), ApiError> {
    let mut unknown: Vec<&String> = query
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .collect();
    unknown.sort();
    match unknown.first() {
        Some(k) => Err(ApiError::bad(
            k,
            format!(
                "unknown query parameter {k:?}; allowed: {}",
                allowed.join(", ")
            ),
        )),
        None => Ok(()),
    }
}

/// What an address may look like: `0x` and 1 to 64 hex digits, below 2^251 as Starknet
/// addresses are (at most 62 digits, or 63 with the first from 0 to 7, or 64 with a leading
/// 0 and then the same). Every such text is a valid address and the server refuses every
/// other; the OpenAPI document states this pattern.
pub const ADDRESS_PATTERN: &str =
    r"^0x([0-9a-fA-F]{1,62}|[0-7][0-9a-fA-F]{62}|0[0-7][0-9a-fA-F]{62})$";

/// The workers cursor: `<score in ppm>_<address>`, both as the API prints them.
pub const WORKER_CURSOR_PATTERN: &str = r"^(0|[1-9][0-9]{0,5}|1000000)_0x0[0-7][0-9a-f]{62}$";

/// An address (`0x` hex, [`ADDRESS_PATTERN`]), normalized to 64 hex digits.
pub fn address(field: &str, text: &str) -> Result<String, ApiError> {
    static PATTERN: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(ADDRESS_PATTERN).expect("the address pattern compiles"));
    let bad = |why: String| ApiError::bad(field, format!("bad {field} {text:?}: {why}"));
    if !PATTERN.is_match(text) {
        return Err(bad("expected 0x and 1 to 64 hex digits, below 2^251".into()));
    }
    ciro_bindings::units::parse_felt(field, text)
        .map(hex)
        .map_err(|e| bad(e.to_string()))
}

/// The largest id the store can hold: ids are 64-bit signed integers in both databases.
pub const MAX_ID: u64 = i64::MAX as u64;

/// An id (a job or dispute id, or the jobs cursor): an integer from 0 to [`MAX_ID`]. A
/// larger one is refused rather than wrapped negative.
pub fn id(field: &str, text: &str) -> Result<u64, ApiError> {
    match text.parse::<u64>() {
        Ok(n) if n <= MAX_ID => Ok(n),
        _ => Err(ApiError::bad(
            field,
            format!("{field} must be an integer from 0 to {MAX_ID}, got {text:?}"),
        )),
    }
}

/// `limit`, 1 to [`MAX_LIMIT`], default [`DEFAULT_LIMIT`].
pub fn limit(query: &HashMap<String, String>) -> Result<u32, ApiError> {
    match query.get("limit") {
        None => Ok(DEFAULT_LIMIT),
        Some(t) => match t.parse::<u32>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(ApiError::bad(
                "limit",
                format!("limit must be an integer from 1 to {MAX_LIMIT}, got {t:?}"),
            )),
        },
    }
}

/// `min_score` in [0, 1], as ppm.
pub fn min_score(query: &HashMap<String, String>) -> Result<Option<i64>, ApiError> {
    let Some(t) = query.get("min_score") else {
        return Ok(None);
    };
    match t.parse::<f64>() {
        Ok(s) if (0.0..=1.0).contains(&s) => Ok(Some((s * 1_000_000.0).round() as i64)),
        _ => Err(ApiError::bad(
            "min_score",
            format!("min_score must be a number from 0 to 1, got {t:?}"),
        )),
    }
}

/// A worker status filter.
pub fn status(query: &HashMap<String, String>) -> Result<Option<WorkerStatus>, ApiError> {
    query
        .get("status")
        .map(|t| {
            WorkerStatus::parse(t).ok_or_else(|| {
                let names: Vec<&str> = WorkerStatus::ALL.iter().map(|s| s.as_str()).collect();
                ApiError::bad(
                    "status",
                    format!("status must be one of {}, got {t:?}", names.join(", ")),
                )
            })
        })
        .transpose()
}

/// A job state filter.
pub fn state(query: &HashMap<String, String>) -> Result<Option<JobState>, ApiError> {
    query
        .get("state")
        .map(|t| {
            JobState::parse(t).ok_or_else(|| {
                let names: Vec<&str> = JobState::ALL.iter().map(|s| s.as_str()).collect();
                ApiError::bad(
                    "state",
                    format!("state must be one of {}, got {t:?}", names.join(", ")),
                )
            })
        })
        .transpose()
}

/// The longest capability name, in characters: `0x` and 64 hex digits.
pub const MAX_CAPABILITY_CHARS: usize = 66;

/// A capability name, exactly as the view stores it (the short string, or `0x` hex for a
/// felt that is not one).
pub fn capability(query: &HashMap<String, String>) -> Result<Option<String>, ApiError> {
    match query.get("capability") {
        Some(t) if t.is_empty() || t.chars().count() > MAX_CAPABILITY_CHARS => Err(ApiError::bad(
            "capability",
            format!(
                "capability must be 1 to {MAX_CAPABILITY_CHARS} characters, got {} characters",
                t.chars().count()
            ),
        )),
        other => Ok(other.cloned()),
    }
}

/// The workers list cursor: `<score_ppm>_<address>`, as returned in `next_cursor`.
pub fn worker_cursor(query: &HashMap<String, String>) -> Result<Option<(i64, String)>, ApiError> {
    let Some(t) = query.get("cursor") else {
        return Ok(None);
    };
    let bad = || {
        ApiError::bad(
            "cursor",
            format!("cursor {t:?} is not one this API returned (next_cursor)"),
        )
    };
    let (score_text, addr) = t.split_once('_').ok_or_else(bad)?;
    let score: i64 = score_text.parse().map_err(|_| bad())?;
    let felt = Felt::from_hex(addr).map_err(|_| bad())?;
    // Exactly as printed: no sign, no leading zeros, 64 lowercase hex digits.
    if !(0..=1_000_000).contains(&score) || score.to_string() != score_text || hex(felt) != addr {
        return Err(bad());
    }
    Ok(Some((score, addr.to_owned())))
}

/// The `GET /v1/workers` filter from its query (unknown parameters are not checked here).
pub fn worker_filter(query: &HashMap<String, String>) -> Result<WorkerFilter, ApiError> {
    Ok(WorkerFilter {
        capability: capability(query)?,
        min_score_ppm: min_score(query)?,
        status: status(query)?,
        after: worker_cursor(query)?,
        limit: limit(query)?,
    })
}

/// The jobs list cursor: the last job id seen.
pub fn job_cursor(query: &HashMap<String, String>) -> Result<Option<u64>, ApiError> {
    query.get("cursor").map(|t| id("cursor", t)).transpose()
}
