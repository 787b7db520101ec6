//! The reporter's thread: sleeps until the next report or a stop, reads
//! consent, sends, and keeps the status the app reads.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use crate::consent::{self, Consent};
use crate::instance::{instance_id, unix_ms};
use crate::lock::{lock, wait_timeout};
use crate::snapshot::DetailsLevel;

use super::schedule::{self, Backoff, Gate};
use super::transport::Transport;
use super::{ReportFormat, ReporterError, ReporterStatus, ShutdownOutcome, UpdateCallback};

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

/// The builder's timing and content settings.
#[derive(Clone, Debug)]
pub(super) struct Settings {
    pub interval: Duration,
    pub first_report_jitter: Duration,
    pub undecided_delay: Duration,
    pub details_level: DetailsLevel,
    pub format: ReportFormat,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    pub backoff: Backoff,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            interval: HOUR,
            first_report_jitter: MINUTE,
            undecided_delay: HOUR,
            details_level: DetailsLevel::Summaries,
            format: ReportFormat::Json,
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(15),
            backoff: Backoff {
                initial: MINUTE,
                max: HOUR,
            },
        }
    }
}

impl Settings {
    pub fn check(&self) -> Result<(), ReporterError> {
        let positive = "a duration longer than zero (milliseconds are fine)";
        let invalid = |setting, value, accepted| {
            Err(ReporterError::InvalidSetting {
                setting,
                value,
                accepted,
            })
        };
        for (setting, value) in [
            ("interval", self.interval),
            ("connect_timeout", self.connect_timeout),
            ("timeout", self.timeout),
            ("backoff", self.backoff.initial),
        ] {
            if value.is_zero() {
                return invalid(setting, value, positive);
            }
        }
        if self.backoff.max < self.backoff.initial {
            return invalid(
                "backoff",
                self.backoff.max,
                "a maximum at least as long as the initial wait",
            );
        }
        Ok(())
    }
}

/// A stop request: finish by `deadline`, with a final report or not.
#[derive(Clone, Copy)]
struct Stop {
    deadline: Instant,
    final_report: bool,
}

#[derive(Default)]
struct Inner {
    stop: Option<Stop>,
    finished: bool,
    final_report_sent: bool,
    status: ReporterStatus,
}

/// What the reporter's handle and its thread share.
pub(super) struct Shared {
    inner: Mutex<Inner>,
    /// Signals a stop request to the thread, and its end to the handle.
    changed: Condvar,
}

impl Shared {
    pub fn new() -> Shared {
        let inner = Inner {
            status: ReporterStatus {
                running: true,
                ..ReporterStatus::default()
            },
            ..Inner::default()
        };
        Shared {
            inner: Mutex::new(inner),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The lock is never held across a report or the app's callback, and
        // the data stays consistent if a holder panicked.
        lock(&self.inner)
    }

    pub fn status(&self) -> ReporterStatus {
        self.lock().status.clone()
    }

    /// Asks the thread to stop; a second request can only make it sooner.
    pub fn stop(&self, deadline: Instant, final_report: bool) {
        let mut inner = self.lock();
        match &mut inner.stop {
            Some(stop) => stop.deadline = stop.deadline.min(deadline),
            None => {
                inner.stop = Some(Stop {
                    deadline,
                    final_report,
                })
            }
        }
        self.changed.notify_all();
    }

    /// Waits until the thread has finished or `deadline` has passed.
    pub fn wait_finished(&self, deadline: Instant) -> ShutdownOutcome {
        let mut inner = self.lock();
        loop {
            let now = Instant::now();
            if inner.finished || now >= deadline {
                return ShutdownOutcome {
                    stopped: inner.finished,
                    final_report_sent: inner.final_report_sent,
                };
            }
            inner = wait_timeout(&self.changed, inner, deadline - now);
        }
    }

    /// Sleeps until `until`; `Some` if a stop was requested first.
    fn sleep_until(&self, until: Instant) -> Option<Stop> {
        let mut inner = self.lock();
        loop {
            if let Some(stop) = inner.stop {
                return Some(stop);
            }
            let now = Instant::now();
            if now >= until {
                return None;
            }
            inner = wait_timeout(&self.changed, inner, until - now);
        }
    }
}

/// An instant so far ahead it is never reached, for durations too long to add.
pub(super) fn far_future() -> Instant {
    let now = Instant::now();
    (1..=30)
        .rev()
        .find_map(|years| now.checked_add(Duration::from_secs(years * 365 * 24 * 3600)))
        .unwrap_or(now)
}

fn after(delay: Duration) -> Instant {
    Instant::now().checked_add(delay).unwrap_or_else(far_future)
}

pub(super) struct Worker {
    shared: Arc<Shared>,
    transport: Transport,
    settings: Settings,
    on_update: Option<UpdateCallback>,
}

impl Worker {
    pub fn new(
        shared: Arc<Shared>,
        transport: Transport,
        settings: Settings,
        on_update: Option<UpdateCallback>,
    ) -> Worker {
        Worker {
            shared,
            transport,
            settings,
            on_update,
        }
    }

