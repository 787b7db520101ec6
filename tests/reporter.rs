//! The usage-statistics reporter against a collector on 127.0.0.1: what it
//! sends, under which consent, when, and how it behaves when the collector is
//! down, slow, failing or hostile. Run with `cargo test --features reporter
//! --test reporter`.
//!
//! Each test runs in a process of its own (consent is per process); intervals
//! and delays are milliseconds, and every wait is bounded.

mod support;

use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::bounded::{ms, peak_rss_bytes, wait_for, PROMPT, WAIT};
use support::collector::{self, Behaviour, Collector};
use support::isolated::{isolated, logs};
use support::leaks;
use telemetry::consent::{Consent, ConsentDecision, ConsentSource};
use telemetry::reporter::{DryRun, Reporter, ReporterBuilder, UpdateInfo};
use telemetry::{DetailsLevel, Snapshot};

/// What a collector that knows of a newer version answers.
const UPDATE: &str = r#"{"latest_version": "9.9.9", "update_available": true}"#;

#[telemetry::timed]
fn checkout_for_customer(customer: &str) -> Result<usize, String> {
    if customer.is_empty() {
        Err("no customer".into())
    } else {
        Ok(customer.len())
    }
}

#[telemetry::counted(name = "shop.secret_inventory_lookup")]
fn secret_inventory_lookup() {}

const CHECKOUT: &str = concat!(module_path!(), "::checkout_for_customer");

/// Sets the process's consent as an app's configuration would.
fn set(consent: Consent) {
    telemetry::consent::set(ConsentDecision::new(consent, ConsentSource::Config))
        .expect("an isolated test runs without DO_NOT_TRACK");
}

/// A reporter with test timings: no jitter, an hour between reports (so every
/// extra request a test sees has a reason), short timeouts and backoff.
fn reporter(url: &str) -> ReporterBuilder {
    Reporter::builder(url)
        .first_report_jitter(Duration::ZERO)
        .interval(Duration::from_secs(3600))
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(5))
        .backoff(ms(50), ms(200))
}

/// Makes 10,000 instrumented calls and takes snapshots on another thread, while
/// the reporter is stuck or failing, and checks they end within seconds (they
/// take milliseconds): none of them waits on the reporter.
fn app_is_not_slowed(reporter: &Reporter) {
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let start = Instant::now();
        for i in 0..10_000 {
            let _ = checkout_for_customer(if i % 10 == 0 { "" } else { "ada" });
        }
        let snapshot = telemetry::snapshot();
        let payload = telemetry::reporter::report_payload(DetailsLevel::Summaries);
        let _ = done.send((start.elapsed(), snapshot, payload));
    });
    let (elapsed, snapshot, payload) = finished
        .recv_timeout(4 * PROMPT)
        .expect("instrumented calls or snapshots blocked while the reporter was busy");
    assert!(elapsed < PROMPT, "10,000 calls took {elapsed:?}");
    assert!(snapshot.functions[CHECKOUT].calls >= 10_000);
    assert!(!payload.is_empty());
    let start = Instant::now();
    let _ = reporter.status();
    assert!(start.elapsed() < PROMPT, "status() waited on a report");
}

/// A report's bytes with its two clock readings (`taken_at_unix_ms`,
/// `uptime_ms`) blanked, so two reports of one quiet process compare equal.
fn without_clock(payload: &[u8]) -> String {
    let mut text = String::from_utf8(payload.to_vec()).expect("a report is UTF-8");
    for field in ["\"taken_at_unix_ms\":", "\"uptime_ms\":"] {
        let start = text.find(field).expect("the field is there") + field.len();
        let end = start
            + text[start..]
                .find(|c: char| !c.is_ascii_digit())
                .expect("a number ends");
        text.replace_range(start..end, "0");
    }
    text
}

/// Parses a report and checks it is an anonymized snapshot serialized as the
/// library serializes snapshots, with nothing added: re-serializing the parsed
/// snapshot gives back the same bytes.
fn parse_report(body: &[u8]) -> Snapshot {
    let report: Snapshot = serde_json::from_slice(body).expect("the body is a snapshot");
    assert!(report.anonymized);
    assert_eq!(
        report.to_json().as_bytes(),
        body,
        "the body holds more than the snapshot, or is serialized differently"
    );
    report
}

