//! Snapshots: every instrumented fn's counters and latency summary, with the
//! process's and machine's facts, as a serde value (`schema_version` 2).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::clock::Scale;
use crate::counter::{pool, Totals};
use crate::facts::{facts_and_choices, FactValue};
use crate::histogram::{bucket_bounds, HistogramCounts, QuantileScratch, QuantileValues};
use crate::instance::{app_info, instance_id, unix_ms, uptime, AppInfo};
use crate::lock::try_lock;
use crate::panic;
pub use crate::panic::CriticalError;
use crate::registry::{call_sites, CallSite, Kind};
use crate::system::{system_info, SystemInfo};

/// Version of the snapshot JSON layout; bumped on any incompatible change.
///
/// 2: a critical error has a `category`, and its `message` is absent from the
/// anonymized form (in 1 it held the message's hash there); anonymized facts
/// leave out text values outside their declared set (in 1 they were hashed);
/// `fact_choices` is new.
pub const SCHEMA_VERSION: u32 = 2;

/// How much a snapshot contains.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum DetailsLevel {
    /// 0: instance, app and system facts.
    Instance = 0,
    /// 1: + every fn's counters and critical errors without backtraces.
    Counters = 1,
    /// 2: + latency summaries (count, min, max, mean, quantiles).
    Summaries = 2,
    /// 3: + latency buckets and backtraces. What [`snapshot`] returns.
    Full = 3,
}

/// A details level outside `0..=3`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidDetailsLevel(String);

impl fmt::Display for InvalidDetailsLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid details level {:?}: expected 0 (instance), 1 (counters), \
             2 (latency summaries) or 3 (buckets and backtraces)",
            self.0
        )
    }
}

impl std::error::Error for InvalidDetailsLevel {}

impl TryFrom<u8> for DetailsLevel {
    type Error = InvalidDetailsLevel;

    fn try_from(level: u8) -> Result<Self, Self::Error> {
        match level {
            0 => Ok(DetailsLevel::Instance),
            1 => Ok(DetailsLevel::Counters),
            2 => Ok(DetailsLevel::Summaries),
            3 => Ok(DetailsLevel::Full),
            _ => Err(InvalidDetailsLevel(level.to_string())),
        }
    }
}

impl From<DetailsLevel> for u8 {
    fn from(level: DetailsLevel) -> u8 {
        level as u8
    }
}

impl FromStr for DetailsLevel {
    type Err = InvalidDetailsLevel;

    /// Parses `"0"` to `"3"` (blanks around are ignored), as in a query string.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidDetailsLevel(text.to_owned());
        let level: u8 = text.trim().parse().map_err(|_| invalid())?;
        DetailsLevel::try_from(level).map_err(|_| invalid())
    }
}

/// Counters (and, for `#[timed]` fns, latencies) of one instrumented fn.
///
/// At rest `calls == ok + err + panics + cancelled`; while calls run, `in_flight`
/// counts those that began and have not finished.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionStats {
    /// `counted` or `timed`.
    pub kind: Kind,
    /// Calls that began.
    pub calls: u64,
    /// Normal returns of a non-error value.
    pub ok: u64,
    /// Returns of an error value (`Err`, or any `CallOutcome::is_err`).
    pub err: u64,
    /// Calls that unwound.
    pub panics: u64,
    /// Async calls whose future was dropped before completing.
    pub cancelled: u64,
    /// Calls running now.
    pub in_flight: u64,
    /// Latency of finished calls (`ok + err + panics`, or a random sample of
    /// them, see [`Latency::sample`]), for `timed` fns from details level 2 on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ns: Option<Latency>,
}

