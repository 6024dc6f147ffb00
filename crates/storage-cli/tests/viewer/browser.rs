//! A real browser: headless Chromium opens the viewer's pages on a store seeded by `demo` and
//! an import, takes screenshots, and the tests check what a person would see in the rendered
//! DOM (after any script would have run). Under `CI=true` a missing Chromium is a failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::server::{
    CHINESE, CHINESE_TERM, HOSTILE_IMG, HOSTILE_SCRIPT, SEEDED_SESSION, Seeded, encode,
};

/// The window of every screenshot.
const WIDTH: u32 = 1200;
const HEIGHT: u32 = 900;

/// The Chromium binary of this process's environment; `None` (after printing why) when the
/// test should skip, a panic when it must not (see [`find_chromium`]).
fn chromium() -> Option<PathBuf> {
    match find_chromium(&|k| std::env::var(k).ok(), &[Path::new("/usr/bin")]) {
        Ok(Some(binary)) => Some(binary),
        Ok(None) => {
            eprintln!(
                "skipping: no chromium on PATH or in /usr/bin and HOTPLEX_TEST_CHROMIUM is \
                 unset (with CI=true this is a failure)"
            );
            None
        }
        Err(why) => panic!("{why}"),
    }
}

/// The Chromium binary: `HOTPLEX_TEST_CHROMIUM` (which must exist), else `chromium` or
/// `chromium-browser` on `PATH` or in `fallback`; `Ok(None)` when there is none and `CI` is
/// not set (`1`, `true`, `yes`, as the PostgreSQL fixture reads it), `Err` when `CI` is set.
fn find_chromium(
    env: &dyn Fn(&str) -> Option<String>,
    fallback: &[&Path],
) -> Result<Option<PathBuf>, String> {
    if let Some(path) = env("HOTPLEX_TEST_CHROMIUM").filter(|p| !p.trim().is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(Some(path))
        } else {
            Err(format!(
                "HOTPLEX_TEST_CHROMIUM={} is not a file",
                path.display()
            ))
        };
    }
    let path = env("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path).chain(fallback.iter().map(|d| d.to_path_buf()));
    for dir in dirs {
        for name in ["chromium", "chromium-browser"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Ok(Some(candidate));
            }
        }
    }
    let ci = env("CI").is_some_and(|v| {
        let v = v.trim();
        v == "1" || v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("yes")
    });
    if ci {
        return Err(
            "CI=true but no chromium was found on PATH or in /usr/bin: apt-get install \
                    chromium (.ci/run does), or set HOTPLEX_TEST_CHROMIUM"
                .to_owned(),
        );
    }
    Ok(None)
}

/// The lookup: under `CI=true` a missing Chromium is an error, not a skip; outside CI it is
/// a skip; a binary on `PATH` or named by `HOTPLEX_TEST_CHROMIUM` is found.
#[test]
fn a_missing_chromium_fails_under_ci_and_skips_only_outside_it() {
    let empty = tempfile::tempdir().expect("an empty directory");
    let empty_path = empty.path().display().to_string();
    let env = |ci: Option<&'static str>| {
        let empty_path = empty_path.clone();
        move |k: &str| match k {
            "PATH" => Some(empty_path.clone()),
            "CI" => ci.map(str::to_owned),
            _ => None,
        }
    };
    for ci in ["true", "TRUE", "1", "yes"] {
        let err = find_chromium(&env(Some(ci)), &[]).expect_err(ci);
        assert!(err.contains("CI=true but no chromium"), "{err}");
    }
    for ci in [None, Some("false"), Some("0")] {
        assert_eq!(find_chromium(&env(ci), &[]), Ok(None), "{ci:?}");
    }
    let bin = empty.path().join("chromium");
    std::fs::write(&bin, "").expect("a stand-in binary");
    assert_eq!(
        find_chromium(&env(Some("true")), &[]),
        Ok(Some(bin.clone()))
    );
    let named =
        |k: &str| (k == "HOTPLEX_TEST_CHROMIUM").then(|| "/nonexistent/chromium".to_owned());
    assert!(find_chromium(&named, &[]).is_err());
}

