//! Source paths reduced to the part that names the program's code.
//!
//! Panic locations and backtrace frames carry the paths the compiler was given
//! and the debug info holds: on most machines they begin with a home directory,
//! a user name or a build directory. This module is the one rule that turns such
//! a path into one that is the same on every machine and says nothing about the
//! machine. The panic hook applies it before anything is stored, and the
//! anonymizer applies it again (it is idempotent) before hashing a path, so a
//! snapshot read from anywhere cannot carry more than the rule keeps.
//!
//! # The rule
//!
//! Separators become `/`; empty and `.` segments go, and `..` removes the
//! segment before it (a `..` with nothing left to remove is dropped: a path
//! never climbs above where it starts). Then:
//!
//! 1. A **workspace path**, relative and written without `.` or `..` (what cargo
//!    gives the compiler for the crates it builds: `src/db.rs`,
//!    `crates/api/src/lib.rs`), is kept.
//! 2. Any other path (absolute, `~/…`, `C:\…`, `\\server\…`, or relative to a
//!    working directory: `./…`, `../…`) is a **machine path**, and only one of
//!    these survives of it:
//!    - the standard library's files, `…/library/<std crate>/src/…`, from
//!      `<std crate>/src/…` (`core/src/option.rs`), for the fixed list of the
//!      standard library's crates;
//!    - a crate that cargo downloaded, `…/registry/src/<index>/<name>-<version>/…`,
//!      from `<name>-<version>/` (`serde-1.0.219/src/de.rs`);
//!    - else from the last `src`, `tests`, `benches` or `examples` directory
//!      (`src/db.rs`): every directory above it is dropped;
//!    - else the file name, if it ends in `.rs` (`build.rs`, a generated `gen.rs`);
//!    - else [`OTHER_PATH`].

/// What a machine path becomes when no part of it is known to name code.
pub(crate) const OTHER_PATH: &str = "<other>";

/// Directories at the root of a crate: a machine path is cut to start at the last.
const CRATE_ROOT_DIRS: &[&str] = &["src", "tests", "benches", "examples"];

/// The standard library's crates, as directories under `library/`.
const STD_CRATES: &[&str] = &[
    "alloc",
    "backtrace",
    "core",
    "panic_abort",
    "panic_unwind",
    "proc_macro",
    "std",
    "test",
    "unwind",
];

/// Most digits of a line or column: a longer number is no position.
const MAX_POSITION_DIGITS: usize = 6;

/// `path` reduced by the rule in the [module docs](self).
pub(crate) fn reduce_path(path: &str) -> String {
    let unified = path.trim().replace('\\', "/");
    let bytes = unified.as_bytes();
    let rooted = matches!(bytes.first(), Some(b'/' | b'~'))
        || (bytes.len() >= 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic());
    let mut machine = rooted;
    let mut segments: Vec<&str> = Vec::new();
    for segment in unified.split('/') {
        match segment {
            "" => {}
            "." => machine = true,
            ".." => {
                machine = true;
                segments.pop();
            }
            _ => segments.push(segment),
        }
    }
    if !machine {
        return segments.join("/");
    }
    let from = |start: usize| segments[start..].join("/");
    let std_crate = segments.windows(3).rposition(|window| {
        window[0] == "library" && STD_CRATES.contains(&window[1]) && window[2] == "src"
    });
    if let Some(library) = std_crate {
        return from(library + 1);
    }
    let registry = segments.windows(4).rposition(|window| {
        window[0] == "registry" && window[1] == "src" && is_published_dir(window[3])
    });
    if let Some(registry) = registry {
        return from(registry + 3);
    }
    if let Some(root) = segments
        .iter()
        .rposition(|segment| CRATE_ROOT_DIRS.contains(segment))
    {
        return from(root);
    }
    match segments.last() {
        Some(file) if file.len() > ".rs".len() && file.ends_with(".rs") => (*file).to_owned(),
        _ => OTHER_PATH.to_owned(),
    }
}