/// Latency summary of one fn in nanoseconds. Quantiles are within 1 % of the
/// true value (the histogram's bucket precision).
///
/// At rest `count == ok + err + panics` for a fn whose every call is timed;
/// for a sampled one (`sample` present) `count <= ok + err + panics`, and
/// every figure here describes the timed calls only (see [`Latency::sample`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Latency {
    /// Recorded latencies: the finished calls, or the timed ones of a sampled fn.
    pub count: u64,
    /// `N` of `#[timed(sample = N)]`: about one finished call in `N` was timed,
    /// at random, and `count`, `buckets`, `sum`, `mean`, `min`, `max` and the
    /// quantiles are those of the timed calls. `sum * N` estimates the sum over
    /// all calls, `mean` and the quantiles estimate theirs; `min` and `max`
    /// bound the sample only (the smallest and largest call may be untimed).
    /// `None` (absent from the JSON) where every call is timed. An addition to
    /// schema version 2 that readers of it may ignore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<u32>,
    /// Smallest.
    pub min: u64,
    /// Largest.
    pub max: u64,
    /// Arithmetic mean (from the exact sum).
    pub mean: u64,
    /// Sum of the recorded latencies, exact, which a mean rounded to the
    /// nanosecond cannot give back (it is the Prometheus histogram's `_sum`).
    /// `None` in snapshots of versions that did not report it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sum: Option<u64>,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Non-empty buckets as `[upper_bound_ns, count]`, ascending (level 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buckets: Option<Vec<(u64, u64)>>,
}

/// Everything the process knows about itself, ready to serve as JSON.
///
/// ```
/// #[telemetry::counted]
/// fn greet() {}
///
/// greet();
/// let snapshot = telemetry::snapshot();
/// let stats = &snapshot.functions[concat!(module_path!(), "::greet")];
/// assert_eq!((stats.calls, stats.ok), (1, 1));
/// println!("{}", snapshot.to_json_pretty());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Random UUID v4 of this process run.
    pub instance_id: uuid::Uuid,
    /// Whether this is the anonymized form, the only one that may leave the machine.
    pub anonymized: bool,
    /// What the snapshot contains.
    pub details_level: DetailsLevel,
    /// When it was taken, ms since the Unix epoch.
    pub taken_at_unix_ms: u64,
    /// Time since the process started, in ms.
    pub uptime_ms: u64,
    /// The application.
    pub app: AppInfo,
    /// What the application reports about its configuration and feature use.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub facts: BTreeMap<String, FactValue>,
    /// The fixed set of values each fact declared with
    /// [`Fact::one_of`](crate::facts::Fact::one_of) may take, by fact name: what lets
    /// the anonymizer keep such a value, from the snapshot alone. Never in the
    /// anonymized form.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fact_choices: BTreeMap<String, Vec<String>>,
    /// The machine.
    pub system: SystemInfo,
    /// Every instrumented fn by name (from details level 1).
    pub functions: BTreeMap<String, FunctionStats>,
    /// Distinct panics (from details level 1), recorded by the hook that
    /// [`install_panic_hook`](crate::install_panic_hook) installs.
    pub critical_errors: Vec<CriticalError>,
    /// Panics left out of `critical_errors` because the hook's bound on distinct
    /// locations was reached (from details level 1). Absent from the JSON while
    /// zero: an addition to schema version 1 that readers of it may ignore.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub critical_errors_dropped: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Takes a [`Snapshot`] at [`DetailsLevel::Full`].
///
/// Reading never blocks threads that record; the cost grows with the number of
/// instrumented fns, not with the number of calls.
pub fn snapshot() -> Snapshot {
    Snapshot::take(DetailsLevel::Full)
}

struct Collected {
    kind: Kind,
    /// See [`CallSite::sample`].
    sample: u32,
    totals: Totals,
    histogram: Option<Latencies>,
}

/// What a snapshot reads of a histogram.
enum Latencies {
    /// Every bucket: for details level 3, and for sites whose counts merge.
    Buckets(HistogramCounts),
    /// What a summary shows: read from the groups the quantiles fall in only.
    Quantiles(QuantileValues<{ QUANTILES.len() }>),
}

