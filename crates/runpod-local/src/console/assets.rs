//! The page's files, compiled in: `GET /` and `GET /_local/assets/{app.js,app.css}`.
//!
//! Each answer carries an `ETag` (a hash of the file, computed once) and `Cache-Control:
//! no-cache`, so a browser revalidates on every load and gets `304 Not Modified` until the
//! binary changes: never a stale page after an upgrade, never a re-download without one.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// One embedded file.
struct Asset {
    body: &'static str,
    content_type: &'static str,
    etag: OnceLock<HeaderValue>,
}

static INDEX: Asset = Asset {
    body: include_str!("../../console/index.html"),
    content_type: "text/html; charset=utf-8",
    etag: OnceLock::new(),
};
static APP_JS: Asset = Asset {
    body: include_str!("../../console/app.js"),
    content_type: "text/javascript; charset=utf-8",
    etag: OnceLock::new(),
};
static APP_CSS: Asset = Asset {
    body: include_str!("../../console/app.css"),
    content_type: "text/css; charset=utf-8",
    etag: OnceLock::new(),
};

impl Asset {
    fn etag(&self) -> &HeaderValue {
        self.etag.get_or_init(|| {
            // FNV-1a: stable across builds and platforms, unlike std's hasher.
            let hash = self.body.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
            HeaderValue::from_str(&format!("\"{hash:016x}\""))
                .unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
        })
    }

    fn serve(&self, headers: &HeaderMap) -> Response {
        let etag = self.etag().clone();
        let common = [
            (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            (X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
            (REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
            (ETAG, etag.clone()),
        ];
        let fresh = headers
            .get(IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == etag));
        if fresh {
            return (StatusCode::NOT_MODIFIED, common).into_response();
        }
        (
            common,
            [(CONTENT_TYPE, HeaderValue::from_static(self.content_type))],
            self.body,
        )
            .into_response()
    }
}

/// `GET /`: the page.
pub(super) async fn index(headers: HeaderMap) -> Response {
    INDEX.serve(&headers)
}

/// `GET /_local/assets/{file}`.
pub(super) async fn file(Path(file): Path<String>, headers: HeaderMap) -> Response {
    match file.as_str() {
        "app.js" => APP_JS.serve(&headers),
        "app.css" => APP_CSS.serve(&headers),
        _ => ApiError::new(StatusCode::NOT_FOUND, format!("no asset `{file}`")).into_response(),
    }
}
