//! The anonymized form of a snapshot: the only form that may leave the machine.
//!
//! [`Anonymizer::anonymize`] decides, field by field, what is kept, hashed,
//! rounded or dropped. Its patterns name every field of every snapshot type and
//! never use `..`: a field added to `Snapshot`, `FunctionStats`, `Latency`,
//! `CriticalError`, `SystemInfo` or `AppInfo` fails to compile here until someone
//! decides how it is anonymized, so a new field can never leak by default. It is
//! a pure function of the snapshot and the anonymizer: it reads no registry and
//! no live state, so a snapshot anonymizes alike whenever and wherever.
//!
//! # The rule
//!
//! Nothing computed from text that exists only at run time leaves, hashed or
//! not: panic messages and payloads, thread names, paths of this machine, the
//! environment, command-line arguments, anything the app passes in as a
//! `String`. A hash is no anonymization for such text: an id, an address or a
//! user name has few enough likely values that whoever holds the key hashes
//! them all and finds the match. What leaves:
//!
//! - Identifiers of the program's own code, as a keyed hash: fn names (fixed
//!   in the code, or the `Self` type's name), fact names (`&'static str`),
//!   crate-relative source files (reduced by one fixed rule, the `source_path`
//!   module) and the symbols of backtrace frames. The hash is SipHash-2-4 of
//!   the UTF-8 bytes under a 128-bit [`NameKey`], as 16 lowercase hex digits:
//!   the same on every platform and compiler version. It keeps names from
//!   whoever reads a report without the key; the key's holder can reverse the
//!   names of code it knows, so no privacy claim rests on the key.
//! - Numbers, with their leading digits only ([`keep_leading_digits`]);
//!   absolute times cut to the minute; line and column numbers of code.
//! - Words of fixed sets: machine facts from allow-lists, a critical error's
//!   [`PanicCategory`](crate::PanicCategory), a fact's value when it is one of
//!   the set the app declared in code (which the snapshot carries).
//! - The app's name and version, which the program sets from `&'static str`
//!   (its `Cargo.toml`, through `app_info!()`).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

use crate::settings::{set_once, AlreadySet};

use siphasher::sip::SipHasher24;
use siphasher::sip128::SipHasher24 as SipHasher24x128;

use crate::facts::{fact_names, FactValue};
use crate::instance::AppInfo;
use crate::panic::CriticalError;
use crate::registry::call_sites;
use crate::snapshot::{FunctionStats, Latency, Snapshot};
use crate::source_path::{map_path, reduce_path};
use crate::system::{self, SystemInfo};

/// The secret that keys the name hash.
///
/// Whoever holds the key can hash a list of likely names and match them against
/// a report; whoever does not, cannot. So the key belongs to the app's owners:
/// generate 16 random bytes once (`openssl rand -hex 16`), keep them out of the
/// public source (a CI secret), and compile them into release builds:
///
/// ```
/// use telemetry::anonymize::{Anonymizer, NameKey};
///
/// // Set by the release build from a CI secret; unset in development builds.
/// let key = match option_env!("MYAPP_TELEMETRY_KEY") {
///     Some(secret) => NameKey::from_secret(secret).expect("MYAPP_TELEMETRY_KEY is too short"),
///     None => NameKey::DEFAULT,
/// };
/// let _ = telemetry::anonymize::set(Anonymizer::new(key));
/// ```
///
/// Keep the key across releases: a new key gives every name a new hash, and
/// reports from before and after no longer line up.
///
/// What the key protects, and what not: a report read without the key does not
/// give away the names of the program's fns, facts and source files. Whoever
/// holds the key (the collector's owner, anyone who reads it out of the binary,
/// anyone at all for [`NameKey::DEFAULT`]) can hash the names of code they know
/// or guess and read those back. So no privacy claim rests on the key: what may
/// be private (panic messages, thread names, paths of the machine, free-text
/// facts) never leaves the machine, hashed or not.
#[derive(Clone, PartialEq, Eq)]
pub struct NameKey([u8; 16]);