/// `path:line:col` (or `path:line`, or `path`) with the path reduced.
pub(crate) fn reduce_location(location: &str) -> String {
    map_path(location, reduce_path)
}

/// `path:line:col` (or `path:line`, or `path`) with `path` replaced by
/// `map(path)` and the position kept.
pub(crate) fn map_path(location: &str, map: impl FnOnce(&str) -> String) -> String {
    let (path, line, column) = split_position(location);
    let mut mapped = map(path);
    for number in [line, column].into_iter().flatten() {
        mapped.push(':');
        mapped.push_str(&number.to_string());
    }
    mapped
}

/// `("src/db.rs", Some(42), Some(17))` from `"src/db.rs:42:17"`: up to two
/// trailing numbers of at most 6 digits; the rest is the path.
pub(crate) fn split_position(location: &str) -> (&str, Option<u32>, Option<u32>) {
    let number = |text: &str| -> Option<u32> {
        let digits = (1..=MAX_POSITION_DIGITS).contains(&text.len())
            && text.bytes().all(|b| b.is_ascii_digit());
        digits.then(|| text.parse().ok()).flatten()
    };
    let trailing = |text: &str| -> Option<(usize, u32)> {
        let (rest, last) = text.rsplit_once(':')?;
        Some((rest.len(), number(last)?)).filter(|(len, _)| *len > 0)
    };
    match trailing(location) {
        None => (location, None, None),
        Some((cut, last)) => match trailing(&location[..cut]) {
            Some((path, line)) => (&location[..path], Some(line), Some(last)),
            None => (&location[..cut], Some(last), None),
        },
    }
}

