//! The record of one distinct panic: what the hook produces and snapshots list
//! under `critical_errors`. It lives with its producer; the snapshot module
//! re-exports it.

use serde::{Deserialize, Serialize};

use super::category::PanicCategory;

/// A distinct critical error (a panic), recorded by the panic hook.
///
/// The raw form, which stays on the machine, has the message; the anonymized
/// form has none, only the [`category`](CriticalError::category), the hashed
/// location and frames, and rounded counts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CriticalError {
    /// The panic message (`Box<dyn Any>` for a payload that is not text), cut to
    /// the hook's bound. `None` in the anonymized form: a message may quote
    /// anything the program handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// What kind of panic, told from the standard library's message forms: what
    /// groups panics, with the location, once the message is gone.
    #[serde(default)]
    pub category: PanicCategory,
    /// `file:line:col`, the file crate-relative (see the panic hook's docs).
    pub location: String,
    /// Name of the thread that panicked last at this location; never in the
    /// anonymized form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread: Option<String>,
    /// Panics at this location.
    pub count: u64,
    /// First panic, ms since the Unix epoch.
    pub first_seen_unix_ms: u64,
    /// Last panic, ms since the Unix epoch.
    pub last_seen_unix_ms: u64,
    /// The app's own frames, innermost first (details level 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backtrace: Option<Vec<String>>,
}
