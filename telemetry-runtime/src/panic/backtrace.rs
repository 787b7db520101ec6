//! The app's own frames, read from the standard library's text form of a
//! backtrace, and the frame that raised the panic.
//!
//! A captured backtrace holds every frame: the hook's, the standard library's
//! panic machinery, dependencies', the app's. Only the app's are worth keeping
//! (and only they are identifiers of the app's code); the frame just below the
//! panic machinery tells what raised the panic where its message cannot (see
//! [`Origin`]). The text is read line by line as it is written, so a deep
//! stack never sits in memory whole.

use std::backtrace::Backtrace;
use std::fmt::{self, Write as _};

use super::category::Origin;
use crate::registry::{call_sites, CallSite};
use crate::source_path::{is_published_dir, reduce_location, split_position};
use crate::text::truncate;

/// Longest frame kept, in bytes: symbols of generic code can run to kilobytes.
pub(super) const MAX_FRAME: usize = 512;
/// Longest backtrace line read; the rest of a longer one is skipped.
const MAX_LINE: usize = 4096;

/// Crates whose frames are never the app's own: the standard library, the test
/// harness, and this library (the macros' wrappers and this hook).
const NOT_APP: &[&str] = &[
    "std",
    "core",
    "alloc",
    "proc_macro",
    "test",
    "panic_unwind",
    "panic_abort",
    "unwind",
    "backtrace",
    "telemetry",
    "telemetry_runtime",
    "telemetry_macros",
];

/// What a capture found: the app's frames, innermost first, and the origin.
pub(super) struct Trace {
    pub(super) frames: Vec<String>,
    pub(super) origin: Origin,
}

/// Captures the current stack and keeps at most `max_frames` of the app's
/// frames: those of files outside dependencies or, without debug info, of the
/// `app_crates` and of crates with an instrumented fn. Where none is found (no
/// symbols), the innermost instrumented fn stands in.
pub(super) fn capture(
    max_frames: usize,
    app_crates: &[String],
    innermost: Option<&'static CallSite>,
) -> Trace {
    let mut app_crates = app_crates.to_vec();
    for site in call_sites() {
        if let Some(name) = site.name() {
            let krate = crate_of(&name);
            if !app_crates.iter().any(|known| known == krate) {
                app_crates.push(krate.to_owned());
            }
        }
    }
    let mut filter = FrameFilter::new(max_frames, &app_crates);
    // An `Err` only means the filter had what it needs and stopped reading.
    let _ = write!(filter, "{}", Backtrace::force_capture());
    let Trace { frames, origin } = filter.finish();
    Trace {
        frames: or_innermost(frames, innermost, max_frames),
        origin,
    }
}

/// `frames`, or where none was found (no symbols) the innermost instrumented fn.
fn or_innermost(
    mut frames: Vec<String>,
    innermost: Option<&'static CallSite>,
    max_frames: usize,
) -> Vec<String> {
    if frames.is_empty() && max_frames > 0 {
        if let Some(name) = innermost.and_then(CallSite::name) {
            frames.push(truncate(&name, MAX_FRAME));
        }
    }
    frames
}

/// Whether a source file is not the app's: the standard library's (as shipped,
/// or from the `rust-src` component), or a dependency's (downloaded from a
/// registry, checked out from git by cargo, or vendored).
fn is_dependency_path(path: &str) -> bool {
    path.starts_with("/rustc/")
        || path.split(['/', '\\']).any(|part| {
            matches!(part, "rustlib" | "registry" | "checkouts" | "vendor")
                || is_published_dir(part)
        })
}

/// The crate of a demangled symbol or metric name: `my_app` for
/// `my_app::db::flush`, `<my_app::Store as core::fmt::Debug>::fmt` or
/// `<&mut my_app::Store>::get`.
fn crate_of(symbol: &str) -> &str {
    let mut rest = symbol;
    loop {
        let trimmed = rest
            .trim_start_matches(['<', '&', '*', '(', '[', ' '])
            .trim_start_matches("mut ")
            .trim_start_matches("const ")
            .trim_start_matches("dyn ")
            .trim_start_matches("impl ");
        if trimmed.len() == rest.len() {
            break;
        }
        rest = trimmed;
    }
    let end = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    &rest[..end]
}

fn is_app_frame(symbol: &str, file: Option<&str>, app_crates: &[String]) -> bool {
    let krate = crate_of(symbol);
    if krate.is_empty() || symbol == "<unknown>" || NOT_APP.contains(&krate) {
        return false;
    }
    match file {
        // Debug info holds absolute paths (the compiler's directory joined to
        // the relative one), so the app's files are told from the others by
        // where those are kept. The file decides over the name: the standard
        // library's `<my_app::f::{closure#0} as FnOnce<()>>::call_once` names
        // the app's crate. C libraries with debug info (`pthread_create.c`)
        // are not the app's either.
        Some(file) => file.ends_with(".rs") && !is_dependency_path(file),
        None => app_crates.iter().any(|app| app == krate),
    }
}

