//! The leak check shared by the anonymization tests and the fuzz target: what an
//! anonymized snapshot may contain, given the snapshot it was made from.
//!
//! Every string of the output (values, and keys of the `functions` and `facts`
//! maps) must be either allowed as is (the app's name and version, the instance
//! id, fixed sets such as OS names) or built only from keyed hashes and short
//! numbers (`<hash>`, `<hash>:42:17`, `<hash> at <hash>:42`). And no string of the
//! input longer than 3 characters may appear in the output, except allowed ones.

use std::collections::BTreeSet;

use serde_json::Value;

/// Checks `output` (an anonymized snapshot as JSON) against `input` (the
/// snapshot it was made from, as JSON). `extra_allowed` adds values the app
/// declared in code, such as the choices of its facts.
pub fn check_no_leak(input: &Value, output: &Value, extra_allowed: &[&str]) -> Result<(), String> {
    let mut allowed: BTreeSet<String> = telemetry::SystemInfo::anonymized_values()
        .into_iter()
        .chain(["timed", "counted"])
        .chain(extra_allowed.iter().copied())
        .map(str::to_owned)
        .collect();
    for pointer in ["/app/name", "/app/version", "/instance_id"] {
        if let Some(Value::String(value)) = output.pointer(pointer) {
            allowed.insert(value.clone());
        }
    }
    if output.get("anonymized") != Some(&Value::Bool(true)) {
        return Err("the output is not marked anonymized".into());
    }

    let secrets: BTreeSet<String> = strings(input)
        .into_iter()
        .filter(|text| text.chars().count() > 3 && !allowed.contains(text))
        .collect();
    for text in strings(output) {
        if allowed.contains(&text) {
            continue;
        }
        if !is_hashed_form(&text) {
            return Err(format!("{text:?} is neither a hash nor an allowed value"));
        }
        for secret in &secrets {
            // An input made of what hashed forms are made of (lowercase hex,
            // digits, `:`, ` at `) can turn up in one by chance; only its
            // verbatim copy is a leak.
            let could_be_chance = secret
                .replace(" at ", "")
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b) || b == b':');
            if text == *secret || (!could_be_chance && text.contains(secret.as_str())) {
                return Err(format!("input string {secret:?} survives in {text:?}"));
            }
        }
    }
    Ok(())
}

/// Every data string of a snapshot's JSON: string values anywhere, and the keys
/// of the maps whose keys are names (`functions`, `facts`). Other keys are the
/// schema's field names.
fn strings(snapshot: &Value) -> Vec<String> {
    fn walk(value: &Value, keys_are_data: bool, out: &mut Vec<String>) {
        match value {
            Value::String(text) => out.push(text.clone()),
            Value::Array(items) => items.iter().for_each(|item| walk(item, false, out)),
            Value::Object(fields) => {
                for (key, field) in fields {
                    if keys_are_data {
                        out.push(key.clone());
                    }
                    let named_map = !keys_are_data && (key == "functions" || key == "facts");
                    walk(field, named_map, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(snapshot, false, &mut out);
    out
}

fn is_hash(text: &str) -> bool {
    text.len() == 16
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `<hash>`, `<hash>:N`, `<hash>:N:N`, each optionally after `<hash> at `.
fn is_hashed_form(text: &str) -> bool {
    let location = |text: &str| {
        let mut parts = text.split(':');
        let file = parts.next().is_some_and(is_hash);
        let numbers: Vec<&str> = parts.collect();
        file && numbers.len() <= 2
            && numbers
                .iter()
                .all(|n| (1..=6).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit()))
    };
    match text.split_once(" at ") {
        Some((symbol, rest)) => is_hash(symbol) && location(rest),
        None => location(text),
    }
}
