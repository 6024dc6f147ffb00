//! [`expand_path`]: `~` and `${VAR}` in configured paths, with an injected variable lookup.

use std::path::PathBuf;

use crate::{Result, StorageError};

/// Expands `${VAR}` (looked up with `lookup`; an undefined variable is an error) and then a
/// leading `~` or `~/` (with `lookup("HOME")`). `~user` is refused; `$VAR` without braces
/// and a `~` elsewhere are kept literally. Errors name `key`.
///
/// ```
/// use hotplex_storage_core::config::expand_path;
/// let lookup = |k: &str| match k {
///     "HOME" => Some("/home/ada".to_owned()),
///     "DATA" => Some("/srv/data".to_owned()),
///     _ => None,
/// };
/// assert_eq!(expand_path("k", "~/.hotplex/m.db", &lookup).unwrap().to_str(), Some("/home/ada/.hotplex/m.db"));
/// assert_eq!(expand_path("k", "${DATA}/m.db", &lookup).unwrap().to_str(), Some("/srv/data/m.db"));
/// assert!(expand_path("k", "${NOPE}/m.db", &lookup).is_err());
/// ```
pub fn expand_path(
    key: &str,
    raw: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<PathBuf> {
    let vars = expand_vars(key, raw, lookup)?;
    if vars == "~" || vars.starts_with("~/") {
        let home = lookup("HOME").filter(|h| !h.is_empty()).ok_or_else(|| {
            StorageError::invalid_config(key, format!("{raw}: cannot expand `~`: HOME is not set"))
        })?;
        return Ok(PathBuf::from(format!("{home}{}", &vars[1..])));
    }
    if vars.starts_with('~') {
        return Err(StorageError::invalid_config(
            key,
            format!("{raw}: `~user` paths are not supported; use `~/…` or an absolute path"),
        ));
    }
    Ok(PathBuf::from(vars))
}

/// Replaces every `${NAME}` of `raw` with `lookup(NAME)` (an undefined variable is an error
/// naming `key`); `$NAME` without braces is kept.
pub fn expand_vars(
    key: &str,
    raw: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| {
            StorageError::invalid_config(key, format!("{raw}: `${{` without a closing `}}`"))
        })?;
        let name = &after[..end];
        let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(StorageError::invalid_config(
                key,
                format!("{raw}: `${{{name}}}` is not a variable name"),
            ));
        }
        let value = lookup(name).ok_or_else(|| {
            StorageError::invalid_config(
                key,
                format!("{raw}: environment variable {name} is not defined"),
            )
        })?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(k: &str) -> Option<String> {
        match k {
            "HOME" => Some("/home/ada".into()),
            "A" => Some("x".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expansions() {
        let e = |raw| expand_path("message_store.sqlite.path", raw, &lookup);
        assert_eq!(e("~").unwrap(), PathBuf::from("/home/ada"));
        assert_eq!(e("/a/${A}/${A}b").unwrap(), PathBuf::from("/a/x/xb"));
        assert_eq!(e("${EMPTY}rel.db").unwrap(), PathBuf::from("rel.db"));
        assert_eq!(e("$A/x").unwrap(), PathBuf::from("$A/x"));
        assert_eq!(e("a/~/b").unwrap(), PathBuf::from("a/~/b"));
        assert_eq!(e(":memory:").unwrap(), PathBuf::from(":memory:"));
        for bad in ["${MISSING}", "${A", "${}", "${A-B}", "~bob/x"] {
            let err = e(bad).unwrap_err();
            assert!(
                err.to_string().contains("message_store.sqlite.path"),
                "{bad}: {err}"
            );
        }
        let no_home = |_: &str| None;
        assert!(expand_path("k", "~/x", &no_home).is_err());
        assert_eq!(
            expand_path("k", "/x", &no_home).unwrap(),
            PathBuf::from("/x")
        );
    }
}