    pub fn run(self) {
        let started = Instant::now();
        let decision = consent::current();
        let dry_run = match self.transport {
            Transport::DryRun { .. } => " (dry run: nothing is sent)",
            Transport::Http { .. } => "",
        };
        log::info!(
            "telemetry: usage statistics reporter started for {}{dry_run}; \
             instance id {} (to have what was sent deleted, give this id to the \
             collector's owner); {decision}",
            self.transport.collector().authority(),
            instance_id(),
        );
        let mut said_undecided = false;
        if decision.consent == Consent::Undecided {
            self.say_undecided();
            said_undecided = true;
        }
        self.shared.lock().status.consent = Some(decision);

        let first_jitter = schedule::jitter(self.settings.first_report_jitter, schedule::random());
        let mut next = started.checked_add(first_jitter).unwrap_or_else(far_future);
        let stop = loop {
            if let Some(stop) = self.shared.sleep_until(next) {
                break stop;
            }
            // Read at every wake-up: a change at run time counts from the next report.
            let decision = consent::current();
            let gate = schedule::gate(
                decision.consent,
                started.elapsed(),
                self.settings.undecided_delay,
            );
            self.shared.lock().status.consent = Some(decision);
            next = match gate {
                Gate::Send => self.report(self.settings.timeout),
                Gate::Skip => {
                    self.shared.lock().status.skipped += 1;
                    after(self.settings.interval)
                }
                Gate::WaitUndecided(left) => {
                    if !said_undecided {
                        self.say_undecided();
                        said_undecided = true;
                    }
                    self.shared.lock().status.skipped += 1;
                    after(left.saturating_add(first_jitter))
                }
            };
        };
        self.finish(stop);
    }

    /// Sends one report within `timeout`; returns when the next one is due.
    fn report(&self, timeout: Duration) -> Instant {
        let format = self.settings.format;
        let body = format.payload(self.settings.details_level);
        let result = self.transport.send(&body, format.content_type(), timeout);
        let mut inner = self.shared.lock();
        let status = &mut inner.status;
        match result {
            Ok(update) => {
                status.reports_sent += 1;
                status.consecutive_failures = 0;
                status.last_error = None;
                status.last_report_unix_ms = Some(unix_ms(SystemTime::now()));
                let news = update.filter(|update| status.update.as_ref() != Some(update));
                if let Some(update) = &news {
                    status.update = Some(update.clone());
                }
                drop(inner);
                if let (Some(update), Some(callback)) = (news, &self.on_update) {
                    // The app's code must not end the reporter.
                    if catch_unwind(AssertUnwindSafe(|| callback(&update))).is_err() {
                        log::warn!("telemetry: the reporter's update callback panicked");
                    }
                }
                after(self.settings.interval)
            }
            Err(error) => {
                status.failures += 1;
                status.consecutive_failures = status.consecutive_failures.saturating_add(1);
                let failures = status.consecutive_failures;
                let wait = self.settings.backoff.delay(failures, schedule::random());
                // Debug only: an unreachable collector is its owner's concern,
                // not something to fill the app's logs with.
                log::debug!(
                    "telemetry: report failed ({failures} in a row), next try in {wait:.1?}: {error}"
                );
                status.last_error = Some(error);
                after(wait)
            }
        }
    }

