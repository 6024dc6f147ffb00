//! Who may read: the token check, and the loopback host check that stands in for it when the
//! viewer serves loopback without a token.
//!
//! | configuration | a request passes when | otherwise |
//! |---|---|---|
//! | no token (loopback only) | its `Host` names a loopback address or `localhost` (a web page elsewhere that points its own host name at 127.0.0.1, DNS rebinding, is refused) | 403 |
//! | a token | it carries the token: `Authorization: Bearer <token>`, or the cookie [`COOKIE`] | 401 |
//! | a token, `?token=<token>` in the URL | the token matches: 303 to the same URL without it, setting the cookie (`HttpOnly; SameSite=Strict`) | 401 |
//!
//! Tokens are compared in constant time ([`Token::matches`]) and never logged.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::error::PageError;
use super::options::Token;

/// The cookie that keeps the token in a browser after `?token=` was accepted once.
pub(crate) const COOKIE: &str = "hotplex_viewer_token";

/// The query parameter that hands the token to a browser.
pub(crate) const TOKEN_PARAM: &str = "token";

/// What the guard checks.
#[derive(Debug, Clone)]
pub(crate) struct Access {
    token: Option<Token>,
}

impl Access {
    /// Requests must carry `token` when it is set, else name a loopback host.
    pub(crate) fn new(token: Option<Token>) -> Arc<Self> {
        Arc::new(Self { token })
    }
}

/// Middleware: lets a request through only as the table in the module documentation says.
pub(crate) async fn guard(
    State(access): State<Arc<Access>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = &access.token else {
        if host_is_loopback(request.headers()) {
            return next.run(request).await;
        }
        return PageError::new(
            StatusCode::FORBIDDEN,
            "This viewer serves loopback without a token, so it answers only requests for \
             127.0.0.1, [::1] or localhost. To serve other host names, start it with --token.",
        )
        .into_response();
    };
    if let Some((given, rest)) = split_token_param(request.uri().query()) {
        if !token.matches(&given) {
            return unauthorized();
        }
        let path = same_site_path(request.uri().path());
        let target = if rest.is_empty() {
            path
        } else {
            format!("{path}?{rest}")
        };
        let mut response = Redirect::to(&target).into_response();
        let cookie = format!(
            "{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/",
            token.as_str()
        );
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().insert(header::SET_COOKIE, value);
        }
        return response;
    }
    if presented(request.headers()).any(|candidate| token.matches(candidate)) {
        return next.run(request).await;
    }
    unauthorized()
}

/// The 401 answer, with the ways to present the token.
fn unauthorized() -> Response {
    let mut response = PageError::new(
        StatusCode::UNAUTHORIZED,
        "This viewer needs its token. Open the viewer's address with ?token=<the token> once \
         (a cookie keeps it for this browser), or send the header Authorization: Bearer <the \
         token>.",
    )
    .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"hotplex-storage\""),
    );
    response
}

/// The token candidates a request carries: its bearer credentials and its viewer cookies.
fn presented(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    let bearer = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| {
            let (scheme, credentials) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| credentials.trim())
        });
    let cookies = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE).then_some(value)
        });
    bearer.chain(cookies)
}

/// The `token` parameter of `query` and the query without it (re-encoded), when it has one.
fn split_token_param(query: Option<&str>) -> Option<(String, String)> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query?).ok()?;
    let mut given = None;
    let mut rest = Vec::with_capacity(pairs.len());
    for (name, value) in pairs {
        if name == TOKEN_PARAM {
            given = Some(value);
        } else {
            rest.push((name, value));
        }
    }
    let rest = serde_urlencoded::to_string(rest).unwrap_or_default();
    given.map(|g| (g, rest))
}

/// `path` as a redirect target that stays on this server: leading slashes and backslashes
/// collapsed to one `/`, since a browser reads `//host/…` (and `/\host/…`) as another site.
fn same_site_path(path: &str) -> String {
    format!("/{}", path.trim_start_matches(['/', '\\']))
}

/// Whether the `Host` header names a loopback address (`127.0.0.0/8`, `[::1]`) or
/// `localhost`, with or without a port.
fn host_is_loopback(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let name = if let Some(rest) = host.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else {
            return false;
        };
        if !(after.is_empty() || is_port(after)) {
            return false;
        }
        return inside.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_loopback());
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if is_port(&format!(":{port}")) => name,
            Some(_) => return false,
            None => host,
        }
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_ipv4() && ip.is_loopback())
}

/// `:digits`.
fn is_port(text: &str) -> bool {
    text.strip_prefix(':')
        .is_some_and(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn loopback_host_names_pass() {
        for ok in [
            "127.0.0.1",
            "127.0.0.1:8080",
            "127.1.2.3:1",
            "localhost",
            "LOCALHOST:8080",
            "[::1]",
            "[::1]:8080",
        ] {
            assert!(host_is_loopback(&host(ok)), "{ok}");
        }
    }

    #[test]
    fn other_host_names_are_refused() {
        for bad in [
            "evil.example",
            "evil.example:8080",
            "localhost.evil.example",
            "127.0.0.1.evil.example",
            "10.0.0.1:8080",
            "[::2]:80",
            "[::1]x",
            "[::1",
            "127.0.0.1:",
            "127.0.0.1:80:80",
            "::1",
            "",
        ] {
            assert!(!host_is_loopback(&host(bad)), "{bad}");
        }
        assert!(!host_is_loopback(&HeaderMap::new()));
    }

    #[test]
    fn token_parameter_is_split_from_the_rest() {
        assert_eq!(split_token_param(None), None);
        assert_eq!(split_token_param(Some("q=a")), None);
        assert_eq!(
            split_token_param(Some("token=abc")),
            Some(("abc".to_owned(), String::new()))
        );
        assert_eq!(
            split_token_param(Some("q=%E4%BD%A0+x&token=abc&page=2")),
            Some(("abc".to_owned(), "q=%E4%BD%A0+x&page=2".to_owned()))
        );
    }

    #[test]
    fn redirects_stay_on_this_server() {
        assert_eq!(same_site_path("/"), "/");
        assert_eq!(same_site_path("/search"), "/search");
        assert_eq!(same_site_path("//evil.example/x"), "/evil.example/x");
        assert_eq!(same_site_path("/\\evil.example"), "/evil.example");
        assert_eq!(same_site_path("///\\/a//b"), "/a//b");
    }

    #[test]
    fn bearer_and_cookie_candidates() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer  t1 "),
        );
        headers.append(header::AUTHORIZATION, HeaderValue::from_static("Basic t2"));
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; hotplex_viewer_token=t3; other=t4"),
        );
        let found: Vec<&str> = presented(&headers).collect();
        assert_eq!(found, ["t1", "t3"]);
    }
}