impl NameKey {
    /// The key used unless the app sets one: the 16 ASCII bytes
    /// `telemetry-name-1`. It is public, and meant to be: hashes made with it
    /// keep names from a casual reader only, as anyone can hash a dictionary of
    /// likely fn names with it. Nothing else depends on the key (see above).
    pub const DEFAULT: NameKey = NameKey(*b"telemetry-name-1");

    /// The fewest bytes [`NameKey::from_secret`] accepts.
    pub const MIN_SECRET_LEN: usize = 16;

    /// A key of exactly these 16 bytes.
    pub const fn from_bytes(bytes: [u8; 16]) -> NameKey {
        NameKey(bytes)
    }

    /// A key derived from a secret of any length (at least 16 bytes), such as
    /// 32 hex digits from `openssl rand -hex 16`. The same secret always gives
    /// the same key.
    ///
    /// ```
    /// use telemetry::anonymize::NameKey;
    ///
    /// let key = NameKey::from_secret("5f0c2a9e81d34b7f9a6e0c3d2b1f4e8a").unwrap();
    /// assert_ne!(key, NameKey::DEFAULT);
    /// assert!(NameKey::from_secret("hunter2").is_err());
    /// ```
    pub fn from_secret(secret: impl AsRef<[u8]>) -> Result<NameKey, InvalidNameKey> {
        let secret = secret.as_ref();
        if secret.len() < Self::MIN_SECRET_LEN {
            return Err(InvalidNameKey { len: secret.len() });
        }
        // A fixed-key SipHash-128 spreads any secret over all 128 key bits.
        let derive = SipHasher24x128::new_with_key(b"telemetry-key-v1");
        Ok(NameKey(derive.hash(secret).as_bytes()))
    }
}

impl fmt::Debug for NameKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key must not end up in logs.
        if *self == NameKey::DEFAULT {
            f.write_str("NameKey::DEFAULT")
        } else {
            f.write_str("NameKey(<secret>)")
        }
    }
}

impl Default for NameKey {
    fn default() -> NameKey {
        NameKey::DEFAULT
    }
}

/// A secret too short to be a [`NameKey`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidNameKey {
    len: usize,
}

impl fmt::Display for InvalidNameKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a name key secret of {} bytes is too short to resist guessing: \
             give at least {} random bytes, e.g. the 32 hex digits of `openssl rand -hex 16`",
            self.len,
            NameKey::MIN_SECRET_LEN
        )
    }
}

impl std::error::Error for InvalidNameKey {}

/// A number of leading digits outside `1..=6`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidDigits {
    digits: u32,
}

impl fmt::Display for InvalidDigits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot keep {} leading digits of anonymized numbers: accepted are 1 to {} \
             ({} is the most an anonymized snapshot may keep)",
            self.digits,
            Anonymizer::MAX_DIGITS,
            Anonymizer::MAX_DIGITS
        )
    }
}

impl std::error::Error for InvalidDigits {}

/// Keeps the `digits` leading digits of `value` and zeroes the rest.
///
/// ```
/// use telemetry::anonymize::keep_leading_digits;
///
/// assert_eq!(keep_leading_digits(123_456_789, 6), 123_456_000);
/// assert_eq!(keep_leading_digits(1_234_567, 6), 1_234_560);
/// assert_eq!(keep_leading_digits(999_999, 6), 999_999);
/// assert_eq!(keep_leading_digits(123_456_789, 2), 120_000_000);
/// ```
pub fn keep_leading_digits(value: u64, digits: u32) -> u64 {
    let len = value.checked_ilog10().map_or(1, |log| log + 1);
    if len <= digits {
        return value;
    }
    let unit = 10u64.pow(len - digits);
    value - value % unit
}

/// Absolute times are cut to this, in ms.
const TIME_RESOLUTION_MS: u64 = 60_000;

