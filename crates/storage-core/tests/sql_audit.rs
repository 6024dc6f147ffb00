//! A test that fails on SQL text built by string formatting with a runtime value.
//!
//! It scans every `.rs` file of `storage-sqlite/src` and `storage-postgres/src` and core's
//! `plan.rs` (test modules excluded) for `format!`, `write!`/`writeln!` and `push_str` calls.
//! A `format!`/`write!` whose template holds SQL (an upper-case keyword such as `SELECT`,
//! `WHERE` or `AND`) may interpolate only
//! - a `const NAME: &str` declared in one of the scanned files (SQL text fixed at compile
//!   time), or
//! - an expression on [`ALLOWED`], each audited and given a reason (quoted identifiers,
//!   enum-derived column names, computed dates, placeholder numbers).
//!
//! A `push_str` of anything but a string literal must be on [`ALLOWED`] too. Every value a
//! user supplies therefore travels as a bound parameter. Unused allow-list entries fail as
//! well, so the list never outlives the code it audits.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Audited interpolations: (file, expression with whitespace removed, why it is safe).
const ALLOWED: &[(&str, &str, &str)] = &[
    (
        "storage-postgres/src/extension.rs",
        "name",
        "the extension name, a constant (`pg_trgm`) of this crate, in the statement an error message asks a DBA to run; never executed",
    ),
    (
        "storage-postgres/src/extension.rs",
        "database",
        "the database name the server reported, quoted with `{:?}` in an error message; never executed",
    ),
    (
        "storage-postgres/src/extension.rs",
        "role",
        "the role name the server reported, quoted with `{:?}` in an error message; never executed",
    ),
    (
        "storage-postgres/src/extension.rs",
        "version",
        "a migration version number in an error message; never executed",
    ),
    (
        "storage-postgres/src/extension.rs",
        "dba_statement(name)",
        "the statement an error message asks a DBA to run (built from a constant); never executed",
    ),
    (
        "storage-core/src/plan.rs",
        "columns",
        "the column list: a `&str` every caller passes from a constant",
    ),
    (
        "storage-core/src/plan.rs",
        "table",
        "the table name: a `&str` every caller passes from a constant",
    ),
    (
        "storage-core/src/plan.rs",
        "column.name()",
        "`TextColumn::name` returns a `&'static str` per enum variant",
    ),
    (
        "storage-core/src/plan.rs",
        "dialect.type_in",
        "a `&'static str` field of the two built-in dialects",
    ),
    (
        "storage-core/src/plan.rs",
        "dialect.live",
        "a `&'static str` field of the two built-in dialects",
    ),
    (
        "storage-core/src/plan.rs",
        "first",
        "the text before the first `?` of a fragment, itself a literal or audited format",
    ),
    (
        "storage-core/src/plan.rs",
        "piece",
        "the text after a `?` of a fragment, itself a literal or audited format",
    ),
    (
        "storage-core/src/plan.rs",
        "&self.params.len().to_string()",
        "the number of a placeholder (`$n`), an integer",
    ),
    (
        "storage-core/src/plan.rs",
        "ifself.ascending{\"ORDERBYcreated_atASC,seqASC\"}else{\"ORDERBYcreated_atDESC,seqDESC\"}",
        "one of two literals",
    ),
    (
        "storage-postgres/src/partitions.rs",
        "table",
        "`messages_pYYYY_MM` from integers (`PartitionMonth::table_name`)",
    ),
    (
        "storage-postgres/src/partitions.rs",
        "bounds",
        "`FOR VALUES FROM ('…') TO ('…')` of computed timestamps (the format! above it)",
    ),
    (
        "storage-postgres/src/partitions.rs",
        "start.format(\"%Y-%m-%d%H:%M:%S+00\")",
        "a computed month start, formatted by chrono",
    ),
    (
        "storage-postgres/src/partitions.rs",
        "end.format(\"%Y-%m-%d%H:%M:%S+00\")",
        "a computed month end, formatted by chrono",
    ),
    (
        "storage-postgres/src/migrations.rs",
        "config.quoted_schema()",
        "the schema, validated as a plain identifier and double-quoted",
    ),
    (
        "storage-postgres/src/writer.rs",
        "claim",
        "one of two literal CTEs chosen by the schema level",
    ),
    (
        "storage-postgres/src/writer.rs",
        "source",
        "one of two literal CTE names chosen by the schema level",
    ),
    (
        "storage-postgres/src/writer.rs",
        "conflict",
        "one of two literal ON CONFLICT clauses chosen by the schema level",
    ),
    (
        "storage-postgres/src/query.rs",
        "default_rows",
        "one of two literal subqueries chosen by the schema level",
    ),
    (
        "storage-postgres/src/ops.rs",
        "release",
        "one of two literal CTEs chosen by the schema level",
    ),
];

