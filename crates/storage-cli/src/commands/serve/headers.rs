//! The headers every response carries, and the methods the viewer answers (GET and HEAD).
//!
//! | header | value | why |
//! |---|---|---|
//! | `Content-Security-Policy` | [`CSP`] | no script runs, no resource loads from elsewhere, even if escaping failed |
//! | `X-Content-Type-Options` | `nosniff` | a response is never reinterpreted as another type |
//! | `X-Frame-Options` | `DENY` | older browsers' `frame-ancestors` |
//! | `Referrer-Policy` | `no-referrer` | URLs (search text, session ids) never leak to other sites |
//! | `Cache-Control` | `no-store` | conversations stay out of disk caches and shared proxies |
//! | `Cross-Origin-Opener-Policy`, `Cross-Origin-Resource-Policy` | `same-origin` | other sites get no handle on the pages |

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::PageError;

/// The Content-Security-Policy: nothing but this server's own stylesheet, no script at all,
/// forms only to this server, never inside a frame.
pub(crate) const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The security headers, as name and value.
const HEADERS: [(HeaderName, &str); 7] = [
    (header::CONTENT_SECURITY_POLICY, CSP),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::CACHE_CONTROL, "no-store"),
    (
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    ),
    (
        HeaderName::from_static("cross-origin-resource-policy"),
        "same-origin",
    ),
];

/// Middleware: adds the security headers to every response, errors included.
pub(crate) async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Middleware: answers any method but GET and HEAD with 405 (`Allow: GET, HEAD`), before
/// routing: no route of the viewer changes anything.
pub(crate) async fn read_only(request: Request, next: Next) -> Response {
    if request.method() == Method::GET || request.method() == Method::HEAD {
        return next.run(request).await;
    }
    let mut response = PageError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "This viewer is read-only: it answers GET and HEAD only.",
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    response
}
