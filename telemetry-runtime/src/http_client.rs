//! The one HTTP client setup of everything that sends data off the machine (the
//! usage-statistics reporter, the OTLP exporter): which URLs are accepted, how
//! the blocking `ureq` agent is configured, and how much of an answer is read.
//! Kept in one place so both senders keep the same guarantees (no redirects,
//! bounded answers, no idle sockets, proxies honoured except for loopback).

use std::net::IpAddr;
use std::time::Duration;

use ureq::http::Uri;

/// The most of a collector's response body that is read: an answer that
/// matters (an update notice, an OTLP status) is a few hundred bytes, and
/// whatever else a collector sends must not cost memory.
pub(crate) const MAX_RESPONSE_BYTES: u64 = 64 * 1024;

/// The most of a failure's text kept in a status or a log line.
const MAX_ERROR_LEN: usize = 300;

/// What a collector URL must look like, for error messages.
const ACCEPTED_URLS: &str = "accepted: an absolute http:// or https:// URL with a host and \
     no user name or password, such as https://telemetry.example.com/v1/report";

/// A checked collector URL.
#[derive(Clone, Debug)]
pub(crate) struct Collector {
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

    /// A blocking agent for this collector: at most `timeout` per request
    /// (`connect_timeout` of it to connect), no redirects, no idle sockets.
    pub fn agent(&self, connect_timeout: Duration, timeout: Duration, accept: &str) -> ureq::Agent {
        ureq::Agent::config_builder()
            .timeout_connect(Some(connect_timeout))
            .timeout_global(Some(timeout))
            // The data goes to the URL the app configured and nowhere else:
            // a redirect could move it to another host, or from https to http.
            .max_redirects(0)
            // Sends are a minute or more apart: keep no socket open between them.
            .max_idle_connections(0)
            .max_idle_connections_per_host(0)
            // Only the library's name and version, nothing of the machine.
            .user_agent(concat!("telemetry/", env!("CARGO_PKG_VERSION")))
            .accept(accept)
            // A proxy from the environment is honoured (some networks reach
            // the Internet only through one), but a collector on this machine
            // is reached directly.
            .proxy(if self.loopback {
                None
            } else {
                ureq::Proxy::try_from_env()
            })
            .build()
            .into()
    }
}

/// Cuts `text` to a length fit for a status or a log line.
pub(crate) fn shorten(text: String) -> String {
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
}
