//! The panic hook as an application uses it: installed once, then read from
//! snapshots.
//!
//! A panic hook is process-wide, so the hook tests live in this binary alone:
//! every test installs the same hook (through [`serial`]) and they run one at a
//! time. Each test panics at places of its own and finds its entries by message.
//! The bound on distinct errors needs a hook of its own, so that test runs in a
//! child process (`tests/support/isolated.rs`).

#[path = "support/isolated.rs"]
#[allow(dead_code)] // Its log capture is not needed here.
mod isolated;

use std::cell::RefCell;
use std::hint::black_box;
use std::panic::{catch_unwind, panic_any, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, Once, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use telemetry::{
    counted, snapshot, CriticalError, DetailsLevel, PanicCategory, PanicHook, Snapshot,
};

/// Panics of the tests start with this: the hook installed before ours counts
/// them and keeps them off the output. Any other panic (a failed assertion)
/// goes on to the default hook and prints, unless it happens on a thread named
/// [`EXPECTED`].
const OURS: &str = "test panic: ";

/// Threads of this name raise panics of the standard library on purpose.
const EXPECTED: &str = "expected panics";

/// Messages are cut to this many bytes.
const MAX_MESSAGE_LEN: usize = 40;

/// How many of our panics reached the hook that was there before ours.
static PREVIOUS_HOOK_CALLS: AtomicU64 = AtomicU64::new(0);

/// Installs the hooks once, and makes the calling test the only one running.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    static INSTALL: Once = Once::new();
    let guard = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    INSTALL.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = (payload.downcast_ref::<&str>().copied())
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
            if message.is_some_and(|m| m.starts_with(OURS)) {
                PREVIOUS_HOOK_CALLS.fetch_add(1, Ordering::SeqCst);
            } else if std::thread::current().name() != Some(EXPECTED) {
                default(info);
            }
        }));
        assert!(PanicHook::new().max_message_len(MAX_MESSAGE_LEN).install());
    });
    guard
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The entry whose message is `message`.
fn entry<'a>(snapshot: &'a Snapshot, message: &str) -> &'a CriticalError {
    let mut found = snapshot
        .critical_errors
        .iter()
        .filter(|error| error.message.as_deref() == Some(message));
    let error = found.next().unwrap_or_else(|| {
        panic!(
            "no critical error {message:?} in {:#?}",
            snapshot.critical_errors
        )
    });
    assert!(found.next().is_none(), "{message:?} is recorded twice");
    error
}

#[test]
fn a_panic_is_recorded_with_its_location_thread_count_and_times() {
    let _serial = serial();
    let previous_calls = PREVIOUS_HOOK_CALLS.load(Ordering::SeqCst);
    let before = now_ms();
    let line = std::thread::Builder::new()
        .name("worker-3".into())
        .spawn(|| {
            let mut line = 0;
            for _ in 0..2 {
                let _ = catch_unwind(AssertUnwindSafe(|| {
                    line = line!() + 1;
                    panic!("test panic: index {} out of bounds", 7);
                }));
            }
            line
        })
        .unwrap()
        .join()
        .unwrap();
    let after = now_ms();

    let snapshot = snapshot();
    let error = entry(&snapshot, "test panic: index 7 out of bounds");
    assert!(
        error
            .location
            .starts_with(&format!("tests/panic_hook.rs:{line}:")),
        "{}",
        error.location
    );
    assert_eq!(error.thread.as_deref(), Some("worker-3"));
    assert_eq!(error.count, 2);
    assert!(before <= error.first_seen_unix_ms);
    assert!(error.first_seen_unix_ms <= error.last_seen_unix_ms);
    assert!(error.last_seen_unix_ms <= after);
    assert_eq!(
        PREVIOUS_HOOK_CALLS.load(Ordering::SeqCst),
        previous_calls + 2,
        "the hook installed before runs too"
    );
}

