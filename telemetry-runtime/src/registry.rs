//! The call sites of every instrumented fn, collected at link time.
//!
//! Each `#[counted]` / `#[timed]` fn owns one const-initialized [`CallSite`]
//! `static`, and one entry pointing to it in the [`CALL_SITES`] distributed slice.
//! The linker gathers those entries into one array, so every instrumented fn is
//! known from process start (with zero counts) without a constructor, a lock, or
//! a check on the hot path.

use std::borrow::Cow;
use std::sync::OnceLock;

use crate::counter::CallCounters;
use crate::histogram::Histogram;

/// What a call site records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Call counters only (`#[counted]`).
    Counted,
    /// Call counters and a latency histogram (`#[timed]`).
    Timed,
}

/// How a call site is named in snapshots.
#[derive(Debug)]
pub enum SiteName {
    /// A name known at compile time: `module::fn`, `module::Type::method`, or
    /// the `name = "..."` argument.
    Fixed(&'static str),
    /// A method with a `self` receiver outside an instrumented `impl`: the macro
    /// does not see the type, so the name is completed from `Self` on first call.
    OfSelfType {
        /// `module_path!()` of the method.
        module: &'static str,
        /// The method's name.
        method: &'static str,
    },
}

/// The static state of one instrumented fn.
pub struct CallSite {
    name: SiteName,
    kind: Kind,
    counters: &'static CallCounters,
    histogram: Option<&'static Histogram>,
    /// Times about one call in `sample` (see [`crate::sample`]); 1 times every call.
    sample: u32,
    self_type: OnceLock<&'static str>,
}

impl CallSite {
    /// A `#[counted]` site.
    pub const fn counted(name: SiteName, counters: &'static CallCounters) -> CallSite {
        CallSite {
            name,
            kind: Kind::Counted,
            counters,
            histogram: None,
            sample: 1,
            self_type: OnceLock::new(),
        }
    }

    /// A `#[timed]` site.
    pub const fn timed(
        name: SiteName,
        counters: &'static CallCounters,
        histogram: &'static Histogram,
    ) -> CallSite {
        CallSite {
            name,
            kind: Kind::Timed,
            counters,
            histogram: Some(histogram),
            sample: 1,
            self_type: OnceLock::new(),
        }
    }

    /// This `#[timed]` site timing about one call in `every` (`#[timed(sample =
    /// N)]`); its guards must sample at the same rate.
    pub const fn sampled(mut self, every: u32) -> CallSite {
        self.sample = every;
        self
    }

    /// How many calls the site has per timed call, on average: `N` of `#[timed(sample
    /// = N)]`, 1 where every call is timed (and for `#[counted]` sites).
    pub fn sample(&self) -> u32 {
        self.sample
    }

    /// What the site records.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The site's counters.
    #[inline(always)]
    pub fn counters(&self) -> &'static CallCounters {
        self.counters
    }

    /// The site's latency histogram, for `#[timed]` sites.
    #[inline(always)]
    pub fn histogram(&self) -> Option<&'static Histogram> {
        self.histogram
    }

    /// Completes an [`SiteName::OfSelfType`] name; cheap after the first call.
    #[inline(always)]
    pub fn name_self_type(&self, type_name: fn() -> &'static str) {
        if self.self_type.get().is_none() {
            let _ = self.self_type.set(type_name());
        }
    }

    /// Whether [`name`](Self::name) is `Some`, without making the name. Once
    /// true, it stays true.
    pub fn has_name(&self) -> bool {
        matches!(self.name, SiteName::Fixed(_)) || self.self_type.get().is_some()
    }

    /// The name under which the site appears, or `None` for a method whose type
    /// is not known yet (it has not been called).
    pub fn name(&self) -> Option<Cow<'static, str>> {
        match self.name {
            SiteName::Fixed(name) => Some(Cow::Borrowed(name)),
            SiteName::OfSelfType { module, method } => {
                let type_name = short_type_name(self.self_type.get()?);
                Some(Cow::Owned(format!("{module}::{type_name}::{method}")))
            }
        }
    }
}

