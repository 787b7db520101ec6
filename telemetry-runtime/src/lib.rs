//! Runtime of the `telemetry` crate: the registry of call sites, their per-thread
//! counters and lock-free histograms, the clock, snapshots, their anonymized
//! form and their exports (JSON, Prometheus text, answers to debug requests),
//! consent, the panic hook, (with the `reporter` feature) the
//! usage-statistics reporter, and (with `otlp`) OpenTelemetry export.
//!
//! Applications depend on `telemetry` and never name this crate. This crate's
//! root is the public API, and the facade re-exports it whole: what is `pub`
//! here is what users type, and nothing else is. The root holds what every user
//! types; consent, anonymization, facts, instance settings, exports, HTTP
//! answers and the reporter are modules of their own. The code that
//! `#[counted]` and `#[timed]` emit reaches the rest through one hidden,
//! versioned path (`__private_0_1_0`).
#![warn(missing_docs)]

mod counter;
mod histogram;
#[cfg(not(loom))]
mod sample;
mod slots;
mod sync;

#[cfg(all(any(feature = "reporter", feature = "otlp"), not(loom)))]
mod backoff;
#[cfg(all(any(feature = "reporter", feature = "otlp"), not(loom)))]
mod http_client;
#[cfg(all(feature = "otlp", not(loom)))]
pub mod otlp;

#[cfg(not(loom))]
mod atomic_file;
#[cfg(not(loom))]
mod clock;
#[cfg(not(loom))]
mod guard;
#[cfg(not(loom))]
mod json;
#[cfg(not(loom))]
mod lock;
#[cfg(not(loom))]
mod outcome;
#[cfg(not(loom))]
mod panic;
#[cfg(not(loom))]
mod registry;
#[cfg(not(loom))]
mod settings;
#[cfg(not(loom))]
mod snapshot;
#[cfg(not(loom))]
mod source_path;
#[cfg(not(loom))]
mod system;
#[cfg(not(loom))]
mod text;

#[cfg(not(loom))]
pub mod anonymize;
#[cfg(not(loom))]
pub mod consent;
#[cfg(not(loom))]
pub mod export;
#[cfg(not(loom))]
pub mod facts;
#[cfg(not(loom))]
pub mod http;
#[cfg(not(loom))]
pub mod instance;
#[cfg(all(feature = "reporter", not(loom)))]
pub mod reporter;

#[cfg(not(loom))]
pub use {
    instance::app::{app_info, set_app_info, AppInfo},
    instance::id::instance_id,
    outcome::CallOutcome,
    panic::{install_panic_hook, PanicCategory, PanicHook},
    registry::Kind,
    settings::AlreadySet,
    snapshot::{
        snapshot, CriticalError, DetailsLevel, FunctionStats, InvalidDetailsLevel, Latency,
        Snapshot, SCHEMA_VERSION,
    },
    system::{DiskKind, SystemInfo},
};

/// What the code emitted by `#[counted]` and `#[timed]`, the benches and the
/// loom models reach. Not an API: it changes without notice.
///
/// Its name carries this crate's version, and the macros emit the name of
/// their own version: the facade pins both crates to one version, and a
/// mismatched pair fails to compile instead of misbehaving (serde's way).
#[doc(hidden)]
pub mod __private_0_1_0 {
    /// The per-thread call counters.
    pub mod counter {
        pub use crate::counter::*;
    }
    /// The per-thread latency histograms.
    pub mod histogram {
        pub use crate::histogram::*;
    }
    /// The thread slots that give each live thread cells of its own.
    pub mod slots {
        pub use crate::slots::*;
    }
    /// Sampled timing: which calls of a `#[timed(sample = N)]` fn read the clock.
    #[cfg(not(loom))]
    pub mod sample {
        pub use crate::sample::*;
    }
    /// The call sites.
    #[cfg(not(loom))]
    pub mod registry {
        pub use crate::registry::*;
    }
    /// The clock of `#[timed]`.
    #[cfg(not(loom))]
    pub mod clock {
        pub use crate::clock::*;
    }
    /// What a call does at entry and exit.
    #[cfg(not(loom))]
    pub mod guard {
        pub use crate::guard::*;
    }
    /// How a returned value counts, `ok` or `err`.
    #[cfg(not(loom))]
    pub mod outcome {
        pub use crate::outcome::*;
    }

    #[cfg(not(loom))]
    pub use {
        crate::counter::CallCounters,
        crate::guard::{
            AsyncGuard, DebugGuard, DebugTimedGuard, Recorder, SyncGuard, TimedStatics,
        },
        crate::histogram::Histogram,
        crate::outcome::{outcome_of_result, ErrorAware, Infallible, Outcome, Probe},
        crate::registry::{CallSite, SiteName, CALL_SITES},
        linkme,
    };

    /// Calls `body`, telling the compiler its return type `R` up front, so `?`
    /// and `.into()` in the body infer as they do in the fn itself.
    #[inline(always)]
    pub fn call<R, F: FnOnce() -> R>(body: F) -> R {
        body()
    }

    /// Passes an async block through, telling the compiler its output type `R`.
    #[inline(always)]
    pub fn with_output<R, F: core::future::Future<Output = R>>(body: F) -> F {
        body
    }

    #[cfg(test)]
    mod tests {
        /// The module's name must follow the crate's version, which the macros
        /// read from their own: a release that forgets to rename it fails here.
        #[test]
        fn the_name_carries_the_crate_version() {
            let version: String = env!("CARGO_PKG_VERSION")
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            let expected = format!("pub mod __private_{version} {{");
            assert!(
                include_str!("lib.rs").contains(&expected),
                "the hidden module must be named `__private_{version}`"
            );
        }
    }
}
