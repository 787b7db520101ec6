//! Consent: the values each source takes, which source wins, and locking.

use telemetry::consent::{Consent, ConsentDecision, ConsentResolver, ConsentSource};

const ON: [&str; 11] = [
    "1", "t", "true", "y", "yes", "on", "enable", "enabled", "optin", "opt-in", "allow",
];
const OFF: [&str; 12] = [
    "0", "f", "false", "n", "no", "off", "disable", "disabled", "optout", "opt-out", "disallow",
    "forbid",
];

/// Upper case, mixed case (`OpT-In`) and blanks around.
fn spellings(value: &str) -> Vec<String> {
    let mixed: String = value
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i % 2 == 0 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect();
    vec![
        value.to_owned(),
        value.to_ascii_uppercase(),
        mixed,
        format!("  {value}\t"),
        format!("\n{value} "),
    ]
}

#[test]
fn every_listed_value_parses_in_any_case_with_blanks() {
    for (values, consent) in [(&ON[..], Consent::Enabled), (&OFF[..], Consent::Disabled)] {
        for value in values {
            for spelling in spellings(value) {
                assert_eq!(spelling.parse::<Consent>(), Ok(consent), "{spelling:?}");
            }
        }
    }
    for undecided in ["", "   ", "\t\n", "undecided", "UNDECIDED", " Undecided "] {
        assert_eq!(
            undecided.parse::<Consent>(),
            Ok(Consent::Undecided),
            "{undecided:?}"
        );
    }
}

#[test]
fn anything_else_is_an_error_listing_the_accepted_values() {
    for unknown in [
        "maybe",
        "2",
        "-1",
        "yes please",
        "tru",
        "onn",
        "o n",
        "y e s",
        "enabled!",
        "opt_in",
        "ja",
        "✓",
        "null",
        "none",
        "ＹＥＳ",
        "1.0",
        "\"yes\"",
    ] {
        let error = unknown.parse::<Consent>().unwrap_err();
        assert_eq!(error.value(), unknown);
        let message = error.to_string();
        assert!(message.contains(&format!("{unknown:?}")), "{message}");
        for value in ON.iter().chain(&OFF).chain(&["undecided"]) {
            assert!(message.contains(value), "{value} missing from {message}");
        }
    }
}

/// A resolver that reads nothing from the real process.
fn resolver() -> ConsentResolver {
    ConsentResolver::new("my-app")
        .env(Vec::<(String, String)>::new())
        .args(["my-app"])
        .executable("/usr/local/bin/my-app")
}

fn decided(resolver: ConsentResolver) -> (Consent, ConsentSource) {
    let decision = resolver.resolve().unwrap();
    (decision.consent, decision.source)
}

fn app_env(var: &str) -> ConsentSource {
    ConsentSource::AppEnv(var.to_owned())
}

#[test]
fn nothing_said_is_undecided() {
    assert_eq!(
        decided(resolver()),
        (Consent::Undecided, ConsentSource::Default)
    );
    assert_eq!(resolver().env_var(), "MY_APP_TELEMETRY");
    assert_eq!(
        ConsentResolver::new("Qdrant 2").env_var(),
        "QDRANT_2_TELEMETRY"
    );
}

#[test]
fn each_source_decides_when_stronger_ones_are_silent() {
    let config = resolver().config_value("yes");
    assert_eq!(decided(config), (Consent::Enabled, ConsentSource::Config));
    let typed = resolver().config(Consent::Disabled);
    assert_eq!(decided(typed), (Consent::Disabled, ConsentSource::Config));

    let env = resolver()
        .env([("MY_APP_TELEMETRY", "on")])
        .config_value("off");
    assert_eq!(
        decided(env),
        (Consent::Enabled, app_env("MY_APP_TELEMETRY"))
    );
    let env_disabled = resolver()
        .env([("MY_APP_TELEMETRY_DISABLED", "true")])
        .config_value("on");
    assert_eq!(
        decided(env_disabled),
        (Consent::Disabled, app_env("MY_APP_TELEMETRY_DISABLED"))
    );

    let flag = resolver()
        .args(["my-app", "--telemetry=enable"])
        .env([("MY_APP_TELEMETRY", "off")])
        .config_value("off");
    assert_eq!(
        decided(flag),
        (Consent::Enabled, ConsentSource::CommandLine)
    );
    let disable_flag = resolver()
        .args(["my-app", "serve", "--disable-telemetry"])
        .env([("MY_APP_TELEMETRY", "on")]);
    assert_eq!(
        decided(disable_flag),
        (Consent::Disabled, ConsentSource::CommandLine)
    );

    let dnt = resolver()
        .env([("DO_NOT_TRACK", "1"), ("MY_APP_TELEMETRY", "on")])
        .args(["--telemetry=on"])
        .config(Consent::Enabled);
    assert_eq!(decided(dnt), (Consent::Disabled, ConsentSource::DoNotTrack));

    let by_name = resolver()
        .executable("/opt/bin/my-app-donottrack")
        .env([("DO_NOT_TRACK", "0"), ("MY_APP_TELEMETRY", "on")])
        .args(["--telemetry=on"]);
    assert_eq!(
        decided(by_name),
        (Consent::Disabled, ConsentSource::ExecutableName)
    );
}