impl Snapshot {
    /// Takes a snapshot with the given details: lower levels skip the work of
    /// reading what they leave out.
    pub fn take(level: DetailsLevel) -> Snapshot {
        let functions = if level >= DetailsLevel::Counters {
            collect_functions(level)
        } else {
            BTreeMap::new()
        };
        let (critical_errors, critical_errors_dropped) = if level >= DetailsLevel::Counters {
            panic::critical_errors(level >= DetailsLevel::Full)
        } else {
            (Vec::new(), 0)
        };
        let (facts, fact_choices) = facts_and_choices();
        Snapshot {
            schema_version: SCHEMA_VERSION,
            instance_id: instance_id(),
            anonymized: false,
            details_level: level,
            taken_at_unix_ms: unix_ms(SystemTime::now()),
            uptime_ms: uptime().as_millis() as u64,
            app: app_info().clone(),
            facts,
            fact_choices,
            system: system_info().clone(),
            functions,
            critical_errors,
            critical_errors_dropped,
        }
    }

    /// A copy reduced to `level` (a snapshot cannot gain details it was taken
    /// without, so the result has the lower of the two levels).
    pub fn details(&self, level: DetailsLevel) -> Snapshot {
        let level = level.min(self.details_level);
        let mut reduced = self.clone();
        reduced.details_level = level;
        if level < DetailsLevel::Counters {
            reduced.functions.clear();
            reduced.critical_errors.clear();
            reduced.critical_errors_dropped = 0;
        }
        for stats in reduced.functions.values_mut() {
            if level < DetailsLevel::Summaries {
                stats.latency_ns = None;
            }
            if let (Some(latency), true) = (&mut stats.latency_ns, level < DetailsLevel::Full) {
                latency.buckets = None;
            }
        }
        if level < DetailsLevel::Full {
            for error in &mut reduced.critical_errors {
                error.backtrace = None;
            }
        }
        reduced
    }

    /// Compact JSON, the bytes `serde_json::to_string` would write.
    pub fn to_json(&self) -> String {
        crate::json::snapshot_to_string(self).expect("a snapshot always serializes")
    }

    /// Indented JSON, for people, the bytes `serde_json::to_string_pretty` would
    /// write.
    pub fn to_json_pretty(&self) -> String {
        crate::json::to_string(self, true).expect("a snapshot always serializes")
    }
}

/// The named call sites, sorted by name, with the map of their entries, kept
/// from one snapshot to the next: sorting a thousand names costs as much as
/// reading a hundred sites. The sites are fixed at link time and a site's name,
/// once known, never changes, so the order holds as long as the number of
/// named sites does. A snapshot taken while another holds them (on another
/// thread, or in a panic hook run during one) sorts a list of its own rather
/// than wait.
static SORTED_SITES: Mutex<SortedSites> = Mutex::new(SortedSites::new());

struct SortedSites {
    sites: Vec<SortedSite>,
    /// An entry per distinct name of `sites`, in their order, with nothing
    /// counted: a snapshot clones the map and writes each entry in place.
    /// Built anew from a list of entries, the map would cost a level-2
    /// snapshot about 6 % more (the list sorted and searched for duplicate
    /// names again, each entry moved four times on the way); kept, it takes
    /// about 200 bytes a fn (an entry is 192) and a copy of the fn's name.
    functions: BTreeMap<String, FunctionStats>,
}

/// A named call site, in the order of [`SORTED_SITES`].
struct SortedSite {
    site: &'static CallSite,
    /// Whether the site before has the same name (an explicit `name`, or
    /// trait impls of one method name): the two make one entry.
    joins_previous: bool,
}

impl SortedSites {
    /// No site sorted yet.
    const fn new() -> Self {
        SortedSites {
            sites: Vec::new(),
            functions: BTreeMap::new(),
        }
    }

    /// Sorts the named sites again if there are more than when last sorted.
    fn update(&mut self) {
        if self.sites.len() == call_sites().filter(|site| site.has_name()).count() {
            return;
        }
        let mut named: Vec<_> = call_sites()
            .filter_map(|site| Some((site.name()?, site)))
            .collect();
        named.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let sites = (0..named.len())
            .map(|at| SortedSite {
                site: named[at].1,
                joins_previous: at > 0 && named[at - 1].0 == named[at].0,
            })
            .collect();
        // Sorted keys: a linear bulk build, no tree search, and an entry for
        // the sites of one name.
        let functions = named
            .into_iter()
            .map(|(name, site)| (name.into_owned(), FunctionStats::none_counted(site.kind())))
            .collect();
        // Both at once: a snapshot pairs the sites' runs of one name with the
        // entries in order, so one without the other would file counts under
        // the wrong names.
        *self = SortedSites { sites, functions };
    }
}

