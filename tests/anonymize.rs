//! The anonymized snapshot: what it keeps, hashes, rounds and drops, and that
//! nothing identifying survives it.

#[path = "support/leaks.rs"]
mod leaks;

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::Value;
use telemetry::anonymize::{keep_leading_digits, Anonymizer, NameKey};
use telemetry::facts::{Fact, FactValue};
use telemetry::{
    CriticalError, DetailsLevel, FunctionStats, Kind, Latency, PanicCategory, Snapshot,
};

/// Strings an app might put anywhere, that must never leave the machine.
const SECRETS: [&str; 12] = [
    "ada.lovelace@example.com",
    "192.168.17.42",
    "fe80::1ff:fe23:4567:890a",
    "db-primary.internal.corp",
    "/home/alice/projects/shop/src/db.rs",
    "C:\\Users\\alice\\shop\\src\\db.rs",
    "https://user:hunter2@api.example.org/v1?token=s3cr3t",
    "alice-laptop",
    "postgres://admin:pw@10.0.0.5:5432/customers",
    "Bearer eyJhbGciOiJIUzI1NiJ9",
    "4111 1111 1111 1111",
    "customer 'Ada Lovelace'",
];

/// Words of the secrets that must not show either, even cut out of context.
const FRAGMENTS: [&str; 9] = [
    "alice",
    "lovelace",
    "example",
    "192.168",
    "/home",
    "hunter2",
    "internal",
    "customers",
    "https",
];

fn error(message: &str, location: &str, thread: &str, frames: &[&str]) -> CriticalError {
    CriticalError {
        message: Some(message.to_owned()),
        category: PanicCategory::ExplicitPanic,
        location: location.to_owned(),
        thread: Some(thread.to_owned()),
        count: 1_234_567,
        first_seen_unix_ms: 1_795_000_012_345,
        last_seen_unix_ms: 1_795_000_098_765,
        backtrace: Some(frames.iter().map(|frame| (*frame).to_owned()).collect()),
    }
}

#[telemetry::counted(name = "ada.lovelace@example.com")]
fn named_after_an_email() {}

#[telemetry::timed(name = "https://user:hunter2@api.example.org/v1?token=s3cr3t")]
fn named_after_a_url() {}

#[telemetry::counted(name = "/home/alice/projects/shop/src/db.rs")]
fn named_after_a_path() {}

#[telemetry::timed]
fn lookup_customer_192_168_17_42() {}

#[test]
fn nothing_identifying_survives_fixed_cases() {
    named_after_an_email();
    named_after_a_url();
    named_after_a_path();
    std::thread::Builder::new()
        .name("alice-laptop".into())
        .spawn(lookup_customer_192_168_17_42)
        .unwrap()
        .join()
        .unwrap();
    telemetry::facts::set("cluster.url", SECRETS[8]);
    telemetry::facts::set("owner.email", Fact::one_of(SECRETS[0], &["none", "ops"]));
    telemetry::facts::set("data.dir", SECRETS[4]);

    let mut snapshot = telemetry::snapshot();
    for (i, secret) in SECRETS.iter().enumerate() {
        snapshot.critical_errors.push(error(
            &format!("failed for {secret}"),
            &format!("{secret}:{}:7", i + 1),
            secret,
            &[
                secret,
                &format!("app::handler at {secret}:3:1"),
                "/home/alice/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tokio-1.0.0/src/rt.rs:12:5",
            ],
        ));
        snapshot
            .facts
            .insert(format!("config.{i}"), FactValue::Text((*secret).to_owned()));
        snapshot.functions.insert(
            (*secret).to_owned(),
            snapshot.functions.values().next().unwrap().clone(),
        );
    }
    snapshot.system.os = "alice-laptop".into();
    snapshot.system.arch = "192.168.17.42".into();
    snapshot.system.kernel = "db-primary.internal.corp".into();
    snapshot
        .system
        .cpu_features
        .push("ada.lovelace@example.com".into());

    let report = snapshot.anonymize();
    let json = report.to_json();
    for secret in SECRETS.iter().chain(&FRAGMENTS) {
        assert!(!json.contains(secret), "{secret:?} leaked into {json}");
    }
    let input: Value = serde_json::from_str(&snapshot.to_json()).unwrap();
    let output: Value = serde_json::from_str(&json).unwrap();
    // Facts that tests of this binary declared with a fixed set of values.
    let declared = ["none", "ops", "memory", "rocksdb", "mmap"];
    leaks::check_no_leak(&input, &output, &declared).unwrap();
    assert_eq!(report.system.os, "other");
    assert_eq!(report.system.arch, "other");
    assert_eq!(report.system.kernel, "other");
    assert!(report.critical_errors.iter().all(|e| e.thread.is_none()));
}

