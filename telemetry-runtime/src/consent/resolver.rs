//! Reading consent from every source, strongest first: the executable's name,
//! `DO_NOT_TRACK`, the command line, the app's environment variables and its
//! configuration. Kept apart from the process's decision so that an app (or a
//! test) can resolve from sources it passes in, without touching global state.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::Path;
use std::sync::Mutex;

use super::{Consent, ConsentDecision, ConsentSource, InvalidConsent};
use crate::lock::lock;

/// A source held a value that is not a consent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {setting}: {invalid}")]
pub struct ConsentError {
    from: ConsentSource,
    setting: String,
    #[source]
    invalid: InvalidConsent,
}

impl ConsentError {
    /// The source that held the value.
    pub fn source(&self) -> &ConsentSource {
        &self.from
    }

    /// The rejected value, as given.
    pub fn value(&self) -> &str {
        self.invalid.value()
    }
}

/// Resolves consent from every source, strongest first.
///
/// By default it reads the process's environment, arguments and executable name;
/// tests (and apps that parse their own command line) pass them instead.
///
/// ```
/// use telemetry::consent::{Consent, ConsentResolver, ConsentSource};
///
/// let decision = ConsentResolver::new("my-service")
///     .env([("MY_SERVICE_TELEMETRY", "off")])
///     .args(["my-service", "--port", "8080"])
///     .executable("/usr/bin/my-service")
///     .config_value("on")
///     .resolve()
///     .unwrap();
/// assert_eq!(decision.consent, Consent::Disabled);
/// assert_eq!(decision.source, ConsentSource::AppEnv("MY_SERVICE_TELEMETRY".into()));
/// ```
#[derive(Clone, Debug)]
pub struct ConsentResolver {
    var: String,
    env: Option<BTreeMap<String, OsString>>,
    args: Option<Vec<OsString>>,
    executables: Option<Vec<OsString>>,
    config: Option<Setting>,
}

#[derive(Clone, Debug)]
enum Setting {
    Raw(String),
    Parsed(Consent),
}

/// What one source says.
type Said = Result<Option<(Consent, ConsentSource)>, ConsentError>;

impl ConsentResolver {
    /// A resolver for the app `app`, whose variables are `<APP>_TELEMETRY` and
    /// `<APP>_TELEMETRY_DISABLED`, `<APP>` being `app` in upper case with every
    /// character other than a letter or digit replaced by `_` (`my-service` →
    /// `MY_SERVICE_TELEMETRY`).
    pub fn new(app: &str) -> ConsentResolver {
        let prefix: String = app
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        let var = if prefix.is_empty() {
            "TELEMETRY".to_owned()
        } else {
            format!("{prefix}_TELEMETRY")
        };
        ConsentResolver {
            var,
            env: None,
            args: None,
            executables: None,
            config: None,
        }
    }

    /// The app's variable: `<APP>_TELEMETRY` (its boolean twin adds `_DISABLED`).
    pub fn env_var(&self) -> &str {
        &self.var
    }

    /// The consent the app's configuration gives.
    pub fn config(mut self, consent: Consent) -> ConsentResolver {
        self.config = Some(Setting::Parsed(consent));
        self
    }

    /// The configuration's raw value, parsed like every other source's.
    pub fn config_value(mut self, value: impl Into<String>) -> ConsentResolver {
        self.config = Some(Setting::Raw(value.into()));
        self
    }

    /// Reads variables from `vars` instead of the process's environment; a
    /// variable missing from `vars` is unset.
    pub fn env<I, K, V>(mut self, vars: I) -> ConsentResolver
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<OsString>,
    {
        let vars = vars.into_iter().map(|(k, v)| (k.into(), v.into()));
        self.env = Some(vars.collect());
        self
    }