#[test]
fn enabled_posts_the_anonymized_snapshot_and_nothing_else() {
    isolated(
        "enabled_posts_the_anonymized_snapshot_and_nothing_else",
        &[],
        || {
            set(Consent::Enabled);
            for customer in ["ada", "", "grace", "", "alan"] {
                let _ = checkout_for_customer(customer);
            }
            secret_inventory_lookup();
            let local = telemetry::snapshot().details(DetailsLevel::Summaries);

            let collector = Collector::start(Behaviour::Answer(UPDATE));
            let notices = Arc::new(Mutex::new(Vec::<UpdateInfo>::new()));
            let reporter = {
                let notices = Arc::clone(&notices);
                reporter(&collector.url("/v1/report"))
                    .on_update(move |update| notices.lock().unwrap().push(update.clone()))
                    .start()
                    .unwrap()
            };
            let request = collector.wait_requests(1, WAIT).remove(0);

            assert_eq!(request.method, "POST");
            assert_eq!(request.target, "/v1/report");
            assert_eq!(request.header("content-type"), Some("application/json"));
            let agent = request.header("user-agent").unwrap();
            assert_eq!(agent, concat!("telemetry/", env!("CARGO_PKG_VERSION")));
            assert_eq!(
                request.header("host"),
                Some(collector.addr().to_string().as_str())
            );
            // Transport headers only: nothing about the machine or the app.
            for (name, _) in &request.headers {
                assert!(
                    [
                        "host",
                        "content-type",
                        "content-length",
                        "user-agent",
                        "accept"
                    ]
                    .contains(&name.as_str()),
                    "unexpected header {name}: {:?}",
                    request.headers
                );
            }

            let report = parse_report(&request.body);
            assert_eq!(report.details_level, DetailsLevel::Summaries);
            assert_eq!(report.instance_id, telemetry::instance_id());
            let text = String::from_utf8_lossy(&request.body);
            for raw in [
                "checkout_for_customer",
                "secret_inventory",
                module_path!(),
                "no customer",
            ] {
                assert!(!text.contains(raw), "{raw:?} was sent");
            }
            let hashed = &telemetry::anonymize::name_table()[CHECKOUT];
            let stats = &report.functions[hashed];
            assert_eq!((stats.calls, stats.ok, stats.err), (5, 3, 2));
            let latency = stats.latency_ns.as_ref().expect("level 2 has summaries");
            assert_eq!(latency.buckets, None, "buckets are level 3");
            let local = serde_json::to_value(&local).unwrap();
            let sent: Value = serde_json::from_slice(&request.body).unwrap();
            leaks::check_no_leak(&local, &sent, &[]).unwrap();

            // The answer's update notice reaches the app, once.
            wait_for("the answer to be read", || {
                reporter.status().reports_sent == 1
            });
            let expected = UpdateInfo {
                latest_version: "9.9.9".into(),
                update_available: true,
            };
            assert_eq!(reporter.update_info(), Some(expected.clone()));
            assert_eq!(*notices.lock().unwrap(), [expected]);

            let outcome = reporter.shutdown();
            assert!(outcome.stopped && !outcome.final_report_sent);
            assert_eq!(collector.requests().len(), 1);

            // The instance id is logged once, when the reporter starts, so a
            // user can ask for what was sent to be deleted.
            let id = telemetry::instance_id().to_string();
            let with_id: Vec<String> = logs().into_iter().filter(|l| l.contains(&id)).collect();
            assert_eq!(with_id.len(), 1, "{with_id:?}");
            assert!(with_id[0].contains("deleted"), "{}", with_id[0]);
            let loud: Vec<String> = logs()
                .into_iter()
                .filter(|line| line.starts_with("WARN") || line.starts_with("ERROR"))
                .collect();
            assert!(loud.is_empty(), "{loud:?}");
        },
    );
}

#[test]
fn reports_follow_the_interval_and_consent_changes_at_run_time() {
    isolated(
        "reports_follow_the_interval_and_consent_changes_at_run_time",
        &[],
        || {
            set(Consent::Enabled);
            let collector = Collector::start(Behaviour::Answer("{}"));
            let reporter = reporter(&collector.url("/"))
                .interval(ms(100))
                .start()
                .unwrap();
            collector.wait_requests(3, WAIT);

            set(Consent::Disabled);
            // Once the reporter has seen the change a few times, any report it
            // had under way has ended, and none may follow.
            wait_for("wake-ups under Disabled", || reporter.status().skipped >= 3);
            let sent = collector.requests().len();
            wait_for("more wake-ups under Disabled", || {
                reporter.status().skipped >= 10
            });
            assert_eq!(collector.requests().len(), sent, "sent while disabled");
            let status = reporter.status();
            assert_eq!(status.consent.unwrap().consent, Consent::Disabled);

            set(Consent::Enabled);
            collector.wait_requests(sent + 2, WAIT);
            assert!(reporter.shutdown().stopped);
        },
    );
}

