//! The exporter's settings from the standard OpenTelemetry environment
//! variables, each checked: a value that is set but not understood is an error
//! naming the variable and what it accepts, never a silent default. An empty
//! value counts as unset, as the specification says.

use std::str::FromStr;
use std::time::Duration;

use percent_encoding::percent_decode_str;

/// The transport and encoding of an export.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Protocol {
    /// OTLP/HTTP with a binary protobuf body (`application/x-protobuf`), the
    /// specification's default.
    #[default]
    HttpProtobuf,
    /// OTLP/HTTP with an OTLP JSON body (`application/json`).
    HttpJson,
}

impl Protocol {
    /// The `content-type` of a body in this encoding.
    pub fn content_type(self) -> &'static str {
        match self {
            Protocol::HttpProtobuf => "application/x-protobuf",
            Protocol::HttpJson => "application/json",
        }
    }
}

pub(crate) const ACCEPTED_PROTOCOLS: &str = "http/protobuf (the default) or http/json";

impl FromStr for Protocol {
    type Err = String;

    /// `http/protobuf` or `http/json`; `grpc` is refused with the reason.
    fn from_str(value: &str) -> Result<Protocol, String> {
        match value.trim() {
            "http/protobuf" => Ok(Protocol::HttpProtobuf),
            "http/json" => Ok(Protocol::HttpJson),
            "grpc" => Err("this exporter speaks OTLP over HTTP only, not gRPC \
                 (an OpenTelemetry Collector accepts both, on ports 4318 and 4317)"
                .into()),
            _ => Err("unknown protocol".into()),
        }
    }
}

/// Whether request bodies are compressed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Compression {
    /// Sent as they are (the default).
    #[default]
    None,
    /// gzip, with `content-encoding: gzip`.
    Gzip,
}

pub(crate) const ACCEPTED_COMPRESSIONS: &str = "gzip or none";

impl FromStr for Compression {
    type Err = String;

    fn from_str(value: &str) -> Result<Compression, String> {
        match value.trim() {
            "none" => Ok(Compression::None),
            "gzip" => Ok(Compression::Gzip),
            _ => Err("unknown compression".into()),
        }
    }
}

/// A setting the exporter cannot start with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExporterError {
    /// An environment variable holds a value that is not understood.
    #[error("{variable}={value:?} is not valid: {problem}; accepted: {accepted}")]
    InvalidVariable {
        /// The variable.
        variable: &'static str,
        /// Its value.
        value: String,
        /// What is wrong with it.
        problem: String,
        /// What the variable accepts.
        accepted: &'static str,
    },
    /// A value given in code is not accepted.
    #[error("invalid OTLP exporter setting {setting}: {problem}; accepted: {accepted}")]
    InvalidSetting {
        /// The builder method.
        setting: &'static str,
        /// What is wrong with the value.
        problem: String,
        /// What is accepted.
        accepted: &'static str,
    },
    /// The collector URL, from a variable or from code; the message says what
    /// is accepted.
    #[error("{origin}: {message}")]
    InvalidEndpoint {
        /// The variable or builder method it came from.
        origin: &'static str,
        /// What is wrong and what is accepted.
        message: String,
    },
    /// The exporter's thread could not be started.
    #[error("cannot start the OTLP exporter's thread: {0}")]
    Spawn(#[source] std::io::Error),
}

/// The variables, generic first where a metrics-specific one overrides it.
pub(crate) const SDK_DISABLED: &str = "OTEL_SDK_DISABLED";
pub(crate) const SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
pub(crate) const RESOURCE_ATTRIBUTES: &str = "OTEL_RESOURCE_ATTRIBUTES";
pub(crate) const EXPORT_INTERVAL: &str = "OTEL_METRIC_EXPORT_INTERVAL";
pub(crate) const ENDPOINT: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
];
pub(crate) const HEADERS: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
];
pub(crate) const TIMEOUT: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
];
pub(crate) const PROTOCOL: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
];
pub(crate) const COMPRESSION: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_COMPRESSION",
    "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION",
];

/// Reads the environment through `lookup`, so tests need not change the
/// process's environment.
pub(crate) struct Env<F: Fn(&str) -> Option<String>> {
    lookup: F,
}

/// A variable that is set, with its value.
pub(crate) struct Set {
    pub variable: &'static str,
    pub value: String,
}

impl Set {
    fn invalid(&self, problem: impl Into<String>, accepted: &'static str) -> ExporterError {
        ExporterError::InvalidVariable {
            variable: self.variable,
            value: self.value.clone(),
            problem: problem.into(),
            accepted,
        }
    }

    pub fn parse<T: FromStr<Err = String>>(
        &self,
        accepted: &'static str,
    ) -> Result<T, ExporterError> {
        self.value
            .parse()
            .map_err(|problem| self.invalid(problem, accepted))
    }

