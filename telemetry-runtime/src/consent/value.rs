//! The consent value and the spellings it is read from, shared by every source
//! so that a value means the same on the command line, in the environment and
//! in a configuration file, and nothing unlisted ever reads as "on".

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Whether anonymized reports may be sent.
///
/// ```
/// use telemetry::consent::Consent;
///
/// assert_eq!(" Yes ".parse::<Consent>(), Ok(Consent::Enabled));
/// assert_eq!("opt-out".parse::<Consent>(), Ok(Consent::Disabled));
/// assert_eq!("".parse::<Consent>(), Ok(Consent::Undecided));
/// let error = "maybe".parse::<Consent>().unwrap_err();
/// assert!(error.to_string().contains("opt-in"));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Consent {
    /// Reports may be sent.
    Enabled,
    /// Nothing is ever sent.
    Disabled,
    /// No one decided: the reporter waits before its first report.
    #[default]
    Undecided,
}

/// Values that enable, compared case-insensitively after trimming blanks.
pub const ON_VALUES: [&str; 11] = [
    "1", "t", "true", "y", "yes", "on", "enable", "enabled", "optin", "opt-in", "allow",
];

/// Values that disable.
pub const OFF_VALUES: [&str; 12] = [
    "0", "f", "false", "n", "no", "off", "disable", "disabled", "optout", "opt-out", "disallow",
    "forbid",
];

/// Values that leave the decision open, besides the empty value.
pub const UNDECIDED_VALUES: [&str; 1] = ["undecided"];

impl FromStr for Consent {
    type Err = InvalidConsent;

    fn from_str(text: &str) -> Result<Consent, InvalidConsent> {
        let value = text.trim().to_ascii_lowercase();
        let is = |list: &[&str]| list.contains(&value.as_str());
        if value.is_empty() || is(&UNDECIDED_VALUES) {
            Ok(Consent::Undecided)
        } else if is(&ON_VALUES) {
            Ok(Consent::Enabled)
        } else if is(&OFF_VALUES) {
            Ok(Consent::Disabled)
        } else {
            Err(InvalidConsent::new(text))
        }
    }
}

impl fmt::Display for Consent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Consent::Enabled => "enabled",
            Consent::Disabled => "disabled",
            Consent::Undecided => "undecided",
        })
    }
}

/// A value that is not a [`Consent`]; its message lists the accepted values.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{value:?} is not a telemetry setting; accepted (any case): to enable: {}; \
     to disable: {}; to leave undecided: an empty value or {}",
    ON_VALUES.join(", "),
    OFF_VALUES.join(", "),
    UNDECIDED_VALUES.join(", ")
)]
pub struct InvalidConsent {
    value: String,
}

impl InvalidConsent {
    pub(super) fn new(value: impl Into<String>) -> InvalidConsent {
        InvalidConsent {
            value: value.into(),
        }
    }

    /// The rejected value, as given.
    pub fn value(&self) -> &str {
        &self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_value_is_quoted_and_every_accepted_value_listed() {
        let error = " Maybe ".parse::<Consent>().unwrap_err();
        assert_eq!(error.value(), " Maybe ");
        assert_eq!(
            error.to_string(),
            "\" Maybe \" is not a telemetry setting; accepted (any case): to enable: 1, t, \
             true, y, yes, on, enable, enabled, optin, opt-in, allow; to disable: 0, f, false, \
             n, no, off, disable, disabled, optout, opt-out, disallow, forbid; to leave \
             undecided: an empty value or undecided"
        );
    }
}
