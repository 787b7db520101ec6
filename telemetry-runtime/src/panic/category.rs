//! What kind of panic it was, as a fixed word: the only trace of a panic's text
//! that may leave the machine.
//!
//! A panic message may quote anything the program handled (an id, an address, a
//! name), and even its keyed hash is reversed by whoever holds the key and can
//! enumerate the candidates. So the anonymized form keeps no message, and groups
//! panics by location and by a [`PanicCategory`] instead: one of a fixed set of
//! words, recognized from the messages the standard library writes (as `core`,
//! `alloc` and `std` 1.95 write them, checked by the tests against panics raised
//! at run time, and the older releases' wording where it differed). Where a message cannot tell (`expect`, whose text is the
//! caller's), the frame of the standard library that raised the panic does: the
//! backtrace the hook captures shows `core::option::expect_failed` or
//! `core::result::unwrap_failed` just below the panic machinery.

use serde::{Deserialize, Serialize};

/// The kind of a panic, from the standard library's message forms.
///
/// Serialized as the snake-case name (`"index_out_of_bounds"`); a name this
/// version does not know reads as [`PanicCategory::Other`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PanicCategory {
    /// `Option::unwrap()` on `None`: "called \`Option::unwrap()\` on a \`None\` value".
    UnwrapNone,
    /// `Result::unwrap()` on `Err`: "called \`Result::unwrap()\` on an \`Err\` value: …".
    UnwrapErr,
    /// `Result::unwrap_err()` on `Ok`: "called \`Result::unwrap_err()\` on an \`Ok\` value: …".
    UnwrapOk,
    /// `Option::expect`, `Result::expect` or `Result::expect_err` failed (told by
    /// the backtrace, as the message is the caller's).
    Expect,
    /// An index past the end: "index out of bounds: the len is … but the index is …",
    /// and `Vec::remove` / `insert` / `swap_remove`, `VecDeque` indexing.
    IndexOutOfBounds,
    /// A bad range of a slice or `str`: "range end index … out of range for slice
    /// of length …", "slice index starts at … but ends at …", "byte index … is not
    /// a char boundary", "mid > len", ….
    SliceIndex,
    /// Arithmetic overflow: "attempt to add with overflow" (and subtract,
    /// multiply, negate, shift, divide), "overflow when adding durations", ….
    Overflow,
    /// "attempt to divide by zero", "attempt to calculate the remainder with a
    /// divisor of zero".
    DivisionByZero,
    /// A `RefCell` borrowed against its rules: "RefCell already borrowed",
    /// "RefCell already mutably borrowed".
    AlreadyBorrowed,
    /// `assert!` without a message of its own ("assertion failed: …"),
    /// `assert_eq!` / `assert_ne!` ("assertion \`left == right\` failed…").
    AssertionFailed,
    /// `panic!` in code outside the standard library: `panic!()` ("explicit
    /// panic"), or a message of the program's own (also `assert!(c, "…")`).
    ExplicitPanic,
    /// `unreachable!()`: "internal error: entered unreachable code…".
    Unreachable,
    /// `todo!()`: "not yet implemented…".
    Todo,
    /// `unimplemented!()`: "not implemented…".
    Unimplemented,
    /// Anything else: a payload that is not text (`panic_any`), another panic of
    /// the standard library, or a panic whose origin could not be read.
    #[default]
    #[serde(other)]
    Other,
}

impl PanicCategory {
    /// Every category, in the order above: what a collector may expect in a
    /// critical error's `category`.
    pub const ALL: [PanicCategory; 15] = [
        PanicCategory::UnwrapNone,
        PanicCategory::UnwrapErr,
        PanicCategory::UnwrapOk,
        PanicCategory::Expect,
        PanicCategory::IndexOutOfBounds,
        PanicCategory::SliceIndex,
        PanicCategory::Overflow,
        PanicCategory::DivisionByZero,
        PanicCategory::AlreadyBorrowed,
        PanicCategory::AssertionFailed,
        PanicCategory::ExplicitPanic,
        PanicCategory::Unreachable,
        PanicCategory::Todo,
        PanicCategory::Unimplemented,
        PanicCategory::Other,
    ];