    fn say_undecided(&self) {
        log::info!(
            "telemetry: no one has decided whether this app may send anonymized usage \
             statistics; unless telemetry is disabled (for example with DO_NOT_TRACK=1), \
             the first report goes to {} {} after start",
            self.transport.collector().authority(),
            describe(self.settings.undecided_delay),
        );
    }

    fn finish(self, stop: Stop) {
        let mut final_report_sent = false;
        if stop.final_report && consent::current().consent == Consent::Enabled {
            // Leave a tenth of the time for the thread to end and be noticed.
            let left = stop.deadline.saturating_duration_since(Instant::now());
            let budget = (left - left / 10).min(self.settings.timeout);
            if !budget.is_zero() {
                let before = self.shared.lock().status.reports_sent;
                self.report(budget);
                final_report_sent = self.shared.lock().status.reports_sent > before;
            }
        }
        let mut inner = self.shared.lock();
        inner.finished = true;
        inner.final_report_sent = final_report_sent;
        inner.status.running = false;
        self.shared.changed.notify_all();
    }
}

/// `1 hour`, `90 minutes`, `2 seconds`, `250 ms`: for people reading the log.
fn describe(delay: Duration) -> String {
    let secs = delay.as_secs();
    let plural = |n: u64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if secs >= 3600 && secs % 3600 == 0 {
        plural(secs / 3600, "hour")
    } else if secs >= 60 && secs % 60 == 0 {
        plural(secs / 60, "minute")
    } else if secs >= 1 && delay.subsec_nanos() == 0 {
        plural(secs, "second")
    } else {
        format!("{} ms", delay.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_read_naturally() {
        assert_eq!(describe(HOUR), "1 hour");
        assert_eq!(describe(2 * HOUR), "2 hours");
        assert_eq!(describe(90 * MINUTE), "90 minutes");
        assert_eq!(describe(Duration::from_secs(1)), "1 second");
        assert_eq!(describe(Duration::from_millis(1500)), "1500 ms");
        assert_eq!(describe(Duration::ZERO), "0 ms");
    }

    #[test]
    fn settings_out_of_range_are_refused_with_what_is_accepted() {
        assert!(Settings::default().check().is_ok());
        let zero_interval = Settings {
            interval: Duration::ZERO,
            ..Settings::default()
        };
        let message = zero_interval.check().unwrap_err().to_string();
        assert!(
            message.contains("interval(0ns)") && message.contains("longer than zero"),
            "{message}"
        );
        let inverted = Settings {
            backoff: Backoff {
                initial: HOUR,
                max: MINUTE,
            },
            ..Settings::default()
        };
        let message = inverted.check().unwrap_err().to_string();
        assert!(message.contains("at least as long"), "{message}");
    }

    #[test]
    fn a_stop_wakes_a_sleeping_thread() {
        let shared = Arc::new(Shared::new());
        let sleeper = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || shared.sleep_until(far_future()).map(|stop| stop.deadline))
        };
        let soon = Instant::now();
        shared.stop(soon, false);
        assert_eq!(sleeper.join().unwrap(), Some(soon));
        let outcome = shared.wait_finished(Instant::now());
        assert!(!outcome.stopped);
    }

    #[test]
    fn a_second_stop_only_moves_the_deadline_sooner() {
        // No sleeper here: which stop a sleeper wakes on is a race, the merged
        // request is not.
        let shared = Shared::new();
        let soon = Instant::now();
        shared.stop(soon + HOUR, true);
        shared.stop(soon, false);
        shared.stop(soon + 2 * HOUR, false);
        let stop = shared.lock().stop.unwrap();
        assert_eq!(stop.deadline, soon);
        assert!(
            stop.final_report,
            "a final report once asked for stays asked for"
        );
    }
}