/// Upper-case SQL keywords that mark a template as SQL.
const SQL_KEYWORDS: &[&str] = &[
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "CREATE",
    "ALTER",
    "DROP",
    "PRAGMA",
    "WHERE",
    "FROM",
    "VALUES",
    "AND",
    "OR",
    "SET",
    "TABLE",
    "INDEX",
    "SCHEMA",
    "ORDER",
    "LIMIT",
    "OFFSET",
    "JOIN",
    "GRANT",
    "VACUUM",
    "ATTACH",
    "DETACH",
    "TRUNCATE",
    "ANALYZE",
    "REINDEX",
    "RETURNING",
    "WITH",
];

/// One interpolation (or non-literal `push_str`) found in SQL text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Finding {
    line: usize,
    /// The expression, whitespace removed.
    expr: String,
}

/// The source with comments blanked (newlines kept) and the byte ranges of string literals.
struct Lexed {
    code: Vec<u8>,
    strings: Vec<(usize, usize)>,
}

/// Ends of a (possibly raw or byte) string literal starting at `i`, if one starts there.
fn string_at(s: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    if s.get(j) == Some(&b'b') {
        j += 1;
    }
    if s.get(j) == Some(&b'r') {
        let mut k = j + 1;
        let mut hashes = 0;
        while s.get(k) == Some(&b'#') {
            hashes += 1;
            k += 1;
        }
        if s.get(k) != Some(&b'"') {
            return None;
        }
        k += 1;
        while k < s.len() {
            if s[k] == b'"'
                && s[k + 1..]
                    .iter()
                    .take(hashes)
                    .filter(|&&c| c == b'#')
                    .count()
                    == hashes
            {
                return Some(k + 1 + hashes);
            }
            k += 1;
        }
        return Some(s.len());
    }
    if s.get(j) != Some(&b'"') {
        return None;
    }
    let mut k = j + 1;
    while k < s.len() {
        match s[k] {
            b'\\' => k += 2,
            b'"' => return Some(k + 1),
            _ => k += 1,
        }
    }
    Some(s.len())
}

fn lex(source: &str) -> Lexed {
    let mut code = source.as_bytes().to_vec();
    let mut strings = Vec::new();
    let mut i = 0;
    while i < code.len() {
        let ident_before = i > 0 && (code[i - 1].is_ascii_alphanumeric() || code[i - 1] == b'_');
        if code[i..].starts_with(b"//") {
            while i < code.len() && code[i] != b'\n' {
                code[i] = b' ';
                i += 1;
            }
        } else if code[i..].starts_with(b"/*") {
            while i < code.len() && !code[i..].starts_with(b"*/") {
                if code[i] != b'\n' {
                    code[i] = b' ';
                }
                i += 1;
            }
            let end = (i + 2).min(code.len());
            code[i..end].fill(b' ');
            i = end;
        } else if let Some(end) = (!ident_before).then(|| string_at(&code, i)).flatten() {
            strings.push((i, end));
            i = end;
        } else if code[i] == b'\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
            let close = if code.get(i + 1) == Some(&b'\\') {
                code[i + 2..]
                    .iter()
                    .position(|&c| c == b'\'')
                    .map(|p| i + 2 + p)
            } else {
                let width = source[i + 1..].chars().next().map_or(1, char::len_utf8);
                (code.get(i + 1 + width) == Some(&b'\'')).then_some(i + 1 + width)
            };
            i = close.map_or(i + 1, |c| c + 1);
        } else {
            i += 1;
        }
    }
    Lexed { code, strings }
}

impl Lexed {
    fn string_ending(&self, start: usize) -> Option<usize> {
        self.strings.iter().find(|r| r.0 == start).map(|r| r.1)
    }