#[test]
fn disabled_never_opens_a_socket() {
    isolated("disabled_never_opens_a_socket", &[], || {
        set(Consent::Disabled);
        let collector = Collector::start(Behaviour::Answer("{}"));
        let reporter = reporter(&collector.url("/"))
            .interval(ms(20))
            .final_report(true)
            .start()
            .unwrap();
        wait_for("wake-ups", || reporter.status().skipped >= 10);
        let outcome = reporter.shutdown();
        assert!(outcome.stopped && !outcome.final_report_sent);
        assert_eq!(collector.connections(), 0);
    });
}

#[test]
fn do_not_track_locks_the_reporter_out() {
    isolated(
        "do_not_track_locks_the_reporter_out",
        &[("DO_NOT_TRACK", "1")],
        || {
            let refused = telemetry::consent::set(ConsentDecision::new(
                Consent::Enabled,
                ConsentSource::Config,
            ));
            assert!(refused.is_err(), "DO_NOT_TRACK was overridden");
            assert!(telemetry::consent::current().is_locked());

            let collector = Collector::start(Behaviour::Answer("{}"));
            let reporter = reporter(&collector.url("/"))
                .interval(ms(20))
                .undecided_delay(Duration::ZERO)
                .final_report(true)
                .start()
                .unwrap();
            wait_for("wake-ups", || reporter.status().skipped >= 10);
            let outcome = reporter.shutdown();
            assert!(!outcome.final_report_sent);
            assert_eq!(collector.connections(), 0);
        },
    );
}

#[test]
fn undecided_waits_its_delay_and_says_so_once() {
    isolated("undecided_waits_its_delay_and_says_so_once", &[], || {
        assert_eq!(telemetry::consent::current().consent, Consent::Undecided);
        let collector = Collector::start(Behaviour::Answer("{}"));
        let started = Instant::now();
        let reporter = reporter(&collector.url("/"))
            .interval(ms(50))
            .undecided_delay(ms(2000))
            .final_report(true)
            .start()
            .unwrap();
        let first = collector.wait_requests(1, WAIT).remove(0);
        // Only a lower bound: a loaded machine can make it later, never sooner.
        let waited = first.at - started;
        assert!(waited >= ms(2000), "the first report came after {waited:?}");
        parse_report(&first.body);
        assert!(reporter.status().skipped >= 1);
        collector.wait_requests(2, WAIT);

        // Never a final report while undecided.
        let before = collector.requests().len();
        let outcome = reporter.shutdown();
        assert!(outcome.stopped && !outcome.final_report_sent);
        assert_eq!(collector.requests().len(), before);

        let notices: Vec<String> = logs()
            .into_iter()
            .filter(|line| line.contains("no one has decided"))
            .collect();
        assert_eq!(notices.len(), 1, "{notices:?}");
        assert!(
            notices[0].starts_with("INFO") && notices[0].contains("2 seconds"),
            "{}",
            notices[0]
        );
    });
}

#[test]
fn shutdown_sends_a_final_report_when_enabled() {
    isolated("shutdown_sends_a_final_report_when_enabled", &[], || {
        set(Consent::Enabled);
        let collector = Collector::start(Behaviour::Answer("{}"));
        let reporter = reporter(&collector.url("/"))
            .final_report(true)
            .start()
            .unwrap();
        collector.wait_requests(1, WAIT);
        let started = Instant::now();
        let outcome = reporter.shutdown();
        assert!(started.elapsed() < PROMPT);
        assert!(outcome.stopped && outcome.final_report_sent, "{outcome:?}");
        let requests = collector.wait_requests(2, WAIT);
        parse_report(&requests[1].body);
    });
}

#[test]
fn a_hung_collector_slows_no_call_and_shutdown_returns_in_time() {
    isolated(
        "a_hung_collector_slows_no_call_and_shutdown_returns_in_time",
        &[],
        || {
            set(Consent::Enabled);
            let collector = Collector::start(Behaviour::Hang);
            // A timeout far longer than the test's checks: the reporter stays
            // stuck in its request while the app runs and shuts it down.
            let reporter = reporter(&collector.url("/"))
                .timeout(Duration::from_secs(25))
                .final_report(true)
                .start()
                .unwrap();
            collector.wait("the request to hang", WAIT, |c| c.hanging() == 1);

            app_is_not_slowed(&reporter);
            assert_eq!(collector.hanging(), 1, "the request ended early");
            assert!(collector.given_up_after().is_empty());

            let started = Instant::now();
            let outcome = reporter.shutdown();
            let took = started.elapsed();
            assert!(took < PROMPT, "shutdown took {took:?}");
            // Its thread is still stuck: shutdown returned anyway, and sent
            // no final report it had no time for.
            assert!(
                !outcome.stopped && !outcome.final_report_sent,
                "{outcome:?}"
            );
            assert_eq!(collector.connections(), 1);
            collector.release();
        },
    );
}

