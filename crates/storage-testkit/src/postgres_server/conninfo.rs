//! libpq connection strings: parsing the key=value and URL forms into ordered pairs, and
//! rendering pairs back as key=value with libpq quoting.
//!
//! Standard library only: xtask includes this file too (`#[path]`), so the testkit fixture and
//! `cargo xtask` share one implementation.

/// An ordered list of connection parameters (`host`, `port`, `user`, `dbname`, …).
#[derive(Clone, PartialEq, Eq, Default)]
pub(crate) struct ConnInfo {
    pairs: Vec<(String, String)>,
}

impl std::fmt::Debug for ConnInfo {
    /// Shows every parameter except the password, which is masked.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.masked())
    }
}

impl ConnInfo {
    /// Parameters from `(key, value)` pairs, in order.
    pub(crate) fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            pairs: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// Parses a key=value string (`host=/tmp port=5432 dbname='my db'`) or a URL
    /// (`postgresql://user:secret@host:5432/db?sslmode=disable`). Errors never quote the input,
    /// which may hold a password.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Some(rest) = text
            .strip_prefix("postgresql://")
            .or_else(|| text.strip_prefix("postgres://"))
        {
            parse_url(rest)
        } else {
            parse_key_values(text)
        }
    }

    /// The value of `key`, if set (the last one wins, as in libpq).
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A copy with `key` set to `value` (replacing every earlier setting of it).
    pub(crate) fn with(&self, key: &str, value: &str) -> Self {
        let mut pairs: Vec<(String, String)> = self
            .pairs
            .iter()
            .filter(|(k, _)| k != key)
            .cloned()
            .collect();
        pairs.push((key.to_owned(), value.to_owned()));
        Self { pairs }
    }

    /// A copy without `key`.
    pub(crate) fn without(&self, key: &str) -> Self {
        Self {
            pairs: self
                .pairs
                .iter()
                .filter(|(k, _)| k != key)
                .cloned()
                .collect(),
        }
    }

    /// The key=value form, values quoted where libpq needs it.
    pub(crate) fn render(&self) -> String {
        self.pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", quote(v)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// [`render`](Self::render) with the password replaced by `***`: safe for messages.
    pub(crate) fn masked(&self) -> String {
        if self.get("password").is_some() {
            self.with("password", "***").render()
        } else {
            self.render()
        }
    }
}

/// Quotes a conninfo value when libpq needs it: empty, or holding whitespace, `'` or `\`.
pub(crate) fn quote(value: &str) -> String {
    let plain = !value.is_empty()
        && !value
            .chars()
            .any(|c| c.is_whitespace() || c == '\'' || c == '\\');
    if plain {
        return value.to_owned();
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        if c == '\'' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// Parses libpq's `key = value` syntax: whitespace-separated pairs, values optionally
/// single-quoted, `\` escaping the next character.
fn parse_key_values(text: &str) -> Result<ConnInfo, String> {
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(format!(
                "connection string: missing `=` after parameter `{key}`"
            ));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    None => {
                        return Err(format!(
                            "connection string: unterminated quoted value of `{key}`"
                        ));
                    }
                    Some('\'') => break,
                    Some('\\') => value.push(chars.next().unwrap_or('\\')),
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.push(chars.next().unwrap_or('\\'));
                } else {
                    value.push(c);
                }
            }
        }
        pairs.push((key, value));
    }
    Ok(ConnInfo { pairs })
}

/// Parses what follows `postgresql://`: `[user[:password]@][host[:port][,…]][/dbname][?k=v&…]`.
fn parse_url(rest: &str) -> Result<ConnInfo, String> {
    let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, dbname) = before_query.split_once('/').unwrap_or((before_query, ""));
    let (userinfo, hostspec) = authority.rsplit_once('@').unwrap_or(("", authority));
    let mut pairs = Vec::new();
    if !userinfo.is_empty() {
        let (user, password) = match userinfo.split_once(':') {
            Some((user, password)) => (user, Some(password)),
            None => (userinfo, None),
        };
        if !user.is_empty() {
            pairs.push(("user".to_owned(), percent_decode(user)?));
        }
        if let Some(password) = password {
            pairs.push(("password".to_owned(), percent_decode(password)?));
        }
    }
    if !hostspec.is_empty() {
        let mut hosts = Vec::new();
        let mut ports = Vec::new();
        for part in hostspec.split(',') {
            let (host, port) = split_host_port(part)?;
            hosts.push(percent_decode(host)?);
            ports.push(port.to_owned());
        }
        pairs.push(("host".to_owned(), hosts.join(",")));
        if ports.iter().any(|p| !p.is_empty()) {
            pairs.push(("port".to_owned(), ports.join(",")));
        }
    }
    if !dbname.is_empty() {
        pairs.push(("dbname".to_owned(), percent_decode(dbname)?));
    }
    for param in query.split('&').filter(|p| !p.is_empty()) {
        let Some((key, value)) = param.split_once('=') else {
            return Err("connection URL: a query parameter lacks `=`".to_owned());
        };
        pairs.push((percent_decode(key)?, percent_decode(value)?));
    }
    Ok(ConnInfo { pairs })
}

