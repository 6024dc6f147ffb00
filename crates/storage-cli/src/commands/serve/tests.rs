//! HTTP tests of every route on the router itself (`tower::ServiceExt::oneshot`), over a
//! memory store seeded with ordinary, streamed, deleted, many-paged and hostile messages.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use chrono::{DateTime, TimeZone, Utc};
use hotplex_storage_core::{ChatAppMessage, ChatAppMessageStore, MessageType};
use hotplex_storage_registry::StorageConfig;
use tower::ServiceExt;

use super::auth::{Access, COOKIE};
use super::headers::CSP;
use super::options::{ServeOptions, TOKEN_ENV};
use super::routes::router;
use crate::cli::ServeArgs;

const TOKEN: &str = "t0ken-for-tests-0123456789";
const ADA: &str = "slack:U0ADA:C1:T1";
const PAGED: &str = "slack:U0BOB:C2:T2";
const PAGED_MESSAGES: usize = 250;
/// A session id, user id, content and metadata that would run script if not escaped.
const EVIL_SESSION: &str = "slack:\"><img src=x onerror=alert(1)>";
const EVIL_USER: &str = "<b>U0EVIL</b>";
const EVIL_SCRIPT: &str = "<script>document.title='PWNED'</script>";
const EVIL_IMG: &str = "\"><img src=x onerror=\"document.title='PWNED'\">";
const NEEDLE_HITS: usize = 45;

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_780_000_000 + seconds, 0).unwrap()
}

/// A verbose memory store with the test conversations.
async fn seeded() -> Arc<dyn ChatAppMessageStore> {
    let cfg = StorageConfig::new()
        .with_type("memory")
        .with_strategy("verbose");
    let store = hotplex_storage_registry::open(&cfg).await.unwrap();
    let ada = |content: &str| {
        ChatAppMessage::user(ADA, content)
            .with_platform("slack")
            .with_user("U0ADA")
    };
    let bot = |content: &str| {
        ChatAppMessage::bot(ADA, content)
            .with_platform("slack")
            .with_user("U0ADA")
            .with_bot_user("U0HOTPLEX")
    };
    let mut deleted = ada("a message the user deleted");
    deleted.deleted = true;
    deleted.deleted_at = Some(at(4));
    let mut batch = vec![
        ada("How do I back up 数据库 files?").with_created_at(at(0)),
        bot("Use the online backup API.")
            .with_metadata_entry("stream_status", "complete")
            .with_created_at(at(1)),
        ChatAppMessage::of_type(ADA, MessageType::THINKING, "pondering")
            .with_platform("slack")
            .with_user("U0ADA")
            .with_created_at(at(2)),
        bot("The first half of an answ")
            .with_metadata_entry("stream_status", "interrupted")
            .with_metadata_entry("stream_reason", "expired")
            .with_created_at(at(3)),
        deleted.with_created_at(at(4)),
    ];
    for n in 0..PAGED_MESSAGES {
        let secs = i64::try_from(n).unwrap();
        batch.push(
            ChatAppMessage::user(PAGED, format!("paged message number {n}"))
                .with_platform("slack")
                .with_user("U0BOB")
                .with_created_at(at(100 + secs)),
        );
    }
    for n in 0..NEEDLE_HITS {
        let secs = i64::try_from(n).unwrap();
        batch.push(
            ChatAppMessage::user(format!("slack:U0CAT:C3:T{n}"), format!("needle {n} here"))
                .with_platform("slack")
                .with_user("U0CAT")
                .with_created_at(at(1_000 + secs)),
        );
    }
    batch.push(
        ChatAppMessage::user(EVIL_SESSION, format!("{EVIL_SCRIPT} and {EVIL_IMG}"))
            .with_platform("slack")
            .with_user(EVIL_USER)
            .with_metadata_entry("note", EVIL_SCRIPT)
            .with_created_at(at(2_000)),
    );
    store.store_batch(&batch).await.unwrap();
    store
}

/// The router without a token (loopback).
async fn open_app() -> Router {
    router(seeded().await, Access::new(None))
}

