//! Consent: whether anonymized reports may leave the machine, and which source
//! decided it.
//!
//! Collecting and [`snapshot`](crate::snapshot()) always work locally; consent
//! governs only what is sent. The sources, strongest first:
//!
//! 1. the executable's file name contains `donottrack` (locks);
//! 2. `DO_NOT_TRACK` set to anything but empty or an off value (locks);
//! 3. the command line: `--telemetry=VALUE` (or `--telemetry VALUE`),
//!    `--disable-telemetry`;
//! 4. the app's variables `<APP>_TELEMETRY=VALUE` and `<APP>_TELEMETRY_DISABLED=BOOL`;
//! 5. the app's configuration;
//! 6. otherwise [`Consent::Undecided`].
//!
//! A source that says "undecided" (or is absent) leaves the decision to the
//! weaker ones. Within one source, "off" beats "on". A locked decision cannot be
//! overridden by a weaker source, and no value is ever read as "on" unless it is
//! one of the on values.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize, Serializer};

/// Whether anonymized reports may be sent.
///
/// ```
/// use telemetry::Consent;
///
/// assert_eq!(" Yes ".parse::<Consent>(), Ok(Consent::Enabled));
/// assert_eq!("opt-out".parse::<Consent>(), Ok(Consent::Disabled));
/// assert_eq!("".parse::<Consent>(), Ok(Consent::Undecided));
/// let error = "maybe".parse::<Consent>().unwrap_err();
/// assert!(error.to_string().contains("opt-in"));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Consent {
    /// Reports may be sent.
    Enabled,
    /// Nothing is ever sent.
    Disabled,
    /// No one decided: the reporter waits before its first report.
    #[default]
    Undecided,
}

/// Values that enable, compared case-insensitively after trimming blanks.
pub const ON_VALUES: [&str; 11] = [
    "1", "t", "true", "y", "yes", "on", "enable", "enabled", "optin", "opt-in", "allow",
];

/// Values that disable.
pub const OFF_VALUES: [&str; 12] = [
    "0", "f", "false", "n", "no", "off", "disable", "disabled", "optout", "opt-out", "disallow",
    "forbid",
];

/// Values that leave the decision open, besides the empty value.
pub const UNDECIDED_VALUES: [&str; 1] = ["undecided"];

impl FromStr for Consent {
    type Err = InvalidConsent;

    fn from_str(text: &str) -> Result<Consent, InvalidConsent> {
        let value = text.trim().to_ascii_lowercase();
        let is = |list: &[&str]| list.contains(&value.as_str());
        if value.is_empty() || is(&UNDECIDED_VALUES) {
            Ok(Consent::Undecided)
        } else if is(&ON_VALUES) {
            Ok(Consent::Enabled)
        } else if is(&OFF_VALUES) {
            Ok(Consent::Disabled)
        } else {
            Err(InvalidConsent {
                value: text.to_owned(),
            })
        }
    }
}

impl fmt::Display for Consent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Consent::Enabled => "enabled",
            Consent::Disabled => "disabled",
            Consent::Undecided => "undecided",
        })
    }
}

/// A value that is not a [`Consent`]; its message lists the accepted values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidConsent {
    value: String,
}

impl InvalidConsent {
    /// The rejected value, as given.
    pub fn value(&self) -> &str {
        &self.value
    }
}

impl fmt::Display for InvalidConsent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a telemetry setting; accepted (any case): to enable: {}; \
             to disable: {}; to leave undecided: an empty value or {}",
            self.value,
            ON_VALUES.join(", "),
            OFF_VALUES.join(", "),
            UNDECIDED_VALUES.join(", ")
        )
    }
}

impl std::error::Error for InvalidConsent {}

/// Where a consent decision came from, strongest first.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ConsentSource {
    /// The executable's file name contains `donottrack`. Locks.
    ExecutableName,
    /// The `DO_NOT_TRACK` environment variable. Locks.
    DoNotTrack,
    /// `--telemetry=VALUE` or `--disable-telemetry` on the command line.
    CommandLine,
    /// The app's environment variable, by name (`MYAPP_TELEMETRY`,
    /// `MYAPP_TELEMETRY_DISABLED`).
    AppEnv(String),
    /// The app's configuration (or the app itself, at run time).
    Config,
    /// Nothing decided.
    Default,
}

