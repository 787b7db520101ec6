//! Runtime of the `telemetry` crate: the registry of call sites, their per-thread
//! counters and lock-free histograms, the clock, snapshots, and their exports
//! (JSON and Prometheus text, and answers to debug requests).
//!
//! Applications depend on `telemetry` and never name this crate; the code that
//! `#[counted]` and `#[timed]` emit reaches it through `telemetry::__private`.
#![warn(missing_docs)]

pub mod counter;
pub mod histogram;
mod sync;

#[cfg(not(loom))]
pub mod clock;
#[cfg(not(loom))]
pub mod export;
#[cfg(not(loom))]
pub mod guard;
#[cfg(not(loom))]
pub mod http;
#[cfg(not(loom))]
pub mod instance;
#[cfg(not(loom))]
pub mod outcome;
#[cfg(not(loom))]
pub mod registry;
#[cfg(not(loom))]
pub mod snapshot;
#[cfg(not(loom))]
pub mod system;

#[cfg(not(loom))]
pub use {
    export::LATENCY_BUCKETS_NS,
    instance::{app_info, instance_id, set_app_info, AppInfo},
    outcome::CallOutcome,
    registry::Kind,
    snapshot::{
        snapshot, CriticalError, DetailsLevel, FunctionStats, InvalidDetailsLevel, Latency,
        Snapshot, SCHEMA_VERSION,
    },
    system::SystemInfo,
};

/// For the macros: call sites register into a `linkme` distributed slice.
#[doc(hidden)]
pub use linkme;