fn collect_functions(level: DetailsLevel) -> BTreeMap<String, FunctionStats> {
    let mut cached = try_lock(&SORTED_SITES);
    let mut own = SortedSites::new();
    let kept = cached.is_some();
    let sorted = cached.as_deref_mut().unwrap_or(&mut own);
    sorted.update();
    let sites = &sorted.sites;
    let timed = sites.iter().any(|sorted| sorted.site.histogram().is_some());
    let scale = if timed && level >= DetailsLevel::Summaries {
        Scale::measure()
    } else {
        Scale::IDENTITY
    };
    // One bucket buffer serves every fn (a summary needs none of its own), and
    // one quantile scratch every summary.
    let mut bucket_buffer = HistogramCounts::default();
    let mut quantile_scratch = QuantileScratch::default();
    let mut functions = if kept {
        sorted.functions.clone()
    } else {
        // A list of its own serves once.
        std::mem::take(&mut sorted.functions)
    };
    // The reads of different sites do not depend on each other, but each is a
    // chain of cache misses (static cells and slot pointers, then each slot's
    // index, then buckets): starting the first links of the sites a few places
    // ahead lets their misses overlap with the work on this one.
    let slots = pool().cells_in_use();
    let histograms = level >= DetailsLevel::Summaries;
    let prefetch_ahead = |index: usize| {
        if let Some(SortedSite { site, .. }) = sites.get(index + PREFETCH_STATICS) {
            site.counters().prefetch(pool());
            if let (true, Some(histogram)) = (histograms, site.histogram()) {
                histogram.prefetch_slots(slots);
            }
        }
        if let (true, Some(SortedSite { site, .. })) =
            (histograms, sites.get(index + PREFETCH_INDEX))
        {
            if let Some(histogram) = site.histogram() {
                histogram.prefetch_index(slots);
            }
        }
    };
    let mut position = 0;
    let same_names = sites.chunk_by(|_, next| next.joins_previous);
    debug_assert_eq!(same_names.clone().count(), functions.len());
    for (same_name, stats) in same_names.zip(functions.values_mut()) {
        let [SortedSite { site: first, .. }, others @ ..] = same_name else {
            continue;
        };
        for index in position..position + same_name.len() {
            prefetch_ahead(index);
        }
        position += same_name.len();
        // Summaries read the buckets of the groups their quantiles fall in only,
        // which differ between sites: sites to merge read them all.
        let all_buckets = level == DetailsLevel::Full || !others.is_empty();
        let buffer = all_buckets.then(|| std::mem::take(&mut bucket_buffer));
        let mut entry = Collected::read(first, level, buffer, &mut quantile_scratch);
        for other in others {
            let buffer = Some(HistogramCounts::default());
            let other = Collected::read(other.site, level, buffer, &mut quantile_scratch);
            entry.merge(other);
        }
        *stats = entry.stats(scale, level);
        if let Some(Latencies::Buckets(buffer)) = entry.histogram {
            bucket_buffer = buffer;
        }
    }
    functions
}

impl FunctionStats {
    /// The entry of a fn of `kind` that has not been called.
    pub(crate) fn none_counted(kind: Kind) -> FunctionStats {
        FunctionStats {
            kind,
            calls: 0,
            ok: 0,
            err: 0,
            panics: 0,
            cancelled: 0,
            in_flight: 0,
            latency_ns: None,
        }
    }
}