#[test]
fn places_are_told_apart_and_the_last_thread_is_kept() {
    let _serial = serial();
    for name in ["first", "second"] {
        std::thread::Builder::new()
            .name(name.into())
            .spawn(|| {
                let _ = catch_unwind(|| panic!("test panic: same place"));
                let _ = catch_unwind(|| panic!("test panic: other place"));
            })
            .unwrap()
            .join()
            .unwrap();
    }
    std::thread::spawn(|| catch_unwind(|| panic!("test panic: unnamed thread")))
        .join()
        .unwrap()
        .unwrap_err();

    let snapshot = snapshot();
    let same = entry(&snapshot, "test panic: same place");
    let other = entry(&snapshot, "test panic: other place");
    assert_ne!(same.location, other.location);
    assert_eq!((same.count, other.count), (2, 2));
    assert_eq!(same.thread.as_deref(), Some("second"));
    assert_eq!(entry(&snapshot, "test panic: unnamed thread").thread, None);
}

#[test]
fn installing_again_changes_nothing() {
    let _serial = serial();
    assert!(!telemetry::install_panic_hook());
    assert!(!PanicHook::new().max_message_len(1).install());
    let previous_calls = PREVIOUS_HOOK_CALLS.load(Ordering::SeqCst);

    let _ = catch_unwind(|| panic!("test panic: once"));

    let snapshot = snapshot();
    assert_eq!(entry(&snapshot, "test panic: once").count, 1, "one hook");
    assert_eq!(
        PREVIOUS_HOOK_CALLS.load(Ordering::SeqCst),
        previous_calls + 1
    );
}

// Not inlined, so an optimized build keeps its frame too.
#[counted]
#[inline(never)]
fn parse_port(text: &str) -> u16 {
    text.parse().expect("test panic: a port number")
}

#[inline(never)]
fn configure(text: &str) -> u16 {
    parse_port(text) + 1
}

#[test]
fn backtraces_hold_the_apps_frames_at_level_3_only() {
    let _serial = serial();
    let _ = catch_unwind(|| configure("eighty"));
    let message = "test panic: a port number: ParseIntError { kind: InvalidDigit }";
    let message = &message[..MAX_MESSAGE_LEN];
    let full = snapshot();
    let stats = &full.functions["panic_hook::parse_port"];
    assert_eq!((stats.calls, stats.panics), (1, 1));

    let error = entry(&full, &format!("{message}…"));
    assert!(error.location.starts_with("tests/panic_hook.rs:"));
    let backtrace = error.backtrace.as_ref().expect("a backtrace at level 3");
    assert!(
        backtrace[0].starts_with("panic_hook::parse_port"),
        "innermost first, without the standard library's frames: {backtrace:#?}"
    );
    let configure = backtrace
        .iter()
        .find(|frame| frame.split(" at ").next() == Some("panic_hook::configure"))
        .unwrap_or_else(|| panic!("{backtrace:#?}"));
    // Frames name their file and line where the build has line tables, as
    // the default debug profile does (the release profile has none).
    if cfg!(debug_assertions) {
        assert!(
            configure.starts_with("panic_hook::configure at tests/panic_hook.rs:"),
            "{backtrace:#?}"
        );
    }
    for frame in backtrace {
        assert!(frame.starts_with("panic_hook::"), "not the app's: {frame}");
    }

    for level in [DetailsLevel::Counters, DetailsLevel::Summaries] {
        let taken = Snapshot::take(level);
        let message = error.message.as_deref().unwrap();
        assert_eq!(entry(&taken, message).backtrace, None);
        assert_eq!(entry(&full.details(level), message).backtrace, None);
        assert!(!taken.to_json().contains("\"backtrace\""));
    }
    assert!(Snapshot::take(DetailsLevel::Instance)
        .critical_errors
        .is_empty());
    assert!(full
        .details(DetailsLevel::Instance)
        .critical_errors
        .is_empty());
}

#[test]
fn messages_are_cut_and_other_payloads_named() {
    let _serial = serial();
    let _ = catch_unwind(|| panic!("test panic: {}", "é".repeat(40)));
    let _ = catch_unwind(|| panic_any(42_u32));

    let snapshot = snapshot();
    let cut = snapshot
        .critical_errors
        .iter()
        .find(|error| {
            let message = error.message.as_deref().unwrap_or_default();
            message.starts_with("test panic: éé")
        })
        .expect("the long message");
    let message = cut.message.as_deref().unwrap();
    assert!(message.ends_with('…'), "{message}");
    assert!(message.len() <= MAX_MESSAGE_LEN + '…'.len_utf8());
    assert_eq!(entry(&snapshot, "Box<dyn Any>").count, 1);
    assert_eq!(
        entry(&snapshot, "Box<dyn Any>").category,
        PanicCategory::Other
    );
}

