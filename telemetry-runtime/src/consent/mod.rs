//! Consent: whether anonymized reports may leave the machine, and which source
//! decided it.
//!
//! Collecting and [`snapshot`](crate::snapshot()) always work locally; consent
//! governs only what is sent. The sources, strongest first:
//!
//! 1. the executable's file name contains `donottrack` (locks);
//! 2. `DO_NOT_TRACK` set to anything but empty or an off value (locks);
//! 3. the command line: `--telemetry=VALUE` (or `--telemetry VALUE`),
//!    `--disable-telemetry`;
//! 4. the app's variables `<APP>_TELEMETRY=VALUE` and `<APP>_TELEMETRY_DISABLED=BOOL`;
//! 5. the app's configuration;
//! 6. otherwise [`Consent::Undecided`].
//!
//! A source that says "undecided" (or is absent) leaves the decision to the
//! weaker ones. Within one source, "off" beats "on". A locked decision cannot be
//! overridden by a weaker source, and no value is ever read as "on" unless it is
//! one of the on values.
//!
//! One concept per file: the value and its spellings (`value`), a decision and
//! its source (`decision`), reading the sources in order (`resolver`), and the
//! process's decision that the reporter obeys (`process`).

mod decision;
mod process;
mod resolver;
mod value;

pub use decision::{ConsentDecision, ConsentSource};
pub use process::{current, set, ConsentLocked};
pub use resolver::{ConsentError, ConsentResolver};
pub use value::{Consent, InvalidConsent, OFF_VALUES, ON_VALUES, UNDECIDED_VALUES};