#[test]
fn the_leak_check_itself_catches_leaks() {
    use serde_json::json;

    let input = json!({
        "functions": { "shop::checkout": {} },
        "critical_errors": [{ "message": "no stock for ada@example.com", "thread": "alice-laptop" }],
    });
    let clean = json!({
        "anonymized": true,
        "functions": { "0123456789abcdef": {} },
        "critical_errors": [{ "message": "fedcba9876543210", "location": "0123456789abcdef:42:7" }],
    });
    leaks::check_no_leak(&input, &clean, &[]).unwrap();
    let copied = json!({ "anonymized": true, "critical_errors": [{ "thread": "alice-laptop" }] });
    assert!(leaks::check_no_leak(&input, &copied, &[]).is_err());
    let unhashed_key = json!({ "anonymized": true, "functions": { "shop::checkout": {} } });
    assert!(leaks::check_no_leak(&input, &unhashed_key, &[]).is_err());
    let free_text =
        json!({ "anonymized": true, "critical_errors": [{ "location": "src/db.rs:1:1" }] });
    assert!(leaks::check_no_leak(&input, &free_text, &[]).is_err());
    let unmarked = json!({ "anonymized": false });
    assert!(leaks::check_no_leak(&input, &unmarked, &[]).is_err());
}

#[test]
fn rounding_keeps_leading_digits() {
    let table = [
        (0, 0),
        (9, 9),
        (999_999, 999_999),
        (1_000_000, 1_000_000),
        (1_234_567, 1_234_560),
        (123_456_789, 123_456_000),
        (u64::MAX, 18_446_700_000_000_000_000),
    ];
    for (value, rounded) in table {
        assert_eq!(keep_leading_digits(value, 6), rounded, "{value}");
        assert_eq!(Anonymizer::default().round(value), rounded, "{value}");
    }
    let three = Anonymizer::default().with_digits(3).unwrap();
    assert_eq!(three.digits(), 3);
    let table = [
        (0, 0),
        (9, 9),
        (999_999, 999_000),
        (1_000_000, 1_000_000),
        (123_456_789, 123_000_000),
        (u64::MAX, 18_400_000_000_000_000_000),
    ];
    for (value, rounded) in table {
        assert_eq!(three.round(value), rounded, "{value}");
    }
    let one = Anonymizer::default().with_digits(1).unwrap();
    assert_eq!(one.round(987_654_321), 900_000_000);
}

#[test]
fn digits_can_only_be_lowered() {
    for digits in [0, 7, 20] {
        let error = Anonymizer::default().with_digits(digits).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains(&digits.to_string()) && message.contains("1 to 6"),
            "{message}"
        );
    }
    assert!(Anonymizer::default().with_digits(6).is_ok());
}