    /// Reads flags from `args` instead of `std::env::args`. The program's name
    /// may be included or not; arguments after `--` are not read.
    pub fn args<I, S>(mut self, args: I) -> ConsentResolver
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args = Some(args.into_iter().map(Into::into).collect());
        self
    }

    /// Takes `path` as the executable instead of the process's own (by default
    /// both the name it was started by and the file it runs from are checked).
    pub fn executable(mut self, path: impl AsRef<Path>) -> ConsentResolver {
        let name = path.as_ref().file_name().unwrap_or_default().to_owned();
        self.executables.get_or_insert_with(Vec::new).push(name);
        self
    }

    /// The decision, or the first invalid value found, strongest source first.
    /// A CLI should report the error and exit ([`resolve_or_exit`](Self::resolve_or_exit)).
    pub fn resolve(&self) -> Result<ConsentDecision, ConsentError> {
        let said = [
            Ok(self.executable_name()),
            Ok(self.do_not_track()),
            self.command_line(),
            self.app_env(),
            self.configuration(),
        ];
        let mut decision = None;
        let mut overridden = Vec::new();
        for source in said {
            if let Some((consent, source)) = source? {
                match &decision {
                    None => decision = Some(ConsentDecision::new(consent, source)),
                    Some(locked) if locked.is_locked() && consent != locked.consent => {
                        overridden.push(format!("{consent} by {source}"));
                    }
                    Some(_) => {}
                }
            }
        }
        let decision = decision.unwrap_or_else(ConsentDecision::undecided);
        if !overridden.is_empty() {
            log_once(
                log::Level::Info,
                format!("{decision}; ignoring {}", overridden.join(", ")),
            );
        }
        Ok(decision)
    }

    /// For servers: an invalid value disables telemetry (a typo never turns it
    /// on) and is logged once as a warning.
    pub fn resolve_lenient(&self) -> ConsentDecision {
        self.resolve().unwrap_or_else(|error| {
            log_once(
                log::Level::Warn,
                format!("{error}; telemetry is disabled until it is fixed"),
            );
            ConsentDecision::new(Consent::Disabled, error.from)
        })
    }

    /// For CLIs: an invalid value is printed to stderr and the process exits
    /// with status 2 (a usage error).
    pub fn resolve_or_exit(&self) -> ConsentDecision {
        self.resolve().unwrap_or_else(|error| {
            eprintln!("error: {error}");
            std::process::exit(2)
        })
    }

    fn var(&self, name: &str) -> Option<String> {
        let value = match &self.env {
            Some(vars) => vars.get(name).cloned(),
            None => std::env::var_os(name),
        };
        // Not UTF-8 is not a valid value either: keep it, lossily, for the message.
        value.map(|value| value.to_string_lossy().into_owned())
    }

    /// The first locking source; the process's decision starts from it.
    pub(super) fn executable_name(&self) -> Option<(Consent, ConsentSource)> {
        let names = match &self.executables {
            Some(names) => names.clone(),
            None => own_executable_names(),
        };
        let tracked = names.iter().any(|name| {
            let name = name.to_string_lossy().to_ascii_lowercase();
            let squeezed: String = name.chars().filter(char::is_ascii_alphanumeric).collect();
            squeezed.contains("donottrack")
        });
        tracked.then_some((Consent::Disabled, ConsentSource::ExecutableName))
    }

    /// The second locking source.
    pub(super) fn do_not_track(&self) -> Option<(Consent, ConsentSource)> {
        let value = self.var("DO_NOT_TRACK")?;
        let off = value.trim().is_empty() || value.parse::<Consent>() == Ok(Consent::Disabled);
        (!off).then_some((Consent::Disabled, ConsentSource::DoNotTrack))
    }

    fn command_line(&self) -> Said {
        let args = match &self.args {
            Some(args) => args.clone(),
            None => std::env::args_os().skip(1).collect(),
        };
        let invalid = |setting: &str, error| ConsentError {
            from: ConsentSource::CommandLine,
            setting: setting.to_owned(),
            invalid: error,
        };
        let mut said = Vec::new();
        let mut args = args.iter().map(|arg| arg.to_string_lossy());
        while let Some(arg) = args.next() {
            if arg == "--" {
                break;
            }
            if arg == "--disable-telemetry" {
                said.push(Consent::Disabled);
            } else if let Some(value) = arg.strip_prefix("--disable-telemetry=") {
                let disabled = parse_disabled(value)
                    .map_err(|error| invalid("flag --disable-telemetry", error))?;
                said.extend(disabled);
            } else if let Some(value) = arg.strip_prefix("--telemetry=") {
                said.push(value.parse().map_err(|e| invalid("flag --telemetry", e))?);
            } else if arg == "--telemetry" {
                match args.next() {
                    Some(value) if !value.starts_with("--") => {
                        said.push(value.parse().map_err(|e| invalid("flag --telemetry", e))?);
                    }
                    missing => {
                        let error = InvalidConsent::new(missing.unwrap_or_default());
                        return Err(invalid("flag --telemetry (it needs a value)", error));
                    }
                }
            }
        }
        Ok(strictest(said).map(|consent| (consent, ConsentSource::CommandLine)))
    }

    fn app_env(&self) -> Said {
        let disabled_var = format!("{}_DISABLED", self.var);
        let invalid = |var: &str, error| ConsentError {
            from: ConsentSource::AppEnv(var.to_owned()),
            setting: format!("environment variable {var}"),
            invalid: error,
        };
        let telemetry = match self.var(&self.var) {
            Some(value) => value.parse().map_err(|e| invalid(&self.var, e))?,
            None => Consent::Undecided,
        };
        let disabled = match self.var(&disabled_var) {
            Some(value) => parse_disabled(&value).map_err(|e| invalid(&disabled_var, e))?,
            None => None,
        };
        Ok(match (disabled, telemetry) {
            (Some(consent), _) => Some((consent, ConsentSource::AppEnv(disabled_var))),
            (None, Consent::Undecided) => None,
            (None, consent) => Some((consent, ConsentSource::AppEnv(self.var.clone()))),
        })
    }

    fn configuration(&self) -> Said {
        let consent = match &self.config {
            None => return Ok(None),
            Some(Setting::Parsed(consent)) => *consent,
            Some(Setting::Raw(value)) => value.parse().map_err(|error| ConsentError {
                from: ConsentSource::Config,
                setting: "telemetry setting in the configuration".to_owned(),
                invalid: error,
            })?,
        };
        Ok((consent != Consent::Undecided).then_some((consent, ConsentSource::Config)))
    }
}