impl Collected {
    /// Adds another site of the same name. Sites of one kind (and one sample
    /// rate) add up; a name shared by `#[counted]` and `#[timed]` sites, or by
    /// `#[timed]` sites timing at different rates, becomes one `counted` entry:
    /// a histogram of only some of its calls would break
    /// `latency_ns.count == ok + err + panics`, and one mixing rates would weigh
    /// the sites' calls unequally, so neither would describe the entry's calls.
    fn merge(&mut self, other: Collected) {
        let Collected {
            kind,
            sample,
            totals,
            histogram,
        } = other;
        if kind != self.kind || sample != self.sample {
            self.kind = Kind::Counted;
            self.histogram = None;
        }
        self.totals.absorb(&totals);
        // Sites to merge read every bucket (see `read`).
        match (self.kind, &mut self.histogram, histogram) {
            (Kind::Timed, Some(Latencies::Buckets(counts)), Some(Latencies::Buckets(other))) => {
                counts.merge(&other)
            }
            (Kind::Timed, slot @ None, other) => *slot = other,
            (Kind::Timed, Some(_), Some(_)) => {
                debug_assert!(false, "sites to merge read every bucket");
            }
            _ => {}
        }
    }

    /// Reads a site's counters and, from level 2 on, its histogram: all of its
    /// buckets, into `buckets` when given, or else (for a summary of a site
    /// that merges with none) what its quantiles need, in `scratch`.
    fn read(
        site: &CallSite,
        level: DetailsLevel,
        buckets: Option<HistogramCounts>,
        scratch: &mut QuantileScratch,
    ) -> Collected {
        let totals = site.counters().totals(pool());
        // Read after the totals, so it covers at least the slots whose completions
        // they counted, and with them those completions' latencies.
        let histogram = match (level >= DetailsLevel::Summaries, site.histogram()) {
            (true, Some(histogram)) => {
                let slots = pool().cells_in_use();
                Some(match buckets {
                    Some(mut buffer) => {
                        histogram.read_into(slots, &mut buffer);
                        Latencies::Buckets(buffer)
                    }
                    None => Latencies::Quantiles(
                        histogram.read_quantiles_with(slots, &QUANTILES, scratch),
                    ),
                })
            }
            _ => None,
        };
        Collected {
            kind: site.kind(),
            sample: site.sample(),
            totals,
            histogram,
        }
    }

    fn stats(&self, scale: Scale, level: DetailsLevel) -> FunctionStats {
        let totals = self.totals;
        FunctionStats {
            kind: self.kind,
            calls: totals.started.max(totals.completed()),
            ok: totals.ok,
            err: totals.err,
            panics: totals.panics,
            cancelled: totals.cancelled,
            in_flight: totals.in_flight(),
            latency_ns: self.histogram.as_ref().map(|read| Latency {
                sample: (self.sample > 1).then_some(self.sample),
                ..latency(read, &totals, scale, level == DetailsLevel::Full)
            }),
        }
    }
}

/// How many sites ahead a snapshot starts loading a site's statics, and its
/// slots' bucket indexes: far enough for the loads to land, near enough for the
/// lines to stay in the cache.
const PREFETCH_STATICS: usize = 8;
const PREFETCH_INDEX: usize = 4;

/// The quantiles a latency summary shows.
const QUANTILES: [f64; 4] = [0.5, 0.9, 0.99, 0.999];

/// Summarizes tick counts in nanoseconds, with the buckets if `buckets` and
/// they were read.
fn latency(read: &Latencies, totals: &Totals, scale: Scale, buckets: bool) -> Latency {
    let (count, [p50, p90, p99, p999]) = match read {
        Latencies::Buckets(counts) => (counts.count(), counts.quantiles(QUANTILES)),
        Latencies::Quantiles(summary) => (summary.count, summary.values),
    };
    let min = scale.to_ns(totals.min_ticks.unwrap_or(0));
    let max = scale.to_ns(totals.max_ticks);
    let in_range = |ticks: Option<u64>| ticks.map_or(max, |t| scale.to_ns(t).clamp(min, max));
    Latency {
        count,
        sample: None,
        min,
        max,
        mean: totals
            .sum_ticks
            .checked_div(count)
            .map_or(0, |mean| scale.to_ns(mean)),
        sum: Some(scale.to_ns(totals.sum_ticks)),
        p50: in_range(p50),
        p90: in_range(p90),
        p99: in_range(p99),
        p999: in_range(p999),
        buckets: match read {
            Latencies::Buckets(counts) if buckets => Some(buckets_ns(counts, scale, max)),
            _ => None,
        },
    }
}