#[test]
fn an_undecided_source_leaves_the_decision_to_weaker_ones() {
    let flag = resolver()
        .args(["--telemetry=undecided"])
        .env([("MY_APP_TELEMETRY", "")])
        .config_value("on");
    assert_eq!(decided(flag), (Consent::Enabled, ConsentSource::Config));
    // A "disabled" switch set to false never enables: it only does not disable.
    let switch_off = resolver()
        .env([("MY_APP_TELEMETRY_DISABLED", "false")])
        .config_value("off");
    assert_eq!(
        decided(switch_off),
        (Consent::Disabled, ConsentSource::Config)
    );
    let switch_alone = resolver().env([("MY_APP_TELEMETRY_DISABLED", "0")]);
    assert_eq!(decided(switch_alone).0, Consent::Undecided);
}

#[test]
fn off_wins_within_a_source() {
    let both_flags = resolver().args(["--telemetry=on", "--disable-telemetry", "--telemetry=on"]);
    assert_eq!(decided(both_flags).0, Consent::Disabled);
    let flags = resolver().args(["--telemetry=off", "--telemetry=on"]);
    assert_eq!(decided(flags).0, Consent::Disabled);
    let vars = resolver().env([
        ("MY_APP_TELEMETRY", "on"),
        ("MY_APP_TELEMETRY_DISABLED", "yes"),
    ]);
    assert_eq!(
        decided(vars),
        (Consent::Disabled, app_env("MY_APP_TELEMETRY_DISABLED"))
    );
}

#[test]
fn command_line_forms() {
    let spaced = resolver().args(["my-app", "--telemetry", "OFF", "run"]);
    assert_eq!(
        decided(spaced),
        (Consent::Disabled, ConsentSource::CommandLine)
    );
    let valued = resolver().args(["--disable-telemetry=yes"]);
    assert_eq!(decided(valued).0, Consent::Disabled);
    let not_disabled = resolver()
        .args(["--disable-telemetry=no"])
        .config_value("on");
    assert_eq!(
        decided(not_disabled),
        (Consent::Enabled, ConsentSource::Config)
    );
    // After `--` come the program's operands, not flags.
    let operand = resolver().args(["my-app", "--", "--telemetry=on"]);
    assert_eq!(decided(operand).0, Consent::Undecided);
    // Other flags that merely look alike are not ours.
    let lookalike = resolver().args(["--telemetry-endpoint=x", "--no-telemetry-x"]);
    assert_eq!(decided(lookalike).0, Consent::Undecided);
}

#[test]
fn do_not_track_disables_unless_empty_or_off() {
    for value in ["1", "true", "yes", "banana", "undecided", " on ", "2"] {
        let resolver = resolver()
            .env([("DO_NOT_TRACK", value)])
            .config(Consent::Enabled);
        let decision = resolver.resolve().unwrap();
        assert_eq!(decision.consent, Consent::Disabled, "{value:?}");
        assert_eq!(decision.source, ConsentSource::DoNotTrack);
        assert!(decision.is_locked());
    }
    for value in ["", "  ", "0", "false", "OFF", "no"] {
        let resolver = resolver()
            .env([("DO_NOT_TRACK", value)])
            .config(Consent::Enabled);
        assert_eq!(
            decided(resolver),
            (Consent::Enabled, ConsentSource::Config),
            "{value:?}"
        );
    }
}

