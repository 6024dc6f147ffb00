//! What `serve` listens on and whom it lets in: the address and the token, checked before
//! anything is opened or bound.
//!
//! | address | token | outcome |
//! |---|---|---|
//! | loopback (`127.0.0.0/8`, `::1`) | none | serves; requests must name a loopback host (`Host`) |
//! | loopback | given | serves; every request must carry the token |
//! | any other | none | refused before the store is opened |
//! | any other | given | serves; every request must carry the token |

use std::fmt;
use std::net::SocketAddr;

use hotplex_storage_core::{Result, StorageError};
use subtle::ConstantTimeEq;

use crate::cli::ServeArgs;

/// The environment variable that supplies the token when `--token` is absent.
pub(crate) const TOKEN_ENV: &str = "HOTPLEX_STORAGE_SERVE_TOKEN";

/// The shortest token accepted, in characters.
pub(crate) const TOKEN_MIN_CHARS: usize = 16;

/// The longest token accepted, in characters.
pub(crate) const TOKEN_MAX_CHARS: usize = 256;

/// The checked options of one `serve` run.
#[derive(Debug, Clone)]
pub(crate) struct ServeOptions {
    /// Where to listen.
    pub(crate) addr: SocketAddr,
    /// The token requests must carry, if any.
    pub(crate) token: Option<Token>,
}

impl ServeOptions {
    /// The options of `args`, the token from `--token` or else [`TOKEN_ENV`] through `lookup`.
    ///
    /// # Errors
    /// `InvalidConfig` for a malformed token, or for an address other than loopback without
    /// a token.
    pub(crate) fn resolve(
        args: &ServeArgs,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let token = match &args.token {
            Some(text) => Some(Token::parse("--token", text)?),
            None => lookup(TOKEN_ENV)
                .map(|text| Token::parse(TOKEN_ENV, &text))
                .transpose()?,
        };
        if token.is_none() && !args.addr.ip().is_loopback() {
            return Err(StorageError::invalid_config(
                "--addr",
                format!(
                    "refusing to serve on {} without a token: anyone who reaches that address \
                     could read every conversation; give --token or {TOKEN_ENV} (16+ random \
                     characters, e.g. `openssl rand -hex 32`), or listen on 127.0.0.1",
                    args.addr
                ),
            ));
        }
        Ok(Self {
            addr: args.addr,
            token,
        })
    }
}

/// A secret every request must present. Its `Debug` form hides it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Token(String);

impl Token {
    /// `text` as a token, or `InvalidConfig` naming `source` (the flag or variable).
    fn parse(source: &str, text: &str) -> Result<Self> {
        let chars = text.chars().count();
        if !(TOKEN_MIN_CHARS..=TOKEN_MAX_CHARS).contains(&chars) {
            return Err(StorageError::invalid_config(
                source,
                format!(
                    "a token has {TOKEN_MIN_CHARS} to {TOKEN_MAX_CHARS} characters, this one \
                     {chars}"
                ),
            ));
        }
        if let Some(bad) = text.chars().find(|&c| !is_token_char(c)) {
            let shown = if bad.is_ascii_graphic() {
                format!("{bad:?}")
            } else {
                format!("U+{:04X}", u32::from(bad))
            };
            return Err(StorageError::invalid_config(
                source,
                format!(
                    "a token may hold only A-Z a-z 0-9 - . _ ~ (it travels in URLs and \
                     cookies unescaped); found {shown}"
                ),
            ));
        }
        Ok(Self(text.to_owned()))
    }

    /// Whether `candidate` is this token, compared in time independent of where they differ
    /// (a candidate of another length is refused without looking at its bytes).
    pub(crate) fn matches(&self, candidate: &str) -> bool {
        bool::from(self.0.as_bytes().ct_eq(candidate.as_bytes()))
    }

    /// The token's text (for the cookie that keeps it in a browser).
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<hidden>)")
    }
}