#[test]
fn a_slow_collector_is_cut_off_by_the_timeout_and_retried() {
    isolated(
        "a_slow_collector_is_cut_off_by_the_timeout_and_retried",
        &[],
        || {
            set(Consent::Enabled);
            let collector = Collector::start(Behaviour::Hang);
            let reporter = reporter(&collector.url("/"))
                .timeout(ms(1000))
                .start()
                .unwrap();
            collector.wait("the reporter to give up", WAIT, |c| {
                !c.given_up_after().is_empty()
            });
            let hung = collector.given_up_after()[0];
            assert!(
                hung < Duration::from_secs(10),
                "it gave up after {hung:?}, its timeout is 1 s"
            );
            collector.wait("a retry", WAIT, |c| c.connections() >= 2);
            app_is_not_slowed(&reporter);
            let status = reporter.status();
            assert!(status.failures >= 1 && status.reports_sent == 0);
            let error = status.last_error.unwrap_or_default().to_lowercase();
            assert!(error.contains("timeout"), "{error}");

            let started = Instant::now();
            reporter.shutdown();
            assert!(started.elapsed() < PROMPT);
        },
    );
}

#[test]
fn a_collector_that_is_down_is_retried_with_backoff() {
    isolated(
        "a_collector_that_is_down_is_retried_with_backoff",
        &[],
        || {
            set(Consent::Enabled);
            // A port that was just free: nothing listens there.
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let started = Instant::now();
            let reporter = reporter(&format!("http://127.0.0.1:{port}/"))
                .backoff(ms(100), ms(400))
                .start()
                .unwrap();
            wait_for("failures", || reporter.status().failures >= 4);
            app_is_not_slowed(&reporter);
            let status = reporter.status();
            let elapsed = started.elapsed();
            // The shortest wait is half the initial one: a loaded machine can
            // only make fewer attempts, never more.
            let most = elapsed.as_millis() as u64 / 50 + 1;
            assert!(
                status.failures <= most,
                "{} attempts in {elapsed:?}",
                status.failures
            );
            assert_eq!(u64::from(status.consecutive_failures), status.failures);
            assert!(status.last_error.is_some() && status.update.is_none());
            let took = Instant::now();
            assert!(reporter.shutdown().stopped);
            assert!(took.elapsed() < PROMPT);
        },
    );
}

#[test]
fn failing_and_hostile_collectors_cost_bounded_memory() {
    isolated(
        "failing_and_hostile_collectors_cost_bounded_memory",
        &[],
        || {
            set(Consent::Enabled);
            let peak_before = peak_rss_bytes();
            for (behaviour, accepted) in [
                (Behaviour::Status(500), false),
                (Behaviour::Garbage, false),
                (Behaviour::EndlessHeaders, false),
                // A 2xx is a report taken, whatever follows; the body is cut off.
                (Behaviour::EndlessBody, true),
            ] {
                let collector = Collector::start(behaviour.clone());
                let reporter = reporter(&collector.url("/")).start().unwrap();
                if accepted {
                    wait_for("the report", || reporter.status().reports_sent >= 1);
                } else {
                    wait_for("retries", || reporter.status().failures >= 2);
                }
                app_is_not_slowed(&reporter);
                let status = reporter.status();
                assert_eq!(status.update, None, "{behaviour:?}");
                assert!(
                    accepted || status.reports_sent == 0,
                    "{behaviour:?}: {status:?}"
                );
                let took = Instant::now();
                reporter.shutdown();
                assert!(took.elapsed() < PROMPT);
                if matches!(
                    behaviour,
                    Behaviour::EndlessBody | Behaviour::EndlessHeaders
                ) {
                    // The reporter stopped reading and closed the connection
                    // long before the collector ran out of bytes to send.
                    collector.wait("the endless answer to end", WAIT, |c| {
                        !c.endless_written().is_empty()
                    });
                    let written = collector.endless_written()[0];
                    assert!(
                        written < 32 << 20,
                        "{behaviour:?}: the collector wrote {written} bytes"
                    );
                }
                assert!(!collector.requests().is_empty(), "{behaviour:?}");
            }
            if let (Some(before), Some(after)) = (peak_before, peak_rss_bytes()) {
                let grown = after.saturating_sub(before);
                assert!(
                    grown < 64 << 20,
                    "peak memory grew by {grown} bytes; the collectors offered {} per answer",
                    collector::MAX_ENDLESS
                );
            }
        },
    );
}

