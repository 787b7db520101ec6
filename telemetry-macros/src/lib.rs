//! The `#[counted]` and `#[timed]` attributes of the `telemetry` crate.
//!
//! Use them through `telemetry`, which documents them; this crate's expansion
//! refers to `::telemetry::__private_<version>` (or the path given as `crate = "..."`).
//!
//! The crate reads in three steps, one module each: `parse` (the attribute's
//! arguments), `model` (the typed model of the instrumented item: which fns,
//! under which name, with which return shape, async form and parameters; every
//! check and every spanned `syn::Error` is made there) and `expand` (code
//! generation only). On any error the item is emitted unchanged beside the
//! errors.

mod expand;
mod model;
mod parse;

use proc_macro::TokenStream;

use parse::Kind;

/// Counts calls; see `telemetry::counted`.
#[proc_macro_attribute]
pub fn counted(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(Kind::Counted, args.into(), item.into()).into()
}

/// Counts calls and records their latency; see `telemetry::timed`.
#[proc_macro_attribute]
pub fn timed(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(Kind::Timed, args.into(), item.into()).into()
}