/// A "disabled" switch: on → `Disabled`; off or undecided → no decision (it
/// never enables).
fn parse_disabled(value: &str) -> Result<Option<Consent>, InvalidConsent> {
    Ok(match value.parse()? {
        Consent::Enabled => Some(Consent::Disabled),
        Consent::Disabled | Consent::Undecided => None,
    })
}

/// Of several values from one source, "off" wins over "on".
fn strictest(said: Vec<Consent>) -> Option<Consent> {
    if said.contains(&Consent::Disabled) {
        Some(Consent::Disabled)
    } else if said.contains(&Consent::Enabled) {
        Some(Consent::Enabled)
    } else {
        None
    }
}

/// The name the process was started by (a `donottrack` symlink shows only
/// there) and the file it runs from.
fn own_executable_names() -> Vec<OsString> {
    let started_as = std::env::args_os().next().map(std::path::PathBuf::from);
    let runs_from = std::env::current_exe().ok();
    [started_as, runs_from]
        .into_iter()
        .flatten()
        .filter_map(|path| path.file_name().map(ToOwned::to_owned))
        .collect()
}

/// Logs each distinct message once per process.
fn log_once(level: log::Level, message: String) {
    static LOGGED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    // Bounded: a process that keeps resolving new bad values stops logging them.
    const MAX_MESSAGES: usize = 64;
    let mut logged = lock(&LOGGED);
    if logged.len() < MAX_MESSAGES && logged.insert(message.clone()) {
        log::log!(level, "telemetry: {message}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_names_the_setting_and_keeps_the_value_as_its_source() {
        let error = ConsentResolver::new("my-service")
            .env([("MY_SERVICE_TELEMETRY_DISABLED", "sure")])
            .args(["my-service"])
            .executable("my-service")
            .resolve()
            .unwrap_err();
        let var = "MY_SERVICE_TELEMETRY_DISABLED";
        assert_eq!(error.source(), &ConsentSource::AppEnv(var.into()));
        assert_eq!(error.value(), "sure");
        let invalid = InvalidConsent::new("sure");
        assert_eq!(
            error.to_string(),
            format!("invalid environment variable {var}: {invalid}")
        );
        let cause = std::error::Error::source(&error).expect("the invalid value");
        assert_eq!(cause.to_string(), invalid.to_string());
        assert!(cause.source().is_none());
    }
}