    /// The name it has in JSON: `"index_out_of_bounds"`.
    ///
    /// ```
    /// use telemetry::PanicCategory;
    ///
    /// assert_eq!(PanicCategory::UnwrapNone.name(), "unwrap_none");
    /// assert_eq!(PanicCategory::ALL.map(PanicCategory::name).len(), 15);
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            PanicCategory::UnwrapNone => "unwrap_none",
            PanicCategory::UnwrapErr => "unwrap_err",
            PanicCategory::UnwrapOk => "unwrap_ok",
            PanicCategory::Expect => "expect",
            PanicCategory::IndexOutOfBounds => "index_out_of_bounds",
            PanicCategory::SliceIndex => "slice_index",
            PanicCategory::Overflow => "overflow",
            PanicCategory::DivisionByZero => "division_by_zero",
            PanicCategory::AlreadyBorrowed => "already_borrowed",
            PanicCategory::AssertionFailed => "assertion_failed",
            PanicCategory::ExplicitPanic => "explicit_panic",
            PanicCategory::Unreachable => "unreachable",
            PanicCategory::Todo => "todo",
            PanicCategory::Unimplemented => "unimplemented",
            PanicCategory::Other => "other",
        }
    }
}

/// The frame that raised a panic: the first one below the panic machinery
/// (`core::panicking::*`, `std::panicking::*`, …) in the backtrace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// No backtrace, or none with symbols.
    Unknown,
    /// `core::option::expect_failed`: `Option::expect`.
    ExpectFailed,
    /// `core::result::unwrap_failed`: `Result::unwrap`, `expect` or `expect_err`.
    UnwrapFailed,
    /// Another fn of the standard library.
    Std,
    /// A fn outside the standard library: the program's or a dependency's.
    Code,
}

impl Origin {
    /// The origin a frame's demangled symbol names.
    pub(crate) fn of_symbol(symbol: &str, krate: &str) -> Origin {
        if symbol.starts_with("core::option::expect_failed") {
            Origin::ExpectFailed
        } else if symbol.starts_with("core::result::unwrap_failed") {
            Origin::UnwrapFailed
        } else if symbol == "<unknown>" || krate.is_empty() {
            Origin::Unknown
        } else if matches!(krate, "core" | "alloc" | "std") {
            Origin::Std
        } else {
            Origin::Code
        }
    }

    /// Whether a frame is part of the machinery that runs a panic (and its
    /// hooks), which sits between the hook and the frame that raised it.
    pub(crate) fn is_machinery(symbol: &str) -> bool {
        const MACHINERY: [&str; 7] = [
            "core::panicking::",
            "std::panicking::",
            "std::panic::panic_any",
            "std::sys::backtrace::",
            "std::sys_common::backtrace::",
            "__rustc::rust_begin_unwind",
            "rust_begin_unwind",
        ];
        MACHINERY.iter().any(|prefix| symbol.starts_with(prefix))
    }
}

/// The category of a panic with `message` (`None`: a payload that is not text)
/// raised by `origin`.
pub(crate) fn classify(message: Option<&str>, origin: Origin) -> PanicCategory {
    let Some(message) = message else {
        return PanicCategory::Other;
    };
    if let Some(category) = by_message(message) {
        return category;
    }
    match origin {
        Origin::ExpectFailed | Origin::UnwrapFailed => PanicCategory::Expect,
        Origin::Code => PanicCategory::ExplicitPanic,
        Origin::Std | Origin::Unknown => PanicCategory::Other,
    }
}

/// `message` is `form`, or `form` followed by `": "` and a message of the caller's.
fn is_form(message: &str, form: &str) -> bool {
    message
        .strip_prefix(form)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(": "))
}

