//! Runs a test in a process of its own, and captures what the library logs.
//!
//! Consent, the anonymizer and the counters are per process, and `DO_NOT_TRACK`
//! is read from the environment the process started with. So each reporter
//! test re-runs this test binary for itself alone, with an environment the test
//! chooses (the caller's `DO_NOT_TRACK` removed), and the parent checks that the
//! child ran that test and passed.

use std::fs::File;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Names the test a child process runs.
const CHILD: &str = "TELEMETRY_TEST_ISOLATED";
/// The longest a child may run before it is killed and the test fails.
const CHILD_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `body` in a fresh process whose environment is the parent's without
/// `DO_NOT_TRACK`, plus `env`. `name` must be the calling test's fn name.
pub fn isolated(name: &str, env: &[(&str, &str)], body: impl FnOnce()) {
    isolated_with_args(name, env, &[], body);
}

/// [`isolated`], with `args` added to the child's command line (after the test
/// harness's own; none may start with `-`, or the harness takes it for an option).
pub fn isolated_with_args(name: &str, env: &[(&str, &str)], args: &[&str], body: impl FnOnce()) {
    if std::env::var(CHILD).as_deref() == Ok(name) {
        capture_logs();
        body();
        println!("{}", ran(name));
        return;
    }
    let dir = std::env::temp_dir().join(format!("telemetry-isolated-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let stdout_path = dir.join(format!("{name}.stdout"));
    let stderr_path = dir.join(format!("{name}.stderr"));
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .args(args)
        .env(CHILD, name)
        .env_remove("DO_NOT_TRACK")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(File::create(&stdout_path).unwrap())
        .stderr(File::create(&stderr_path).unwrap())
        .spawn()
        .expect("start the test binary again");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > CHILD_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = std::fs::read_to_string(&stdout_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let _ = std::fs::remove_file(&stdout_path);
    let _ = std::fs::remove_file(&stderr_path);
    let _ = std::fs::remove_dir(&dir);
    let passed = status.is_some_and(|status| status.success());
    assert!(
        passed && stdout.contains(&ran(name)),
        "isolated test {name} {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        match status {
            None => format!("was killed after {CHILD_TIMEOUT:?}"),
            Some(status) if status.success() => "did not run (is its name right?)".to_owned(),
            Some(status) => format!("failed ({status})"),
        }
    );
}

fn ran(name: &str) -> String {
    format!("isolated test ran to its end: {name}")
}

/// Log lines, `LEVEL message`, of the `telemetry*` targets, oldest first.
pub fn logs() -> Vec<String> {
    LINES.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Kept lines at most: a runaway logger shows as a full buffer, not as memory.
const MAX_LINES: usize = 10_000;

static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.target().starts_with("telemetry")
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let line = format!("{} {}", record.level(), record.args());
            eprintln!("log: {line}");
            let mut lines = LINES.lock().unwrap_or_else(|p| p.into_inner());
            if lines.len() < MAX_LINES {
                lines.push(line);
            }
        }
    }

    fn flush(&self) {}
}

fn capture_logs() {
    static CAPTURE: Capture = Capture;
    if log::set_logger(&CAPTURE).is_ok() {
        log::set_max_level(log::LevelFilter::Trace);
    }
}
