//! Where a report's bytes go: a POST to the collector, or, in a dry run, a file
//! or the log. Both take the same bytes from the same caller, so a dry run shows
//! exactly what a real run sends.

use std::net::IpAddr;
use std::time::Duration;

use ureq::http::Uri;

use super::update::UpdateInfo;
use super::DryRun;
use crate::atomic_file;

/// The most of a collector's response body that is read: an update notice is
/// a few dozen bytes, and whatever else a collector sends must not cost memory.
pub(super) const MAX_RESPONSE_BYTES: u64 = 64 * 1024;

/// The most of a failure's text kept in the status.
const MAX_ERROR_LEN: usize = 300;

/// What a collector URL must look like, for error messages.
const ACCEPTED_URLS: &str = "accepted: an absolute http:// or https:// URL with a host and \
     no user name or password, such as https://telemetry.example.com/v1/report";

/// A checked collector URL.
#[derive(Clone, Debug)]
pub(super) struct Collector {
    url: String,
    /// `host[:port]`, for logs: the path may carry an app's token.
    authority: String,
    loopback: bool,
}

impl Collector {
    pub fn parse(url: &str) -> Result<Collector, String> {
        let invalid = |why: &str| format!("invalid collector URL {url:?}: {why}; {ACCEPTED_URLS}");
        let scheme = match url.trim().split_once("://") {
            Some((scheme, _)) => scheme.to_ascii_lowercase(),
            None => return Err(invalid("no scheme")),
        };
        if scheme != "http" && scheme != "https" {
            return Err(invalid(&format!("the scheme {scheme:?} is not HTTP")));
        }
        let uri: Uri = url.trim().parse().map_err(|_| invalid("not a URL"))?;
        let authority = uri.authority().ok_or_else(|| invalid("no host"))?;
        if authority.as_str().contains('@') {
            return Err(invalid(
                "credentials in a URL end up in logs and proxies' records",
            ));
        }
        let host = authority.host();
        if host.is_empty() {
            return Err(invalid("no host"));
        }
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let loopback = bare.eq_ignore_ascii_case("localhost")
            || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
        Ok(Collector {
            url: uri.to_string(),
            authority: authority.as_str().to_owned(),
            loopback,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn authority(&self) -> &str {
        &self.authority
    }
}

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
        let config = ureq::Agent::config_builder()
            .timeout_connect(Some(connect_timeout))
            .timeout_global(Some(timeout))
            // The report goes to the URL the app configured and nowhere else:
            // a redirect could move it to another host, or from https to http.
            .max_redirects(0)
            // Reports are an hour apart: keep no socket open between them.
            .max_idle_connections(0)
            .max_idle_connections_per_host(0)
            // Only the library's name and version, nothing of the machine.
            .user_agent(concat!("telemetry/", env!("CARGO_PKG_VERSION")))
            .accept("application/json")
            // A proxy from the environment is honoured (some networks reach
            // the Internet only through one), but a collector on this machine
            // is reached directly.
            .proxy(if collector.loopback {
                None
            } else {
                ureq::Proxy::try_from_env()
            })
            .build();
        Transport::Http {
            agent: config.into(),
            collector,
        }
    }

    pub fn collector(&self) -> &Collector {
        match self {
            Transport::Http { collector, .. } | Transport::DryRun { collector, .. } => collector,
        }
    }

    /// Sends `body` (or writes it, in a dry run) within `timeout`.
    pub fn send(&self, body: &[u8], timeout: Duration) -> Sent {
        match self {
            Transport::Http { agent, collector } => post(agent, collector, body, timeout),
            Transport::DryRun { to, collector } => {
                dry_run(to, collector, body).map_err(shorten)?;
                Ok(None)
            }
        }
    }
}

fn post(agent: &ureq::Agent, collector: &Collector, body: &[u8], timeout: Duration) -> Sent {
    let failed = |error: ureq::Error| shorten(format!("POST to {}: {error}", collector.authority));
    let mut response = agent
        .post(collector.url())
        .header("content-type", "application/json")
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
                collector.authority
            );
            None
        }
    })
}

fn dry_run(to: &DryRun, collector: &Collector, body: &[u8]) -> Result<(), String> {
    match to {
        DryRun::Log => {
            // The payload is JSON, so UTF-8: the logged text is the bytes.
            log::info!(
                "telemetry dry run: would POST these {} bytes to {}: {}",
                body.len(),
                collector.url(),
                String::from_utf8_lossy(body)
            );
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

fn shorten(text: String) -> String {
    if text.len() <= MAX_ERROR_LEN {
        return text;
    }
    crate::text::truncate(&text, MAX_ERROR_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collector_urls_are_checked() {
        let ok = Collector::parse("https://telemetry.example.com/v1/report?app=x").unwrap();
        assert_eq!(ok.authority(), "telemetry.example.com");
        assert!(!ok.loopback);
        for loopback in [
            "http://127.0.0.1:9/r",
            "http://localhost/r",
            "HTTP://[::1]:8080/",
            "http://127.1.2.3/",
        ] {
            assert!(Collector::parse(loopback).unwrap().loopback, "{loopback}");
        }
        for (bad, why) in [
            ("ftp://example.com/", "scheme \"ftp\""),
            ("example.com/report", "no scheme"),
            ("/report", "no scheme"),
            ("", "no scheme"),
            ("https://", "not a URL"),
            ("https://user:secret@example.com/", "credentials"),
            ("http:///report", "not a URL"),
        ] {
            let error = Collector::parse(bad).unwrap_err();
            assert!(
                error.contains(why) && error.contains("accepted: an absolute http://"),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn long_errors_are_cut_on_a_character_boundary() {
        let short = shorten("é".repeat(MAX_ERROR_LEN));
        assert!(short.len() <= MAX_ERROR_LEN + '…'.len_utf8());
        assert!(short.ends_with('…'));
        assert_eq!(shorten("short".into()), "short");
    }

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
