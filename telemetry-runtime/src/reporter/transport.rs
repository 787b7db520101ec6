//! Where a report's bytes go: a POST to the collector, or, in a dry run, a file
//! or the log. Both take the same bytes from the same caller, so a dry run shows
//! exactly what a real run sends.

use std::time::Duration;

use crate::http_client::shorten;
pub(super) use crate::http_client::{Collector, MAX_RESPONSE_BYTES};

use super::update::UpdateInfo;
use super::DryRun;
use crate::atomic_file;

/// The result of one report.
pub(super) type Sent = Result<Option<UpdateInfo>, String>;

pub(super) enum Transport {
    Http {
        agent: ureq::Agent,
        collector: Collector,
    },
    DryRun {
        to: DryRun,
        collector: Collector,
    },
}

impl Transport {
    pub fn http(collector: Collector, connect_timeout: Duration, timeout: Duration) -> Transport {
        Transport::Http {
            agent: collector.agent(connect_timeout, timeout, "application/json"),
            collector,
        }
    }

    pub fn collector(&self) -> &Collector {
        match self {
            Transport::Http { collector, .. } | Transport::DryRun { collector, .. } => collector,
        }
    }

    /// Sends `body` (or writes it, in a dry run) within `timeout`.
    pub fn send(&self, body: &[u8], content_type: &str, timeout: Duration) -> Sent {
        match self {
            Transport::Http { agent, collector } => {
                post(agent, collector, body, content_type, timeout)
            }
            Transport::DryRun { to, collector } => {
                dry_run(to, collector, body).map_err(shorten)?;
                Ok(None)
            }
        }
    }
}

fn post(
    agent: &ureq::Agent,
    collector: &Collector,
    body: &[u8],
    content_type: &str,
    timeout: Duration,
) -> Sent {
    let failed =
        |error: ureq::Error| shorten(format!("POST to {}: {error}", collector.authority()));
    let mut response = agent
        .post(collector.url())
        .header("content-type", content_type)
        .config()
        .timeout_global(Some(timeout))
        .build()
        .send(body)
        .map_err(failed)?;
    // A 2xx status means the collector took the report; its body is only a
    // possible update notice, so a body that is too long or broken is ignored.
    let answer = response
        .body_mut()
        .with_config()
        .limit(MAX_RESPONSE_BYTES)
        .read_to_vec();
    Ok(match answer {
        Ok(answer) => UpdateInfo::from_response(&answer),
        Err(error) => {
            log::debug!(
                "telemetry: the answer of {} was not read: {error}",
                collector.authority()
            );
            None
        }
    })
}

fn dry_run(to: &DryRun, collector: &Collector, body: &[u8]) -> Result<(), String> {
    match to {
        DryRun::Log => {
            // JSON is UTF-8, so the logged text is the bytes; a binary
            // (protobuf) report is logged as hex, byte for byte.
            match std::str::from_utf8(body) {
                Ok(text) => log::info!(
                    "telemetry dry run: would POST these {} bytes to {}: {text}",
                    body.len(),
                    collector.url(),
                ),
                Err(_) => log::info!(
                    "telemetry dry run: would POST these {} bytes to {} (hex): {}",
                    body.len(),
                    collector.url(),
                    body.iter().map(|b| format!("{b:02x}")).collect::<String>()
                ),
            }
            Ok(())
        }
        DryRun::File(path) => {
            atomic_file::replace(path, body).map_err(|error| {
                format!(
                    "telemetry dry run: cannot write the report to {}: {error}",
                    path.display()
                )
            })?;
            log::debug!(
                "telemetry dry run: wrote the {} bytes that would be sent to {} into {}",
                body.len(),
                collector.url(),
                path.display()
            );
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dry_run_file_holds_exactly_the_last_report() {
        use std::fs;

        let dir = std::env::temp_dir().join(format!("telemetry-dry-run-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("report.json");
        let collector = Collector::parse("http://127.0.0.1:9/report").unwrap();
        let to = DryRun::File(path.clone());
        dry_run(&to, &collector, b"{\"first\":1}").unwrap();
        dry_run(&to, &collector, b"{\"b\":2}").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"{\"b\":2}");
        let leftovers = fs::read_dir(&dir).unwrap().count();
        assert_eq!(leftovers, 1);
        let missing = DryRun::File(dir.join("missing/report.json"));
        let error = dry_run(&missing, &collector, b"{}").unwrap_err();
        assert!(error.contains("cannot write the report to"), "{error}");
        let _ = fs::remove_dir_all(dir);
    }
}