/// The router with [`TOKEN`].
async fn token_app() -> Router {
    let args = ServeArgs {
        addr: "127.0.0.1:0".parse().unwrap(),
        token: None,
    };
    let env = |k: &str| (k == TOKEN_ENV).then(|| TOKEN.to_owned());
    let options = ServeOptions::resolve(&args, &env).unwrap();
    router(seeded().await, Access::new(options.token))
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

async fn send(app: &Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    Answer {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

fn request(method: Method, uri: &str) -> axum::http::request::Builder {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::HOST, "127.0.0.1:8080")
}

async fn get(app: &Router, uri: &str) -> Answer {
    send(app, request(Method::GET, uri).body(Body::empty()).unwrap()).await
}

/// `uri` answers 200 with HTML.
async fn page(app: &Router, uri: &str) -> String {
    let answer = get(app, uri).await;
    assert_eq!(answer.status, StatusCode::OK, "{uri}: {}", answer.body);
    assert_eq!(
        answer.headers[header::CONTENT_TYPE],
        "text/html; charset=utf-8",
        "{uri}"
    );
    answer.body
}

/// `uri` answers `status` with a page whose message contains `needle`.
async fn refused(app: &Router, uri: &str, status: StatusCode, needle: &str) {
    let answer = get(app, uri).await;
    assert_eq!(answer.status, status, "{uri}: {}", answer.body);
    assert!(
        answer.body.contains(needle),
        "{uri}: {needle:?} not in {}",
        answer.body
    );
    assert_security_headers(&answer.headers);
}

fn assert_security_headers(headers: &HeaderMap) {
    assert_eq!(headers[header::CONTENT_SECURITY_POLICY], CSP);
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
    assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(
        !csp.contains("script-src"),
        "no script source at all: {csp}"
    );
}

/// The `href`s of the links marked `rel="next"` in `html`, unescaped.
fn rel_link(html: &str, rel: &str) -> Option<String> {
    let marker = format!("rel=\"{rel}\" href=\"");
    let start = html.find(&marker)? + marker.len();
    let end = start + html[start..].find('"')?;
    Some(html[start..end].replace("&amp;", "&"))
}

/// The message numbers (`seq`) of a thread page, in page order.
fn anchors(html: &str) -> Vec<i64> {
    html.match_indices("<article class=\"msg")
        .filter_map(|(i, _)| {
            let rest = &html[i..];
            let id = rest.find(" id=\"m")? + 6;
            let end = id + rest[id..].find('"')?;
            rest[id..end].parse().ok()
        })
        .collect()
}

#[tokio::test]
async fn every_page_answers_with_the_security_headers() {
    let app = open_app().await;
    for uri in [
        "/",
        "/sessions?user=U0ADA",
        "/sessions?platform=slack&user=U0ADA&page=1",
        &format!("/thread?session={}", urlencode(ADA)),
        "/search",
        "/search?q=backup",
        "/health",
    ] {
        let answer = get(&app, uri).await;
        assert_eq!(answer.status, StatusCode::OK, "{uri}: {}", answer.body);
        assert_security_headers(&answer.headers);
        assert!(!answer.body.contains("<script"), "{uri}: no script element");
    }
    let css = get(&app, "/style.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(css.headers[header::CONTENT_TYPE], "text/css; charset=utf-8");
    assert_security_headers(&css.headers);
    assert!(css.body.contains("article.msg"));
}

fn urlencode(value: &str) -> String {
    serde_urlencoded::to_string([("", value)]).unwrap()[1..].to_owned()
}

#[tokio::test]
async fn the_start_page_lists_recent_sessions_and_the_forms() {
    let body = page(&open_app().await, "/").await;
    assert!(body.contains("memory"), "the backend is named");
    assert!(
        body.contains("slack:U0CAT:C3:T44"),
        "the newest needle session"
    );
    assert!(body.contains("action=\"/sessions\""));
    assert!(body.contains("action=\"/search\""));
    assert!(body.contains("href=\"/sessions?platform=slack&amp;user=U0CAT\""));
}

#[tokio::test]
async fn a_users_sessions_show_counts_and_last_message_time_newest_first() {
    let app = open_app().await;
    let body = page(&app, "/sessions?platform=slack&user=U0ADA").await;
    // Four live messages (the deleted one does not count).
    assert!(body.contains("<td class=\"num\">4</td>"), "{body}");
    assert!(
        body.contains("2026-05-28 20:26:43"),
        "last message time: {body}"
    );
    let body = page(&app, "/sessions?user=U0CAT").await;
    assert!(body.contains("45 session(s)"), "{body}");
    let first = body.find("slack:U0CAT:C3:T44").unwrap();
    let later = body.find("slack:U0CAT:C3:T43").unwrap();
    assert!(first < later, "most recent first");
    assert!(body.contains("slack:U0CAT:C3:T0<"), "one page holds all 45");
    let none = page(&app, "/sessions?user=U0NOBODY").await;
    assert!(none.contains("no sessions"), "{none}");
}

#[tokio::test]
async fn sessions_page_in_fifties() {
    let cfg = StorageConfig::new().with_type("memory");
    let store = hotplex_storage_registry::open(&cfg).await.unwrap();
    let batch: Vec<ChatAppMessage> = (0..120)
        .map(|n| {
            ChatAppMessage::user(format!("s-{n:03}"), "hi")
                .with_platform("slack")
                .with_user("U0MANY")
                .with_created_at(at(n))
        })
        .collect();
    store.store_batch(&batch).await.unwrap();
    let app = router(store, Access::new(None));
    let mut seen = Vec::new();
    let mut uri = "/sessions?user=U0MANY".to_owned();
    for expected in [50, 50, 20] {
        let body = page(&app, &uri).await;
        let rows = body.matches("href=\"/thread?session=s-").count();
        assert_eq!(rows, expected, "{uri}");
        seen.extend(
            body.match_indices("session=s-")
                .map(|(i, _)| body[i + 8..i + 13].to_owned()),
        );
        match rel_link(&body, "next") {
            Some(next) => uri = next,
            None => assert_eq!(expected, 20, "only the last page has no next link"),
        }
    }
    seen.dedup();
    assert_eq!(seen.len(), 120, "every session once");
    assert_eq!(seen.first().map(String::as_str), Some("s-119"));
    let past = page(&app, "/sessions?user=U0MANY&page=9").await;
    assert!(past.contains("No sessions on this page"), "{past}");
}

#[tokio::test]
async fn a_thread_shows_turns_types_streams_and_folded_metadata() {
    let app = open_app().await;
    let body = page(&app, &format!("/thread?session={}", urlencode(ADA))).await;
    assert!(body.contains("class=\"msg user\""), "a user turn");
    assert!(body.contains("class=\"msg bot\""), "a bot turn");
    assert!(body.contains("class=\"msg bot interrupted\""), "{body}");
    assert!(body.contains("interrupted (expired)"), "{body}");
    assert!(body.contains("stream complete"));
    assert!(body.contains(">thinking<"), "the type is shown");
    assert!(body.contains("<details><summary>Details and metadata</summary>"));
    assert!(
        body.contains("&quot;stream_reason&quot;: &quot;expired&quot;"),
        "{body}"
    );
    // Oldest first: the question before the answer.
    assert!(body.find("How do I back up").unwrap() < body.find("online backup API").unwrap());
}

#[tokio::test]
async fn deleted_messages_are_hidden_unless_asked() {
    let app = open_app().await;
    let uri = format!("/thread?session={}", urlencode(ADA));
    let hidden = page(&app, &uri).await;
    assert!(!hidden.contains("a message the user deleted"));
    assert!(hidden.contains("Show deleted messages"));
    let shown = page(&app, &format!("{uri}&deleted=1")).await;
    assert!(shown.contains("a message the user deleted"));
    assert!(shown.contains("class=\"msg user deleted\""), "{shown}");
    assert!(shown.contains("Hide deleted messages"));
}

#[tokio::test]
async fn a_deleted_session_is_not_found_unless_deleted_messages_are_asked_for() {
    let store = seeded().await;
    store.delete_session(ADA).await.unwrap();
    let app = router(store, Access::new(None));
    let uri = format!("/thread?session={}", urlencode(ADA));
    refused(&app, &uri, StatusCode::NOT_FOUND, "add deleted=1").await;
    let shown = page(&app, &format!("{uri}&deleted=1")).await;
    assert!(shown.contains("it was deleted"), "{shown}");
    assert!(shown.contains("How do I back up"));
}

#[tokio::test]
async fn thread_pages_follow_their_links_without_gaps_or_repeats() {
    let app = open_app().await;
    let mut uri = format!("/thread?session={}", urlencode(PAGED));
    let mut seqs = Vec::new();
    let mut pages = 0;
    loop {
        let body = page(&app, &uri).await;
        let on_page = anchors(&body);
        assert!(on_page.len() <= 100, "{uri}");
        seqs.extend(on_page);
        pages += 1;
        if pages > 1 {
            assert!(
                rel_link(&body, "prev").is_some(),
                "older link on page {pages}"
            );
        }
        match rel_link(&body, "next") {
            Some(next) => uri = next,
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seqs.len(), PAGED_MESSAGES);
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "oldest first, no repeats"
    );
    // The newest page, then back through the older ones.
    let newest = page(
        &app,
        &format!("/thread?session={}&newest=1", urlencode(PAGED)),
    )
    .await;
    let last = anchors(&newest);
    assert_eq!(last.len(), 100);
    assert_eq!(last.last(), seqs.last());
    assert!(rel_link(&newest, "next").is_none(), "nothing newer");
    let older = page(&app, &rel_link(&newest, "prev").unwrap()).await;
    let before = anchors(&older);
    assert_eq!(before.len(), 100);
    assert_eq!(before.last().unwrap() + 1, last[0], "directly before");
    assert!(rel_link(&older, "next").is_some(), "newer exists again");
    // A smaller page size, at its edges.
    let small = page(
        &app,
        &format!("/thread?session={}&limit=1", urlencode(PAGED)),
    )
    .await;
    assert_eq!(anchors(&small).len(), 1);
    let big = page(
        &app,
        &format!("/thread?session={}&limit=500", urlencode(PAGED)),
    )
    .await;
    assert_eq!(anchors(&big).len(), PAGED_MESSAGES);
    assert!(rel_link(&big, "next").is_none());
}

#[tokio::test]
async fn search_finds_cjk_terms_and_marks_them() {
    let app = open_app().await;
    let body = page(&app, "/search?q=%E6%95%B0%E6%8D%AE%E5%BA%93").await;
    assert!(body.contains("1 hit(s)"), "{body}");
    assert!(body.contains("<mark>数据库</mark>"), "{body}");
    // The hit links to its message in the thread.
    assert!(body.contains("#m1\""), "{body}");
    let none = page(&app, "/search?q=absentword").await;
    assert!(none.contains("No message contains"), "{none}");
    let form = page(&app, "/search").await;
    assert!(!form.contains("hit(s)"), "the form alone");
    let session = page(
        &app,
        &format!(
            "/search?q=needle&session={}",
            urlencode("slack:U0CAT:C3:T7")
        ),
    )
    .await;
    assert!(session.contains("1 hit(s)"), "{session}");
    assert!(session.contains("<mark>needle</mark> 7 here"), "{session}");
}

#[tokio::test]
async fn search_pages_follow_the_cursor() {
    let app = open_app().await;
    let mut uri = "/search?q=NEEDLE".to_owned();
    let mut found = Vec::new();
    let mut counts = Vec::new();
    loop {
        let body = page(&app, &uri).await;
        let hits: Vec<String> = body
            .match_indices("<mark>needle</mark> ")
            .map(|(i, _)| {
                let rest = &body[i + 20..];
                rest[..rest.find(' ').unwrap()].to_owned()
            })
            .collect();
        counts.push(hits.len());
        found.extend(hits);
        match rel_link(&body, "next") {
            Some(next) => uri = next,
            None => break,
        }
    }
    assert_eq!(counts, [20, 20, 5]);
    let expected: Vec<String> = (0..NEEDLE_HITS).rev().map(|n| n.to_string()).collect();
    assert_eq!(found, expected, "newest first, each once");
    let small = page(&app, "/search?q=needle&limit=100").await;
    assert!(small.contains("45 hit(s)."), "{small}");
}

#[tokio::test]
async fn hostile_content_renders_as_text_everywhere() {
    let app = open_app().await;
    let evil_thread = format!("/thread?session={}", urlencode(EVIL_SESSION));
    let evil_user = format!("/sessions?user={}", urlencode(EVIL_USER));
    for uri in [
        "/".to_owned(),
        evil_thread.clone(),
        format!("{evil_thread}&deleted=1"),
        evil_user,
        "/search?q=PWNED".to_owned(),
        format!("/search?q={}", urlencode(EVIL_SCRIPT)),
    ] {
        let body = page(&app, &uri).await;
        assert!(!body.contains("<script"), "{uri}: {body}");
        assert!(!body.contains("<img"), "{uri}: {body}");
        assert!(!body.contains("<b>"), "{uri}: {body}");
        assert!(!body.contains("onerror=\""), "{uri}: {body}");
    }
    let body = page(&app, &evil_thread).await;
    assert!(
        body.contains("&lt;script&gt;document.title='PWNED'&lt;/script&gt;"),
        "{body}"
    );
    assert!(
        body.contains("&quot;&gt;&lt;img src=x onerror=&quot;"),
        "{body}"
    );
    assert!(
        body.contains("&lt;b&gt;U0EVIL&lt;/b&gt;"),
        "the user id: {body}"
    );
    let search = page(&app, "/search?q=PWNED").await;
    assert!(
        search.contains("document.title='<mark>PWNED</mark>'"),
        "{search}"
    );
    // A hostile search text is escaped where it is echoed (title, form, message).
    let echoed = page(&app, &format!("/search?q={}", urlencode(EVIL_IMG))).await;
    assert!(echoed.contains("value=\"&quot;&gt;&lt;img"), "{echoed}");
}

#[tokio::test]
async fn health_shows_the_checks_and_counters() {
    let body = page(&open_app().await, "/health").await;
    assert!(body.contains("healthy"), "{body}");
    assert!(body.contains("live messages"));
    // 4 + 250 + 45 + 1 live messages.
    assert!(body.contains("<td class=\"num\">300</td>"), "{body}");
    assert!(body.contains("deleted messages"));
}

#[tokio::test]
async fn bad_parameters_are_400s_that_say_why() {
    let app = open_app().await;
    let ada = urlencode(ADA);
    let long = "a".repeat(1_025);
    let many = (0..17)
        .map(|n| format!("t{n}"))
        .collect::<Vec<_>>()
        .join("+");
    let cases: Vec<(String, &str)> = vec![
        ("/?x=1".into(), "unknown field `x`"),
        ("/health?verbose=1".into(), "unknown field `verbose`"),
        ("/sessions".into(), "user is required"),
        (
            "/sessions?user=U&page=0".into(),
            "page must be a whole number",
        ),
        (
            "/sessions?user=U&page=x".into(),
            "page must be a whole number",
        ),
        ("/sessions?user=U&page=100001".into(), "from 1 to 100000"),
        ("/thread".into(), "session is required"),
        (format!("/thread?session={ada}&limit=0"), "limit must be"),
        (format!("/thread?session={ada}&limit=501"), "from 1 to 500"),
        (
            format!("/thread?session={ada}&after=nope"),
            "after is not a cursor",
        ),
        (
            format!("/thread?session={ada}&before=1:"),
            "before is not a cursor",
        ),
        (
            format!("/thread?session={ada}&after=1:1&before=1:2"),
            "at most one",
        ),
        (
            format!("/thread?session={ada}&newest=1&after=1:1"),
            "at most one",
        ),
        (
            format!("/thread?session={ada}&deleted=maybe"),
            "deleted must be 1 or 0",
        ),
        (
            format!("/thread?session={ada}&session=x"),
            "duplicate field `session`",
        ),
        ("/search?q=a&limit=101".into(), "from 1 to 100"),
        ("/search?q=a&cursor=zz".into(), "cursor is not a cursor"),
        ("/search?cursor=1:1".into(), "give q too"),
        (format!("/search?q={long}"), "invalid query"),
        (format!("/search?q={many}"), "invalid query"),
        ("/search?q=%00".into(), "invalid query"),
        (format!("/search?q={}", "a".repeat(9_000)), "at most 8192"),
    ];
    for (uri, needle) in cases {
        refused(&app, &uri, StatusCode::BAD_REQUEST, needle).await;
    }
}

#[tokio::test]
async fn missing_things_are_404s() {
    let app = open_app().await;
    refused(&app, "/nowhere", StatusCode::NOT_FOUND, "no such page").await;
    refused(
        &app,
        "/thread?session=nope",
        StatusCode::NOT_FOUND,
        "No session",
    )
    .await;
}

#[tokio::test]
async fn only_get_and_head_are_answered() {
    let app = open_app().await;
    for method in [
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::OPTIONS,
    ] {
        for uri in ["/", "/thread?session=x", "/nowhere", "/style.css"] {
            let answer = send(
                &app,
                request(method.clone(), uri)
                    .body(Body::from("x=1"))
                    .unwrap(),
            )
            .await;
            assert_eq!(
                answer.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {uri}"
            );
            assert_eq!(answer.headers[header::ALLOW], "GET, HEAD");
            assert_security_headers(&answer.headers);
        }
    }
    let head = send(
        &app,
        request(Method::HEAD, "/").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
}

#[tokio::test]
async fn without_a_token_only_loopback_host_names_are_served() {
    let app = open_app().await;
    for host in ["evil.example", "evil.example:8080", "192.0.2.1:8080"] {
        let answer = send(
            &app,
            Request::builder()
                .uri("/")
                .header(header::HOST, host)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{host}");
        assert!(answer.body.contains("--token"));
        assert_security_headers(&answer.headers);
    }
    let no_host = send(
        &app,
        Request::builder().uri("/").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(no_host.status, StatusCode::FORBIDDEN);
    for host in ["localhost:8080", "[::1]:8080", "127.0.0.1"] {
        let answer = send(
            &app,
            Request::builder()
                .uri("/health")
                .header(header::HOST, host)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK, "{host}");
    }
}

#[tokio::test]
async fn a_token_is_required_on_every_page() {
    let app = token_app().await;
    for uri in [
        "/",
        "/health",
        "/thread?session=x",
        "/search?q=a",
        "/nowhere",
    ] {
        let answer = get(&app, uri).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(
            answer.headers[header::WWW_AUTHENTICATE],
            "Bearer realm=\"hotplex-storage\""
        );
        assert_security_headers(&answer.headers);
        assert!(!answer.body.contains(TOKEN), "never echoed");
    }
    // The stylesheet holds no data.
    assert_eq!(get(&app, "/style.css").await.status, StatusCode::OK);
    let with = |name: header::HeaderName, value: &str| {
        request(Method::GET, "/health")
            .header(name, value)
            .body(Body::empty())
            .unwrap()
    };
    let bearer = format!("Bearer {TOKEN}");
    assert_eq!(
        send(&app, with(header::AUTHORIZATION, &bearer))
            .await
            .status,
        StatusCode::OK
    );
    let cookie = format!("theme=dark; {COOKIE}={TOKEN}");
    assert_eq!(
        send(&app, with(header::COOKIE, &cookie)).await.status,
        StatusCode::OK
    );
    for wrong in [
        format!("Bearer {TOKEN}x"),
        format!("Bearer {}", &TOKEN[1..]),
        format!("Basic {TOKEN}"),
        "Bearer".to_owned(),
    ] {
        let answer = send(&app, with(header::AUTHORIZATION, &wrong)).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{wrong}");
    }
    let wrong_cookie = format!("{COOKIE}=nope");
    assert_eq!(
        send(&app, with(header::COOKIE, &wrong_cookie)).await.status,
        StatusCode::UNAUTHORIZED
    );
    // With a token any host name is served (a reverse proxy may stand in front).
    let proxied = send(
        &app,
        Request::builder()
            .uri("/health")
            .header(header::HOST, "viewer.example")
            .header(header::AUTHORIZATION, &bearer)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(proxied.status, StatusCode::OK);
}

#[tokio::test]
async fn a_token_in_the_url_becomes_a_cookie_and_leaves_the_url() {
    let app = token_app().await;
    let answer = get(&app, &format!("/search?q=%E6%95%B0&token={TOKEN}&limit=5")).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(
        answer.headers[header::LOCATION],
        "/search?q=%E6%95%B0&limit=5"
    );
    let cookie = answer.headers[header::SET_COOKIE].to_str().unwrap();
    assert_eq!(
        cookie,
        format!("{COOKIE}={TOKEN}; HttpOnly; SameSite=Strict; Path=/")
    );
    let bare = get(&app, &format!("/?token={TOKEN}")).await;
    assert_eq!(bare.headers[header::LOCATION], "/");
    let wrong = get(&app, "/?token=wrong-token-0123456789").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(!wrong.headers.contains_key(header::SET_COOKIE));
}

#[tokio::test]
async fn a_closed_store_is_a_503_not_a_500() {
    let store = seeded().await;
    let app = router(Arc::clone(&store), Access::new(None));
    store.close().await.unwrap();
    for uri in [
        "/",
        &format!("/thread?session={}", urlencode(ADA)),
        "/search?q=backup",
    ] {
        let answer = get(&app, uri).await;
        assert_eq!(
            answer.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{uri}: {}",
            answer.body
        );
        assert!(answer.body.contains("could not answer"), "{}", answer.body);
    }
    let health = get(&app, "/health").await;
    assert_eq!(
        health.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        health.body
    );
}
