//! Answers to debug requests, for any web framework: the snapshot as JSON on
//! `/telemetry` and as Prometheus text on `/metrics`.
//!
//! The framework routes `GET` requests and passes the path and query string;
//! [`respond`] returns the status, content type and body to send:
//!
//! ```
//! // In a handler of any framework, for GET /telemetry and GET /metrics:
//! let answer = telemetry::http::respond("/telemetry?details_level=1");
//! assert_eq!((answer.status, answer.content_type), (200, "application/json"));
//! // ...then send answer.status, answer.content_type and answer.body.
//!
//! let bad = telemetry::http::respond("/telemetry?details_level=7");
//! assert_eq!(bad.status, 400);
//! assert!(bad.body.contains("expected 0 (instance), 1 (counters)"), "{}", bad.body);
//! ```
//!
//! The example `debug_endpoint` does this with axum, in three lines of handler.
//!
//! Serving these routes on a private address only, or behind authentication,
//! is the application's choice: the non-anonymized snapshot names its fns.

use crate::snapshot::{DetailsLevel, Snapshot};

/// Content type of the JSON snapshot.
pub const JSON: &str = "application/json";
/// Content type of the Prometheus text exposition format 0.0.4.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Content type of error messages.
pub const PLAIN_TEXT: &str = "text/plain; charset=utf-8";

/// What to answer: an HTTP status code, a content type and a body.
///
/// Errors (status 4xx or 5xx) have a plain-text body that says what was wrong
/// and what is accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// HTTP status code: 200, 400 (a bad query) or 404 (an unknown path).
    pub status: u16,
    /// The `Content-Type` header's value.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
}

impl Response {
    fn ok(content_type: &'static str, body: String) -> Response {
        Response {
            status: 200,
            content_type,
            body,
        }
    }

    fn error(status: u16, message: impl Into<String>) -> Response {
        let mut body = message.into();
        body.push('\n');
        Response {
            status,
            content_type: PLAIN_TEXT,
            body,
        }
    }
}

/// Answers a `GET` of `/telemetry` or `/metrics`, given the request's path and
/// query string (`/telemetry?details_level=2`).
///
/// - `/telemetry` answers [`telemetry`]: the snapshot as JSON.
/// - `/metrics` answers [`metrics`]: Prometheus text.
/// - Any other path: 404, with a body that names the two.
///
/// To serve them under other paths, call [`telemetry`] and [`metrics`] directly.
pub fn respond(path_and_query: &str) -> Response {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    match path {
        "/telemetry" => telemetry(query),
        "/metrics" => metrics(query),
        _ => Response::error(
            404,
            format!(
                "no telemetry at {path:?}: GET /telemetry?details_level=0..3&anonymize=true|false \
                 for the snapshot as JSON, or GET /metrics for Prometheus text"
            ),
        ),
    }
}

/// The snapshot as JSON (its `schema_version` is [`SCHEMA_VERSION`](crate::SCHEMA_VERSION)), for a query string such as
/// `details_level=2&anonymize=false` (a leading `?` is allowed).
///
/// - `details_level`: `0` (instance, app, system), `1` (+ counters), `2`
///   (+ latency summaries) or `3` (+ buckets and backtraces, the default).
/// - `anonymize`: `false` (the default) or `true`, the anonymized form that
///   may leave the machine ([`Snapshot::anonymize`]).
///
/// Anything else (an unknown parameter, one given twice, a value not listed
/// above) is answered with status 400 and a message that lists what is accepted.
///
/// ```
/// let answer = telemetry::http::telemetry("details_level=0");
/// let json: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
/// assert_eq!(json["details_level"], 0);
///
/// let bad = telemetry::http::telemetry("anonymize=maybe");
/// assert_eq!(bad.status, 400);
/// assert!(bad.body.contains("true or false"), "{}", bad.body);
/// ```
pub fn telemetry(query: &str) -> Response {
    let mut details_level = None;
    let mut anonymize = None;
    for pair in parameters(query) {
        let (key, value) = match pair {
            Ok(pair) => pair,
            Err(message) => return Response::error(400, message),
        };
        let parsed = match key.as_str() {
            "details_level" => set_once(&mut details_level, &key, value.parse()),
            "anonymize" => set_once(&mut anonymize, &key, parse_bool(&value)),
            _ => Err(format!(
                "unknown query parameter {key:?}: /telemetry takes details_level \
                 (0, 1, 2 or 3) and anonymize (true or false)"
            )),
        };
        if let Err(message) = parsed {
            return Response::error(400, message);
        }
    }
    let snapshot = Snapshot::take(details_level.unwrap_or(DetailsLevel::Full));
    let snapshot = if anonymize.unwrap_or(false) {
        snapshot.anonymize()
    } else {
        snapshot
    };
    Response::ok(JSON, snapshot.to_json())
}