#[test]
fn https_goes_through_tls() {
    isolated("https_goes_through_tls", &[], || {
        set(Consent::Enabled);
        // A server that answers in plain text: the TLS handshake must fail
        // cleanly (a TLS client is built in and works), not send in the clear.
        let collector = Collector::start(Behaviour::SpeakFirst(b"HTTP/1.1 200 OK\r\n\r\n"));
        let url = format!("https://{}/v1/report", collector.addr());
        let reporter = reporter(&url).start().unwrap();
        wait_for("the handshake to fail", || reporter.status().failures >= 1);
        let status = reporter.status();
        assert!(status.running && status.reports_sent == 0, "{status:?}");
        // Refused at once by the TLS client, not left to time out.
        let error = status.last_error.unwrap_or_default();
        assert!(!error.is_empty() && !error.contains("timeout"), "{error}");
        assert!(reporter.shutdown().stopped);
        assert!(collector.connections() >= 1);
    });
}

#[test]
fn a_dry_run_writes_exactly_the_bytes_that_would_be_posted() {
    isolated(
        "a_dry_run_writes_exactly_the_bytes_that_would_be_posted",
        &[],
        || {
            set(Consent::Enabled);
            // Counters only: a timed fn's latencies are converted to ns with a
            // clock rate measured at each snapshot, which may differ in the last
            // digit between two snapshots of a quiet process.
            for _ in 0..3 {
                secret_inventory_lookup();
            }
            let dir = std::env::temp_dir().join(format!("telemetry-dry-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let file = dir.join("report.json");

            let real = Collector::start(Behaviour::Answer("{}"));
            // The dry runs are configured with a real collector: it must see nothing.
            let bystander = Collector::start(Behaviour::Answer("{}"));
            let to_file = reporter(&bystander.url("/"))
                .dry_run(DryRun::File(file.clone()))
                .final_report(true)
                .start()
                .unwrap();
            let to_log = reporter(&bystander.url("/"))
                .dry_run(DryRun::Log)
                .start()
                .unwrap();
            let sent = reporter(&real.url("/")).start().unwrap();

            let posted = real.wait_requests(1, WAIT).remove(0).body;
            wait_for("the dry runs", || {
                to_file.status().reports_sent >= 1 && to_log.status().reports_sent >= 1
            });
            let written = std::fs::read(&file).unwrap();
            let logged = logs()
                .into_iter()
                .find_map(|line| {
                    let rest = line.strip_prefix("INFO telemetry dry run: would POST these ")?;
                    let (count, rest) = rest.split_once(" bytes to ")?;
                    let payload = rest.strip_prefix(&format!("{}: ", bystander.url("/")))?;
                    assert_eq!(count.parse::<usize>().unwrap(), payload.len());
                    Some(payload.to_owned())
                })
                .expect("the dry run logged its payload");
            let preview = sent.preview();

            parse_report(&written);
            assert_eq!(without_clock(&written), without_clock(&posted));
            assert_eq!(without_clock(logged.as_bytes()), without_clock(&posted));
            assert_eq!(without_clock(&preview), without_clock(&posted));

            // The final report of a dry run is written too, never sent.
            let outcome = to_file.shutdown();
            assert!(outcome.final_report_sent);
            to_log.shutdown();
            sent.shutdown();
            assert_eq!(bystander.connections(), 0);
            parse_report(&std::fs::read(&file).unwrap());
            let _ = std::fs::remove_dir_all(dir);
        },
    );
}

#[test]
fn settings_are_checked_before_anything_starts() {
    for (url, expected) in [
        ("ftp://example.com/", "not HTTP"),
        ("telemetry.example.com/report", "no scheme"),
        ("https://user:pw@example.com/", "credentials"),
    ] {
        let error = Reporter::builder(url).start().unwrap_err().to_string();
        assert!(
            error.contains(expected) && error.contains("accepted: an absolute http://"),
            "{url}: {error}"
        );
    }
    let error = Reporter::builder("https://example.com/")
        .interval(Duration::ZERO)
        .start()
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("interval") && error.contains("longer than zero"),
        "{error}"
    );
    let error = Reporter::builder("https://example.com/")
        .backoff(Duration::from_secs(60), Duration::from_secs(1))
        .start()
        .unwrap_err()
        .to_string();
    assert!(error.contains("backoff"), "{error}");
}
