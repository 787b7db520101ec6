//! Update notices: what a collector may answer to a report, as FerretDB's
//! collector tells its users that a newer version is out.

use serde::{Deserialize, Serialize};

/// What the collector said about newer versions of the app, from a response
/// body such as `{"latest_version": "1.4.0", "update_available": true}`.
///
/// The text comes from the network: it is checked to be a short version-like
/// string before the app sees it, so it can be shown to a user as is.
///
/// ```
/// use telemetry::reporter::UpdateInfo;
///
/// let info = UpdateInfo::from_response(br#"{"latest_version": "1.4.0", "update_available": true}"#);
/// assert_eq!(info, Some(UpdateInfo { latest_version: "1.4.0".into(), update_available: true }));
/// assert_eq!(UpdateInfo::from_response(b"<html>ok</html>"), None);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateInfo {
    /// The newest version the collector knows of.
    pub latest_version: String,
    /// Whether it is newer than the version this app reported.
    pub update_available: bool,
}

impl UpdateInfo {
    /// The longest `latest_version` accepted: a version, not a message.
    pub const MAX_VERSION_LEN: usize = 64;

    /// Reads a collector's response body: `Some` if it is a JSON object with a
    /// `latest_version` string (1 to [`MAX_VERSION_LEN`](Self::MAX_VERSION_LEN)
    /// characters among letters, digits and `.-+_~`) and an `update_available`
    /// boolean; other fields are ignored. Anything else is `None`.
    pub fn from_response(body: &[u8]) -> Option<UpdateInfo> {
        let info: UpdateInfo = serde_json_wasm::from_slice(body).ok()?;
        let version_like = |c: char| c.is_ascii_alphanumeric() || ".-+_~".contains(c);
        let valid = (1..=Self::MAX_VERSION_LEN).contains(&info.latest_version.len())
            && info.latest_version.chars().all(version_like);
        valid.then_some(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_well_formed_answer_is_read_and_extra_fields_are_ignored() {
        let body =
            br#"{"update_available": false, "latest_version": "2.0.0-rc.1+build_7", "notes": [1]}"#;
        let info = UpdateInfo::from_response(body).unwrap();
        assert_eq!(info.latest_version, "2.0.0-rc.1+build_7");
        assert!(!info.update_available);
    }

    #[test]
    fn anything_else_is_no_notice() {
        let long = format!(
            r#"{{"latest_version": "{}", "update_available": true}}"#,
            "9".repeat(UpdateInfo::MAX_VERSION_LEN + 1)
        );
        for body in [
            &b""[..],
            b"garbage \xff\xfe",
            b"[]",
            b"{}",
            br#"{"latest_version": "1.0"}"#,
            br#"{"update_available": true}"#,
            br#"{"latest_version": 1, "update_available": true}"#,
            br#"{"latest_version": "1.0", "update_available": "yes"}"#,
            br#"{"latest_version": "", "update_available": true}"#,
            br#"{"latest_version": "1.0\u001b[31m", "update_available": true}"#,
            br#"{"latest_version": "see https://evil.example", "update_available": true}"#,
            long.as_bytes(),
        ] {
            assert_eq!(
                UpdateInfo::from_response(body),
                None,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
