//! One OTLP/HTTP export attempt and what the collector's answer means, as the
//! OTLP specification says: 2xx accepted (possibly in part), 429, 502, 503 and
//! 504 retryable (after `Retry-After` if given), any other status final. A
//! connection that fails or times out is retryable too. At most
//! [`MAX_RESPONSE_BYTES`] of an answer are read, whatever the collector sends.

use std::io::Write;
use std::time::{Duration, SystemTime};

use flate2::write::GzEncoder;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use prost::Message;

use crate::http_client::{shorten, Collector, MAX_RESPONSE_BYTES};

use super::{Compression, Protocol};

/// What an attempt came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    /// The collector took the data; `rejected` describes a partial success.
    Accepted { rejected: Option<String> },
    /// Worth another try, not before `after` if the collector said so.
    Retry {
        after: Option<Duration>,
        error: String,
    },
    /// Not to be sent again (a 400 or another final status).
    Rejected(String),
}

/// `google.rpc.Status`, the body of an OTLP/HTTP error answer in protobuf:
/// the fields read here (prost skips the rest).
#[derive(Clone, PartialEq, prost::Message)]
struct Status {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// Sends encoded bodies to one collector.
pub(super) struct Sender {
    agent: ureq::Agent,
    collector: Collector,
    headers: Vec<(String, String)>,
    protocol: Protocol,
    compression: Compression,
}

impl Sender {
    pub fn new(
        collector: Collector,
        headers: Vec<(String, String)>,
        protocol: Protocol,
        compression: Compression,
        timeout: Duration,
    ) -> Sender {
        Sender {
            agent: collector.agent(timeout, timeout, protocol.content_type()),
            collector,
            headers,
            protocol,
            compression,
        }
    }

    pub fn collector(&self) -> &Collector {
        &self.collector
    }

    /// The body as it goes on the wire (compressed or not), made once per
    /// export however many tries it takes.
    pub fn wire_body(&self, encoded: Vec<u8>) -> Vec<u8> {
        match self.compression {
            Compression::None => encoded,
            Compression::Gzip => {
                let mut gzip = GzEncoder::new(
                    Vec::with_capacity(encoded.len() / 4),
                    flate2::Compression::default(),
                );
                // Writing into a `Vec` cannot fail.
                gzip.write_all(&encoded).expect("gzip into memory");
                gzip.finish().expect("gzip into memory")
            }
        }
    }

    /// One POST of `body` (from [`wire_body`](Self::wire_body)) within `timeout`.
    pub fn send(&self, body: &[u8], timeout: Duration) -> Outcome {
        let mut request = self
            .agent
            .post(self.collector.url())
            .header("content-type", self.protocol.content_type());
        if self.compression == Compression::Gzip {
            request = request.header("content-encoding", "gzip");
        }
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        let sent = request
            .config()
            .timeout_global(Some(timeout))
            // Error answers carry what the collector has to say, and a
            // Retry-After: they are read, not turned into errors.
            .http_status_as_error(false)
            .build()
            .send(body);
        let mut response = match sent {
            Ok(response) => response,
            Err(error) => {
                return Outcome::Retry {
                    after: None,
                    error: shorten(format!("POST to {}: {error}", self.collector.authority())),
                }
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| retry_after(value, SystemTime::now()));
        let answer = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_vec()
            .ok();
        let answer = answer.as_deref();
        match status {
            200..=299 => Outcome::Accepted {
                rejected: answer.and_then(|body| partial_success(self.protocol, body)),
            },
            429 | 502 | 503 | 504 => Outcome::Retry {
                after: retry_after,
                error: self.describe(status, answer),
            },
            _ => Outcome::Rejected(self.describe(status, answer)),
        }
    }

    fn describe(&self, status: u16, answer: Option<&[u8]>) -> String {
        let message = match answer {
            None => "(its answer was not read: too long or broken)".to_owned(),
            Some(body) => error_message(self.protocol, body),
        };
        shorten(format!(
            "{} answered HTTP {status}: {message}",
            self.collector.authority()
        ))
    }
}

/// The message of an error answer: a `google.rpc.Status` in the request's
/// encoding, else the body as text.
fn error_message(protocol: Protocol, body: &[u8]) -> String {
    let decoded = match protocol {
        Protocol::HttpProtobuf => Status::decode(body).ok().map(|status| status.message),
        Protocol::HttpJson => serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|json| Some(json.get("message")?.as_str()?.to_owned())),
    };
    match decoded {
        Some(message) if !message.is_empty() => message,
        _ if body.is_empty() => "(no message)".to_owned(),
        _ => String::from_utf8_lossy(body).into_owned(),
    }
}

/// What a 2xx answer says was rejected, if anything.
fn partial_success(protocol: Protocol, body: &[u8]) -> Option<String> {
    let (rejected, message) = match protocol {
        Protocol::HttpProtobuf => {
            let partial = ExportMetricsServiceResponse::decode(body)
                .ok()?
                .partial_success?;
            (partial.rejected_data_points, partial.error_message)
        }
        // Read by hand: an int64 arrives as a string or a number in JSON.
        Protocol::HttpJson => {
            let json: serde_json::Value = serde_json::from_slice(body).ok()?;
            let partial = json.get("partialSuccess")?;
            let rejected = match partial.get("rejectedDataPoints") {
                Some(serde_json::Value::String(text)) => text.parse().ok()?,
                Some(number) => number.as_i64()?,
                None => 0,
            };
            let message = partial.get("errorMessage").and_then(|m| m.as_str());
            (rejected, message.unwrap_or_default().to_owned())
        }
    };
    (rejected != 0 || !message.is_empty()).then(|| {
        shorten(format!(
            "the collector rejected {rejected} data point(s): {message}"
        ))
    })
}

/// `Retry-After` as seconds or as an HTTP date (a date in the past is "now").
pub(super) fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsPartialSuccess;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2026 07:28:00 GMT").unwrap();
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(
            retry_after("Wed, 21 Oct 2026 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after("Wed, 21 Oct 2026 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("-5", now), None);
    }

    #[test]
    fn error_answers_give_the_collector_s_message() {
        let status = Status {
            code: 3,
            message: "bad metric".into(),
        };
        assert_eq!(
            error_message(Protocol::HttpProtobuf, &status.encode_to_vec()),
            "bad metric"
        );
        assert_eq!(
            error_message(Protocol::HttpJson, br#"{"code":3,"message":"bad json"}"#),
            "bad json"
        );
        assert_eq!(
            error_message(Protocol::HttpJson, b"plain text"),
            "plain text"
        );
        assert_eq!(error_message(Protocol::HttpProtobuf, b""), "(no message)");
    }

    #[test]
    fn partial_success_is_reported_in_both_encodings() {
        let response = ExportMetricsServiceResponse {
            partial_success: Some(ExportMetricsPartialSuccess {
                rejected_data_points: 3,
                error_message: "too old".into(),
            }),
        };
        let protobuf = partial_success(Protocol::HttpProtobuf, &response.encode_to_vec());
        assert_eq!(
            protobuf.as_deref(),
            Some("the collector rejected 3 data point(s): too old")
        );
        let json = br#"{"partialSuccess":{"rejectedDataPoints":"3","errorMessage":"too old"}}"#;
        assert_eq!(partial_success(Protocol::HttpJson, json), protobuf);
        assert_eq!(partial_success(Protocol::HttpJson, b"{}"), None);
        assert_eq!(partial_success(Protocol::HttpProtobuf, b""), None);
    }
}