/// The snapshot in the Prometheus text format, as [`Snapshot::to_prometheus`]
/// renders it, with content type [`PROMETHEUS_TEXT`]. It takes no query
/// parameters: any is answered with status 400.
///
/// ```
/// let answer = telemetry::http::metrics("");
/// assert_eq!(answer.content_type, "text/plain; version=0.0.4; charset=utf-8");
/// assert!(answer.body.contains("# TYPE telemetry_build_info gauge"));
/// ```
pub fn metrics(query: &str) -> Response {
    if let Some(pair) = parameters(query).next() {
        let what = match pair {
            Ok((key, _)) => format!("query parameter {key:?}"),
            Err(message) => message,
        };
        return Response::error(400, format!("/metrics takes no query parameters: {what}"));
    }
    Response::ok(PROMETHEUS_TEXT, crate::snapshot().to_prometheus())
}

fn set_once<T, E: std::fmt::Display>(
    slot: &mut Option<T>,
    key: &str,
    value: Result<T, E>,
) -> Result<(), String> {
    if slot.is_some() {
        return Err(format!(
            "query parameter {key:?} is given twice: give it once"
        ));
    }
    *slot = Some(value.map_err(|error| error.to_string())?);
    Ok(())
}

fn parse_bool(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!(
            "invalid anonymize {value:?}: expected true or false"
        )),
    }
}

/// The decoded `key=value` pairs of a query string, as HTML forms encode them
/// (`+` is a space); a key without `=` has an empty value, and empty pairs
/// (`a=1&&b=2`) are skipped.
fn parameters(query: &str) -> impl Iterator<Item = Result<(String, String), String>> + '_ {
    query
        .strip_prefix('?')
        .unwrap_or(query)
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            check_encoding(key)?;
            check_encoding(value)?;
            // One non-empty pair, with no `&` in it: exactly one (key, value).
            let (key, value) = form_urlencoded::parse(pair.as_bytes())
                .next()
                .unwrap_or_default();
            Ok((key.into_owned(), value.into_owned()))
        })
}