#[test]
fn hashes_are_pinned_and_keyed() {
    // Computed with an independent SipHash-2-4 implementation; a change here
    // breaks every collector's name table.
    let default = Anonymizer::default();
    assert_eq!(default.hash("my_service::db::query"), "e018413e2ee6e265");
    assert_eq!(default.hash(""), "4d999feff38de6b3");
    assert_eq!(default.hash("main"), "7bb3530190127f07");
    assert_eq!(default.hash("café::naïve"), "50972cc8cadd1f5a");
    let counting = Anonymizer::new(NameKey::from_bytes(std::array::from_fn(|i| i as u8)));
    assert_eq!(counting.hash("my_service::db::query"), "cd4091bcbc2ca7b5");
    let secret = NameKey::from_secret("0123456789abcdef0123456789abcdef").unwrap();
    assert_eq!(
        Anonymizer::new(secret.clone()).hash("my_service::db::query"),
        PINNED_SECRET_HASH
    );

    // Same name, same hash, whatever the instance; another key, another hash.
    assert_eq!(
        Anonymizer::new(secret.clone()).hash("checkout"),
        Anonymizer::new(secret).hash("checkout")
    );
    let other = NameKey::from_secret("0123456789abcdef0123456789abcdeF").unwrap();
    assert_ne!(
        Anonymizer::new(other).hash("checkout"),
        default.hash("checkout")
    );
    assert_ne!(counting.hash("checkout"), default.hash("checkout"));
    for name in ["a", "b", "checkout", "🦀"] {
        let hash = default.hash(name);
        assert_eq!(hash.len(), 16);
        assert!(hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    }
}

const PINNED_SECRET_HASH: &str = "3dcb5c7957f5b389";

#[test]
fn short_secrets_are_refused_and_keys_stay_out_of_logs() {
    let error = NameKey::from_secret("hunter2").unwrap_err().to_string();
    assert!(
        error.contains("7 bytes") && error.contains("at least 16"),
        "{error}"
    );
    let key = NameKey::from_secret("a secret of thirty-two characters").unwrap();
    assert_eq!(format!("{key:?}"), "NameKey(<secret>)");
    assert!(!format!("{:?}", Anonymizer::new(key)).contains("thirty"));
}

fn sample() -> Snapshot {
    let mut snapshot = Snapshot::take(DetailsLevel::Instance);
    snapshot.details_level = DetailsLevel::Full;
    snapshot.taken_at_unix_ms = 1_795_000_079_999;
    snapshot.uptime_ms = 123_456_789;
    snapshot.system.memory_bytes = 25_769_803_776;
    snapshot.system.cpu_count = 2;
    snapshot.functions.insert(
        "shop::db::query".into(),
        FunctionStats {
            kind: Kind::Timed,
            calls: 1_234_567,
            ok: 1_234_000,
            err: 566,
            panics: 1,
            cancelled: 0,
            in_flight: 0,
            latency_ns: Some(Latency {
                count: 1_234_567,
                sample: Some(1_234_567),
                min: 901,
                max: 52_345_678,
                mean: 4_123_456,
                p50: 1_234_567,
                p90: 9_876_543,
                p99: 52_345_678,
                p999: 52_345_678,
                sum: Some(5_090_000_123_456),
                buckets: Some(vec![(1_023, 3), (2_047, 5), (52_345_678, 1_234_559)]),
            }),
        },
    );
    snapshot.critical_errors.push(CriticalError {
        message: Some("index out of bounds: the len is 3 but the index is 5".into()),
        category: PanicCategory::IndexOutOfBounds,
        location: "src/db.rs:42:17".into(),
        thread: Some("worker-3".into()),
        count: 2,
        first_seen_unix_ms: 1_795_000_000_001,
        last_seen_unix_ms: 1_795_000_061_000,
        backtrace: Some(vec![
            "shop::db::query".into(),
            "shop::api::upsert::h0123456789abcdef at /home/alice/shop/src/api.rs:7:9".into(),
        ]),
    });
    snapshot
        .facts
        .insert("shards".into(), FactValue::Int(1_234_567));
    snapshot
}

#[test]
fn every_field_follows_its_rule() {
    let anonymizer = Anonymizer::default().with_digits(3).unwrap();
    let snapshot = sample();
    let report = anonymizer.anonymize(&snapshot);

    assert!(report.anonymized);
    assert_eq!(report.schema_version, snapshot.schema_version);
    assert_eq!(report.details_level, DetailsLevel::Full);
    assert_eq!(report.instance_id, snapshot.instance_id);
    assert_eq!(report.app, snapshot.app);
    assert_eq!(report.taken_at_unix_ms, 1_795_000_020_000);
    assert_eq!(report.uptime_ms, 123_000_000);
    assert_eq!(report.system.memory_bytes, 25_000_000_000);
    assert_eq!(report.system.cpu_count, 2);
    assert_eq!(report.system.os, snapshot.system.os);
    assert_eq!(report.system.in_container, snapshot.system.in_container);
    assert_eq!(
        report.facts[&anonymizer.hash("shards")],
        FactValue::Int(1_230_000)
    );

    let stats = &report.functions[&anonymizer.hash("shop::db::query")];
    assert_eq!(stats.kind, Kind::Timed);
    assert_eq!(
        (stats.calls, stats.ok, stats.err),
        (1_230_000, 1_230_000, 566)
    );
    let latency = stats.latency_ns.as_ref().unwrap();
    assert_eq!(
        latency.sample,
        Some(1_234_567),
        "the sample rate is a constant of the code, kept exact"
    );
    assert_eq!((latency.min, latency.max), (901, 52_300_000));
    assert_eq!((latency.mean, latency.p50), (4_120_000, 1_230_000));
    assert_eq!(
        latency.sum,
        Some(5_090_000_000_000),
        "the exact sum is rounded too"
    );
    assert_eq!(
        latency.buckets.as_deref(),
        Some(&[(1_020, 3), (2_040, 5), (52_300_000, 1_230_000)][..])
    );

    let error = &report.critical_errors[0];
    // No message, nor any hash of it: the category groups panics instead.
    assert_eq!(error.message, None);
    assert_eq!(error.category, PanicCategory::IndexOutOfBounds);
    assert_eq!(
        error.location,
        format!("{}:42:17", anonymizer.hash("src/db.rs"))
    );
    assert_eq!(error.thread, None);
    assert_eq!(error.count, 2);
    assert_eq!(
        (error.first_seen_unix_ms, error.last_seen_unix_ms),
        (1_794_999_960_000, 1_795_000_020_000)
    );
    let frames = error.backtrace.as_ref().unwrap();
    // A frame hashes like the fn's key, so reports can be read with the name table.
    assert_eq!(frames[0], anonymizer.hash("shop::db::query"));
    assert_eq!(
        frames[1],
        format!(
            "{} at {}:7:9",
            anonymizer.hash("shop::api::upsert"),
            anonymizer.hash("src/api.rs")
        )
    );
}

#[test]
fn one_panic_site_hashes_alike_wherever_the_app_was_built() {
    let anonymizer = Anonymizer::default();
    let at = |location: &str| {
        let mut snapshot = sample();
        snapshot.critical_errors[0].location = location.into();
        anonymizer.anonymize(&snapshot).critical_errors[0]
            .location
            .clone()
    };
    let expected = at("src/db.rs:42:17");
    assert_eq!(at("/home/alice/shop/src/db.rs:42:17"), expected);
    assert_eq!(at("/Users/bob/code/shop/src/db.rs:42:17"), expected);
    assert_eq!(at(r"C:\Users\carol\shop\src\db.rs:42:17"), expected);
    assert_ne!(at("src/db.rs:43:17"), expected);
}

#[test]
fn levels_and_absent_parts_stay_absent() {
    let mut snapshot = sample().details(DetailsLevel::Counters);
    snapshot.critical_errors[0].thread = None;
    let report = Anonymizer::default().anonymize(&snapshot);
    assert_eq!(report.details_level, DetailsLevel::Counters);
    assert!(report.functions.values().all(|s| s.latency_ns.is_none()));
    assert!(report.critical_errors[0].backtrace.is_none());
    let json = report.to_json();
    let back: Snapshot = serde_json::from_str(&json).unwrap();
    assert_eq!(back, report);
}

#[test]
fn facts_keep_only_what_the_app_declared() {
    static ENGINES: [&str; 3] = ["memory", "rocksdb", "mmap"];
    telemetry::facts::set("test.tls", true);
    telemetry::facts::set("test.cache_bytes", 1_234_567_890u64);
    telemetry::facts::set("test.offset", -1_234_567i64);
    telemetry::facts::set("test.engine", Fact::one_of("rocksdb", &ENGINES));
    telemetry::facts::set("test.engine_typo", Fact::one_of("rocksbd", &ENGINES));
    telemetry::facts::set("test.url", "https://db.internal:6333");

    let snapshot = telemetry::snapshot();
    assert_eq!(
        snapshot.facts["test.url"],
        FactValue::Text("https://db.internal:6333".into())
    );
    let anonymizer = telemetry::anonymize::current();
    let report = snapshot.anonymize();
    let fact = |name: &str| report.facts[&anonymizer.hash(name)].clone();
    assert_eq!(fact("test.tls"), FactValue::Bool(true));
    assert_eq!(fact("test.cache_bytes"), FactValue::Int(1_234_560_000));
    assert_eq!(fact("test.offset"), FactValue::Int(-1_234_560));
    assert_eq!(fact("test.engine"), FactValue::Text("rocksdb".into()));
    // Text outside the declared set, and free text, stay on the machine: a hash
    // of them would be reversed by enumerating likely values.
    assert!(!report
        .facts
        .contains_key(&anonymizer.hash("test.engine_typo")));
    assert!(!report.facts.contains_key(&anonymizer.hash("test.url")));
    assert!(!report.to_json().contains(&anonymizer.hash("rocksbd")));
    assert!(report.fact_choices.is_empty());
    assert!(!report.facts.contains_key("test.tls"));
    for name in ["test.tls", "test.engine", "test.url"] {
        assert_eq!(
            telemetry::anonymize::name_table()[name],
            anonymizer.hash(name)
        );
    }
}

#[telemetry::timed]
fn listed_in_the_name_table() {}

#[test]
fn the_name_table_reads_reports() {
    listed_in_the_name_table();
    let table = telemetry::anonymize::name_table();
    let report = telemetry::snapshot().anonymize();
    let readable: BTreeMap<&String, &String> =
        table.iter().map(|(name, hash)| (hash, name)).collect();
    for hash in report.functions.keys() {
        assert!(
            readable.contains_key(hash),
            "{hash} is not in the name table"
        );
    }
    let name = concat!(module_path!(), "::listed_in_the_name_table");
    assert!(report.functions.contains_key(&table[name]));
}

fn secret_like() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-z]{2,10}\\.[a-z]{2,10}@[a-z]{3,10}\\.(com|org|de)",
        "(10|172|192)\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}",
        "/home/[a-z]{3,10}(/[a-zA-Z0-9_.-]{1,12}){0,4}",
        "https?://[a-z]{3,10}(\\.[a-z]{2,6}){1,3}(/[a-z0-9]{0,8}){0,3}",
        "[a-z]{3,8}-(laptop|desktop|prod-[0-9]{1,3})",
        "(src|tests)/[a-z_]{1,10}\\.rs:[0-9]{1,7}:[0-9]{1,7}",
        "[a-zA-Z0-9 ._:/@-]{4,40}",
    ]
}

