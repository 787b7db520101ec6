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
            self_type: OnceLock::new(),
        }
    }

    /// What the site records.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The site's counters.
    pub fn counters(&self) -> &'static CallCounters {
        self.counters
    }

    /// The site's latency histogram, for `#[timed]` sites.
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

/// `alloc::vec::Vec<my::Foo>` → `Vec`; `&mut my::Bar` → `Bar`.
fn short_type_name(full: &str) -> &str {
    let without_generics = full.split('<').next().unwrap_or(full);
    let path = without_generics
        .trim_start_matches('&')
        .trim_start_matches("mut ")
        .trim_start_matches("dyn ");
    path.rsplit("::").next().unwrap_or(path)
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
}