/// `form_urlencoded` decodes leniently, as browsers do: a `%` that starts no
/// escape stays as it is, and bytes that are not UTF-8 become U+FFFD. In a
/// debug request either is a typo, so it is rejected, saying what is accepted.
fn check_encoding(component: &str) -> Result<(), String> {
    let escapes_complete = component.split('%').skip(1).all(|after| {
        let hex = after.as_bytes().get(..2);
        hex.is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    let decoded = percent_encoding::percent_decode_str(component);
    if escapes_complete && decoded.decode_utf8().is_ok() {
        Ok(())
    } else {
        Err(format!(
            "invalid percent-encoding in query component {component:?}: expected % \
             followed by two hex digits, and UTF-8 once decoded"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(response: &Response) -> serde_json::Value {
        assert_eq!(
            (response.status, response.content_type),
            (200, JSON),
            "{}",
            response.body
        );
        serde_json::from_str(&response.body).unwrap()
    }

    fn error(response: &Response, status: u16) -> &str {
        assert_eq!(
            (response.status, response.content_type),
            (status, PLAIN_TEXT),
            "{}",
            response.body
        );
        &response.body
    }

    #[test]
    fn telemetry_defaults_to_full_details() {
        for request in ["/telemetry", "/telemetry?", "/telemetry?anonymize=false"] {
            assert_eq!(json(&respond(request))["details_level"], 3, "{request}");
        }
    }

    #[test]
    fn details_level_is_honoured_and_decoded() {
        for (request, level) in [
            ("/telemetry?details_level=0", 0),
            ("/telemetry?details_level=1&anonymize=false", 1),
            ("/telemetry?anonymize=FALSE&details_level=%32", 2),
            ("/telemetry?&details_level=+3&", 3),
        ] {
            assert_eq!(json(&respond(request))["details_level"], level, "{request}");
        }
    }

    #[test]
    fn bad_values_are_400_with_what_is_accepted() {
        for (query, expected) in [
            ("details_level=4", "expected 0 (instance), 1 (counters), 2"),
            ("details_level=", "invalid details level \"\""),
            ("details_level=high", "invalid details level \"high\""),
            (
                "anonymize=yes",
                "invalid anonymize \"yes\": expected true or false",
            ),
            ("anonymize", "expected true or false"),
            ("detail_level=2", "unknown query parameter \"detail_level\""),
            ("details_level=1&details_level=2", "given twice"),
            ("details_level=%3", "expected % followed by two hex digits"),
            ("details_level=%ff", "UTF-8 once decoded"),
        ] {
            let response = telemetry(query);
            let body = error(&response, 400);
            assert!(body.contains(expected), "{query}: {body}");
        }
        let body = telemetry("x=1").body;
        assert!(body.contains("details_level (0, 1, 2 or 3) and anonymize (true or false)"));
    }

    #[test]
    fn anonymize_true_serves_the_anonymized_form() {
        let response = respond("/telemetry?anonymize=true&details_level=2");
        assert_eq!(response.status, 200, "{}", response.body);
        let snapshot: Snapshot = serde_json::from_str(&response.body).unwrap();
        assert!(snapshot.anonymized);
        assert_eq!(snapshot.details_level, DetailsLevel::Summaries);
        for name in snapshot.functions.keys() {
            assert_eq!(name.len(), 16, "hashed: {name}");
        }
        let plain: Snapshot =
            serde_json::from_str(&respond("/telemetry?anonymize=false").body).unwrap();
        assert!(!plain.anonymized);
        // A bad query is still a bad query.
        assert_eq!(
            respond("/telemetry?anonymize=true&details_level=9").status,
            400
        );
    }

    #[test]
    fn metrics_is_prometheus_text_and_takes_no_parameters() {
        let response = respond("/metrics");
        assert_eq!(
            (response.status, response.content_type),
            (200, PROMETHEUS_TEXT)
        );
        assert!(response
            .body
            .contains("# TYPE telemetry_build_info gauge\n"));
        let body = error(&respond("/metrics?details_level=1"), 400).to_owned();
        assert!(body.contains("no query parameters") && body.contains("details_level"));
    }

    #[test]
    fn other_paths_are_404_naming_the_two() {
        for request in ["/", "/telemetry/", "/metrics/x?y=1", ""] {
            let response = respond(request);
            let body = error(&response, 404);
            assert!(body.contains("GET /telemetry?") && body.contains("GET /metrics"));
        }
    }

    #[test]
    fn decoding() {
        let decoded = |query| parameters(query).collect::<Result<Vec<_>, _>>();
        let pair = |key: &str, value: &str| (key.to_owned(), value.to_owned());
        assert_eq!(decoded("k=a+b%20c%2B").unwrap(), [pair("k", "a b c+")]);
        assert_eq!(decoded("%C3%A9=%c3%a9").unwrap(), [pair("é", "é")]);
        assert_eq!(
            decoded("?a&&=b&c=d=e").unwrap(),
            [pair("a", ""), pair("", "b"), pair("c", "d=e")]
        );
        for bad in ["k=%", "k=%g1", "k=%+1", "%%41=1", "k=%C3"] {
            let error = decoded(bad).unwrap_err();
            assert!(
                error.contains("expected % followed by two hex digits"),
                "{bad}: {error}"
            );
        }
        let error = decoded("ok=1&k=%4").unwrap_err();
        assert!(error.contains("query component \"%4\""), "{error}");
    }
}