fn stats() -> impl Strategy<Value = FunctionStats> {
    let latency = (
        any::<[u64; 8]>(),
        proptest::collection::vec(any::<(u64, u64)>(), 0..6),
    )
        .prop_map(|(n, buckets)| Latency {
            count: n[0],
            sample: Some((n[1] >> 32) as u32).filter(|&every| every > 1),
            min: n[1],
            max: n[2],
            mean: n[3],
            p50: n[4],
            p90: n[5],
            p99: n[6],
            p999: n[7],
            sum: Some(n[0] ^ n[7]),
            buckets: Some(buckets),
        });
    (any::<[u64; 6]>(), proptest::option::of(latency)).prop_map(|(n, latency_ns)| FunctionStats {
        kind: if latency_ns.is_some() {
            Kind::Timed
        } else {
            Kind::Counted
        },
        calls: n[0],
        ok: n[1],
        err: n[2],
        panics: n[3],
        cancelled: n[4],
        in_flight: n[5],
        latency_ns,
    })
}

fn critical_error() -> impl Strategy<Value = CriticalError> {
    (
        secret_like(),
        secret_like(),
        proptest::option::of(secret_like()),
        any::<[u64; 3]>(),
        proptest::option::of(proptest::collection::vec(secret_like(), 0..4)),
    )
        .prop_map(|(message, location, thread, n, backtrace)| CriticalError {
            category: PanicCategory::ALL[(n[0] % 15) as usize],
            message: Some(message),
            location,
            thread,
            count: n[0],
            first_seen_unix_ms: n[1],
            last_seen_unix_ms: n[2],
            backtrace,
        })
}

