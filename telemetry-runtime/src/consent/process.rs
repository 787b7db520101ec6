//! The process's consent decision: one per process, read by the reporter before
//! every report and set by the app. It starts from the locking sources, so a
//! process started under `DO_NOT_TRACK` never sends, whatever the app sets.

use std::sync::{Mutex, MutexGuard};

use super::{ConsentDecision, ConsentResolver, ConsentSource};
use crate::lock::lock;

/// The app tried to change a locked decision.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "cannot set telemetry {} by {}: {current}, which no other source can override; \
     to change it, {}",
    .refused.consent,
    .refused.source,
    how_to_unlock(&.current.source)
)]
pub struct ConsentLocked {
    /// The decision in force.
    pub current: ConsentDecision,
    /// The decision refused.
    pub refused: ConsentDecision,
}

impl ConsentLocked {
    /// The decision refused.
    pub fn into_inner(self) -> ConsentDecision {
        self.refused
    }
}

fn how_to_unlock(source: &ConsentSource) -> &'static str {
    match source {
        ConsentSource::ExecutableName => "rename the executable",
        _ => "unset DO_NOT_TRACK",
    }
}

/// `None` until first read; then the process's decision.
static CURRENT: Mutex<Option<ConsentDecision>> = Mutex::new(None);

fn slot() -> MutexGuard<'static, Option<ConsentDecision>> {
    lock(&CURRENT)
}

/// The process's consent decision: what [`set`] set, else what the
/// locking sources (the executable's name, `DO_NOT_TRACK`) say, else undecided.
pub fn current() -> ConsentDecision {
    slot().get_or_insert_with(locked_by_process).clone()
}

/// Sets the process's consent, typically to what a [`ConsentResolver`] decided,
/// or later when the user changes the setting.
///
/// A decision locked by the executable's name or `DO_NOT_TRACK` (whether found by
/// a resolver or read from the process on first use) cannot be changed by a
/// weaker source: that is an error, and the decision stays.
///
/// ```
/// use telemetry::consent::{self, Consent, ConsentResolver};
///
/// let decision = ConsentResolver::new("my-service")
///     .config(Consent::Enabled)
///     .resolve_lenient();
/// match consent::set(decision) {
///     Ok(()) => println!("{}", consent::current()),
///     Err(locked) => println!("{locked}"),
/// }
/// ```
pub fn set(decision: ConsentDecision) -> Result<(), ConsentLocked> {
    let mut current = slot();
    let current = current.get_or_insert_with(locked_by_process);
    replace(current, decision)
}

fn replace(current: &mut ConsentDecision, new: ConsentDecision) -> Result<(), ConsentLocked> {
    if current.is_locked() && !new.is_locked() {
        if new.consent == current.consent {
            // Same effect; the stronger source stays on record.
            return Ok(());
        }
        return Err(ConsentLocked {
            current: current.clone(),
            refused: new,
        });
    }
    *current = new;
    Ok(())
}

fn locked_by_process() -> ConsentDecision {
    let resolver = ConsentResolver::new("");
    resolver
        .executable_name()
        .or_else(|| resolver.do_not_track())
        .map_or_else(ConsentDecision::undecided, |(consent, source)| {
            ConsentDecision::new(consent, source)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::Consent;

    fn config() -> ConsentDecision {
        ConsentDecision::new(Consent::Enabled, ConsentSource::Config)
    }

    #[test]
    fn a_locked_decision_refuses_a_weaker_change() {
        let mut current = ConsentDecision::new(Consent::Disabled, ConsentSource::DoNotTrack);
        let error = replace(&mut current, config()).unwrap_err();
        assert_eq!(current.source, ConsentSource::DoNotTrack);
        let message = error.to_string();
        assert!(
            message.contains("DO_NOT_TRACK") && message.contains("unset DO_NOT_TRACK"),
            "{message}"
        );
        assert_eq!(
            message,
            "cannot set telemetry enabled by the configuration: telemetry disabled by \
             DO_NOT_TRACK (locked), which no other source can override; to change it, \
             unset DO_NOT_TRACK"
        );

        let off = ConsentDecision::new(Consent::Disabled, ConsentSource::Config);
        replace(&mut current, off).unwrap();
        assert_eq!(current.source, ConsentSource::DoNotTrack);
    }

    #[test]
    fn an_unlocked_decision_follows_the_app() {
        let mut current = ConsentDecision::undecided();
        replace(&mut current, config()).unwrap();
        assert_eq!(current, config());
        let by_name = ConsentDecision::new(Consent::Disabled, ConsentSource::ExecutableName);
        replace(&mut current, by_name.clone()).unwrap();
        let error = replace(&mut current, config()).unwrap_err();
        assert!(error.to_string().contains("rename the executable"));
        assert_eq!(current, by_name);
    }

    #[test]
    fn the_process_decision_starts_from_its_locking_sources() {
        // Whatever this machine's DO_NOT_TRACK says, `current()` agrees with a
        // resolver reading the same process.
        let expected = locked_by_process();
        assert_eq!(current().source, expected.source);
        assert!(matches!(
            current().source,
            ConsentSource::Default | ConsentSource::DoNotTrack | ConsentSource::ExecutableName
        ));
    }
}