/// The characters a token may hold: URL-unreserved ASCII, which needs no escaping anywhere.
fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "0123456789abcdef";

    fn args(addr: &str, token: Option<&str>) -> ServeArgs {
        ServeArgs {
            addr: addr.parse().unwrap(),
            token: token.map(str::to_owned),
        }
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn loopback_needs_no_token() {
        for addr in ["127.0.0.1:8080", "127.9.9.9:0", "[::1]:8080"] {
            let opts = ServeOptions::resolve(&args(addr, None), &no_env).unwrap();
            assert!(opts.token.is_none(), "{addr}");
        }
    }

    #[test]
    fn other_addresses_are_refused_without_a_token() {
        for addr in [
            "0.0.0.0:8080",
            "[::]:8080",
            "192.0.2.7:80",
            "[::ffff:127.0.0.1]:80",
        ] {
            let err = ServeOptions::resolve(&args(addr, None), &no_env).unwrap_err();
            let text = err.to_string();
            assert!(err.is_config_error(), "{addr}: {text}");
            assert!(text.contains("refusing to serve on"), "{text}");
            assert!(text.contains(TOKEN_ENV), "{text}");
        }
    }

    #[test]
    fn the_flag_or_the_injected_environment_supplies_the_token() {
        let opts = ServeOptions::resolve(&args("0.0.0.0:8080", Some(GOOD)), &no_env).unwrap();
        assert!(opts.token.unwrap().matches(GOOD));
        let env = |k: &str| (k == TOKEN_ENV).then(|| "fromtheenvironment-1".to_owned());
        let opts = ServeOptions::resolve(&args("0.0.0.0:8080", None), &env).unwrap();
        assert!(opts.token.unwrap().matches("fromtheenvironment-1"));
        // The flag wins over the variable.
        let opts = ServeOptions::resolve(&args("127.0.0.1:1", Some(GOOD)), &env).unwrap();
        assert!(opts.token.unwrap().matches(GOOD));
    }

    #[test]
    fn token_lengths_are_enforced_at_both_edges() {
        let short = "a".repeat(TOKEN_MIN_CHARS - 1);
        let long = "a".repeat(TOKEN_MAX_CHARS + 1);
        for bad in [short.as_str(), long.as_str(), ""] {
            let err = ServeOptions::resolve(&args("127.0.0.1:1", Some(bad)), &no_env).unwrap_err();
            assert!(err.to_string().contains("--token"), "{err}");
        }
        for ok in ["a".repeat(TOKEN_MIN_CHARS), "a".repeat(TOKEN_MAX_CHARS)] {
            ServeOptions::resolve(&args("127.0.0.1:1", Some(&ok)), &no_env).unwrap();
        }
        // A bad variable is named as the source.
        let env = |_: &str| Some("short".to_owned());
        let err = ServeOptions::resolve(&args("127.0.0.1:1", None), &env).unwrap_err();
        assert!(err.to_string().contains(TOKEN_ENV), "{err}");
    }

    #[test]
    fn token_characters_are_url_safe() {
        for bad in [
            "0123456789abcde;",
            "0123456789abcd e",
            "0123456789abcde+",
            "0123456789abcdeé",
        ] {
            let err = ServeOptions::resolve(&args("127.0.0.1:1", Some(bad)), &no_env).unwrap_err();
            assert!(err.to_string().contains("may hold only"), "{err}");
        }
        ServeOptions::resolve(&args("127.0.0.1:1", Some("Az09-._~Az09-._~")), &no_env).unwrap();
    }

    #[test]
    fn matching_is_exact_and_debug_hides_the_token() {
        let token = Token::parse("t", GOOD).unwrap();
        assert!(token.matches(GOOD));
        assert!(!token.matches("0123456789abcdeF"));
        assert!(!token.matches("0123456789abcde"));
        assert!(!token.matches("0123456789abcdef0"));
        assert!(!token.matches(""));
        assert!(!format!("{token:?}").contains(GOOD));
    }
}