impl ConsentSource {
    /// Whether a decision from this source locks out every weaker one.
    pub fn locks(&self) -> bool {
        matches!(
            self,
            ConsentSource::ExecutableName | ConsentSource::DoNotTrack
        )
    }
}

impl fmt::Display for ConsentSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConsentSource::ExecutableName => f.write_str("the executable's name"),
            ConsentSource::DoNotTrack => f.write_str("DO_NOT_TRACK"),
            ConsentSource::CommandLine => f.write_str("the command line"),
            ConsentSource::AppEnv(var) => f.write_str(var),
            ConsentSource::Config => f.write_str("the configuration"),
            ConsentSource::Default => f.write_str("the default"),
        }
    }
}

impl Serialize for ConsentSource {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A consent and the source that decided it: what the app logs and shows on its
/// debug endpoint.
///
/// ```
/// use telemetry::{Consent, ConsentDecision, ConsentSource};
///
/// let decision = ConsentDecision::new(Consent::Disabled, ConsentSource::DoNotTrack);
/// assert!(decision.is_locked());
/// assert_eq!(decision.to_string(), "telemetry disabled by DO_NOT_TRACK (locked)");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConsentDecision {
    /// The decision.
    pub consent: Consent,
    /// Who made it.
    pub source: ConsentSource,
}

impl ConsentDecision {
    /// `consent`, decided by `source`.
    pub fn new(consent: Consent, source: ConsentSource) -> ConsentDecision {
        ConsentDecision { consent, source }
    }

    /// Undecided, by default.
    pub fn undecided() -> ConsentDecision {
        ConsentDecision::new(Consent::Undecided, ConsentSource::Default)
    }

    /// Whether no weaker source may change it.
    pub fn is_locked(&self) -> bool {
        self.source.locks()
    }

    /// Whether reports may be sent.
    pub fn allows_sending(&self) -> bool {
        self.consent == Consent::Enabled
    }
}

impl fmt::Display for ConsentDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "telemetry {} by {}", self.consent, self.source)?;
        if self.is_locked() {
            f.write_str(" (locked)")?;
        }
        Ok(())
    }
}

/// A source held a value that is not a consent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsentError {
    source: ConsentSource,
    setting: String,
    invalid: InvalidConsent,
}

impl ConsentError {
    /// The source that held the value.
    pub fn source(&self) -> &ConsentSource {
        &self.source
    }

    /// The rejected value, as given.
    pub fn value(&self) -> &str {
        self.invalid.value()
    }
}

impl fmt::Display for ConsentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.setting, self.invalid)
    }
}

impl std::error::Error for ConsentError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.invalid)
    }
}

/// The app tried to change a locked decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsentLocked {
    /// The decision in force.
    pub current: ConsentDecision,
    /// The decision refused.
    pub refused: ConsentDecision,
}

impl fmt::Display for ConsentLocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how_to_unlock = match self.current.source {
            ConsentSource::ExecutableName => "rename the executable",
            _ => "unset DO_NOT_TRACK",
        };
        write!(
            f,
            "cannot set telemetry {} by {}: {}, which no other source can override; \
             to change it, {how_to_unlock}",
            self.refused.consent, self.refused.source, self.current
        )
    }
}

impl std::error::Error for ConsentLocked {}