/// Memory size keeps at most this many leading digits: enough to tell an 8 GB
/// machine from a 16 GB one, too few to tell two machines of one model apart.
const MEMORY_DIGITS: u32 = 2;

/// Turns snapshots into their anonymized form, with one key and one precision.
///
/// [`Snapshot::anonymize`] uses the process's anonymizer, set once with
/// [`set`]; build one yourself to anonymize with another key.
///
/// ```
/// use telemetry::anonymize::{Anonymizer, NameKey};
///
/// let anonymizer = Anonymizer::new(NameKey::DEFAULT).with_digits(3).unwrap();
/// assert_eq!(anonymizer.round(123_456), 123_000);
/// assert_eq!(anonymizer.hash("my_service::db::query").len(), 16);
///
/// let public = anonymizer.anonymize(&telemetry::snapshot());
/// assert!(public.anonymized);
/// ```
#[derive(Clone, Debug)]
pub struct Anonymizer {
    key: NameKey,
    digits: u32,
}

impl Default for Anonymizer {
    fn default() -> Anonymizer {
        Anonymizer::new(NameKey::DEFAULT)
    }
}

impl Anonymizer {
    /// The most leading digits a number keeps, and the default.
    pub const MAX_DIGITS: u32 = 6;

    /// Hashes with `key`, keeps [`Anonymizer::MAX_DIGITS`] digits.
    pub fn new(key: NameKey) -> Anonymizer {
        Anonymizer {
            key,
            digits: Self::MAX_DIGITS,
        }
    }

    /// Keeps fewer leading digits of every number (1 to 6).
    pub fn with_digits(self, digits: u32) -> Result<Anonymizer, InvalidDigits> {
        if !(1..=Self::MAX_DIGITS).contains(&digits) {
            return Err(InvalidDigits { digits });
        }
        Ok(Anonymizer { digits, ..self })
    }

    /// Leading digits kept.
    pub fn digits(&self) -> u32 {
        self.digits
    }

    /// The keyed hash of `text`: 16 lowercase hex digits.
    ///
    /// ```
    /// let anonymizer = telemetry::anonymize::Anonymizer::default();
    /// assert_eq!(anonymizer.hash("main"), anonymizer.hash("main"));
    /// assert_ne!(anonymizer.hash("main"), anonymizer.hash("Main"));
    /// ```
    pub fn hash(&self, text: &str) -> String {
        // The bytes alone, not `Hash for str` (which appends a marker byte):
        // anyone with the key can reproduce the value from the text.
        let hash = SipHasher24::new_with_key(&self.key.0).hash(text.as_bytes());
        format!("{hash:016x}")
    }

    /// `value` with [`Anonymizer::digits`] leading digits kept.
    pub fn round(&self, value: u64) -> u64 {
        keep_leading_digits(value, self.digits)
    }

    /// Name → hash of every instrumented fn of the program and every app fact,
    /// for the app's owners to read reports. A method named after its `Self`
    /// type appears once it has been called.
    pub fn name_table(&self) -> BTreeMap<String, String> {
        let fns = call_sites().filter_map(|site| site.name().map(|name| name.into_owned()));
        fns.chain(fact_names())
            .map(|name| {
                let hash = self.hash(&name);
                (name, hash)
            })
            .collect()
    }

