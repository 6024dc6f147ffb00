//! The `serve` process and a minimal HTTP/1.1 client for it (one request per connection),
//! shared by the viewer tests and the page-load bench (`benches/serve_pages.rs`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running `serve` process; killed if still running when dropped.
pub(crate) struct Viewer {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub(crate) addr: String,
    /// What it printed first.
    pub(crate) first_line: String,
    stderr_path: PathBuf,
}

impl Viewer {
    /// Starts `command` (a `serve` run) with stdout piped and stderr to `stderr_path`, and
    /// waits up to a minute for the address it prints first.
    pub(crate) fn spawn(mut command: Command, stderr_path: PathBuf) -> Self {
        let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn serve");
        let stdout = child.stdout.take().expect("stdout");
        let (lines, received) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let first = received
            .recv_timeout(Duration::from_mins(1))
            .unwrap_or_else(|_| {
                let _ = child.kill();
                panic!(
                    "serve printed no address: {}",
                    std::fs::read_to_string(&stderr_path).unwrap_or_default()
                )
            });
        let start = first.find("http://").expect("an http:// address") + 7;
        let end = start + first[start..].find('/').expect("a / after the address");
        Self {
            child,
            addr: first[start..end].to_owned(),
            first_line: first,
            stderr_path,
        }
    }

    /// `http://127.0.0.1:PORT` followed by `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `GET path` with the loopback `Host` and `headers`.
    pub(crate) fn get(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        self.request("GET", path, &self.addr.clone(), headers)
    }

    /// One request on a fresh connection (`Connection: close`), read to the end.
    pub(crate) fn request(
        &self,
        method: &str,
        path: &str,
        host: &str,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut stream = TcpStream::connect(&self.addr).expect("connect to the viewer");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let mut text = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
        for (name, value) in headers {
            text.push_str(name);
            text.push_str(": ");
            text.push_str(value);
            text.push_str("\r\n");
        }
        text.push_str("\r\n");
        stream.write_all(text.as_bytes()).expect("send");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).expect("read the answer");
        Answer::parse(&raw)
    }

    /// Sends `signal` (`TERM`, `INT`) and waits up to 30 s for the exit.
    pub(crate) fn stop(mut self, signal: &str) -> (ExitStatus, String) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args([format!("-{signal}"), pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -{signal}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return (status, self.stderr());
            }
            assert!(
                Instant::now() < deadline,
                "serve did not stop on SIG{signal}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What the process wrote on stderr so far.
    pub(crate) fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// An HTTP answer.
pub(crate) struct Answer {
    /// The status code.
    pub(crate) status: u16,
    /// Header lines, names lowercased.
    pub(crate) headers: Vec<(String, String)>,
    /// The body as text.
    pub(crate) body: String,
}

impl Answer {
    fn parse(raw: &[u8]) -> Self {
        let text = String::from_utf8_lossy(raw);
        let (head, body) = text.split_once("\r\n\r\n").expect("a header block");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().expect("a status line");
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status code");
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        assert!(
            !headers
                .iter()
                .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked")),
            "pages are sent whole"
        );
        Self {
            status,
            headers,
            body: body.to_owned(),
        }
    }

    /// The `href` of the body's first link marked `rel`, unescaped.
    pub(crate) fn link(&self, rel: &str) -> Option<String> {
        let marker = format!("rel=\"{rel}\" href=\"");
        let start = self.body.find(&marker)? + marker.len();
        let end = start + self.body[start..].find('"')?;
        Some(self.body[start..end].replace("&amp;", "&"))
    }

    /// The value of header `name`.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `value` form-encoded for a query string.
pub(crate) fn encode(value: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}
