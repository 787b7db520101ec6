//! Runtime of the `telemetry` crate: the registry of call sites, their per-thread
//! counters and lock-free histograms, the clock, snapshots, their anonymized
//! form and their exports (JSON, Prometheus text, answers to debug requests),
//! consent, the panic hook, (with the `reporter` feature) the
//! usage-statistics reporter, and (with `otlp`) OpenTelemetry export.
//!
//! Applications depend on `telemetry` and never name this crate; the code that
//! `#[counted]` and `#[timed]` emit reaches it through `telemetry::__private`.
#![warn(missing_docs)]

pub mod counter;
pub mod histogram;
#[cfg(not(loom))]
pub mod sample;
pub mod slots;
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
mod lock;

#[cfg(not(loom))]
pub mod anonymize;
#[cfg(not(loom))]
pub mod clock;
#[cfg(not(loom))]
pub mod consent;
#[cfg(not(loom))]
pub mod export;
#[cfg(not(loom))]
pub mod facts;
#[cfg(not(loom))]
pub mod guard;
#[cfg(not(loom))]
pub mod http;
#[cfg(not(loom))]
pub mod instance;
#[cfg(not(loom))]
mod json;
#[cfg(not(loom))]
pub mod outcome;
#[cfg(not(loom))]
pub mod panic;
#[cfg(not(loom))]
pub mod registry;
#[cfg(all(feature = "reporter", not(loom)))]
pub mod reporter;
#[cfg(not(loom))]
pub mod snapshot;
#[cfg(not(loom))]
mod source_path;
#[cfg(not(loom))]
pub mod system;

#[cfg(not(loom))]
pub use {
    anonymize::{
        anonymizer, keep_leading_digits, name_table, set_anonymizer, Anonymizer, InvalidDigits,
        InvalidNameKey, NameKey,
    },
    consent::{
        consent, set_consent, Consent, ConsentDecision, ConsentError, ConsentLocked,
        ConsentResolver, ConsentSource, InvalidConsent,
    },
    facts::{app_facts, remove_fact, set_fact, Fact, FactValue},
    instance::{use_installation_id, InstallationIdError},
    system::{set_data_dir, DiskKind},
};

#[cfg(not(loom))]
pub use {
    export::LATENCY_BUCKETS_NS,
    instance::{app_info, instance_id, set_app_info, AppInfo},
    outcome::CallOutcome,
    panic::{install_panic_hook, PanicCategory, PanicHook},
    registry::Kind,
    snapshot::{
        snapshot, CriticalError, DetailsLevel, FunctionStats, InvalidDetailsLevel, Latency,
        Snapshot, SCHEMA_VERSION,
    },
    system::SystemInfo,
};

#[cfg(all(feature = "reporter", not(loom)))]
pub use reporter::{
    report_payload, DryRun, ReportFormat, Reporter, ReporterBuilder, ReporterError, ReporterStatus,
    ShutdownOutcome, UpdateInfo,
};

/// For the macros: call sites register into a `linkme` distributed slice.
#[doc(hidden)]
pub use linkme;
