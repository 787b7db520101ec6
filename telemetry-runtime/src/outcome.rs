//! How a returned value is classified as `ok` or `err`.
//!
//! The macros do not look at how the return type is spelled: they hand the value
//! to a `Probe` (see [`Probe`]), which picks, at compile time, between types
//! that implement [`CallOutcome`] (`Result` and any type of yours) and all others
//! (always `ok`). So `io::Result<T>`, `anyhow::Result<T>` and your own aliases
//! split into `ok` and `err` with no configuration.

use crate::counter::Field;

/// A return value that can be an error.
///
/// Implemented for `Result<T, E>`. Implement it for a type of your own to have
/// `#[counted]` and `#[timed]` count its error values in `err`.
///
/// ```
/// struct Reply { status: u16 }
///
/// impl telemetry::CallOutcome for Reply {
///     fn is_err(&self) -> bool {
///         self.status >= 500
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not implement `telemetry::CallOutcome`",
    label = "`{Self}` cannot tell `ok` from `err`",
    note = "`result` in `#[timed(result)]` / `#[counted(result)]` needs a return type implementing `telemetry::CallOutcome`: remove `result` to count every normal return as `ok`, or implement `CallOutcome` for `{Self}`"
)]
pub trait CallOutcome {
    /// Whether this value counts as an error.
    fn is_err(&self) -> bool;
}

impl<T, E> CallOutcome for Result<T, E> {
    fn is_err(&self) -> bool {
        Result::is_err(self)
    }
}

/// How a call ended, for the counters: as `usize`, the index of the
/// counter's [`Field`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Outcome {
    /// Returned a non-error value.
    Ok = Field::Ok as usize,
    /// Returned an error value.
    Err = Field::Err as usize,
}

impl Outcome {
    /// `Err` when `is_err`, else `Ok`.
    pub fn from_is_err(is_err: bool) -> Outcome {
        if is_err {
            Outcome::Err
        } else {
            Outcome::Ok
        }
    }
}

/// Wraps a reference to a return value for autoref-based dispatch: method lookup
/// tries `Probe<T>` by value (the [`ErrorAware`] impl, only for `T: CallOutcome`)
/// before `&Probe<T>` (the [`Infallible`] fallback for every other type).
pub struct Probe<'a, T: ?Sized>(pub &'a T);

/// The impl chosen for return types that can be errors.
pub trait ErrorAware {
    /// Whether the value is an error.
    fn outcome(self) -> Outcome;
}

impl<T: CallOutcome + ?Sized> ErrorAware for Probe<'_, T> {
    #[inline(always)]
    fn outcome(self) -> Outcome {
        Outcome::from_is_err(self.0.is_err())
    }
}

/// The impl chosen for every other return type: a normal return is `ok`.
pub trait Infallible {
    /// Always `Ok`.
    fn outcome(self) -> Outcome;
}

impl<T: ?Sized> Infallible for &Probe<'_, T> {
    #[inline(always)]
    fn outcome(self) -> Outcome {
        Outcome::Ok
    }
}

/// Forces [`CallOutcome`] (for `#[timed(result)]`): a compile error names the
/// trait when the type does not implement it.
#[inline(always)]
pub fn outcome_of_result<T: CallOutcome + ?Sized>(value: &T) -> Outcome {
    Outcome::from_is_err(value.is_err())
}
