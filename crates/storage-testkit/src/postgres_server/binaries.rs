//! Finding the PostgreSQL programs: `PATH` first, then `/usr/lib/postgresql/<version>/bin`
//! from the highest version down.
//!
//! Standard library only: xtask includes this file too (`#[path]`), so the testkit fixture and
//! `cargo xtask` share one lookup.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

/// Where Debian and Ubuntu install the server binaries: `<LIB_ROOT>/<version>/bin`.
pub(crate) const LIB_ROOT: &str = "/usr/lib/postgresql";

/// The directories searched for PostgreSQL programs, in order: `PATH`, then
/// `<lib_root>/<version>/bin` from the highest version down.
fn search_dirs(path_var: Option<&OsStr>, lib_root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = path_var
        .map(|p| std::env::split_paths(p).collect())
        .unwrap_or_default();
    let mut versions: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir(lib_root)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let version: Option<Vec<u32>> =
                        name.split('.').map(|n| n.parse().ok()).collect();
                    Some((version?, e.path().join("bin")))
                })
                .collect()
        })
        .unwrap_or_default();
    versions.sort_by(|a, b| b.0.cmp(&a.0));
    dirs.extend(versions.into_iter().map(|(_, dir)| dir));
    dirs
}

/// Whether `path` is a file someone may execute.
fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The first executable `name` in the search directories (`PATH`, then `lib_root`).
pub(crate) fn find_tool(name: &str, path_var: Option<&OsStr>, lib_root: &Path) -> Option<PathBuf> {
    search_dirs(path_var, lib_root)
        .into_iter()
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

/// The PostgreSQL server programs: one directory holding `initdb`, `pg_ctl` and `postgres`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Binaries {
    dir: PathBuf,
}

impl Binaries {
    /// Finds the server programs: the first `initdb` on `PATH` or under `lib_root`, followed
    /// through symlinks to its real directory, which must also hold `pg_ctl` and `postgres`.
    pub(crate) fn find(path_var: Option<&OsStr>, lib_root: &Path) -> Option<Self> {
        search_dirs(path_var, lib_root)
            .into_iter()
            .map(|dir| dir.join("initdb"))
            .filter(|p| is_executable(p))
            .filter_map(|p| {
                std::fs::canonicalize(p)
                    .ok()?
                    .parent()
                    .map(Path::to_path_buf)
            })
            .find(|dir| is_executable(&dir.join("pg_ctl")) && is_executable(&dir.join("postgres")))
            .map(|dir| Self { dir })
    }

    /// Programs in `dir`, unchecked (tests use fake programs).
    #[cfg(test)]
    pub(crate) fn at(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// The directory holding the programs.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The program `name` in that directory.
    pub(crate) fn program(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

#[cfg(test)]
pub(crate) mod scratch {
    //! A scratch directory with fake programs, for tests here and in the cluster module.

    use std::os::unix::fs::PermissionsExt as _;
    use std::path::PathBuf;

    /// A fresh directory under the system temp dir, removed on drop.
    pub(crate) struct Scratch(pub(crate) PathBuf);

    impl Scratch {
        pub(crate) fn new() -> Self {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let dir = std::env::temp_dir()
                .join(format!("hotplex-pgbin-test-{}-{nanos}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        pub(crate) fn exe(&self, rel: &str) -> PathBuf {
            self.script(rel, "")
        }

        /// An executable shell script at `rel` with `body`.
        pub(crate) fn script(&self, rel: &str, body: &str) -> PathBuf {
            let path = self.0.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            path
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::scratch::Scratch;
    use super::{Binaries, find_tool, search_dirs};
    use std::path::{Path, PathBuf};

    #[test]
    fn lib_versions_are_searched_after_path_highest_first() {
        let s = Scratch::new();
        for v in ["9.6", "13", "15", "notaversion"] {
            std::fs::create_dir_all(s.0.join("lib").join(v)).unwrap();
        }
        let dirs = search_dirs(Some(s.0.join("on-path").as_os_str()), &s.0.join("lib"));
        let expected: Vec<PathBuf> = vec![
            s.0.join("on-path"),
            s.0.join("lib/15/bin"),
            s.0.join("lib/13/bin"),
            s.0.join("lib/9.6/bin"),
        ];
        assert_eq!(dirs, expected);
        assert!(search_dirs(None, Path::new("/nonexistent")).is_empty());
    }

    #[test]
    fn binaries_need_initdb_pg_ctl_and_postgres_in_one_directory() {
        let s = Scratch::new();
        let lib = s.0.join("lib");
        assert_eq!(Binaries::find(None, &lib), None);
        s.exe("lib/16/bin/initdb");
        s.exe("lib/16/bin/pg_ctl");
        assert_eq!(Binaries::find(None, &lib), None, "postgres is missing");
        s.exe("lib/14/bin/initdb");
        s.exe("lib/14/bin/pg_ctl");
        s.exe("lib/14/bin/postgres");
        let found = Binaries::find(None, &lib).unwrap();
        assert_eq!(
            found.dir(),
            std::fs::canonicalize(lib.join("14/bin")).unwrap()
        );
        s.exe("lib/16/bin/postgres");
        let found = Binaries::find(None, &lib).unwrap();
        assert_eq!(
            found.dir(),
            std::fs::canonicalize(lib.join("16/bin")).unwrap()
        );
    }

    #[test]
    fn a_symlinked_initdb_on_path_resolves_to_its_real_directory() {
        let s = Scratch::new();
        let real = s.exe("real/bin/initdb");
        s.exe("real/bin/pg_ctl");
        s.exe("real/bin/postgres");
        std::fs::create_dir_all(s.0.join("path")).unwrap();
        std::os::unix::fs::symlink(&real, s.0.join("path/initdb")).unwrap();
        let found = Binaries::find(Some(s.0.join("path").as_os_str()), &s.0.join("none")).unwrap();
        assert_eq!(
            found.dir(),
            std::fs::canonicalize(s.0.join("real/bin")).unwrap()
        );
    }

    #[test]
    fn find_tool_skips_non_executable_files() {
        let s = Scratch::new();
        std::fs::create_dir_all(s.0.join("a")).unwrap();
        std::fs::write(s.0.join("a/psql"), "").unwrap();
        let b = s.exe("b/psql");
        let path = std::env::join_paths([s.0.join("a"), s.0.join("b")]).unwrap();
        assert_eq!(find_tool("psql", Some(&path), &s.0.join("lib")), Some(b));
        assert_eq!(find_tool("pg_isready", Some(&path), &s.0.join("lib")), None);
    }
}