    /// The form of `snapshot` that may leave the machine (`anonymized: true`).
    pub fn anonymize(&self, snapshot: &Snapshot) -> Snapshot {
        // Every field is named: a new one does not compile until it has a rule.
        let Snapshot {
            schema_version,
            instance_id,
            anonymized: _,
            details_level,
            taken_at_unix_ms,
            uptime_ms,
            app,
            facts,
            fact_choices,
            system,
            functions,
            critical_errors,
            critical_errors_dropped,
        } = snapshot;
        Snapshot {
            // Format facts, not data.
            schema_version: *schema_version,
            details_level: *details_level,
            // Random per start (or per installation, if the app opts in).
            instance_id: *instance_id,
            anonymized: true,
            taken_at_unix_ms: coarsen_time(*taken_at_unix_ms),
            uptime_ms: self.round(*uptime_ms),
            app: self.app(app),
            facts: facts
                .iter()
                .filter_map(|(name, value)| {
                    let declared = fact_choices.get(name).map_or(&[][..], Vec::as_slice);
                    Some((self.hash(name), self.fact(value, declared)?))
                })
                .collect(),
            // The kept values say all that is needed of the sets.
            fact_choices: BTreeMap::new(),
            system: self.system(system),
            functions: functions
                .iter()
                .map(|(name, stats)| (self.hash(name), self.function(stats)))
                .collect(),
            critical_errors: critical_errors
                .iter()
                .map(|error| self.critical_error(error))
                .collect(),
            critical_errors_dropped: self.round(*critical_errors_dropped),
        }
    }

    fn app(&self, app: &AppInfo) -> AppInfo {
        let AppInfo { name, version } = app;
        // The program's own name and version are what the report is about.
        AppInfo {
            name: name.clone(),
            version: version.clone(),
        }
    }

    /// `None` where the fact is left out: text that is not one of `declared`,
    /// the set the app declared in code, may be anything.
    fn fact(&self, value: &FactValue, declared: &[String]) -> Option<FactValue> {
        match value {
            FactValue::Bool(flag) => Some(FactValue::Bool(*flag)),
            FactValue::Int(number) => Some(FactValue::Int(self.round_signed(*number))),
            FactValue::Text(text) => declared
                .contains(text)
                .then(|| FactValue::Text(text.clone())),
        }
    }

    fn round_signed(&self, number: i64) -> i64 {
        let magnitude = self.round(number.unsigned_abs());
        // Rounding toward zero keeps the magnitude within i64's range.
        let magnitude = i64::try_from(magnitude).unwrap_or(i64::MAX);
        if number < 0 {
            -magnitude
        } else {
            magnitude
        }
    }

    fn system(&self, system: &SystemInfo) -> SystemInfo {
        let SystemInfo {
            os,
            arch,
            cpu_count,
            memory_bytes,
            in_container,
            kernel,
            kernel_version,
            disk,
            cpu_features,
        } = system;
        SystemInfo {
            // Strings from fixed sets only: an unknown value may be anything.
            os: system::known_os(os).to_owned(),
            arch: system::known_arch(arch).to_owned(),
            kernel: system::known_kernel(kernel).to_owned(),
            cpu_features: system::known_cpu_features(cpu_features),
            cpu_count: self.round(*cpu_count),
            memory_bytes: keep_leading_digits(*memory_bytes, self.digits.min(MEMORY_DIGITS)),
            kernel_version: kernel_version
                .map(|[major, minor]| [self.round_u32(major), self.round_u32(minor)]),
            in_container: *in_container,
            disk: *disk,
        }
    }

    fn round_u32(&self, value: u32) -> u32 {
        // Rounding never grows a number, so it still fits.
        u32::try_from(self.round(u64::from(value))).unwrap_or(u32::MAX)
    }

    fn function(&self, stats: &FunctionStats) -> FunctionStats {
        let FunctionStats {
            kind,
            calls,
            ok,
            err,
            panics,
            cancelled,
            in_flight,
            latency_ns,
        } = stats;
        FunctionStats {
            kind: *kind,
            calls: self.round(*calls),
            ok: self.round(*ok),
            err: self.round(*err),
            panics: self.round(*panics),
            cancelled: self.round(*cancelled),
            in_flight: self.round(*in_flight),
            latency_ns: latency_ns.as_ref().map(|latency| self.latency(latency)),
        }
    }