/// Headless Chromium with a fresh profile and nothing reaching out on its own.
struct Browser {
    binary: PathBuf,
    profiles: tempfile::TempDir,
    shots: PathBuf,
}

impl Browser {
    fn new() -> Option<Self> {
        let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("viewer-screenshots");
        std::fs::create_dir_all(&shots).expect("screenshot directory");
        Some(Self {
            binary: chromium()?,
            profiles: tempfile::tempdir().expect("profile directory"),
            shots,
        })
    }

    /// Runs Chromium on `url` with `extra` flags; its stdout.
    fn run(&self, url: &str, extra: &[String]) -> String {
        let profile = tempfile::tempdir_in(self.profiles.path()).expect("a fresh profile");
        let mut child = Command::new(&self.binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                // Containers often give /dev/shm 64 MiB; Chromium then uses /tmp instead.
                "--disable-dev-shm-usage",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(format!("--window-size={WIDTH},{HEIGHT}"))
            .args(extra)
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chromium");
        let deadline = Instant::now() + Duration::from_mins(2);
        while child.try_wait().expect("wait for chromium").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("chromium did not finish with {url} in 120 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = child.wait_with_output().expect("chromium output");
        assert!(
            out.status.success(),
            "chromium failed on {url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The DOM of `url` after loading (and after any script would have run).
    fn dom(&self, url: &str) -> String {
        let dom = self.run(url, &["--dump-dom".to_owned()]);
        assert!(dom.contains("<html"), "no DOM for {url}: {dom}");
        dom
    }

    /// A screenshot of `url` as `name`.png, checked to be a picture of the window's size with
    /// something drawn on it.
    fn screenshot(&self, url: &str, name: &str) -> PathBuf {
        let file = self.shots.join(format!("{name}.png"));
        let _ = std::fs::remove_file(&file);
        self.run(url, &[format!("--screenshot={}", file.display())]);
        let png = std::fs::read(&file).expect("the screenshot was written");
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
        let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
        let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
        assert_eq!((width, height), (WIDTH, HEIGHT), "{name}");
        // A blank window compresses to a few kilobytes; text, tables and colours do not.
        assert!(
            png.len() > 20_000,
            "{name}.png looks blank: {} bytes",
            png.len()
        );
        file
    }
}

/// The text of the `<title>` in `dom`.
fn title(dom: &str) -> &str {
    let start = dom.find("<title>").expect("a title") + 7;
    let end = start + dom[start..].find("</title>").expect("a closed title");
    &dom[start..end]
}

/// The control: the same payloads, unescaped on a page without a CSP, do run in this
/// browser and change the title and the DOM, so the checks below can fail.
#[test]
fn the_payloads_run_when_nothing_stops_them() {
    let Some(browser) = Browser::new() else {
        return;
    };
    for (payload, marker) in [(HOSTILE_SCRIPT, "script"), (HOSTILE_IMG, "img")] {
        let dir = tempfile::tempdir().expect("control page directory");
        let page = dir.path().join("control.html");
        let html = format!(
            "<!DOCTYPE html><html><head><title>control</title></head><body><div title=\"{payload}\"></div><p>{payload}</p></body></html>"
        );
        std::fs::write(&page, html).expect("write the control page");
        let dom = browser.dom(&format!("file://{}", page.display()));
        assert_eq!(title(&dom), "PWNED", "{marker}: {dom}");
        assert!(dom.contains("data-pwned=\""), "{marker}: {dom}");
    }
}

/// The "done when": after `demo`, the viewer shows the demo's threads and finds
/// `durable` and a Chinese term, as Chromium renders them.
#[test]
fn demo_threads_and_searches_show_in_a_real_browser() {
    let Some(browser) = Browser::new() else {
        return;
    };
    let seeded = Seeded::new();
    let viewer = seeded.serve(&["serve", "--addr", "127.0.0.1:0"], &[]);

    let home = browser.dom(&viewer.url("/"));
    assert_eq!(title(&home), "Sessions — hotplex-storage");
    for user in ["U0ADA", "U0BOB"] {
        assert!(
            home.contains(&format!(">{user}</a>")),
            "{user} listed: {home}"
        );
    }

    let durable = browser.dom(&viewer.url("/search?q=durable"));
    assert!(durable.contains("1 hit(s)"), "{durable}");
    assert!(
        durable.contains("How does the SQLite store stay <mark>durable</mark>?"),
        "{durable}"
    );
    // The hit links into its thread; follow it as a person would.
    let start = durable.find("href=\"/thread?").expect("a thread link") + 6;
    let link = durable[start..start + durable[start..].find('"').unwrap()].replace("&amp;", "&");
    let thread = browser.dom(&viewer.url(&link));
    assert!(
        thread.contains("How does the SQLite store stay durable?"),
        "{thread}"
    );
    assert!(
        thread.contains("group commit."),
        "the streamed answer, merged: {thread}"
    );
    browser.screenshot(&viewer.url(&link), "thread");

    // The unfinished demo answer is marked interrupted.
    let bob = browser.dom(&viewer.url("/sessions?user=U0BOB"));
    let start = bob.find("href=\"/thread?").expect("Bob's session") + 6;
    let link = bob[start..start + bob[start..].find('"').unwrap()].replace("&amp;", "&");
    let interrupted = browser.dom(&viewer.url(&link));
    assert!(
        interrupted.contains("interrupted (closed)"),
        "{interrupted}"
    );
    assert!(
        interrupted.contains("Three incidents today: the first was"),
        "{interrupted}"
    );

    let url = viewer.url(&format!("/search?q={}", encode(CHINESE_TERM)));
    let chinese = browser.dom(&url);
    assert!(chinese.contains("1 hit(s)"), "{chinese}");
    assert!(
        chinese.contains("如何备份<mark>数据库</mark>？"),
        "{chinese}"
    );
    assert!(chinese.contains(SEEDED_SESSION), "{chinese}");
    browser.screenshot(&url, "search");
    browser.screenshot(&viewer.url("/health"), "health");
    let (status, stderr) = viewer.stop("TERM");
    assert!(status.success(), "{stderr}");
}

/// A message holding `<script>` and an attribute break-out shows as text on the thread and
/// search pages, and nothing of it runs: the title and the DOM stay as the viewer made them.
#[test]
fn hostile_content_shows_as_text_and_runs_nothing_in_a_real_browser() {
    let Some(browser) = Browser::new() else {
        return;
    };
    let seeded = Seeded::new();
    let viewer = seeded.serve(&["serve", "--addr", "127.0.0.1:0"], &[]);
    let thread_url = viewer.url(&format!("/thread?session={}", encode(SEEDED_SESSION)));
    let search_url = viewer.url("/search?q=PWNED");
    for (url, expected_title) in [
        (
            &thread_url,
            format!("Thread {SEEDED_SESSION} — hotplex-storage"),
        ),
        (&search_url, "Search PWNED — hotplex-storage".to_owned()),
    ] {
        let dom = browser.dom(url);
        assert_eq!(title(&dom), expected_title, "{url}");
        assert!(
            !dom.contains("data-pwned=\""),
            "{url}: a payload ran: {dom}"
        );
        assert!(!dom.contains("<img"), "{url}: an img element: {dom}");
        assert!(!dom.contains("<script"), "{url}: a script element: {dom}");
        // Shown as text (the DOM serialiser escapes text as the server did).
        assert!(
            dom.contains("&lt;script&gt;document.title='"),
            "{url}: {dom}"
        );
    }
    let thread = browser.dom(&thread_url);
    assert!(thread.contains(CHINESE), "{thread}");
    assert!(
        thread.contains("\"&gt;&lt;img src=x onerror=\"document.title='PWNED'"),
        "the attribute break-out as text: {thread}"
    );
    browser.screenshot(&thread_url, "hostile-thread");
    let (status, stderr) = viewer.stop("TERM");
    assert!(status.success(), "{stderr}");
}
