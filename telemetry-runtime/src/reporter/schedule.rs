//! When the reporter sends: the consent gate at each wake-up; the jitter of the
//! first report and the backoff after failures are [`crate::backoff`]'s. Pure
//! functions of their inputs, so the rules are tested without waiting.

use std::time::Duration;

pub(super) use crate::backoff::{jitter, random, Backoff};
use crate::consent::Consent;

/// What a wake-up does, given the consent read at that moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Gate {
    /// Send a report now.
    Send,
    /// Send nothing; look again after the interval.
    Skip,
    /// Undecided, and the delay has not passed: look again after this long.
    WaitUndecided(Duration),
}

/// `Enabled` sends; `Disabled` never does; `Undecided` sends once
/// `undecided_delay` has passed since the reporter started.
pub(super) fn gate(consent: Consent, since_start: Duration, undecided_delay: Duration) -> Gate {
    match consent {
        Consent::Enabled => Gate::Send,
        Consent::Disabled => Gate::Skip,
        Consent::Undecided => match undecided_delay.checked_sub(since_start) {
            Some(left) if !left.is_zero() => Gate::WaitUndecided(left),
            _ => Gate::Send,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn consent_gates_each_wake_up() {
        let hour = 3600 * SECOND;
        assert_eq!(gate(Consent::Enabled, Duration::ZERO, hour), Gate::Send);
        assert_eq!(gate(Consent::Disabled, 10 * hour, hour), Gate::Skip);
        assert_eq!(
            gate(Consent::Undecided, 600 * SECOND, hour),
            Gate::WaitUndecided(3000 * SECOND)
        );
        assert_eq!(gate(Consent::Undecided, hour, hour), Gate::Send);
        assert_eq!(gate(Consent::Undecided, 2 * hour, hour), Gate::Send);
        assert_eq!(
            gate(Consent::Undecided, Duration::ZERO, Duration::ZERO),
            Gate::Send
        );
    }
}
