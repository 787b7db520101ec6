//! The opt-in persistent installation id, as an app uses it at start-up. Its own
//! test binary: the instance id is fixed once per process.

use telemetry::instance::InstallationIdError;

#[test]
fn the_installation_id_is_the_instance_id_and_is_fixed_once() {
    let dir = std::env::temp_dir().join(format!("telemetry-installation-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.join("state/installation-id");

    let id = telemetry::instance::use_installation_id(&path).expect("a fresh file is created");
    assert_eq!(telemetry::instance_id(), id);
    assert_eq!(telemetry::snapshot().instance_id, id);
    assert_eq!(telemetry::snapshot().anonymize().instance_id, id);
    let stored = std::fs::read_to_string(&path).unwrap();
    assert_eq!(stored.trim(), id.to_string());

    // The id is in use now: naming a file again is refused, and says so.
    match telemetry::instance::use_installation_id(&path) {
        Err(InstallationIdError::TooLate { current }) => assert_eq!(current, id),
        other => panic!("expected TooLate, got {other:?}"),
    }
    let message = telemetry::instance::use_installation_id(&path)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("before the instance id is first used"),
        "{message}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