/// Reads the standard library's text form of a backtrace, as it is written,
/// and keeps the app's frames and the panic's [`Origin`]:
///
/// ```text
///    4: my_app::db::flush
///              at src/db.rs:42:17
///       my_app::db::inlined_into_flush
///              at src/db.rs:30:5
/// ```
///
/// Frame after frame, without holding the whole text.
struct FrameFilter<'a> {
    max_frames: usize,
    app_crates: &'a [String],
    line: String,
    line_cut: bool,
    /// A symbol whose `at` line may follow.
    symbol: Option<String>,
    frames: Vec<String>,
    /// Whether a frame of the panic machinery was read: the hook's own frames
    /// come before it, the origin right after it.
    past_hook: bool,
    origin: Option<Origin>,
}

impl<'a> FrameFilter<'a> {
    fn new(max_frames: usize, app_crates: &'a [String]) -> FrameFilter<'a> {
        FrameFilter {
            max_frames,
            app_crates,
            line: String::new(),
            line_cut: false,
            symbol: None,
            frames: Vec::new(),
            past_hook: false,
            origin: None,
        }
    }

    fn end_line(&mut self) {
        let line = std::mem::take(&mut self.line);
        self.line_cut = false;
        let text = line.trim_start();
        if let Some(place) = text.strip_prefix("at ") {
            if let Some(symbol) = self.symbol.take() {
                self.frame(&symbol, Some(place));
            }
        } else if !text.is_empty() {
            if let Some(symbol) = self.symbol.take() {
                self.frame(&symbol, None);
            }
            // `  12: name` opens a frame; further symbols of an inlined frame
            // come without the number.
            let symbol = match text.split_once(": ") {
                Some((index, name)) if index.bytes().all(|b| b.is_ascii_digit()) => name,
                _ => text,
            };
            self.symbol = Some(truncate(symbol, MAX_FRAME));
        }
        self.line = line;
        self.line.clear();
    }

    fn frame(&mut self, symbol: &str, place: Option<&str>) {
        if self.origin.is_none() {
            if Origin::is_machinery(symbol) {
                self.past_hook = true;
            } else if self.past_hook {
                self.origin = Some(Origin::of_symbol(symbol, crate_of(symbol)));
            }
        }
        if self.frames.len() >= self.max_frames {
            return;
        }
        let file = place.map(|place| split_position(place).0);
        if !is_app_frame(symbol, file, self.app_crates) {
            return;
        }
        let frame = match place {
            Some(place) => format!("{symbol} at {}", reduce_location(place)),
            None => symbol.to_owned(),
        };
        self.frames.push(truncate(&frame, MAX_FRAME));
    }

    fn finish(mut self) -> Trace {
        if !self.line.is_empty() {
            self.end_line();
        }
        if let Some(symbol) = self.symbol.take() {
            self.frame(&symbol, None);
        }
        Trace {
            frames: self.frames,
            origin: self.origin.unwrap_or(Origin::Unknown),
        }
    }
}

impl fmt::Write for FrameFilter<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for piece in text.split_inclusive('\n') {
            let (content, ends_line) = match piece.strip_suffix('\n') {
                Some(content) => (content, true),
                None => (piece, false),
            };
            if !self.line_cut {
                let room = MAX_LINE - self.line.len();
                if content.len() <= room {
                    self.line.push_str(content);
                } else {
                    let end = crate::text::floor_char_boundary(content, room);
                    self.line.push_str(&content[..end]);
                    self.line_cut = true;
                }
            }
            if ends_line {
                self.end_line();
            }
        }
        if self.frames.len() >= self.max_frames && self.origin.is_some() {
            return Err(fmt::Error);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crates_of_symbols() {
        assert_eq!(crate_of("shop::db::flush"), "shop");
        assert_eq!(crate_of("shop::db::flush::{{closure}}"), "shop");
        assert_eq!(crate_of("<shop::Store as core::fmt::Debug>::fmt"), "shop");
        assert_eq!(crate_of("<&mut shop::Store>::get"), "shop");
        assert_eq!(crate_of("<dyn shop::Api>::call"), "shop");
        assert_eq!(crate_of("core::ptr::drop_in_place<shop::Store>"), "core");
        assert_eq!(crate_of("main"), "main");
        assert_eq!(crate_of("<unknown>"), "unknown");
    }

    const TRACE: &str = "   0: std::backtrace::Backtrace::force_capture
             at /rustc/abc/library/std/src/backtrace.rs:312:9
   1: telemetry_runtime::panic::PanicHook::record
             at telemetry-runtime/src/panic.rs:200:9
   2: std::panicking::rust_panic_with_hook
             at /rustc/abc/library/std/src/panicking.rs:841:13
   3: shop::db::flush
             at src/db.rs:42:17
      shop::db::write_page
             at src/db.rs:30:5
   4: serde_json::de::from_str
             at /home/ann/.cargo/registry/src/i/serde_json-1.0.1/src/de.rs:9:1
   5: shop_core::api::upsert
      <shop::main::{closure#0} as core::ops::function::FnOnce<()>>::call_once
             at /rustc/abc/library/core/src/ops/function.rs:250:5
   6: tokio::runtime::task::poll
             at /home/ann/.cargo/git/checkouts/tokio-3f9a/5d2c1e0/tokio/src/task.rs:1:1
   7: shop::main
             at ./src/main.rs:3:5
   8: vendored::f
             at /home/ann/shop/vendor/vendored/src/lib.rs:2:2
   9: start_thread
             at ./nptl/pthread_create.c:442:8
  10: __libc_start_main
  11: <unknown>
";

    #[test]
    fn the_filter_keeps_frames_outside_dependencies_and_of_named_crates() {
        let mut filter = FrameFilter::new(32, &[]);
        filter.write_str(TRACE).unwrap();
        assert_eq!(
            filter.finish().frames,
            [
                "shop::db::flush at src/db.rs:42:17",
                "shop::db::write_page at src/db.rs:30:5",
                "shop::main at src/main.rs:3:5",
            ],
        );

        let app = ["shop_core".to_owned(), "shop".to_owned()];
        let mut filter = FrameFilter::new(32, &app);
        filter.write_str(TRACE).unwrap();
        assert_eq!(
            filter.finish().frames,
            [
                "shop::db::flush at src/db.rs:42:17",
                "shop::db::write_page at src/db.rs:30:5",
                "shop_core::api::upsert",
                "shop::main at src/main.rs:3:5",
            ],
        );
    }

    #[test]
    fn the_origin_is_the_frame_below_the_panic_machinery() {
        let origin = |trace: &str| {
            let mut filter = FrameFilter::new(32, &[]);
            filter.write_str(trace).unwrap();
            filter.finish().origin
        };
        assert_eq!(origin(TRACE), Origin::Code);
        let expect = "   0: telemetry_runtime::panic::PanicHook::on_panic
   1: std::panicking::rust_panic_with_hook
   2: core::panicking::panic_fmt
   3: core::panicking::panic_display::<&str>
   4: core::option::expect_failed
   5: core::option::Option<T>::expect
   6: shop::db::flush
";
        assert_eq!(origin(expect), Origin::ExpectFailed);
        let vec = expect.replace("core::option::expect_failed", "alloc::vec::Vec<T>::remove");
        assert_eq!(origin(&vec), Origin::Std);
        assert_eq!(
            origin("   0: <unknown>\n   1: <unknown>\n"),
            Origin::Unknown
        );
        assert_eq!(
            origin("   0: std::panicking::begin_panic\n   1: <unknown>\n"),
            Origin::Unknown
        );
    }

    #[test]
    fn the_filter_reads_text_in_any_pieces_and_stops_at_its_bound() {
        let mut filter = FrameFilter::new(32, &[]);
        let mut rest = TRACE;
        while !rest.is_empty() {
            let mut cut = 7.min(rest.len());
            while !rest.is_char_boundary(cut) {
                cut += 1;
            }
            filter.write_str(&rest[..cut]).unwrap();
            rest = &rest[cut..];
        }
        assert_eq!(filter.finish().frames.len(), 3);

        let mut filter = FrameFilter::new(1, &[]);
        assert!(filter.write_str(TRACE).is_err(), "stops once full");
        assert_eq!(
            filter.finish().frames,
            ["shop::db::flush at src/db.rs:42:17"]
        );
    }

    #[test]
    fn the_filter_cuts_long_lines_and_frames() {
        let long = format!(
            "   3: shop::{}\n             at src/a.rs:1:1\n",
            "x".repeat(10_000)
        );
        let mut filter = FrameFilter::new(32, &[]);
        filter.write_str(&long).unwrap();
        let frames = filter.finish().frames;
        assert_eq!(frames.len(), 1);
        assert!(frames[0].starts_with("shop::xxx"), "{}", frames[0]);
        assert!(
            frames[0].len() <= MAX_FRAME + '…'.len_utf8(),
            "{}",
            frames[0].len()
        );
    }

    #[test]
    fn without_frames_the_innermost_instrumented_fn_stands_in() {
        use crate::counter::CallCounters;
        use crate::registry::SiteName;
        static COUNTERS: CallCounters = CallCounters::new();
        static SITE: CallSite = CallSite::counted(SiteName::Fixed("shop::db::flush"), &COUNTERS);

        assert_eq!(
            or_innermost(Vec::new(), Some(&SITE), 32),
            ["shop::db::flush"]
        );
        let found = vec!["shop::db::write_page at src/db.rs:30:5".to_owned()];
        assert_eq!(or_innermost(found.clone(), Some(&SITE), 32), found);
        assert!(or_innermost(Vec::new(), None, 32).is_empty());
        assert!(or_innermost(Vec::new(), Some(&SITE), 0).is_empty());
    }
}
