//! The adversarial test of anonymization: user data put everywhere an app or
//! its user can put text, end to end through the real panic hook, facts, data
//! directory, environment and command line, and nothing of it in the anonymized
//! JSON, not even hashed. A binary of its own: no other test's fn names (which
//! are code, and hashed by design) share its process.

#[path = "support/isolated.rs"]
#[allow(dead_code)] // Its log capture is not needed here.
mod isolated;
#[path = "support/leaks.rs"]
mod leaks;

use serde_json::Value;
use telemetry::anonymize::{Anonymizer, NameKey};
use telemetry::facts::Fact;
use telemetry::PanicCategory;

/// User data as a program or its user may hand it over at run time.
const USER_DATA: [&str; 17] = [
    "ada.lovelace@example.com",
    "jane+orders@mail.example.org",
    "192.168.17.42",
    "10.20.30.40",
    "2001:db8:85a3::8a2e:370:7334",
    "fe80::1ff:fe23:4567:890a",
    "https://admin:hunter2@api.example.org/v1?token=s3cr3t",
    "postgres://svc:pw0rd@db.internal.corp:5432/customers",
    "/home/alice/projects/shop",
    "/Users/bob.smith/Library/Application Support/shop",
    "C:\\Users\\carol\\AppData\\Roaming\\shop",
    "db-primary.internal.corp",
    "alice-laptop",
    "alice",
    "bob.smith",
    "6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f",
    "0f8fad5b-d9cb-469f-a165-70867728950e",
];

/// Ids formatted into messages and thread names; candidates run over 0..=100_000.
const IDS: [u32; 4] = [48_213, 77_777, 31_337, 100_000];
const MAX_ID: u32 = 100_000;

/// What a non-text panic payload may carry.
#[derive(Debug)]
#[allow(dead_code)] // Read only through `Debug`, which the hook never calls.
struct Customer {
    email: &'static str,
    id: u32,
}

#[telemetry::timed]
fn find_account(id: u32) {
    panic!("account {id} not found");
}

#[telemetry::counted]
#[allow(clippy::expect_fun_call)] // Apps write this; the test has to as well.
fn find_user(name: &str) -> u8 {
    let users: Option<u8> = std::hint::black_box(None);
    users.expect(&format!("user {name} unknown"))
}

#[telemetry::counted]
fn parse_user(name: &'static str) -> u8 {
    let parsed: Result<u8, &str> = std::hint::black_box(Err(name));
    parsed.unwrap()
}

#[telemetry::counted]
fn nth_order(id: u32) -> u8 {
    let orders = std::hint::black_box([1u8, 2, 3]);
    orders[id as usize]
}

#[telemetry::counted]
fn check_owner(id: u32) {
    assert_eq!(id, 0, "owner {id}");
}

#[telemetry::counted]
fn raise_text(text: &str) {
    std::panic::panic_any(text.to_owned());
}

#[telemetry::counted]
fn raise_customer(email: &'static str, id: u32) {
    std::panic::panic_any(Customer { email, id });
}

/// Runs `f` on a thread named `name` and returns whether it panicked.
fn on_thread(name: String, f: impl FnOnce() + Send + 'static) -> bool {
    std::thread::Builder::new()
        .name(name)
        .spawn(f)
        .unwrap()
        .join()
        .is_err()
}