fn by_message(message: &str) -> Option<PanicCategory> {
    use PanicCategory::*;

    let starts = |prefixes: &[&str]| prefixes.iter().any(|p| message.starts_with(p));
    let category = if message == "called `Option::unwrap()` on a `None` value" {
        UnwrapNone
    } else if is_form(message, "called `Result::unwrap()` on an `Err` value") {
        UnwrapErr
    } else if is_form(message, "called `Result::unwrap_err()` on an `Ok` value") {
        UnwrapOk
    } else if starts(&[
        "index out of bounds: the len is ",
        "removal index (is ",
        "insertion index (is ",
        "swap_remove index (is ",
    ]) || message == "Out of bounds access"
    {
        IndexOutOfBounds
    } else if starts(&[
        "range end index ",
        "range start index ",
        "slice index starts at ",
        "attempted to index slice ",
        "byte index ",
        "start byte index ",
        "end byte index ",
        "begin <= end (",
    ]) || message == "mid > len"
    {
        SliceIndex
    } else if message == "attempt to divide by zero"
        || message == "attempt to calculate the remainder with a divisor of zero"
    {
        DivisionByZero
    } else if (message.starts_with("attempt to ") && message.ends_with(" with overflow"))
        || message.starts_with("overflow when ")
    {
        Overflow
    } else if starts(&[
        "RefCell already borrowed",
        "RefCell already mutably borrowed",
        "already borrowed: ",
        "already mutably borrowed: ",
    ]) {
        AlreadyBorrowed
    } else if starts(&["assertion failed: ", "assertion `left "]) {
        AssertionFailed
    } else if message == "explicit panic" {
        ExplicitPanic
    } else if is_form(message, "internal error: entered unreachable code") {
        Unreachable
    } else if is_form(message, "not yet implemented") {
        Todo
    } else if is_form(message, "not implemented") {
        Unimplemented
    } else {
        return None;
    };
    Some(category)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::hint::black_box;
    use std::panic::{catch_unwind, UnwindSafe};

    use super::PanicCategory::*;
    use super::*;

    /// The message of the panic `f` raises, as the standard library wrote it.
    fn message_of<T>(f: impl FnOnce() -> T + UnwindSafe) -> String {
        let Err(payload) = catch_unwind(f) else {
            panic!("it does not panic");
        };
        let text = payload
            .downcast_ref::<&str>()
            .map(|text| (*text).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned());
        text.expect("a text payload")
    }

    fn category_of<T>(f: impl FnOnce() -> T + UnwindSafe) -> PanicCategory {
        classify(Some(&message_of(f)), Origin::Unknown)
    }

    // The hook of the test harness prints these panics; they are expected.
    #[test]
    fn real_panics_of_the_standard_library_are_recognized() {
        let index: usize = black_box(5);
        let zero: u32 = black_box(0);
        assert_eq!(
            category_of(|| black_box(black_box(None::<u8>).unwrap())),
            UnwrapNone
        );
        assert_eq!(
            category_of(|| black_box(black_box(Err::<u8, _>("user 48213")).unwrap())),
            UnwrapErr
        );
        assert_eq!(
            category_of(|| black_box(black_box(Ok::<u8, u8>(1)).unwrap_err())),
            UnwrapOk
        );
        assert_eq!(
            category_of(|| black_box(black_box([1])[index])),
            IndexOutOfBounds
        );
        assert_eq!(
            category_of(|| black_box(black_box(vec![1]).remove(index))),
            IndexOutOfBounds
        );
        assert_eq!(
            category_of(|| black_box(black_box(std::collections::VecDeque::<u8>::new())[index])),
            IndexOutOfBounds
        );
        let slice: &[u8] = black_box(&[1, 2]);
        assert_eq!(category_of(|| black_box(&slice[..index])), SliceIndex);
        assert_eq!(category_of(|| black_box(&slice[index..])), SliceIndex);
        assert_eq!(
            category_of(|| black_box(&slice[black_box(2)..black_box(1)])),
            SliceIndex
        );
        assert_eq!(category_of(|| black_box(slice.split_at(index))), SliceIndex);
        let text = black_box("héllo");
        assert_eq!(category_of(|| black_box(&text[..black_box(2)])), SliceIndex);
        assert_eq!(category_of(|| black_box(&text[..black_box(9)])), SliceIndex);
        assert_eq!(
            category_of(|| black_box(black_box(1) / zero)),
            DivisionByZero
        );
        assert_eq!(
            category_of(|| black_box(black_box(1) % zero)),
            DivisionByZero
        );
        if cfg!(debug_assertions) {
            let max = black_box(u8::MAX);
            assert_eq!(category_of(|| black_box(max + black_box(1))), Overflow);
            assert_eq!(
                category_of(|| black_box(black_box(0u8) - black_box(1))),
                Overflow
            );
            assert_eq!(category_of(|| black_box(max * black_box(2))), Overflow);
            assert_eq!(category_of(|| black_box(-black_box(i8::MIN))), Overflow);
            assert_eq!(
                category_of(|| black_box(black_box(1u8) << black_box(9))),
                Overflow
            );
        }
        assert_eq!(
            category_of(|| black_box(black_box(i8::MIN) / black_box(-1))),
            Overflow
        );
        assert_eq!(
            category_of(|| black_box(
                std::time::Duration::ZERO - black_box(std::time::Duration::from_secs(1))
            )),
            Overflow
        );
        assert_eq!(
            category_of(|| {
                let cell = RefCell::new(1);
                let _read = cell.borrow();
                black_box(cell.borrow_mut());
            }),
            AlreadyBorrowed
        );
        assert_eq!(
            category_of(|| {
                let cell = RefCell::new(1);
                let _write = cell.borrow_mut();
                black_box(cell.borrow());
            }),
            AlreadyBorrowed
        );
        assert_eq!(category_of(|| assert!(black_box(false))), AssertionFailed);
        assert_eq!(category_of(|| assert_eq!(black_box(1), 2)), AssertionFailed);
        assert_eq!(
            category_of(|| assert_eq!(black_box(1), 2, "user {}", 48213)),
            AssertionFailed
        );
        assert_eq!(category_of(|| assert_ne!(black_box(1), 1)), AssertionFailed);
        assert_eq!(category_of(|| panic!()), ExplicitPanic);
        assert_eq!(category_of(|| unreachable!()), Unreachable);
        assert_eq!(category_of(|| unreachable!("user {}", 48213)), Unreachable);
        assert_eq!(category_of(|| todo!()), Todo);
        assert_eq!(category_of(|| todo!("user {}", 48213)), Todo);
        assert_eq!(category_of(|| unimplemented!()), Unimplemented);
        assert_eq!(
            category_of(|| unimplemented!("user {}", 48213)),
            Unimplemented
        );
    }

    #[test]
    fn messages_of_the_callers_own_need_the_origin() {
        let expect = message_of(|| black_box(black_box(None::<u8>).expect("user 48213")));
        assert_eq!(classify(Some(&expect), Origin::Unknown), Other);
        assert_eq!(classify(Some(&expect), Origin::ExpectFailed), Expect);
        let expect = message_of(|| black_box(black_box(Err::<u8, _>(7)).expect("user 48213")));
        assert_eq!(classify(Some(&expect), Origin::UnwrapFailed), Expect);
        let own = message_of(|| panic!("account {} not found", black_box(48213)));
        assert_eq!(classify(Some(&own), Origin::Code), ExplicitPanic);
        assert_eq!(classify(Some(&own), Origin::Std), Other);
        assert_eq!(classify(Some(&own), Origin::Unknown), Other);
        let custom_assert = message_of(|| assert!(black_box(false), "user {}", 48213));
        assert_eq!(classify(Some(&custom_assert), Origin::Code), ExplicitPanic);
        assert_eq!(classify(None, Origin::Code), Other);
    }

    #[test]
    fn older_standard_library_forms_are_recognized() {
        for (message, category) in [
            ("already borrowed: BorrowMutError", AlreadyBorrowed),
            ("already mutably borrowed: BorrowError", AlreadyBorrowed),
            (
                "assertion failed: `(left == right)`\n  left: `1`,\n right: `2`",
                AssertionFailed,
            ),
            ("byte index 9 is out of bounds of `hello`", SliceIndex),
            ("begin <= end (4 <= 2) when slicing `hello`", SliceIndex),
            ("attempted to index slice up to maximum usize", SliceIndex),
        ] {
            assert_eq!(
                classify(Some(message), Origin::Unknown),
                category,
                "{message}"
            );
        }
    }

    #[test]
    fn look_alikes_are_not_recognized() {
        for message in [
            "not yet implemented for user 48213",
            "index out of bounds",
            "explicit panic for 48213",
            "called `Option::unwrap()` on a `None` value: 48213",
            "attempt to add",
            "",
        ] {
            assert_eq!(classify(Some(message), Origin::Unknown), Other, "{message}");
        }
    }

    #[test]
    fn origins_are_read_from_symbols() {
        assert_eq!(
            Origin::of_symbol("core::option::expect_failed", "core"),
            Origin::ExpectFailed
        );
        assert_eq!(
            Origin::of_symbol("core::result::unwrap_failed", "core"),
            Origin::UnwrapFailed
        );
        assert_eq!(
            Origin::of_symbol("alloc::vec::Vec<T,A>::remove", "alloc"),
            Origin::Std
        );
        assert_eq!(Origin::of_symbol("shop::db::flush", "shop"), Origin::Code);
        assert_eq!(Origin::of_symbol("<unknown>", "unknown"), Origin::Unknown);
        assert!(Origin::is_machinery("core::panicking::panic_fmt"));
        assert!(Origin::is_machinery("std::panicking::begin_panic::<&str>"));
        assert!(!Origin::is_machinery("core::option::expect_failed"));
    }

    #[test]
    fn names_are_the_json_names() {
        for category in PanicCategory::ALL {
            let json = serde_json::to_string(&category).unwrap();
            assert_eq!(json, format!("\"{}\"", category.name()));
        }
    }

    #[test]
    fn categories_serialize_as_snake_case_and_unknown_ones_read_as_other() {
        let json = serde_json::to_string(&[IndexOutOfBounds, UnwrapNone, Other]).unwrap();
        assert_eq!(json, r#"["index_out_of_bounds","unwrap_none","other"]"#);
        let read: PanicCategory = serde_json::from_str(r#""stack_overflow""#).unwrap();
        assert_eq!(read, Other);
    }
}