#[test]
fn donottrack_in_the_executable_name_disables_and_locks() {
    for name in [
        "/usr/bin/my-app-donottrack",
        "DoNotTrack-my-app",
        "C:/tools/my-app_do_not_track.exe",
        "my-app.do-not-track",
    ] {
        let decision = resolver()
            .executable(name)
            .args(["--telemetry=on"])
            .resolve()
            .unwrap();
        assert_eq!(decision.consent, Consent::Disabled, "{name}");
        assert_eq!(decision.source, ConsentSource::ExecutableName);
        assert!(decision.is_locked());
    }
    // Only the file name counts, not the directory it is in.
    let directory = resolver()
        .executable("/home/donottrack/bin/my-app")
        .config_value("on");
    assert_eq!(decided(directory).0, Consent::Enabled);
}

#[test]
fn bad_values_name_their_source_and_the_accepted_values() {
    let cases = [
        (
            resolver().args(["--telemetry=maybe"]),
            "--telemetry",
            ConsentSource::CommandLine,
        ),
        (
            resolver().args(["--telemetry"]),
            "needs a value",
            ConsentSource::CommandLine,
        ),
        (
            resolver().args(["--disable-telemetry=sure"]),
            "--disable-telemetry",
            ConsentSource::CommandLine,
        ),
        (
            resolver().env([("MY_APP_TELEMETRY", "maybe")]),
            "MY_APP_TELEMETRY",
            app_env("MY_APP_TELEMETRY"),
        ),
        (
            resolver().env([("MY_APP_TELEMETRY_DISABLED", "sure")]),
            "MY_APP_TELEMETRY_DISABLED",
            app_env("MY_APP_TELEMETRY_DISABLED"),
        ),
        (
            resolver().config_value("nope"),
            "configuration",
            ConsentSource::Config,
        ),
        // A bad value is reported even when a stronger source decided.
        (
            resolver().env([("DO_NOT_TRACK", "1")]).config_value("nope"),
            "configuration",
            ConsentSource::Config,
        ),
    ];
    for (resolver, names, source) in cases {
        let error = resolver.resolve().unwrap_err();
        let message = error.to_string();
        assert!(message.contains(names), "{message}");
        assert!(
            message.contains("opt-in") && message.contains("forbid"),
            "{message}"
        );
        assert_eq!(error.source(), &source);
        // Servers go on, with telemetry off, never on.
        let lenient = resolver.resolve_lenient();
        assert_eq!(lenient.consent, Consent::Disabled);
        assert_eq!(lenient.source, source);
    }
}

#[test]
fn a_cli_exits_with_the_message_on_a_bad_value() {
    if std::env::var_os("CONSENT_EXIT_CHILD").is_some() {
        resolver().config_value("perhaps").resolve_or_exit();
        unreachable!("resolve_or_exit returned on a bad value");
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_cli_exits_with_the_message_on_a_bad_value",
            "--nocapture",
        ])
        .env("CONSENT_EXIT_CHILD", "1")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("error: invalid telemetry setting in the configuration")
            && stderr.contains("\"perhaps\"")
            && stderr.contains("opt-out"),
        "{stderr}"
    );
}

#[test]
fn a_locked_decision_cannot_be_overridden() {
    let locked = ConsentDecision::new(Consent::Disabled, ConsentSource::DoNotTrack);
    telemetry::consent::set(locked.clone()).unwrap();
    assert_eq!(telemetry::consent::current(), locked);

    let attempt = ConsentDecision::new(Consent::Enabled, ConsentSource::Config);
    let error = telemetry::consent::set(attempt.clone()).unwrap_err();
    assert_eq!(error.current, locked);
    assert_eq!(error.refused, attempt);
    let message = error.to_string();
    assert!(
        message.contains("DO_NOT_TRACK") && message.contains("enabled by the configuration"),
        "{message}"
    );
    assert_eq!(telemetry::consent::current(), locked);
    assert!(!telemetry::consent::current().allows_sending());
}

#[test]
fn decisions_show_and_serialize_with_their_source() {
    let decision = resolver()
        .env([("MY_APP_TELEMETRY", "on")])
        .resolve()
        .unwrap();
    assert_eq!(
        decision.to_string(),
        "telemetry enabled by MY_APP_TELEMETRY"
    );
    assert!(decision.allows_sending());
    assert_eq!(
        serde_json::to_string(&decision).unwrap(),
        r#"{"consent":"enabled","source":"MY_APP_TELEMETRY"}"#
    );
}
