//! The `#[counted]` and `#[timed]` attributes of the `telemetry` crate.
//!
//! Use them through `telemetry`, which documents them; this crate's expansion
//! refers to `::telemetry::__private` (or the path given as `crate = "..."`).
//!
//! The crate is split as parse (`args`: the attribute's arguments into a small
//! typed model, every mistake a spanned `syn::Error`) and expand (`expand`:
//! items into their instrumented form).

mod args;
mod expand;

use proc_macro::TokenStream;

use args::Kind;

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