/// Resolves consent from every source, strongest first.
///
/// By default it reads the process's environment, arguments and executable name;
/// tests (and apps that parse their own command line) pass them instead.
///
/// ```
/// use telemetry::{Consent, ConsentResolver, ConsentSource};
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
            ConsentDecision::new(Consent::Disabled, error.source)
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

    fn executable_name(&self) -> Option<(Consent, ConsentSource)> {
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

    fn do_not_track(&self) -> Option<(Consent, ConsentSource)> {
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
            source: ConsentSource::CommandLine,
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
                        let value = missing.unwrap_or_default().into_owned();
                        let error = InvalidConsent { value };
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
            source: ConsentSource::AppEnv(var.to_owned()),
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
                source: ConsentSource::Config,
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
    let mut logged = LOGGED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if logged.len() < MAX_MESSAGES && logged.insert(message.clone()) {
        log::log!(level, "telemetry: {message}");
    }
}

/// `None` until first read; then the process's decision.
static CURRENT: Mutex<Option<ConsentDecision>> = Mutex::new(None);

fn current() -> MutexGuard<'static, Option<ConsentDecision>> {
    CURRENT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The process's consent decision: what [`set_consent`] set, else what the
/// locking sources (the executable's name, `DO_NOT_TRACK`) say, else undecided.
pub fn consent() -> ConsentDecision {
    current().get_or_insert_with(locked_by_process).clone()
}

/// Sets the process's consent, typically to what a [`ConsentResolver`] decided,
/// or later when the user changes the setting.
///
/// A decision locked by the executable's name or `DO_NOT_TRACK` (whether found by
/// a resolver or read from the process on first use) cannot be changed by a
/// weaker source: that is an error, and the decision stays.
///
/// ```
/// use telemetry::{Consent, ConsentDecision, ConsentSource};
///
/// let decision = telemetry::ConsentResolver::new("my-service")
///     .config(Consent::Enabled)
///     .resolve_lenient();
/// match telemetry::set_consent(decision) {
///     Ok(()) => println!("{}", telemetry::consent()),
///     Err(locked) => println!("{locked}"),
/// }
/// ```
pub fn set_consent(decision: ConsentDecision) -> Result<(), ConsentLocked> {
    let mut current = current();
    let current = current.get_or_insert_with(locked_by_process);
    replace(current, decision)
}

fn replace(current: &mut ConsentDecision, new: ConsentDecision) -> Result<(), ConsentLocked> {
    if current.is_locked() && !new.is_locked() {
        if new.consent == current.consent {
            // Same effect; the stronger source stays on record.
            return Ok(());
        }
        return Err(ConsentLocked {
            current: current.clone(),
            refused: new,
        });
    }
    *current = new;
    Ok(())
}

fn locked_by_process() -> ConsentDecision {
    let resolver = ConsentResolver::new("");
    resolver
        .executable_name()
        .or_else(|| resolver.do_not_track())
        .map_or_else(ConsentDecision::undecided, |(consent, source)| {
            ConsentDecision::new(consent, source)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ConsentDecision {
        ConsentDecision::new(Consent::Enabled, ConsentSource::Config)
    }

    #[test]
    fn a_locked_decision_refuses_a_weaker_change() {
        let mut current = ConsentDecision::new(Consent::Disabled, ConsentSource::DoNotTrack);
        let error = replace(&mut current, config()).unwrap_err();
        assert_eq!(current.source, ConsentSource::DoNotTrack);
        let message = error.to_string();
        assert!(
            message.contains("DO_NOT_TRACK") && message.contains("unset DO_NOT_TRACK"),
            "{message}"
        );

        let off = ConsentDecision::new(Consent::Disabled, ConsentSource::Config);
        replace(&mut current, off).unwrap();
        assert_eq!(current.source, ConsentSource::DoNotTrack);
    }

    #[test]
    fn an_unlocked_decision_follows_the_app() {
        let mut current = ConsentDecision::undecided();
        replace(&mut current, config()).unwrap();
        assert_eq!(current, config());
        let by_name = ConsentDecision::new(Consent::Disabled, ConsentSource::ExecutableName);
        replace(&mut current, by_name.clone()).unwrap();
        let error = replace(&mut current, config()).unwrap_err();
        assert!(error.to_string().contains("rename the executable"));
        assert_eq!(current, by_name);
    }

    #[test]
    fn the_process_decision_starts_from_its_locking_sources() {
        // Whatever this machine's DO_NOT_TRACK says, `consent()` agrees with a
        // resolver reading the same process.
        let expected = locked_by_process();
        assert_eq!(consent().source, expected.source);
        assert!(matches!(
            consent().source,
            ConsentSource::Default | ConsentSource::DoNotTrack | ConsentSource::ExecutableName
        ));
    }
}