/// Every place where an app or its user can put text gets user data: panic
/// messages with formatted ids, non-text panic payloads, thread names, fact
/// values, the data directory, environment variables, command-line arguments.
/// The anonymized JSON holds none of it, and no hash (under the key in use) of
/// any candidate that enumerating the message templates over the data and the
/// ids 0 to 100,000 gives.
#[test]
fn user_data_never_leaves_even_hashed() {
    let env = [
        ("HOME", USER_DATA[8]),
        ("USER", USER_DATA[13]),
        ("LOGNAME", USER_DATA[14]),
        ("HOSTNAME", USER_DATA[12]),
        ("SHOP_TELEMETRY", USER_DATA[0]),
        ("SHOP_DATABASE_URL", USER_DATA[7]),
        ("HTTP_PROXY", USER_DATA[6]),
    ];
    // The test harness takes an argument that starts with `-` for an option.
    let args: Vec<&str> = USER_DATA
        .iter()
        .copied()
        .filter(|a| !a.starts_with('-'))
        .collect();
    isolated::isolated_with_args("user_data_never_leaves_even_hashed", &env, &args, || {
        let key = NameKey::from_secret("a key of the app's own, 32 bytes!").unwrap();
        telemetry::anonymize::set(Anonymizer::new(key)).unwrap();
        telemetry::set_app_info(telemetry::app_info!()).unwrap();
        // The panics below are expected: only this test's own thread prints.
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().name() == Some("user_data_never_leaves_even_hashed") {
                default(info);
            }
        }));
        telemetry::install_panic_hook();
        let decision = telemetry::consent::ConsentResolver::new("shop").resolve_lenient();
        let _ = telemetry::consent::set(decision);

        let data_dir = std::env::temp_dir()
            .join(format!("telemetry-{}", std::process::id()))
            .join(USER_DATA[12])
            .join(USER_DATA[0]);
        std::fs::create_dir_all(&data_dir).unwrap();
        telemetry::instance::set_data_dir(&data_dir).unwrap();
        let _ = std::fs::remove_dir_all(data_dir.parent().unwrap().parent().unwrap());

        for (i, data) in USER_DATA.iter().copied().enumerate() {
            let id = IDS[i % IDS.len()];
            assert!(on_thread(format!("req-{id}"), move || find_account(id)));
            assert!(on_thread(data.to_owned(), move || {
                find_user(data);
            }));
            assert!(on_thread(format!("{data} #{id}"), move || {
                parse_user(data);
            }));
            assert!(on_thread(format!("worker-{id}"), move || {
                nth_order(id);
            }));
            assert!(on_thread(data.to_owned(), move || check_owner(id)));
            assert!(on_thread(format!("job {id}"), move || raise_text(data)));
            assert!(on_thread(data.to_owned(), move || raise_customer(data, id)));
            assert!(on_thread(format!("{id}"), move || std::panic::panic_any(
                id
            )));
        }
        telemetry::facts::set("owner.email", USER_DATA[0]);
        telemetry::facts::set("owner.home", USER_DATA[8]);
        telemetry::facts::set("owner.id", Fact::from(format!("{}", IDS[0])));
        telemetry::facts::set("region", Fact::one_of(USER_DATA[12], &["eu", "us"]));
        telemetry::facts::set("storage", Fact::one_of("rocksdb", &["memory", "rocksdb"]));

        let raw = telemetry::snapshot();
        let raw_json = raw.to_json();
        // Not a vacuous check: the raw snapshot, which stays local, has the data.
        for kept in [
            "account 48213 not found",
            "req-48213",
            USER_DATA[0],
            "Box<dyn Any>",
        ] {
            assert!(raw_json.contains(kept), "{kept:?} is not in {raw_json}");
        }

        let report = raw.anonymize();
        let json = report.to_json();
        let output: Value = serde_json::from_str(&json).unwrap();
        for data in USER_DATA {
            assert!(!json.contains(data), "{data:?} leaked into {json}");
        }
        assert_no_id_in(&output);
        assert_eq!(
            report.facts.len(),
            1,
            "only the declared value stays: {:?}",
            report.facts
        );
        assert!(report
            .critical_errors
            .iter()
            .all(|e| e.message.is_none() && e.thread.is_none()));
        let categories: Vec<PanicCategory> =
            report.critical_errors.iter().map(|e| e.category).collect();
        for expected in [
            PanicCategory::ExplicitPanic,
            PanicCategory::Expect,
            PanicCategory::UnwrapErr,
            PanicCategory::IndexOutOfBounds,
            PanicCategory::AssertionFailed,
            PanicCategory::Other,
        ] {
            assert!(
                categories.contains(&expected),
                "{expected:?} not in {categories:?}"
            );
        }

        let anonymizer = telemetry::anonymize::current();
        let input: Value = serde_json::from_str(&raw_json).unwrap();
        leaks::check_no_leak(&input, &output, &["memory", "rocksdb", "eu", "us"]).unwrap();
        leaks::check_no_hash_of_run_time_text(&input, &output, |text| anonymizer.hash(text))
            .unwrap();
        let mut candidates: Vec<String> = USER_DATA.iter().map(|d| (*d).to_owned()).collect();
        candidates.extend(env.iter().map(|(_, value)| (*value).to_owned()));
        candidates.push(data_dir.display().to_string());
        for data in USER_DATA {
            candidates.push(format!("user {data} unknown"));
            candidates.push(format!(
                "called `Result::unwrap()` on an `Err` value: {data:?}"
            ));
        }
        leaks::check_no_hash_of(&candidates, &output, |text| anonymizer.hash(text)).unwrap();
        let hashes = leaks::hashes_in(&output);
        for id in 0..=MAX_ID {
            for candidate in [
                format!("account {id} not found"),
                format!("index out of bounds: the len is 3 but the index is {id}"),
                format!("assertion `left == right` failed: owner {id}\n  left: {id}\n right: 0"),
                format!("req-{id}"),
                format!("worker-{id}"),
                format!("job {id}"),
                id.to_string(),
            ] {
                let hash = anonymizer.hash(&candidate);
                assert!(
                    !hashes.contains(&hash),
                    "the hash of {candidate:?} is in {json}"
                );
            }
        }
    });
}

/// No id of [`IDS`] in the JSON: no number equal to one, no run of digits in a
/// string (hashes aside) that is one.
fn assert_no_id_in(value: &Value) {
    let is_id = |n: u64| IDS.iter().any(|id| u64::from(*id) == n);
    match value {
        Value::Number(n) => assert!(!n.as_u64().is_some_and(is_id), "{n}"),
        Value::String(text) => {
            let digit_runs = text
                .split(|c: char| !c.is_ascii_hexdigit())
                .filter(|token| token.len() != 16)
                .flat_map(|token| token.split(|c: char| !c.is_ascii_digit()));
            for run in digit_runs {
                assert!(!run.parse().is_ok_and(is_id), "{run} in {text:?}");
            }
        }
        Value::Array(items) => items.iter().for_each(assert_no_id_in),
        Value::Object(fields) => fields.values().for_each(assert_no_id_in),
        _ => {}
    }
}