    /// The top-level comma-separated arguments of the call whose `(` is at `open`.
    fn arguments(&self, open: usize) -> Vec<(usize, usize)> {
        let mut args = Vec::new();
        let mut depth = 0_i32;
        let mut start = open + 1;
        let mut i = open;
        while i < self.code.len() {
            if let Some(end) = self.string_ending(i) {
                i = end;
                continue;
            }
            match self.code[i] {
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' | b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        args.push((start, i));
                        break;
                    }
                }
                b',' if depth == 1 => {
                    args.push((start, i));
                    start = i + 1;
                }
                _ => {}
            }
            i += 1;
        }
        args.retain(|&(a, b)| !self.code[a..b].iter().all(u8::is_ascii_whitespace));
        args
    }

    fn text(&self, (a, b): (usize, usize)) -> String {
        String::from_utf8_lossy(&self.code[a..b])
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect()
    }

    /// The literal an argument consists of, if it is just one string literal.
    fn literal(&self, (a, b): (usize, usize)) -> Option<String> {
        let a = a + self.code[a..b]
            .iter()
            .take_while(|c| c.is_ascii_whitespace())
            .count();
        let end = self.string_ending(a)?;
        self.code[end..b]
            .iter()
            .all(u8::is_ascii_whitespace)
            .then(|| String::from_utf8_lossy(&self.code[a..end]).into_owned())
    }
}

fn is_sql(template: &str) -> bool {
    template
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .any(|word| SQL_KEYWORDS.contains(&word))
}

/// The `{name…}` placeholders of a template: inline names (`{id}`) and the number of
/// positional ones (`{}`, `{0}`, `{:?}`).
fn placeholders(template: &str) -> (Vec<String>, usize) {
    let mut names = Vec::new();
    let mut positional = 0;
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        if rest[open + 1..].starts_with('{') {
            rest = &rest[open + 2..];
            continue;
        }
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c);
        let inner = &rest[open + 1..close];
        let name = inner.split(':').next().unwrap_or("").trim();
        if name.is_empty() || name.chars().all(|c| c.is_ascii_digit()) {
            positional += 1;
        } else {
            names.push(name.to_owned());
        }
        rest = &rest[close.min(rest.len() - 1) + 1..];
    }
    (names, positional)
}

fn line_of(code: &[u8], at: usize) -> usize {
    code[..at].split(|&c| c == b'\n').count()
}

/// Every interpolation into SQL text, and every non-literal `push_str`, in `source`.
fn scan(source: &str) -> Vec<Finding> {
    let lexed = lex(source);
    let code = &lexed.code;
    let mut findings = Vec::new();
    for (needle, skip_first) in [
        (&b"format!("[..], false),
        (b"write!(", true),
        (b"writeln!(", true),
        (b".push_str(", false),
    ] {
        let mut from = 0;
        while let Some(pos) = code[from..].windows(needle.len()).position(|w| w == needle) {
            let at = from + pos;
            from = at + needle.len();
            let boundary =
                at == 0 || !(code[at - 1].is_ascii_alphanumeric() || code[at - 1] == b'_');
            if lexed.strings.iter().any(|&(a, b)| a <= at && at < b)
                || (!boundary && needle[0] != b'.')
            {
                continue;
            }
            let open = at + needle.len() - 1;
            let args = lexed.arguments(open);
            let line = line_of(code, at);
            if needle == b".push_str(" {
                if let Some(&arg) = args.first()
                    && lexed.literal(arg).is_none()
                {
                    findings.push(Finding {
                        line,
                        expr: lexed.text(arg),
                    });
                }
                continue;
            }
            let args = &args[usize::from(skip_first).min(args.len())..];
            let Some((&template, values)) = args.split_first() else {
                continue;
            };
            let Some(template) = lexed.literal(template) else {
                continue;
            };
            if !is_sql(&template) {
                continue;
            }
            let (inline, _positional) = placeholders(&template);
            let mut bound = BTreeSet::new();
            for &value in values {
                let text = lexed.text(value);
                // `name = expr`: the expression is what is interpolated.
                let expr = match text.split_once('=') {
                    Some((name, expr))
                        if !expr.starts_with('=')
                            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
                    {
                        bound.insert(name.to_owned());
                        expr.to_owned()
                    }
                    _ => text,
                };
                findings.push(Finding { line, expr });
            }
            for name in inline.into_iter().filter(|n| !bound.contains(n)) {
                findings.push(Finding { line, expr: name });
            }
        }
    }
    findings.sort();
    findings
}

/// The source of a file without its `#[cfg(test)]` module (by convention the file's end).
fn without_tests(source: &str) -> &str {
    let mut offset = 0;
    let mut previous_cfg_test = false;
    for line in source.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if previous_cfg_test && trimmed.starts_with("mod ") {
            let cfg_len = source[..offset].trim_end().rfind('\n').map_or(0, |n| n + 1);
            return &source[..cfg_len];
        }
        previous_cfg_test = trimmed.starts_with("#[cfg(") && trimmed.contains("test");
        offset += line.len();
    }
    source
}

