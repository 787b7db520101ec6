//! Facts the application reports about itself: its configuration and the
//! features it uses, as a database reports its storage engine or whether TLS is
//! on. They appear in every snapshot under `facts`.
//!
//! How a fact is anonymized depends on its kind: booleans stay, integers are
//! rounded, a value of a fixed set declared in code ([`Fact::one_of`]) stays if
//! it is one of that set, and any other string is left out (a hash of it would
//! be reversed by enumerating likely values). The set travels with the snapshot
//! (`fact_choices`), so anonymizing a snapshot never reads this module's state.
//! Fact names are `&'static str`, written in the program like fn names, hashed
//! like them and listed in [`name_table`](crate::anonymize::name_table).

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

/// A fact's value as it appears in snapshots: JSON `true`, `12` or `"text"`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FactValue {
    /// A switch: a feature on or off.
    Bool(bool),
    /// A number: a size, a count, a limit.
    Int(i64),
    /// A string: one of a fixed set, or free text.
    Text(String),
}

/// A fact as the app sets it: its value and how it may be anonymized.
///
/// ```
/// use telemetry::facts::{self, Fact, FactValue};
///
/// facts::set("tls", true);
/// facts::set("shards", 12u32);
/// facts::set("storage.engine", Fact::one_of("rocksdb", &["memory", "rocksdb", "mmap"]));
/// facts::set("cluster.url", "https://db.internal:6333"); // free text: stays local
///
/// let stated = telemetry::snapshot().facts;
/// assert_eq!(stated["shards"], FactValue::Int(12));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fact {
    /// Kept as is when anonymized.
    Bool(bool),
    /// Rounded to the anonymizer's leading digits when anonymized.
    Int(i64),
    /// Kept when anonymized if `value` is one of `choices`, left out otherwise.
    /// The choices are `'static`: they come from the program, never from input.
    OneOf {
        /// The value.
        value: String,
        /// Every value that may be reported as is.
        choices: &'static [&'static str],
    },
    /// Free text (a URL, a path, a name): left out when anonymized.
    Text(String),
}

impl Fact {
    /// A value of a fixed set; a value outside the set is left out of the
    /// anonymized form.
    pub fn one_of(value: impl Into<String>, choices: &'static [&'static str]) -> Fact {
        Fact::OneOf {
            value: value.into(),
            choices,
        }
    }

    fn value(&self) -> FactValue {
        match self {
            Fact::Bool(flag) => FactValue::Bool(*flag),
            Fact::Int(number) => FactValue::Int(*number),
            Fact::OneOf { value, .. } | Fact::Text(value) => FactValue::Text(value.clone()),
        }
    }
}

impl From<bool> for Fact {
    fn from(flag: bool) -> Fact {
        Fact::Bool(flag)
    }
}

macro_rules! int_facts {
    ($($int:ty),*) => {$(
        impl From<$int> for Fact {
            /// Values beyond `i64`'s range saturate.
            fn from(number: $int) -> Fact {
                Fact::Int(i64::try_from(number).unwrap_or(i64::MAX))
            }
        }
    )*};
}

int_facts!(i8, i16, i32, i64, u8, u16, u32, u64, usize, isize);

impl From<&str> for Fact {
    fn from(text: &str) -> Fact {
        Fact::Text(text.to_owned())
    }
}

impl From<String> for Fact {
    fn from(text: String) -> Fact {
        Fact::Text(text)
    }
}

/// Facts are set at start-up and on configuration changes, never on a hot path,
/// so a mutex is the simple right tool.
static FACTS: Mutex<BTreeMap<&'static str, Fact>> = Mutex::new(BTreeMap::new());

fn facts() -> MutexGuard<'static, BTreeMap<&'static str, Fact>> {
    // A panic while holding the lock cannot leave a map half-updated.
    crate::lock::lock(&FACTS)
}

/// Sets (or replaces) the fact `name` in every later snapshot; returns the fact
/// it replaced.
///
/// The name is a `&'static str`, written in the program like a fn name: its
/// hash may leave the machine, and a name made at run time could carry data.
///
/// ```
/// use telemetry::facts::{self, Fact};
///
/// facts::set("storage.engine", Fact::one_of("mmap", &["memory", "mmap"]));
/// let replaced = facts::set("storage.engine", Fact::one_of("memory", &["memory", "mmap"]));
/// assert_eq!(replaced, Some(Fact::one_of("mmap", &["memory", "mmap"])));
/// ```
///
/// ```compile_fail
/// let user = String::from("ada");
/// telemetry::facts::set(format!("seen.{user}"), true); // a name made at run time
/// ```
pub fn set(name: &'static str, fact: impl Into<Fact>) -> Option<Fact> {
    facts().insert(name, fact.into())
}

/// Removes the fact `name`; returns it if it was set.
pub fn remove(name: &str) -> Option<Fact> {
    facts().remove(name)
}

/// Every fact's current value, by name.
pub fn all() -> BTreeMap<String, FactValue> {
    facts_and_choices().0
}

/// Every fact's current value, and the fixed set of each [`Fact::OneOf`], by
/// name, read at one instant.
pub(crate) fn facts_and_choices() -> (BTreeMap<String, FactValue>, BTreeMap<String, Vec<String>>) {
    let facts = facts();
    let values = facts
        .iter()
        .map(|(name, fact)| ((*name).to_owned(), fact.value()))
        .collect();
    let choices = facts
        .iter()
        .filter_map(|(name, fact)| match fact {
            Fact::OneOf { choices, .. } => Some((
                (*name).to_owned(),
                choices.iter().map(|choice| (*choice).to_owned()).collect(),
            )),
            _ => None,
        })
        .collect();
    (values, choices)
}

/// Names of the facts set now.
pub(crate) fn fact_names() -> Vec<String> {
    facts().keys().map(|name| (*name).to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_serialize_as_plain_json() {
        let values = [
            FactValue::Bool(true),
            FactValue::Int(-3),
            FactValue::Text("x".into()),
        ];
        let json = serde_json::to_string(&values).unwrap();
        assert_eq!(json, r#"[true,-3,"x"]"#);
        let back: Vec<FactValue> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, values);
    }

    #[test]
    fn large_unsigned_numbers_saturate() {
        assert_eq!(Fact::from(u64::MAX), Fact::Int(i64::MAX));
        assert_eq!(Fact::from(7u8), Fact::Int(7));
    }

    #[test]
    fn one_of_is_declared_and_reported_as_text() {
        set(
            "facts::tests::engine",
            Fact::one_of("mmap", &["memory", "mmap"]),
        );
        let choices = || facts_and_choices().1.remove("facts::tests::engine");
        assert_eq!(choices(), Some(vec!["memory".into(), "mmap".into()]));
        assert_eq!(
            all()["facts::tests::engine"],
            FactValue::Text("mmap".into())
        );
        set("facts::tests::engine", "free");
        assert_eq!(choices(), None);
        assert!(remove("facts::tests::engine").is_some());
        assert!(remove("facts::tests::engine").is_none());
    }
}