/// The readable name of a type from its `type_name`, by the rule the macros
/// apply to an `impl`'s self type: `alloc::vec::Vec<my::Foo>` → `Vec`,
/// `&mut my::Bar` → `Bar`, `[u8]` → `u8_slice`, `[u8; 4]` → `u8_array`,
/// `(u8, my::Baz)` → `u8_Baz_tuple`, `()` → `unit`, `dyn my::Tr + Send` → `Tr`.
fn short_type_name(full: &str) -> String {
    let full = full.trim();
    for prefix in ["&mut ", "&", "*const ", "*mut ", "dyn "] {
        if let Some(rest) = full.strip_prefix(prefix) {
            return short_type_name(rest);
        }
    }
    if let Some(inner) = full
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
    {
        return match split_top_level(inner, ';').as_slice() {
            [element] => format!("{}_slice", short_type_name(element)),
            [element, ..] => format!("{}_array", short_type_name(element)),
            [] => String::new(),
        };
    }
    if let Some(inner) = full
        .strip_prefix('(')
        .and_then(|rest| rest.strip_suffix(')'))
    {
        let parts: Vec<String> = split_top_level(inner, ',')
            .into_iter()
            .filter(|part| !part.trim().is_empty())
            .map(short_type_name)
            .collect();
        return match parts.len() {
            0 => "unit".to_owned(),
            _ => format!("{}_tuple", parts.join("_")),
        };
    }
    if full.starts_with("fn(") || full.starts_with("unsafe ") || full.starts_with("extern ") {
        return "fn".to_owned();
    }
    let first_bound = split_top_level(full, '+')[0].trim();
    let without_generics = first_bound.split('<').next().unwrap_or(first_bound);
    without_generics
        .rsplit("::")
        .next()
        .unwrap_or(without_generics)
        .to_owned()
}

/// `text` split at `separator` where it is not nested in `<>`, `()` or `[]`.
fn split_top_level(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (index, c) in text.char_indices() {
        match c {
            '<' | '(' | '[' => depth += 1,
            // `->` in a fn type is no closing bracket.
            '>' if text[..index].ends_with('-') => {}
            '>' | ')' | ']' => depth = depth.saturating_sub(1),
            c if c == separator && depth == 0 => {
                parts.push(&text[start..index]);
                start = index + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// Every call site linked into the program.
#[linkme::distributed_slice]
pub static CALL_SITES: [&'static CallSite];

/// Iterates over every instrumented fn of the program.
pub fn call_sites() -> impl Iterator<Item = &'static CallSite> {
    CALL_SITES.iter().copied()
}

#[cfg(test)]
mod tests {
    use super::short_type_name;

    #[test]
    fn type_names_lose_paths_and_generics() {
        assert_eq!(short_type_name("alloc::vec::Vec<my::Foo>"), "Vec");
        assert_eq!(short_type_name("&mut my::Bar"), "Bar");
        assert_eq!(short_type_name("Plain"), "Plain");
        assert_eq!(short_type_name("a::b::Pair<a::X, b::Y<c::Z>>"), "Pair");
    }

    #[test]
    fn slices_arrays_tuples_and_objects_read_as_words() {
        // As `std::any::type_name` spells them.
        assert_eq!(short_type_name(std::any::type_name::<[u8]>()), "u8_slice");
        assert_eq!(short_type_name(std::any::type_name::<&[u8]>()), "u8_slice");
        assert_eq!(
            short_type_name(std::any::type_name::<[u8; 4]>()),
            "u8_array"
        );
        assert_eq!(
            short_type_name(std::any::type_name::<[Vec<(u8, u16)>; 2]>()),
            "Vec_array"
        );
        assert_eq!(
            short_type_name(std::any::type_name::<(u8, String)>()),
            "u8_String_tuple"
        );
        assert_eq!(short_type_name(std::any::type_name::<()>()), "unit");
        assert_eq!(
            short_type_name(std::any::type_name::<dyn std::fmt::Debug + Send>()),
            "Debug"
        );
        assert_eq!(
            short_type_name(std::any::type_name::<fn(u8) -> Vec<u8>>()),
            "fn"
        );
        assert_eq!(short_type_name(std::any::type_name::<*const str>()), "str");
    }
}
