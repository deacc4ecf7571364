//! Static files from the site root through `tower-http`'s `ServeDir` (content types, ETag,
//! Last-Modified, conditional and range requests, `index.html` for directories), with the
//! config's `mimeTypes` applied on top.

use std::collections::HashMap;
use std::path::Path;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use tower_http::services::ServeDir;

/// Serves `path` (a URL path) from `root` for a request with `method` and `headers`.
pub async fn serve(
    root: &Path,
    method: &Method,
    headers: &HeaderMap,
    path: &str,
    mime_types: &HashMap<String, HeaderValue>,
) -> Response {
    let mut builder = Request::builder().method(method.clone()).uri(path);
    if let Some(h) = builder.headers_mut() {
        h.extend(headers.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    let Ok(request) = builder.body(Body::empty()) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let service = ServeDir::new(root).append_index_html_on_directories(true);
    let mut response = match service.oneshot(request).await {
        Ok(response) => response.map(Body::new),
        Err(infallible) => match infallible {},
    };
    // ServeDir redirects a directory to `<request path>/`; for `//host` that would be a
    // scheme-relative `//host/`, so the Location keeps to one leading slash.
    if response.status().is_redirection()
        && let Some(location) = response.headers().get(header::LOCATION)
        && let Ok(text) = location.to_str()
    {
        let local = format!("/{}", text.trim_start_matches(['/', '\\']));
        if let Ok(value) = HeaderValue::from_str(&local) {
            response.headers_mut().insert(header::LOCATION, value);
        }
    }
    let served = response.status().is_success() || response.status() == StatusCode::NOT_MODIFIED;
    if let Some(content_type) = extension(path).and_then(|e| mime_types.get(&e))
        && served
    {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type.clone());
    }
    response
}

/// The lower-case extension of the file `path` names (`index.html` for a directory).
fn extension(path: &str) -> Option<String> {
    let last = path.rsplit('/').next().unwrap_or_default();
    let name = if last.is_empty() { "index.html" } else { last };
    name.rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
}