/// Names declared as `const NAME: &str` in `source`.
fn str_constants(source: &str) -> impl Iterator<Item = String> + '_ {
    source.lines().filter_map(|line| {
        let rest = line
            .trim_start()
            .trim_start_matches("pub(crate) ")
            .trim_start_matches("pub ");
        let rest = rest.strip_prefix("const ")?;
        let (name, ty) = rest.split_once(':')?;
        ty.trim_start()
            .starts_with("&str")
            .then(|| name.trim().to_owned())
            .or_else(|| {
                ty.trim_start()
                    .starts_with("&'static str")
                    .then(|| name.trim().to_owned())
            })
    })
}

fn audited_files() -> Vec<PathBuf> {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = vec![crates.join("storage-core/src/plan.rs")];
    for dir in ["storage-sqlite/src", "storage-postgres/src"] {
        let mut stack = vec![crates.join(dir)];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    files.push(path);
                }
            }
        }
    }
    files.sort();
    files
}

/// `crates/…/x.rs` → `…/x.rs`.
fn short_name(path: &Path) -> String {
    let text = path.to_string_lossy().replace('\\', "/");
    let at = text.find("/../").map_or(0, |i| i + 4);
    text[at..].to_owned()
}

#[test]
fn sql_text_interpolates_only_audited_values() {
    let files = audited_files();
    assert!(files.len() >= 20, "found only {files:?}");
    let sources: Vec<(String, String)> = files
        .iter()
        .map(|p| (short_name(p), std::fs::read_to_string(p).unwrap()))
        .collect();
    let constants: BTreeSet<String> = sources
        .iter()
        .flat_map(|(_, s)| str_constants(without_tests(s)).collect::<Vec<_>>())
        .collect();
    assert!(constants.contains("MESSAGE_COLUMNS"), "{constants:?}");
    let mut used = BTreeSet::new();
    let mut unaudited = Vec::new();
    let mut checked = 0;
    for (name, source) in &sources {
        for finding in scan(without_tests(source)) {
            checked += 1;
            if constants.contains(&finding.expr) {
                continue;
            }
            match ALLOWED
                .iter()
                .position(|(f, e, _)| f == name && *e == finding.expr)
            {
                Some(i) => {
                    used.insert(i);
                }
                None => unaudited.push(format!("{name}:{}: {}", finding.line, finding.expr)),
            }
        }
    }
    assert!(
        unaudited.is_empty(),
        "SQL text built from values not on the audited list (bind them as parameters, or \
         audit them in ALLOWED):\n{}",
        unaudited.join("\n")
    );
    let stale: Vec<_> = (0..ALLOWED.len())
        .filter(|i| !used.contains(i))
        .map(|i| ALLOWED[i])
        .collect();
    assert!(
        stale.is_empty(),
        "allow-list entries no longer used: {stale:?}"
    );
    assert!(checked >= ALLOWED.len(), "{checked} interpolations checked");
}

#[test]
fn the_scanner_flags_a_runtime_value() {
    let source = r#"
        fn f(user_id: &str, sql: &mut String, name: String) {
            let a = format!("SELECT * FROM t WHERE id = '{}'", user_id);
            let b = format!("DELETE FROM t WHERE id = {user_id}");
            let c = format!("UPDATE t SET x = 1 WHERE id = {id}", id = name.trim());
            sql.push_str(&name);
            sql.push_str(" AND y = ?");
            write!(sql, "DROP TABLE {}", name);
        }
    "#;
    let exprs: Vec<String> = scan(source).into_iter().map(|f| f.expr).collect();
    assert_eq!(
        exprs,
        ["user_id", "user_id", "name.trim()", "&name", "name"],
        "{exprs:?}"
    );
}

#[test]
fn the_scanner_ignores_what_is_not_sql_text() {
    let source = r#"
        // format!("SELECT {x}") in a comment
        /* format!("DELETE {y}") */
        fn f(x: &str) -> String {
            let s = "format!(\"SELECT {x}\")";
            let c = '"';
            let m = format!("no reader became available: {x}");
            let e = format!("SELECT '{{}}' FROM t");
            format!("{s}{c}{m}{e}")
        }
        const COLUMNS: &str = "id, seq";
    "#;
    assert_eq!(scan(source), Vec::<Finding>::new());
    assert_eq!(str_constants(source).collect::<Vec<_>>(), ["COLUMNS"]);
    let with_tests = "fn a() {}\n#[cfg(test)]\nmod tests {\n format!(\"SELECT {x}\");\n}\n";
    assert_eq!(without_tests(with_tests), "fn a() {}\n");
}