/// `name-1.2.3…`: how cargo names the directory of a crate it downloaded.
pub(crate) fn is_published_dir(name: &str) -> bool {
    name.match_indices('-').any(|(dash, _)| {
        let mut numbers = name[dash + 1..].splitn(3, '.');
        let mut number = || {
            numbers
                .next()
                .is_some_and(|part| part.bytes().next().is_some_and(|b| b.is_ascii_digit()))
        };
        number() && number() && number()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_paths_are_kept() {
        for kept in [
            "src/db.rs",
            "crates/api/src/lib.rs",
            "tests/panic_hook.rs",
            "build.rs",
            "<unknown>",
            "",
        ] {
            assert_eq!(reduce_path(kept), kept);
        }
        assert_eq!(
            reduce_path("crates\\api\\src\\lib.rs"),
            "crates/api/src/lib.rs"
        );
    }

    #[test]
    fn machine_paths_keep_only_what_a_fixed_rule_keeps() {
        for (raw, reduced) in [
            // Absolute Unix and Windows paths, home directories, user names.
            ("/home/ann/shop/src/db.rs", "src/db.rs"),
            ("/home/ann/src/shop/src/bin/cli.rs", "src/bin/cli.rs"),
            ("/home/ann/src/shop/tests/it.rs", "tests/it.rs"),
            ("/Users/ann/shop/examples/demo.rs", "examples/demo.rs"),
            ("~/shop/src/main.rs", "src/main.rs"),
            ("C:\\Users\\ann\\shop\\src\\main.rs", "src/main.rs"),
            ("c:/Users/ann/shop/benches/b.rs", "benches/b.rs"),
            ("\\\\server\\share\\ann\\src\\main.rs", "src/main.rs"),
            ("\\\\?\\C:\\Users\\ann\\shop\\src\\lib.rs", "src/lib.rs"),
            // Working-directory-relative paths, as backtraces print them.
            ("./src/db.rs", "src/db.rs"),
            ("./ann/shop/src/db.rs", "src/db.rs"),
            // `..` removes the segment before it and never climbs above the start.
            ("../shared/src/lib.rs", "src/lib.rs"),
            ("../../ann/src/x.rs", "src/x.rs"),
            ("/a/shop/src/../../etc/passwd.rs", "passwd.rs"),
            ("/a/shop/src/../../../../../etc/passwd", OTHER_PATH),
            ("crates/api/../../../ann/notes.rs", "notes.rs"),
            ("src/../../ann/src/db.rs", "src/db.rs"),
            // The standard library, shipped or from the `rust-src` component.
            (
                "/rustc/90b35a6239c3d8bdabc530a6a0816f7ff89a0aaf/library/core/src/option.rs",
                "core/src/option.rs",
            ),
            (
                "/home/ann/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/lib/rustlib/src/rust/library/std/src/panicking.rs",
                "std/src/panicking.rs",
            ),
            ("/home/ann/library/ann/src/x.rs", "src/x.rs"),
            // Cargo's registry and git checkouts.
            (
                "/home/ann/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tokio-1.40.0/src/runtime/task.rs",
                "tokio-1.40.0/src/runtime/task.rs",
            ),
            (
                "/home/ann/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/ann-secret/src/lib.rs",
                "src/lib.rs",
            ),
            (
                "/home/ann/.cargo/git/checkouts/shop-3f9a/5d2c1e0/shop-core/src/lib.rs",
                "src/lib.rs",
            ),
            ("/home/ann/shop/vendor/vendored/src/lib.rs", "src/lib.rs"),
            // No crate directory at all: the file name of a source file, or nothing.
            ("/srv/build/shop/build.rs", "build.rs"),
            ("/srv/build/target/debug/build/shop-1f2e/out/gen.rs", "gen.rs"),
            ("/home/ann/notes.txt", OTHER_PATH),
            ("C:\\Users\\ann", OTHER_PATH),
            ("/home/ann/.rs", OTHER_PATH),
            ("/", OTHER_PATH),
            ("./nptl/pthread_create.c", OTHER_PATH),
        ] {
            assert_eq!(reduce_path(raw), reduced, "{raw}");
        }
    }

    #[test]
    fn reducing_twice_changes_nothing() {
        for raw in [
            "/home/ann/shop/src/db.rs",
            "/home/ann/~x",
            "/home/ann/.cargo/registry/src/i/serde-1.0.219/src/de.rs",
            "/rustc/abc/library/core/src/option.rs",
            "C:\\Users\\ann\\notes.rs",
            "./a/b.rs",
            "../x",
        ] {
            let once = reduce_path(raw);
            assert_eq!(reduce_path(&once), once, "{raw}");
            assert!(!once.contains("ann"), "{once}");
        }
    }

    #[test]
    fn locations_keep_their_position() {
        assert_eq!(
            reduce_location("/home/ann/shop/src/db.rs:42:17"),
            "src/db.rs:42:17"
        );
        assert_eq!(
            reduce_location("/home/ann/shop/src/db.rs:42"),
            "src/db.rs:42"
        );
        assert_eq!(reduce_location("<unknown>:0:0"), "<unknown>:0:0");
        assert_eq!(reduce_location("C:\\ann\\src\\a.rs:4:1"), "src/a.rs:4:1");
        assert_eq!(
            reduce_location("/ann/x:1234567:1"),
            OTHER_PATH.to_owned() + ":1"
        );
    }

    #[test]
    fn positions_split_off_the_path() {
        assert_eq!(
            split_position("src/db.rs:42:17"),
            ("src/db.rs", Some(42), Some(17))
        );
        assert_eq!(
            split_position("src/db.rs:42"),
            ("src/db.rs", Some(42), None)
        );
        assert_eq!(
            split_position(r"C:\app\src\db.rs:4:1"),
            (r"C:\app\src\db.rs", Some(4), Some(1))
        );
        assert_eq!(split_position("src/db.rs"), ("src/db.rs", None, None));
        assert_eq!(split_position(":42"), (":42", None, None));
        assert_eq!(
            split_position("db.rs:1234567:1"),
            ("db.rs:1234567", Some(1), None)
        );
        assert_eq!(split_position("db.rs:4x:1"), ("db.rs:4x", Some(1), None));
    }

    #[test]
    fn published_directories_have_a_version() {
        assert!(is_published_dir("serde-1.0.219"));
        assert!(is_published_dir("tokio-util-0.7.12"));
        assert!(!is_published_dir("shop-3f9a"));
        assert!(!is_published_dir("ann"));
    }
}
