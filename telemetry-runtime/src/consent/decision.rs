//! A consent decision and the source that made it: what the app logs and shows
//! on its debug endpoint, and what decides whether a later change may replace
//! it (the sources that lock).

use std::fmt;

use serde::{Serialize, Serializer};

use super::Consent;

/// Where a consent decision came from, strongest first.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ConsentSource {
    /// The executable's file name contains `donottrack`. Locks.
    ExecutableName,
    /// The `DO_NOT_TRACK` environment variable. Locks.
    DoNotTrack,
    /// `--telemetry=VALUE` or `--disable-telemetry` on the command line.
    CommandLine,
    /// The app's environment variable, by name (`MYAPP_TELEMETRY`,
    /// `MYAPP_TELEMETRY_DISABLED`).
    AppEnv(String),
    /// The app's configuration (or the app itself, at run time).
    Config,
    /// Nothing decided.
    Default,
}

impl ConsentSource {
    /// Whether a decision from this source locks out every weaker one.
    pub fn locks(&self) -> bool {
        matches!(
            self,
            ConsentSource::ExecutableName | ConsentSource::DoNotTrack
        )
    }
}

impl fmt::Display for ConsentSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConsentSource::ExecutableName => f.write_str("the executable's name"),
            ConsentSource::DoNotTrack => f.write_str("DO_NOT_TRACK"),
            ConsentSource::CommandLine => f.write_str("the command line"),
            ConsentSource::AppEnv(var) => f.write_str(var),
            ConsentSource::Config => f.write_str("the configuration"),
            ConsentSource::Default => f.write_str("the default"),
        }
    }
}

impl Serialize for ConsentSource {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A consent and the source that decided it: what the app logs and shows on its
/// debug endpoint.
///
/// ```
/// use telemetry::consent::{Consent, ConsentDecision, ConsentSource};
///
/// let decision = ConsentDecision::new(Consent::Disabled, ConsentSource::DoNotTrack);
/// assert!(decision.is_locked());
/// assert_eq!(decision.to_string(), "telemetry disabled by DO_NOT_TRACK (locked)");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConsentDecision {
    /// The decision.
    pub consent: Consent,
    /// Who made it.
    pub source: ConsentSource,
}

impl ConsentDecision {
    /// `consent`, decided by `source`.
    pub fn new(consent: Consent, source: ConsentSource) -> ConsentDecision {
        ConsentDecision { consent, source }
    }

    /// Undecided, by default.
    pub fn undecided() -> ConsentDecision {
        ConsentDecision::new(Consent::Undecided, ConsentSource::Default)
    }

    /// Whether no weaker source may change it.
    pub fn is_locked(&self) -> bool {
        self.source.locks()
    }

    /// Whether reports may be sent.
    pub fn allows_sending(&self) -> bool {
        self.consent == Consent::Enabled
    }
}

impl fmt::Display for ConsentDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "telemetry {} by {}", self.consent, self.source)?;
        if self.is_locked() {
            f.write_str(" (locked)")?;
        }
        Ok(())
    }
}