/// Splits `host:port`, `[v6addr]:port`, `host` or `:port` (an empty host means the default).
fn split_host_port(spec: &str) -> Result<(&str, &str), String> {
    if let Some(inner) = spec.strip_prefix('[') {
        let Some((host, after)) = inner.split_once(']') else {
            return Err("connection URL: unterminated `[` in a host".to_owned());
        };
        let port = match after {
            "" => "",
            _ => after
                .strip_prefix(':')
                .ok_or_else(|| "connection URL: junk after `]` in a host".to_owned())?,
        };
        return Ok((host, port));
    }
    Ok(spec.split_once(':').unwrap_or((spec, "")))
}

/// Decodes `%XX` escapes (and nothing else, as libpq does).
fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| "connection URL: invalid %-escape".to_owned())?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "connection URL: %-escapes are not UTF-8".to_owned())
}

#[cfg(test)]
mod tests {
    use super::{ConnInfo, quote};

    fn pairs(info: &ConnInfo) -> Vec<(&str, &str)> {
        info.pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn key_values_parse_with_quotes_escapes_and_spaces_around_equals() {
        let info =
            ConnInfo::parse(r"host=/tmp/s port = 5432 dbname='my \'db\'' password=a\ b").unwrap();
        assert_eq!(
            pairs(&info),
            [
                ("host", "/tmp/s"),
                ("port", "5432"),
                ("dbname", "my 'db'"),
                ("password", "a b"),
            ]
        );
        assert!(ConnInfo::parse("").unwrap().pairs.is_empty());
    }

    #[test]
    fn malformed_key_values_are_errors_without_the_input() {
        let err = ConnInfo::parse("host=x password='secret").unwrap_err();
        assert!(err.contains("unterminated"), "{err}");
        assert!(!err.contains("secret"), "{err}");
        assert!(
            ConnInfo::parse("hostx")
                .unwrap_err()
                .contains("missing `=`")
        );
    }

    #[test]
    fn urls_parse_into_pairs() {
        let info = ConnInfo::parse(
            "postgresql://app:p%40ss@db.example:6543/chat%20db?sslmode=require&application_name=t",
        )
        .unwrap();
        assert_eq!(
            pairs(&info),
            [
                ("user", "app"),
                ("password", "p@ss"),
                ("host", "db.example"),
                ("port", "6543"),
                ("dbname", "chat db"),
                ("sslmode", "require"),
                ("application_name", "t"),
            ]
        );
        let multi = ConnInfo::parse("postgres://[::1]:5433,other/x").unwrap();
        assert_eq!(
            pairs(&multi),
            [("host", "::1,other"), ("port", "5433,"), ("dbname", "x")]
        );
        assert_eq!(
            pairs(&ConnInfo::parse("postgres://%2Ftmp%2Fsock").unwrap()),
            [("host", "/tmp/sock")]
        );
        assert!(ConnInfo::parse("postgres://h/db?x").is_err());
        assert!(ConnInfo::parse("postgres://h/%zz").is_err());
        assert!(ConnInfo::parse("postgres://[::1/db").is_err());
    }

    #[test]
    fn with_replaces_and_render_round_trips() {
        let info = ConnInfo::parse("dbname=a host='/tmp/x y' dbname=b").unwrap();
        assert_eq!(info.get("dbname"), Some("b"));
        let changed = info.with("dbname", "it's");
        assert_eq!(changed.render(), r"host='/tmp/x y' dbname='it\'s'");
        assert_eq!(ConnInfo::parse(&changed.render()).unwrap(), changed);
        assert_eq!(changed.without("host").render(), r"dbname='it\'s'");
    }

    #[test]
    fn masked_and_debug_hide_the_password() {
        let info = ConnInfo::parse("user=u password=hunter2 host=h").unwrap();
        assert_eq!(info.masked(), "user=u host=h password=***");
        assert!(!format!("{info:?}").contains("hunter2"));
        assert_eq!(ConnInfo::parse("host=h").unwrap().masked(), "host=h");
    }

    #[test]
    fn quote_only_when_needed() {
        assert_eq!(quote("abc"), "abc");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote(r"a\b"), r"'a\\b'");
    }
}