    fn latency(&self, latency: &Latency) -> Latency {
        let Latency {
            count,
            sample,
            min,
            max,
            mean,
            p50,
            p90,
            p99,
            p999,
            sum,
            buckets,
        } = latency;
        // Truncation is monotonic: min <= p50 <= … <= max still holds.
        Latency {
            count: self.round(*count),
            // A constant of the program's code, not a measurement.
            sample: *sample,
            min: self.round(*min),
            max: self.round(*max),
            mean: self.round(*mean),
            p50: self.round(*p50),
            p90: self.round(*p90),
            p99: self.round(*p99),
            p999: self.round(*p999),
            sum: sum.map(|sum| self.round(sum)),
            buckets: buckets.as_ref().map(|buckets| self.buckets(buckets)),
        }
    }

    /// Rounds bucket bounds, joining buckets whose bounds become equal, so the
    /// bounds still strictly ascend; then rounds the counts.
    fn buckets(&self, buckets: &[(u64, u64)]) -> Vec<(u64, u64)> {
        let mut joined: Vec<(u64, u64)> = Vec::with_capacity(buckets.len());
        for &(upper, count) in buckets {
            let upper = self.round(upper);
            match joined.last_mut() {
                Some(last) if last.0 >= upper => last.1 = last.1.saturating_add(count),
                _ => joined.push((upper, count)),
            }
        }
        for bucket in &mut joined {
            bucket.1 = self.round(bucket.1);
        }
        joined
    }

    fn critical_error(&self, error: &CriticalError) -> CriticalError {
        let CriticalError {
            message: _,
            category,
            location,
            thread: _,
            count,
            first_seen_unix_ms,
            last_seen_unix_ms,
            backtrace,
        } = error;
        CriticalError {
            // The text may quote anything the program handled, and a hash of
            // it is reversed by enumerating candidates: the category groups
            // panics instead, with the location.
            message: None,
            category: *category,
            location: self.location(location),
            // Thread names are chosen at run time and may name anything.
            thread: None,
            count: self.round(*count),
            first_seen_unix_ms: coarsen_time(*first_seen_unix_ms),
            last_seen_unix_ms: coarsen_time(*last_seen_unix_ms),
            backtrace: backtrace
                .as_ref()
                .map(|frames| frames.iter().map(|frame| self.frame(frame)).collect()),
        }
    }

    /// `src/db.rs:42:17` → `<hash of src/db.rs>:42:17`. The file is first reduced
    /// to its crate-relative path, so one panic site hashes alike on every machine
    /// whatever the directory the app was built in, and only what the reducer's
    /// fixed rule keeps of a path is hashed.
    fn location(&self, location: &str) -> String {
        map_path(location, |file| self.hash(&reduce_path(file)))
    }

    /// `app::db::flush` → its hash (equal to the hash of the fn's key in
    /// `functions`); `app::db::flush at src/db.rs:42:17` → `<hash> at <location>`.
    fn frame(&self, frame: &str) -> String {
        match frame.trim().rsplit_once(" at ") {
            Some((symbol, location)) => format!(
                "{} at {}",
                self.hash(symbol_name(symbol)),
                self.location(location.trim())
            ),
            None => self.hash(symbol_name(frame.trim())),
        }
    }
}

/// Cuts an absolute time to the minute.
fn coarsen_time(unix_ms: u64) -> u64 {
    unix_ms - unix_ms % TIME_RESOLUTION_MS
}

/// A frame's symbol without the `::h0123456789abcdef` disambiguator that rustc
/// appends, which differs between builds.
fn symbol_name(symbol: &str) -> &str {
    let symbol = symbol.trim();
    match symbol.rsplit_once("::h") {
        Some((name, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            name
        }
        _ => symbol,
    }
}

static ANONYMIZER: OnceLock<Anonymizer> = OnceLock::new();

/// Sets the process's anonymizer (its key and precision), once, before the first
/// anonymized snapshot.
///
/// Refuses with [`AlreadySet`] (which hands the anonymizer back) if one was
/// already set, or already used: the reports of one process all hash alike.
///
/// ```
/// use telemetry::anonymize::{self, Anonymizer, NameKey};
///
/// let key = NameKey::from_secret("0123456789abcdef0123456789abcdef").unwrap();
/// anonymize::set(Anonymizer::new(key)).expect("set once at start-up");
/// ```
pub fn set(anonymizer: Anonymizer) -> Result<(), AlreadySet<Anonymizer>> {
    set_once(&ANONYMIZER, "anonymizer", anonymizer)
}

/// The process's anonymizer: what [`set`] set, else the default key
/// and 6 digits.
pub fn current() -> &'static Anonymizer {
    ANONYMIZER.get_or_init(Anonymizer::default)
}