fn fact_value() -> impl Strategy<Value = FactValue> {
    prop_oneof![
        any::<bool>().prop_map(FactValue::Bool),
        any::<i64>().prop_map(FactValue::Int),
        secret_like().prop_map(FactValue::Text),
    ]
}

fn random_snapshot() -> impl Strategy<Value = Snapshot> {
    (
        proptest::collection::btree_map(secret_like(), stats(), 0..4),
        proptest::collection::vec(critical_error(), 0..3),
        proptest::collection::btree_map(secret_like(), fact_value(), 0..4),
        [secret_like(), secret_like(), secret_like(), secret_like()],
        any::<[u64; 4]>(),
    )
        .prop_map(|(functions, critical_errors, facts, system, numbers)| {
            let mut snapshot = Snapshot::take(DetailsLevel::Instance);
            let [os, arch, kernel, feature] = system;
            snapshot.details_level = DetailsLevel::Full;
            snapshot.functions = functions;
            snapshot.critical_errors = critical_errors;
            // About half the text facts declared from a set holding their value.
            snapshot.fact_choices = facts
                .iter()
                .filter_map(|(name, value)| match value {
                    FactValue::Text(text) if name.len() % 2 == 0 => {
                        Some((name.clone(), vec![text.clone(), "declared-too".to_owned()]))
                    }
                    _ => None,
                })
                .collect();
            snapshot.facts = facts;
            snapshot.system.os = os;
            snapshot.system.arch = arch;
            snapshot.system.kernel = kernel;
            snapshot.system.cpu_features = vec![feature, "avx2".into()];
            snapshot.taken_at_unix_ms = numbers[0];
            snapshot.uptime_ms = numbers[1];
            snapshot.system.memory_bytes = numbers[2];
            snapshot.system.cpu_count = numbers[3];
            snapshot
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The same property as the fuzz target, through JSON as a collector would
    /// receive a snapshot.
    #[test]
    fn no_input_string_survives(snapshot in random_snapshot()) {
        let input: Value = serde_json::from_str(&snapshot.to_json()).unwrap();
        let parsed: Snapshot = serde_json::from_value(input.clone()).unwrap();
        let report = Anonymizer::default().anonymize(&parsed);
        let output: Value = serde_json::from_str(&report.to_json()).unwrap();
        if let Err(leak) = leaks::check_no_leak(&input, &output, &[]) {
            return Err(TestCaseError::fail(leak));
        }
        let anonymizer = Anonymizer::default();
        let hashed = leaks::check_no_hash_of_run_time_text(&input, &output, |text| anonymizer.hash(text));
        if let Err(leak) = hashed {
            return Err(TestCaseError::fail(leak));
        }
    }

    /// Text that exists only at run time (panic messages, thread names, fact
    /// values outside their declared set) changes nothing in the anonymized
    /// form: nothing of it, hashed or not, can be read out of a report.
    #[test]
    fn run_time_text_changes_nothing_that_leaves(
        snapshot in random_snapshot(),
        other in secret_like(),
    ) {
        let mut changed = snapshot.clone();
        for error in &mut changed.critical_errors {
            error.message = Some(other.clone());
            error.thread = Some(other.clone());
        }
        for (name, value) in &mut changed.facts {
            let declared = snapshot.fact_choices.contains_key(name);
            if let (FactValue::Text(text), false) = (value, declared) {
                text.clone_from(&other);
            }
        }
        let anonymizer = Anonymizer::default();
        prop_assert_eq!(anonymizer.anonymize(&snapshot), anonymizer.anonymize(&changed));
    }

    #[test]
    fn rounding_never_grows_and_keeps_the_leading_digits(value: u64, digits in 1u32..=6) {
        let rounded = keep_leading_digits(value, digits);
        prop_assert!(rounded <= value);
        let (text, kept) = (value.to_string(), rounded.to_string());
        prop_assert_eq!(text.len(), kept.len());
        let leading = digits as usize;
        prop_assert_eq!(&text[..leading.min(text.len())], &kept[..leading.min(kept.len())]);
        prop_assert!(kept[leading.min(kept.len())..].bytes().all(|b| b == b'0'));
    }

    #[test]
    fn buckets_stay_strictly_ascending(
        buckets in proptest::collection::vec(any::<(u64, u64)>(), 0..20),
        digits in 1u32..=6,
    ) {
        let mut snapshot = sample();
        let stats = snapshot.functions.values_mut().next().unwrap();
        stats.latency_ns.as_mut().unwrap().buckets = Some(buckets);
        let report = Anonymizer::default().with_digits(digits).unwrap().anonymize(&snapshot);
        let latency = report.functions.values().next().unwrap().latency_ns.clone().unwrap();
        let buckets = latency.buckets.unwrap();
        prop_assert!(buckets.windows(2).all(|pair| pair[0].0 < pair[1].0));
    }
}