#[counted]
fn open_config() {
    panic!("test panic: no config file");
}

#[test]
fn no_absolute_path_leaves_in_a_snapshot() {
    let _serial = serial();
    let _ = catch_unwind(open_config);
    let json = snapshot().to_json();
    assert!(json.contains("tests/panic_hook.rs:"), "{json}");
    let mut absolute = vec![env!("CARGO_MANIFEST_DIR").to_owned(), "/rustc/".to_owned()];
    absolute.extend(
        std::env::current_dir()
            .ok()
            .map(|d| d.display().to_string()),
    );
    absolute.extend(std::env::var("HOME").ok().filter(|home| home.len() > 1));
    for path in absolute {
        assert!(!json.contains(&path), "{path} in {json}");
    }
    assert!(!json.contains(" at /"), "{json}");
    assert!(!json.contains("critical_errors_dropped"), "none dropped");
}

#[test]
fn panics_racing_snapshots_neither_block_nor_get_lost() {
    let _serial = serial();
    const THREADS: u64 = 4;
    const PANICS: u64 = 100;
    fn hammer() {
        panic!("test panic: hammer");
    }
    let done = AtomicBool::new(false);
    // The workers start once the reader is reading: on a busy machine the
    // reader may otherwise be scheduled only after they are done.
    let reading = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut snapshots = 0;
            while !done.load(Ordering::SeqCst) {
                let _ = snapshot();
                snapshots += 1;
                reading.store(true, Ordering::SeqCst);
            }
            snapshots
        });
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                scope.spawn(|| {
                    while !reading.load(Ordering::SeqCst) {
                        std::thread::yield_now();
                    }
                    for _ in 0..PANICS {
                        let _ = catch_unwind(hammer);
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        done.store(true, Ordering::SeqCst);
        assert!(reader.join().unwrap() > 0);
    });
    let snapshot = snapshot();
    assert_eq!(
        entry(&snapshot, "test panic: hammer").count,
        THREADS * PANICS
    );
}

#[test]
fn past_max_errors_new_places_are_counted_as_dropped() {
    isolated::isolated(
        "past_max_errors_new_places_are_counted_as_dropped",
        &[],
        bounded_child,
    );
}

/// In a process of its own: a hook that keeps two places.
fn bounded_child() {
    fn kept_first() {
        panic!("test panic: kept first");
    }
    assert!(PanicHook::new().max_errors(2).install());
    for _ in 0..3 {
        let _ = catch_unwind(kept_first);
    }
    let _ = catch_unwind(|| panic!("test panic: kept second"));
    let _ = catch_unwind(|| panic!("test panic: dropped first"));
    for _ in 0..2 {
        let _ = catch_unwind(|| panic!("test panic: dropped second"));
    }
    // A known place is still counted once the bound is reached.
    let _ = catch_unwind(kept_first);

    let snapshot = snapshot();
    let counts: Vec<_> = snapshot
        .critical_errors
        .iter()
        .map(|error| (error.message.as_deref().unwrap(), error.count))
        .collect();
    assert_eq!(
        counts,
        [
            ("test panic: kept first", 4),
            ("test panic: kept second", 1)
        ]
    );
    assert_eq!(snapshot.critical_errors_dropped, 3);
    assert!(snapshot.to_json().contains("\"critical_errors_dropped\":3"));
    let instance = Snapshot::take(DetailsLevel::Instance);
    assert_eq!(instance.critical_errors_dropped, 0);
}

#[counted]
fn leak_user_data(user: &str) {
    // Within the 40 bytes this binary keeps of a message.
    panic!("{OURS}{user}@ex.com 10.1.2.3 /home/{user}");
}

