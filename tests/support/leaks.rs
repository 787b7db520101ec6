//! The leak check shared by the anonymization tests and the fuzz target: what an
//! anonymized snapshot may contain, given the snapshot it was made from.
//!
//! Every string of the output (values, and keys of the `functions` and `facts`
//! maps) must be either allowed as is (the app's name and version, the instance
//! id, fixed sets such as OS names and panic categories, the values the input
//! declared in `fact_choices`) or built only from keyed hashes and short numbers
//! (`<hash>`, `<hash>:42:17`, `<hash> at <hash>:42`). And no string of the input
//! longer than 3 characters may appear in the output, except allowed ones.

// Each test binary that includes this uses the checks it needs.
#![allow(dead_code)]

use std::collections::BTreeSet;

use serde_json::Value;

/// Checks `output` (an anonymized snapshot as JSON) against `input` (the
/// snapshot it was made from, as JSON). `extra_allowed` adds values the app
/// declared in code, such as the choices of its facts.
pub fn check_no_leak(input: &Value, output: &Value, extra_allowed: &[&str]) -> Result<(), String> {
    let mut allowed: BTreeSet<String> = telemetry::SystemInfo::anonymized_values()
        .into_iter()
        .chain(["timed", "counted"])
        .chain(telemetry::PanicCategory::ALL.map(telemetry::PanicCategory::name))
        .chain(extra_allowed.iter().copied())
        .map(str::to_owned)
        .collect();
    // The sets the snapshot says its facts were declared with in code.
    if let Some(Value::Object(choices)) = input.get("fact_choices") {
        let declared = choices.values().filter_map(Value::as_array).flatten();
        allowed.extend(declared.filter_map(Value::as_str).map(str::to_owned));
    }
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

/// Checks that `output` (an anonymized snapshot as JSON) holds no `hash` of any
/// text of `input` that exists only at run time: panic messages, thread names,
/// fact values outside their declared set. Names of code (fn keys, locations,
/// frames) are hashed by design and not looked at, nor is run-time text that
/// is also such a name (an empty message and an empty location hash alike).
pub fn check_no_hash_of_run_time_text(
    input: &Value,
    output: &Value,
    hash: impl Fn(&str) -> String,
) -> Result<(), String> {
    // The input without its run-time text: what is left may be hashed.
    let mut code_only = input.clone();
    let mut run_time_text: Vec<String> = Vec::new();
    if let Some(Value::Array(errors)) = code_only.get_mut("critical_errors") {
        for error in errors {
            for field in ["message", "thread"] {
                if let Some(Value::String(text)) = error.get_mut(field).map(Value::take) {
                    run_time_text.push(text);
                }
            }
        }
    }
    if let Some(Value::Object(facts)) = input.get("facts") {
        let declared = |name: &str, value: &str| {
            input
                .pointer(&format!(
                    "/fact_choices/{}",
                    name.replace('~', "~0").replace('/', "~1")
                ))
                .and_then(Value::as_array)
                .is_some_and(|choices| choices.iter().any(|choice| choice == value))
        };
        for (name, value) in facts {
            if let Some(text) = value.as_str().filter(|text| !declared(name, text)) {
                run_time_text.push(text.to_owned());
                code_only["facts"][name] = Value::Null;
            }
        }
    }
    let code_names = strings(&code_only);
    run_time_text.retain(|text| !code_names.contains(text));
    check_no_hash_of(&run_time_text, output, hash)
}

/// Checks that `output` holds none of the `hash`es of `candidates`.
pub fn check_no_hash_of<S: AsRef<str>>(
    candidates: &[S],
    output: &Value,
    hash: impl Fn(&str) -> String,
) -> Result<(), String> {
    let hashes = hashes_in(output);
    for candidate in candidates {
        let candidate = candidate.as_ref();
        if hashes.contains(&hash(candidate)) {
            return Err(format!("the hash of {candidate:?} is in the output"));
        }
    }
    Ok(())
}

/// Every 16-hex-digit hash anywhere in a snapshot's strings and map keys.
pub fn hashes_in(snapshot: &Value) -> std::collections::HashSet<String> {
    let mut all = Vec::new();
    fn walk(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::String(text) => out.push(text.clone()),
            Value::Array(items) => items.iter().for_each(|item| walk(item, out)),
            Value::Object(fields) => {
                for (key, field) in fields {
                    out.push(key.clone());
                    walk(field, out);
                }
            }
            _ => {}
        }
    }
    walk(snapshot, &mut all);
    all.iter()
        .flat_map(|text| text.split(|c: char| !c.is_ascii_hexdigit()))
        .filter(|token| is_hash(token))
        .map(str::to_owned)
        .collect()
}

/// Every data string of a snapshot's JSON: string values anywhere, and the keys
/// of the maps whose keys are names (`functions`, `facts`, `fact_choices`).
/// Other keys are the schema's field names.
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
                    let named_map = !keys_are_data
                        && matches!(key.as_str(), "functions" | "facts" | "fact_choices");
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
