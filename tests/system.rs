//! Machine facts as snapshots report them.

#[test]
fn the_data_dir_is_named_once_and_its_disk_reported() {
    let dir = std::env::temp_dir();
    let disk = telemetry::instance::set_data_dir(&dir).expect("named once");
    let system = telemetry::snapshot().system;
    assert_eq!(system.disk, disk);
    let refused = telemetry::instance::set_data_dir("/elsewhere").unwrap_err();
    assert_eq!(refused.into_inner(), std::path::Path::new("/elsewhere"));
    // The rest of the facts are unchanged by naming it.
    assert_eq!(system.os, std::env::consts::OS);
    assert!(system.cpu_count >= 1);
    let json = telemetry::snapshot().to_json();
    assert!(!json.contains(dir.to_str().unwrap()), "{json}");
}

#[test]
fn snapshots_without_the_new_facts_still_parse() {
    let json = r#"{"os":"linux","arch":"x86_64","cpu_count":2,
                   "memory_bytes":25000000000,"in_container":false}"#;
    let system: telemetry::SystemInfo = serde_json::from_str(json).unwrap();
    assert_eq!(system.kernel, "");
    assert_eq!((system.kernel_version, system.disk), (None, None));
    assert!(system.cpu_features.is_empty());
}