#[test]
fn the_anonymized_form_carries_no_message_thread_or_path() {
    let _serial = serial();
    let worker = std::thread::Builder::new()
        .name("worker-of-jane".to_owned())
        .spawn(|| catch_unwind(|| leak_user_data("jane")).is_err())
        .unwrap();
    assert!(worker.join().unwrap(), "the call panicked");

    let raw = snapshot();
    let message = raw
        .critical_errors
        .iter()
        .find(|error| {
            let message = error.message.as_deref().unwrap_or_default();
            message.contains("jane@ex.com 10.1.2.3")
        })
        .unwrap_or_else(|| panic!("not recorded raw: {:#?}", raw.critical_errors));
    assert_eq!(message.thread.as_deref(), Some("worker-of-jane"));

    let anonymized = raw.anonymize();
    assert!(anonymized.anonymized);
    assert_eq!(anonymized.critical_errors.len(), raw.critical_errors.len());
    let json = anonymized.to_json();
    for secret in [
        "jane",
        "ex.com",
        "10.1.2.3",
        "/home/",
        "test panic",
        "worker-of",
        "leak_user_data",
        "panic_hook.rs",
    ] {
        assert!(!json.contains(secret), "{secret:?} leaks into {json}");
    }
    for (error, raw) in anonymized.critical_errors.iter().zip(&raw.critical_errors) {
        assert!(error.thread.is_none());
        // No message, nor any hash of it: the category stands in for it.
        assert_eq!(error.message, None);
        assert_eq!(error.category, raw.category);
        let hash = telemetry::anonymize::current().hash(raw.message.as_deref().unwrap());
        assert!(!json.contains(&hash), "the message's hash is in {json}");
    }
}

/// Panics the standard library raises, each at a place of its own, with the
/// category the hook gives them.
fn std_panics() -> Vec<(PanicCategory, fn())> {
    use PanicCategory::*;
    let mut cases: Vec<(PanicCategory, fn())> = vec![
        (UnwrapNone, || {
            black_box(black_box(None::<String>).unwrap());
        }),
        (UnwrapErr, || {
            black_box(black_box("x".parse::<u8>()).unwrap());
        }),
        (UnwrapOk, || {
            black_box(black_box("7".parse::<u8>()).unwrap_err());
        }),
        (Expect, || {
            black_box(black_box(None::<String>).expect("test panic: a value"));
        }),
        (Expect, || {
            black_box(black_box("x".parse::<u8>()).expect("test panic: a number"));
        }),
        (IndexOutOfBounds, || {
            black_box(black_box(vec![1])[black_box(5)]);
        }),
        (SliceIndex, || {
            black_box(black_box(&[1, 2][..])[..black_box(5)].to_vec());
        }),
        (SliceIndex, || {
            black_box(black_box("héllo")[..black_box(2)].to_owned());
        }),
        (DivisionByZero, || {
            black_box(black_box(1) / black_box(0));
        }),
        (AlreadyBorrowed, || {
            let cell = RefCell::new(1);
            let _read = cell.borrow();
            black_box(cell.borrow_mut());
        }),
        (AssertionFailed, || assert!(black_box(false))),
        (AssertionFailed, || assert_eq!(black_box(1), 2)),
        (AssertionFailed, || {
            assert_ne!(black_box(1), 1, "id {}", 48213)
        }),
        (Todo, || todo!()),
        (Unreachable, || unreachable!("state {}", black_box(48213))),
        (Unimplemented, || unimplemented!()),
        (ExplicitPanic, || panic!()),
        (ExplicitPanic, || {
            panic!("account {} not found", black_box(48213))
        }),
        (Other, || panic_any(black_box(48213_u64))),
    ];
    if cfg!(debug_assertions) {
        cases.push((Overflow, || {
            black_box(black_box(u8::MAX) + black_box(1));
        }));
        cases.push((Overflow, || {
            black_box(black_box(0_usize) - black_box(1));
        }));
    }
    cases
}

#[test]
fn real_panics_of_the_standard_library_get_their_category() {
    let _serial = serial();
    for (expected, raise) in std_panics() {
        let before = snapshot().critical_errors.len();
        std::thread::Builder::new()
            .name(EXPECTED.into())
            .spawn(move || catch_unwind(raise).unwrap_err())
            .unwrap()
            .join()
            .unwrap();
        let after = snapshot();
        let new = &after.critical_errors[before..];
        assert_eq!(new.len(), 1, "one new place: {new:#?}");
        let error = &new[0];
        assert_eq!(error.category, expected, "{error:#?}");
        let anonymized = after.anonymize();
        assert_eq!(anonymized.critical_errors[before].category, expected);
        assert_eq!(anonymized.critical_errors[before].message, None);
    }
}
