//! The viewer over a real TCP socket: pages, headers, methods, host and token checks, what the
//! logs leave out, the refusal of a non-loopback address without a token, and shutdown.

use crate::server::{CHINESE_TERM, SEEDED_SESSION, Seeded, TOKEN, encode};

/// The pages answer over the socket with the security headers; writes and foreign host names
/// are refused; SIGTERM stops the server cleanly.
#[test]
fn pages_answer_over_a_socket_and_sigterm_stops_the_server() {
    let seeded = Seeded::new();
    let viewer = seeded.serve(&["serve", "--addr", "127.0.0.1:0"], &[]);
    assert!(
        viewer.first_line.contains("on the sqlite store"),
        "{}",
        viewer.first_line
    );
    let home = viewer.get("/", &[]);
    assert_eq!(home.status, 200, "{}", home.body);
    assert!(home.body.contains(&encode(SEEDED_SESSION)), "{}", home.body);
    let csp = home.header("content-security-policy").expect("a CSP");
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    assert_eq!(home.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(home.header("referrer-policy"), Some("no-referrer"));
    let search = viewer.get(&format!("/search?q={}", encode(CHINESE_TERM)), &[]);
    assert_eq!(search.status, 200);
    assert!(
        search.body.contains("<mark>数据库</mark>"),
        "{}",
        search.body
    );
    // Cursor paging over the socket: one hit per page, each page's link to the next.
    let mut page = viewer.get("/search?q=the&limit=1", &[]);
    let mut snippets = Vec::new();
    loop {
        assert_eq!(page.status, 200, "{}", page.body);
        let Some(at) = page.body.find("<p class=\"snippet\">") else {
            // A full last page links to one more, which says there is nothing left.
            assert!(
                page.body.contains("No more messages contain"),
                "{}",
                page.body
            );
            break;
        };
        snippets.push(page.body[at..at + page.body[at..].find("</p>").unwrap()].to_owned());
        match page.link("next") {
            Some(next) => page = viewer.get(&next, &[]),
            None => break,
        }
        assert!(snippets.len() < 20, "paging ends");
    }
    let distinct: std::collections::HashSet<_> = snippets.iter().collect();
    assert!(
        snippets.len() >= 3,
        "the demo answers and questions: {snippets:?}"
    );
    assert_eq!(distinct.len(), snippets.len(), "no hit twice: {snippets:?}");
    let health = viewer.get("/health", &[]);
    assert_eq!(health.status, 200);
    assert!(
        health.body.contains("commits"),
        "SQLite counters: {}",
        health.body
    );
    let post = viewer.request("POST", "/", &viewer.addr, &[("Content-Length", "0")]);
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
    let rebound = viewer.request("GET", "/", "attacker.example", &[]);
    assert_eq!(rebound.status, 403, "DNS rebinding is refused");
    let bad = viewer.get("/thread?session=x&limit=abc", &[]);
    assert_eq!(bad.status, 400);
    assert!(
        bad.body.contains("limit must be a whole number"),
        "{}",
        bad.body
    );
    let (status, stderr) = viewer.stop("TERM");
    assert!(status.success(), "exit {status:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn ctrl_c_stops_the_server_cleanly() {
    let seeded = Seeded::new();
    let viewer = seeded.serve(&["-v", "serve", "--addr", "127.0.0.1:0"], &[]);
    assert_eq!(viewer.get("/health", &[]).status, 200);
    let (status, stderr) = viewer.stop("INT");
    assert!(status.success(), "exit {status:?}: {stderr}");
    assert!(stderr.contains("SIGINT: stopping the viewer"), "{stderr}");
    assert!(stderr.contains("viewer stopped"), "{stderr}");
    // The store was closed properly: it opens and reads again.
    let reopened = seeded.run(&["stats", "--json"]);
    assert!(reopened.status.success());
}

#[test]
fn a_non_loopback_address_without_a_token_is_refused() {
    let seeded = Seeded::new();
    for addr in ["0.0.0.0:0", "[::]:0"] {
        let out = seeded.run(&["serve", "--addr", addr]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{addr}: {stderr}");
        assert!(stderr.contains("refusing to serve on"), "{stderr}");
        assert!(stderr.contains("HOTPLEX_STORAGE_SERVE_TOKEN"), "{stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
        assert!(out.stdout.is_empty(), "nothing was served");
    }
    let out = seeded.run(&["serve", "--addr", "0.0.0.0:0", "--token", "short"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("a token has 16 to 256 characters"),
        "{stderr}"
    );
}

/// A token from the environment is enforced over the socket, and neither the token nor
/// message content nor search text reaches the logs, even at trace level.
#[test]
fn the_token_is_enforced_and_nothing_secret_is_logged() {
    let seeded = Seeded::new();
    let viewer = seeded.serve(
        &["-vvv", "serve", "--addr", "127.0.0.1:0"],
        &[("HOTPLEX_STORAGE_SERVE_TOKEN", TOKEN)],
    );
    assert!(
        viewer.first_line.contains("token required"),
        "{}",
        viewer.first_line
    );
    assert!(
        !viewer.first_line.contains(TOKEN),
        "the token is not printed"
    );
    let secret_search = "/search?q=zanzibarquokka";
    assert_eq!(viewer.get("/", &[]).status, 401);
    assert_eq!(viewer.get(secret_search, &[]).status, 401);
    let bearer = format!("Bearer {TOKEN}");
    let found = viewer.get(secret_search, &[("Authorization", &bearer)]);
    assert_eq!(found.status, 200, "{}", found.body);
    let thread = format!("/thread?session={}", encode(SEEDED_SESSION));
    let page = viewer.get(&thread, &[("Authorization", &bearer)]);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("如何备份数据库"));
    let handed = viewer.get(&format!("/?token={TOKEN}"), &[]);
    assert_eq!(handed.status, 303);
    let cookie = handed.header("set-cookie").expect("a cookie");
    let pair = cookie.split(';').next().unwrap();
    assert_eq!(viewer.get("/health", &[("Cookie", pair)]).status, 200);
    let (status, stderr) = viewer.stop("TERM");
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("viewer request"),
        "trace logs were written: {stderr}"
    );
    for secret in [TOKEN, "zanzibarquokka", "如何备份", "ou_7", "备份数据库"] {
        assert!(!stderr.contains(secret), "{secret:?} logged: {stderr}");
    }
}
