//! HTTP caching: every answer names the block it reflects (`X-Indexed-Block`,
//! `X-Indexed-Block-Hash`), and every successful `GET` carries a strong `ETag`, the SHA-256
//! of its body. A request whose `If-None-Match` names the current tag gets `304 Not
//! Modified` and no body, so a client polling for a standing that has not changed
//! receives a few headers. A tag is a digest of the exact bytes, so a 304 means the answer
//! is byte for byte the one the client holds: nothing changed, whatever was indexed or
//! undone (a reorg) in between. Answers carry `Cache-Control: no-cache`: keep them, but ask
//! again.
//!
//! Answers only change when the store's view moves (a committed batch or a rollback), so
//! the server keeps the answers it built, keyed by path and query, for the current view
//! generation only: a repeated `GET` between two blocks is a map lookup, whichever route it
//! is. A generation change empties the cache; an answer built while the view moved is not
//! kept.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::metrics::Metrics;
use crate::store::{Store, ViewBlock};

/// The header naming the block an answer reflects.
pub const BLOCK_HEADER: &str = "x-indexed-block";
/// The header with that block's hash.
pub const BLOCK_HASH_HEADER: &str = "x-indexed-block-hash";
/// The largest body the middleware will hash; the API's own limits keep answers far below.
const MAX_BODY: usize = 16 << 20;

/// An answer and the block it reflects.
pub struct Indexed<T>(pub Option<ViewBlock>, pub T);

impl<T: IntoResponse> IntoResponse for Indexed<T> {
    fn into_response(self) -> Response {
        let mut response = self.1.into_response();
        if let Some(block) = self.0 {
            let headers = response.headers_mut();
            headers.insert(BLOCK_HEADER, HeaderValue::from(block.number));
            if let Ok(hash) = HeaderValue::from_str(&block.hash) {
                headers.insert(BLOCK_HASH_HEADER, hash);
            }
        }
        response
    }
}

/// The strong entity tag of `body`: a quoted hex SHA-256 (128 bits of it).
pub fn etag(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// Whether `If-None-Match` names `tag` (or is `*`). Weak comparison, as RFC 9110 asks for
/// `If-None-Match`: `W/"x"` matches `"x"`.
fn matches(headers: &HeaderMap, tag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        .any(|t| t == "*" || t.trim_start_matches("W/") == tag)
}

/// Routes whose answers change without a block (the engine's status, counters) or are
/// not worth keeping: built every time, still tagged.
const UNCACHED: [&str; 2] = ["/health", "/metrics"];
/// The most body bytes the cache holds for one generation.
const CACHE_BYTES: usize = 32 << 20;

/// A built answer.
struct Kept {
    headers: HeaderMap,
    body: Bytes,
    tag: String,
}

#[derive(Default)]
struct Generation {
    number: u64,
    bytes: usize,
    answers: HashMap<String, Arc<Kept>>,
}

/// What the caching middleware shares.
#[derive(Clone)]
pub struct Caching {
    store: Store,
    metrics: Metrics,
    kept: Arc<Mutex<Generation>>,
}

impl Caching {
    /// An empty cache over `store`'s view.
    pub fn new(store: Store, metrics: Metrics) -> Self {
        Self {
            store,
            metrics,
            kept: Arc::default(),
        }
    }

    fn get(&self, generation: u64, key: &str) -> Option<Arc<Kept>> {
        let kept = self.kept.lock().expect("cache lock");
        (kept.number == generation)
            .then(|| kept.answers.get(key).cloned())
            .flatten()
    }

    fn put(&self, generation: u64, key: String, answer: Arc<Kept>) {
        let mut kept = self.kept.lock().expect("cache lock");
        if kept.number != generation {
            *kept = Generation {
                number: generation,
                ..Generation::default()
            };
        }
        if kept.bytes + answer.body.len() <= CACHE_BYTES {
            kept.bytes += answer.body.len();
            kept.answers.insert(key, answer);
        }
    }
}

/// The answer to a request that holds `conditions`: 304 if they name the tag.
fn answer(conditions: &HeaderMap, kept: &Kept) -> Response {
    let mut headers = kept.headers.clone();
    headers.insert(
        header::ETAG,
        HeaderValue::from_str(&kept.tag).expect("hex is a valid header"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    let (status, body) = if matches(conditions, &kept.tag) {
        headers.remove(header::CONTENT_LENGTH);
        headers.remove(header::CONTENT_TYPE);
        (StatusCode::NOT_MODIFIED, Body::empty())
    } else {
        (StatusCode::OK, Body::from(kept.body.clone()))
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// Serves `GET`s from the cache of the current view, or builds, tags and keeps them; answers
/// `304` to a matching `If-None-Match`. Other methods and non-200 answers pass through.
pub async fn conditional(State(c): State<Caching>, req: Request, next: Next) -> Response {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return next.run(req).await;
    }
    let conditions = req.headers().clone();
    let key = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_owned(), |p| p.as_str().to_owned());
    let cacheable = req.method() == Method::GET && !UNCACHED.contains(&req.uri().path());
    let generation = c.store.view().generation;
    if cacheable {
        if let Some(kept) = c.get(generation, &key) {
            c.metrics.http_cache.with_label_values(&["hit"]).inc();
            return answer(&conditions, &kept);
        }
        c.metrics.http_cache.with_label_values(&["miss"]).inc();
    }
    let response = next.run(req).await;
    if response.status() != StatusCode::OK {
        return response;
    }
    let (parts, body) = response.into_parts();
    let body = match to_bytes(body, MAX_BODY).await {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::error!(error = %e, "answer body could not be read");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let tag = etag(&body);
    let kept = Arc::new(Kept {
        headers: parts.headers,
        body,
        tag,
    });
    // Kept only if the view did not move while it was built: then it is the answer of
    // this generation.
    if cacheable && c.store.view().generation == generation {
        c.put(generation, key, kept.clone());
    }
    answer(&conditions, &kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_follow_the_bytes_and_match_as_rfc_9110_says() {
        let a = etag(b"{\"items\":[]}");
        assert_eq!(a, etag(b"{\"items\":[]}"));
        assert_ne!(a, etag(b"{\"items\":[1]}"));
        assert_eq!(a.len(), 34);
        let mut h = HeaderMap::new();
        assert!(!matches(&h, &a));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_str(&a).unwrap());
        assert!(matches(&h, &a));
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_str(&format!("\"other\", W/{a}")).unwrap(),
        );
        assert!(matches(&h, &a));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"other\""));
        assert!(!matches(&h, &a));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(matches(&h, &a));
    }
}