    /// `true` or `false`, in any case.
    pub fn boolean(&self) -> Result<bool, ExporterError> {
        match self.value.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(self.invalid("not a boolean", "true or false (any case)")),
        }
    }

    /// Whole milliseconds above zero.
    pub fn millis(&self) -> Result<Duration, ExporterError> {
        const ACCEPTED: &str = "a whole number of milliseconds above 0, such as 10000";
        match self.value.trim().parse::<u64>() {
            Ok(0) => Err(self.invalid("zero", ACCEPTED)),
            Ok(ms) => Ok(Duration::from_millis(ms)),
            Err(_) => Err(self.invalid("not a whole number", ACCEPTED)),
        }
    }

    /// `key=value` pairs separated by commas, each key and value
    /// percent-decoded (the W3C Baggage form, without properties), blanks
    /// around them ignored.
    pub fn key_values(&self) -> Result<Vec<(String, String)>, ExporterError> {
        const ACCEPTED: &str = "comma-separated key=value pairs, percent-encoded where \
             needed, such as api-key=abc%3D,tenant=shop";
        let decode = |part: &str| {
            percent_decode_str(part.trim())
                .decode_utf8()
                .map(|text| text.into_owned())
                .map_err(|_| {
                    self.invalid(
                        format!("{part:?} is not UTF-8 once percent-decoded"),
                        ACCEPTED,
                    )
                })
        };
        let mut pairs = Vec::new();
        for entry in self
            .value
            .split(',')
            .filter(|entry| !entry.trim().is_empty())
        {
            let Some((key, value)) = entry.split_once('=') else {
                return Err(self.invalid(format!("{:?} has no '='", entry.trim()), ACCEPTED));
            };
            let key = decode(key)?;
            if key.is_empty() {
                return Err(self.invalid(format!("{:?} has no key", entry.trim()), ACCEPTED));
            }
            pairs.push((key, decode(value)?));
        }
        Ok(pairs)
    }
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    pub fn new(lookup: F) -> Self {
        Env { lookup }
    }

    /// The variable, if set to something other than blanks.
    pub fn get(&self, variable: &'static str) -> Option<Set> {
        (self.lookup)(variable)
            .filter(|value| !value.trim().is_empty())
            .map(|value| Set { variable, value })
    }

    /// The metrics-specific variable if set, else the generic one.
    pub fn get_either(&self, [generic, metrics]: [&'static str; 2]) -> Option<Set> {
        self.get(metrics).or_else(|| self.get(generic))
    }
}

/// `OTEL_EXPORTER_OTLP_ENDPOINT` is a base URL to which the signal's path is
/// appended; the metrics-specific variable is used as it is.
pub(crate) fn metrics_url_from_base(base: &str) -> String {
    let base = base.trim();
    if base.ends_with('/') {
        format!("{base}v1/metrics")
    } else {
        format!("{base}/v1/metrics")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(value: &str) -> Set {
        Set {
            variable: "OTEL_TEST",
            value: value.into(),
        }
    }

    #[test]
    fn key_values_are_percent_decoded_and_checked() {
        let pairs = set(" api-key = abc%3D%3D , tenant=shop%20one,,empty=").key_values();
        assert_eq!(
            pairs.unwrap(),
            [
                ("api-key".to_owned(), "abc==".to_owned()),
                ("tenant".to_owned(), "shop one".to_owned()),
                ("empty".to_owned(), String::new()),
            ]
        );
        let error = set("a=1,broken").key_values().unwrap_err().to_string();
        assert!(
            error.starts_with("OTEL_TEST=\"a=1,broken\" is not valid: \"broken\" has no '='")
                && error.contains("accepted: comma-separated key=value pairs"),
            "{error}"
        );
        assert!(set("=x").key_values().is_err());
        assert!(set("k=%ff").key_values().is_err());
    }

    #[test]
    fn numbers_and_booleans_are_strict() {
        assert_eq!(set("2500").millis().unwrap(), Duration::from_millis(2500));
        for bad in ["0", "-1", "1.5", "10s", "ten"] {
            let error = set(bad).millis().unwrap_err().to_string();
            assert!(
                error.contains("accepted: a whole number of milliseconds"),
                "{error}"
            );
        }
        assert!(set("TRUE").boolean().unwrap());
        assert!(!set("false").boolean().unwrap());
        assert!(set("1").boolean().is_err());
    }

    #[test]
    fn grpc_is_refused_with_the_reason() {
        assert_eq!("http/json".parse(), Ok(Protocol::HttpJson));
        let error = set("grpc")
            .parse::<Protocol>(ACCEPTED_PROTOCOLS)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("not gRPC") && error.contains("http/protobuf"),
            "{error}"
        );
        assert!("http/xml".parse::<Protocol>().is_err());
        assert_eq!("gzip".parse(), Ok(Compression::Gzip));
        assert!("br".parse::<Compression>().is_err());
    }

    #[test]
    fn the_metrics_variable_overrides_the_generic_one_and_blanks_are_unset() {
        let env = Env::new(|name| match name {
            "OTEL_EXPORTER_OTLP_TIMEOUT" => Some("100".into()),
            "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT" => Some("200".into()),
            "OTEL_EXPORTER_OTLP_PROTOCOL" => Some("http/json".into()),
            "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL" => Some("  ".into()),
            _ => None,
        });
        assert_eq!(env.get_either(TIMEOUT).unwrap().value, "200");
        assert_eq!(env.get_either(PROTOCOL).unwrap().value, "http/json");
        assert!(env.get_either(COMPRESSION).is_none());
    }

    #[test]
    fn the_metrics_path_is_appended_to_a_base_url() {
        assert_eq!(
            metrics_url_from_base("http://collector:4318"),
            "http://collector:4318/v1/metrics"
        );
        assert_eq!(
            metrics_url_from_base("https://gw.example.com/otlp/"),
            "https://gw.example.com/otlp/v1/metrics"
        );
    }
}