/// Name → hash of every instrumented fn and app fact, with the process's
/// anonymizer: what the app's owners need to read anonymized reports.
///
/// ```
/// #[telemetry::counted]
/// fn checkout() {}
///
/// let table = telemetry::anonymize::name_table();
/// let hash = &table[concat!(module_path!(), "::checkout")];
/// let report = telemetry::snapshot().anonymize();
/// assert!(report.functions.contains_key(hash));
/// ```
pub fn name_table() -> BTreeMap<String, String> {
    current().name_table()
}

impl Snapshot {
    /// The form of this snapshot that may leave the machine, made by the process's
    /// anonymizer ([`current`]): names hashed, numbers rounded, times cut to the minute,
    /// machine facts limited to known values, panic messages and thread names
    /// gone. Anonymize the snapshot you took: anonymizing twice hashes twice.
    ///
    /// ```
    /// #[telemetry::timed]
    /// fn lookup(user_email: &str) -> usize {
    ///     user_email.len()
    /// }
    ///
    /// lookup("ada@example.com");
    /// let report = telemetry::snapshot().anonymize();
    /// assert!(report.anonymized);
    /// assert!(!report.to_json().contains("lookup"));
    /// ```
    pub fn anonymize(&self) -> Snapshot {
        current().anonymize(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siphash_matches_the_reference_vectors() {
        // From the SipHash paper (Aumasson, Bernstein 2012), appendix A: key
        // 00..0f, messages 00..(n-1). Pins the algorithm, not just our use of it.
        let key: [u8; 16] = std::array::from_fn(|i| i as u8);
        let hasher = SipHasher24::new_with_key(&key);
        let message: Vec<u8> = (0..15).collect();
        assert_eq!(hasher.hash(&[]), 0x726f_db47_dd0e_0e31);
        assert_eq!(hasher.hash(&message), 0xa129_ca61_49be_45e5);
    }

    #[test]
    fn frame_symbols_lose_the_build_hash() {
        assert_eq!(
            symbol_name("app::db::flush::h0123456789abcdef"),
            "app::db::flush"
        );
        assert_eq!(symbol_name(" app::db::flush "), "app::db::flush");
        assert_eq!(symbol_name("app::hash::helper"), "app::hash::helper");
    }

    #[test]
    fn times_are_cut_to_the_minute() {
        assert_eq!(coarsen_time(1_795_000_079_999), 1_795_000_020_000);
        assert_eq!(coarsen_time(1_795_000_080_000), 1_795_000_080_000);
        assert_eq!(coarsen_time(59_999), 0);
        assert_eq!(coarsen_time(u64::MAX) % 60_000, 0);
    }

    #[test]
    fn negative_integers_round_toward_zero() {
        let anonymizer = Anonymizer::default().with_digits(2).unwrap();
        assert_eq!(anonymizer.round_signed(-12_345), -12_000);
        assert_eq!(
            anonymizer.round_signed(i64::MIN),
            -9_200_000_000_000_000_000
        );
        assert_eq!(anonymizer.round_signed(i64::MAX), 9_200_000_000_000_000_000);
    }

    #[test]
    fn buckets_stay_strictly_ascending_after_rounding() {
        let anonymizer = Anonymizer::default().with_digits(1).unwrap();
        let buckets = anonymizer.buckets(&[(1023, 3), (1535, 4), (2047, 5), (65535, 1_234_567)]);
        assert_eq!(buckets, vec![(1000, 7), (2000, 5), (60000, 1_000_000)]);
    }
}