/// Non-empty buckets as `(upper bound in ns, count)`; buckets whose bounds round
/// to the same nanosecond are joined, so bounds strictly ascend.
fn buckets_ns(counts: &HistogramCounts, scale: Scale, max_ns: u64) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(counts.buckets.len() + 1);
    // The bucket being built stays out of the vector until the next one's
    // bound is known, in registers rather than behind `out.last_mut()`.
    let mut building: Option<(u64, u64)> = None;
    let mut add = |upper: u64, n: u64| match &mut building {
        Some(last) if last.0 >= upper => last.1 += n,
        _ => out.extend(building.replace((upper, n))),
    };
    for &(index, n) in &counts.buckets {
        add(scale.to_ns(bucket_bounds(index as usize).1), n);
    }
    if counts.overflow > 0 {
        add(max_ns, counts.overflow);
    }
    out.extend(building);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counter::{CallCounters, Field, Slot};
    use crate::histogram::Histogram;
    use crate::registry::{SiteName, CALL_SITES};

    // Sites registered as the attributes register theirs, which only the test
    // below calls: two timed ones of one name, which make one entry, a counted
    // one, a timed one of its own name (whose summary the quantile walk reads
    // alone), and a method named from its `Self` type on its first call.
    static COUNTERS: [CallCounters; 5] = [const { CallCounters::new() }; 5];
    static HISTOGRAMS: [Histogram; 4] = [const { Histogram::new() }; 4];
    const MERGED: &str = "snapshot::tests::merged";
    const COUNTED: &str = "snapshot::tests::counted";
    const LONE: &str = "snapshot::tests::lone";
    const LATE: &str = "snapshot::tests::Late::late";
    static SITES: [CallSite; 5] = [
        CallSite::timed(SiteName::Fixed(MERGED), &COUNTERS[0], &HISTOGRAMS[0]),
        CallSite::timed(SiteName::Fixed(MERGED), &COUNTERS[1], &HISTOGRAMS[1]),
        CallSite::counted(SiteName::Fixed(COUNTED), &COUNTERS[2]),
        CallSite::timed(SiteName::Fixed(LONE), &COUNTERS[3], &HISTOGRAMS[2]),
        CallSite::timed(
            SiteName::OfSelfType {
                module: "snapshot::tests",
                method: "late",
            },
            &COUNTERS[4],
            &HISTOGRAMS[3],
        ),
    ];
    #[linkme::distributed_slice(CALL_SITES)]
    static FIRST_MERGED: &CallSite = &SITES[0];
    #[linkme::distributed_slice(CALL_SITES)]
    static SECOND_MERGED: &CallSite = &SITES[1];
    #[linkme::distributed_slice(CALL_SITES)]
    static ONLY_COUNTED: &CallSite = &SITES[2];
    #[linkme::distributed_slice(CALL_SITES)]
    static ALONE: &CallSite = &SITES[3];
    #[linkme::distributed_slice(CALL_SITES)]
    static NAMED_LATE: &CallSite = &SITES[4];

    /// One call of `site` that took `ticks`, counted in the shared slot.
    fn call(site: &CallSite, ticks: u64) {
        let counters = site.counters();
        counters.add(Slot::SHARED, Field::Started, 1);
        if let Some(histogram) = site.histogram() {
            counters.record_latency(Slot::SHARED, ticks);
            histogram.record(Slot::SHARED, ticks);
        }
        counters.add(Slot::SHARED, Field::Ok, 1);
    }

    /// As in a panic hook that snapshots while a snapshot of the same thread
    /// unwinds: the list of sites is held, and the snapshot does not wait. Its
    /// list of its own gives the entries the kept one gives, at every level,
    /// in any order of levels (nothing of one snapshot's level shows in the
    /// next's), and the kept list takes in a site named after it was made.
    #[test]
    fn a_snapshot_while_the_site_list_is_held_sorts_its_own() {
        for (site, ticks) in SITES[..3].iter().zip([1_000, 50_000, 0]) {
            call(site, ticks);
        }
        // Over five powers of two: the summary's quantiles fall in different groups.
        let lone = [100, 200, 300, 1_000, 3_000, 10_000, 30_000, 100_000];
        for ticks in lone {
            call(&SITES[3], ticks);
        }
        // Each snapshot measures the clock's scale anew, so nanoseconds may
        // differ by a rounding between two; counts may not.
        let counts = |snapshot: &Snapshot| -> Vec<_> {
            let entries = snapshot.functions.iter();
            entries
                .map(|(name, stats)| {
                    let latency = stats.latency_ns.as_ref().map(|latency| {
                        let buckets = latency.buckets.iter().flatten();
                        (latency.count, buckets.map(|&(_, n)| n).collect::<Vec<_>>())
                    });
                    let ends = [stats.ok, stats.err, stats.panics, stats.cancelled];
                    let calls = (stats.calls, ends, stats.in_flight);
                    (name.clone(), stats.kind, calls, latency)
                })
                .collect()
        };
        for level in [
            DetailsLevel::Full,
            DetailsLevel::Counters,
            DetailsLevel::Summaries,
            DetailsLevel::Full,
            DetailsLevel::Summaries,
            DetailsLevel::Counters,
        ] {
            let held = crate::lock::lock(&SORTED_SITES);
            let during = Snapshot::take(level);
            drop(held);
            let after = Snapshot::take(level);
            assert_eq!(counts(&during), counts(&after));
            assert!(!after.functions.contains_key(LATE), "named before its call");
            let merged = &after.functions[MERGED];
            assert_eq!((merged.kind, merged.calls, merged.ok), (Kind::Timed, 2, 2));
            let count = merged.latency_ns.as_ref().map(|latency| latency.count);
            assert_eq!(count, (level >= DetailsLevel::Summaries).then_some(2));
            let counted = &after.functions[COUNTED];
            assert_eq!((counted.kind, counted.calls), (Kind::Counted, 1));
            let alone = &after.functions[LONE];
            assert_eq!((alone.kind, alone.calls), (Kind::Timed, lone.len() as u64));
            match (&alone.latency_ns, level) {
                (None, DetailsLevel::Counters) => {}
                (Some(latency), DetailsLevel::Summaries | DetailsLevel::Full) => {
                    assert_eq!(latency.count, lone.len() as u64);
                    assert_eq!(latency.buckets.is_some(), level == DetailsLevel::Full);
                    let ordered = [latency.min, latency.p50, latency.p90, latency.p99];
                    assert!(ordered.is_sorted(), "{latency:?}");
                    // Within 1 %, at whatever scale the clock has (the exact
                    // max gives it): the median's rank falls in 1,000 ticks'
                    // bucket, the 90th's in 100,000's.
                    let at = |ticks: u64| latency.max as f64 * ticks as f64 / 100_000.0;
                    for (value, ticks) in [(latency.p50, 1_000), (latency.p90, 100_000)] {
                        let error = (value as f64 - at(ticks)).abs() / at(ticks);
                        assert!(error <= 0.01, "{value} against {ticks} ticks: {latency:?}");
                    }
                }
                (latency, level) => panic!("{latency:?} at {level:?}"),
            }
        }
        // Named on its first call, after the kept list was made.
        SITES[4].name_self_type(|| "snapshot::tests::Late");
        call(&SITES[4], 500);
        let after = Snapshot::take(DetailsLevel::Summaries);
        let late = &after.functions[LATE];
        assert_eq!((late.kind, late.calls), (Kind::Timed, 1));
        assert_eq!(
            late.latency_ns.as_ref().map(|latency| latency.count),
            Some(1)
        );
        assert_eq!(after.functions[LONE].calls, lone.len() as u64);
    }

    #[test]
    fn details_levels_parse_and_reject() {
        assert_eq!(" 2 ".parse::<DetailsLevel>(), Ok(DetailsLevel::Summaries));
        let error = "4".parse::<DetailsLevel>().unwrap_err().to_string();
        assert!(
            error.contains("\"4\"") && error.contains("expected 0"),
            "{error}"
        );
        assert!("two".parse::<DetailsLevel>().is_err());
        assert!(DetailsLevel::try_from(9).is_err());
    }

    #[test]
    fn buckets_join_when_scaled_bounds_collide() {
        let histogram = Histogram::new();
        for ticks in [0, 1, 2, 3, 1000] {
            histogram.record(Slot::SHARED, ticks);
        }
        let counts = histogram.read(1);
        let scaled = buckets_ns(&counts, Scale::from_ns_per_tick(0.25), 250);
        // Ticks 0..=3 scale to 0, 0.25, 0.5, 0.75 ns: they round to 0, 0, 1, 1.
        assert_eq!(scaled[0], (0, 2));
        assert_eq!(scaled[1], (1, 2));
        assert_eq!(scaled.iter().map(|b| b.1).sum::<u64>(), 5);
        assert!(scaled.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn summaries_of_billions_of_calls_keep_their_counts_and_tail() {
        // Ten billion calls of a criterion run: 99.8 % at ~100 ticks, a tail at
        // ~10,000 and ~1,000,000 ticks, at a TSC-like scale.
        let index = |ticks: u64| {
            (0..crate::histogram::BUCKETS)
                .find(|&i| bucket_bounds(i).1 >= ticks)
                .unwrap() as u32
        };
        let counts = HistogramCounts {
            buckets: vec![
                (index(100), 9_980_000_000),
                (index(10_000), 15_000_000),
                (index(1_000_000), 5_000_000),
            ],
            overflow: 0,
        };
        let totals = Totals {
            started: 10_000_000_000,
            ok: 10_000_000_000,
            sum_ticks: 9_980_000_000 * 100 + 15_000_000 * 10_000 + 5_000_000 * 1_000_000,
            min_ticks: Some(100),
            max_ticks: 1_000_000,
            ..Totals::default()
        };
        let scale = Scale::from_ns_per_tick(0.4);
        let summary = latency(&Latencies::Buckets(counts), &totals, scale, true);
        assert_eq!(summary.count, 10_000_000_000);
        assert_eq!((summary.min, summary.max), (40, 400_000));
        assert_eq!(summary.mean, scale.to_ns(totals.sum_ticks / summary.count));
        let near = |ns: u64, ticks: f64| (ns as f64 / (ticks * 0.4) - 1.0).abs() < 0.01;
        assert!(
            near(summary.p50, 100.0) && near(summary.p90, 100.0),
            "{summary:?}"
        );
        assert!(near(summary.p99, 100.0), "{summary:?}");
        assert!(near(summary.p999, 10_000.0), "{summary:?}");
        let buckets = summary.buckets.unwrap();
        assert_eq!(buckets.iter().map(|b| b.1).sum::<u64>(), 10_000_000_000);
    }

    #[test]
    fn latency_quantiles_stay_between_min_and_max() {
        let histogram = Histogram::new();
        let mut totals = Totals::default();
        for ticks in [1000, 1001, 1002] {
            histogram.record(Slot::SHARED, ticks);
            totals.sum_ticks += ticks;
        }
        totals.min_ticks = Some(1000);
        totals.max_ticks = 1002;
        let summary = latency(
            &Latencies::Buckets(histogram.read(1)),
            &totals,
            Scale::IDENTITY,
            true,
        );
        assert_eq!((summary.min, summary.max, summary.mean), (1000, 1002, 1001));
        assert_eq!(summary.sum, Some(3003));
        for q in [summary.p50, summary.p90, summary.p99, summary.p999] {
            assert!((1000..=1002).contains(&q));
        }
    }
}
