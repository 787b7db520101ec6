//! The attribute's arguments, parsed into [`Args`] with every mistake collected as
//! a spanned error.

use proc_macro2::{Literal, Span, TokenTree};
use quote::ToTokens;
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, Lit, LitStr, Path};

/// Which attribute, `#[counted]` or `#[timed]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counted,
    Timed,
}

impl Kind {
    pub fn attribute(self) -> &'static str {
        match self {
            Kind::Counted => "counted",
            Kind::Timed => "timed",
        }
    }

    /// `#[timed]` counts too: of two attributes on one fn, timed wins.
    pub fn join(self, other: Kind) -> Kind {
        if self == Kind::Timed || other == Kind::Timed {
            Kind::Timed
        } else {
            Kind::Counted
        }
    }

    /// The attribute `attr` is, if it is one of ours.
    pub fn of_attribute(attr: &Attribute) -> Option<Kind> {
        let last = attr.path().segments.last()?;
        match last.ident.to_string().as_str() {
            "timed" => Some(Kind::Timed),
            "counted" => Some(Kind::Counted),
            _ => None,
        }
    }
}

/// How returns are split into `ok` and `err` when the user says so; without
/// either argument the return type decides (`CallOutcome` types split, others
/// are `ok`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResultMode {
    /// The return type must implement `CallOutcome`.
    Result,
    /// Every normal return is `ok`.
    NoResult,
}

/// One attribute's arguments.
#[derive(Clone, Default)]
pub struct Args {
    pub name: Option<LitStr>,
    pub krate: Option<Path>,
    pub result: Option<(ResultMode, Span)>,
    pub skip: Option<Span>,
    /// `sample = N` of `#[timed]`: time about one call in `N`.
    pub sample: Option<(u32, Span)>,
}

const EXPECTED: &str = "expected `name = \"...\"`, `result`, `no_result`, `skip`, `sample = N` (`#[timed]` only) or `crate = \"path\"`";

/// What `sample` accepts, for its errors.
const SAMPLE_ACCEPTS: &str = "`sample` takes an integer literal from 1 to 4294967295: write `sample = 16` to time about one call in 16 (1, the default, times every call)";

impl Args {
    /// Parses the arguments of `#[counted(...)]` / `#[timed(...)]` (`kind`). All
    /// mistakes are reported, not just the first.
    pub fn parse(kind: Kind, tokens: proc_macro2::TokenStream, errors: &mut Errors) -> Args {
        let mut args = Args::default();
        let mut tokens = tokens.into_iter().peekable();
        // `#[timed("x")]`, and `#[timed = "x"]`, whose value rustc hands over alone.
        if let Some(TokenTree::Literal(literal)) = tokens.peek() {
            errors.push(bare_literal(literal));
            for tree in tokens.by_ref() {
                if matches!(&tree, TokenTree::Punct(p) if p.as_char() == ',') {
                    break;
                }
            }
        }
        let parser = syn::meta::parser(|meta| {
            args.parse_one(&meta, errors);
            Ok(())
        });
        if let Err(error) = parser.parse2(tokens.collect()) {
            errors.push(error);
        }
        if let (Kind::Counted, Some((_, span))) = (kind, args.sample) {
            args.sample = None;
            errors.push(syn::Error::new(
                span,
                "`sample` applies to `#[timed]` only: `#[counted]` reads no clock; write `#[timed(sample = N)]` to time about one call in N",
            ));
        }
        args
    }

    /// Parses the arguments of an attribute found on an item (`#[timed(skip)]` on a
    /// method of an instrumented `impl`).
    pub fn of_attribute(attr: &Attribute, errors: &mut Errors) -> Args {
        match &attr.meta {
            syn::Meta::Path(_) => Args::default(),
            syn::Meta::List(list) => {
                let kind = Kind::of_attribute(attr).unwrap_or(Kind::Timed);
                Args::parse(kind, list.tokens.clone(), errors)
            }
            syn::Meta::NameValue(meta) => {
                // rustc hands a literal value to the attribute's own expansion,
                // which reports it as `bare_literal` does: the same error is shown once.
                if let Some(TokenTree::Literal(literal)) =
                    meta.value.to_token_stream().into_iter().next()
                {
                    errors.push(bare_literal(&literal));
                    return Args::default();
                }
                errors.push(syn::Error::new(
                    meta.eq_token.span,
                    format!(
                        "write `#[{0}(...)]`, not `#[{0} = ...]`",
                        meta.path
                            .get_ident()
                            .map_or("timed".into(), |i| i.to_string())
                    ),
                ));
                Args::default()
            }
        }
    }

    fn parse_one(&mut self, meta: &ParseNestedMeta, errors: &mut Errors) {
        let key = meta.path.get_ident().map(|ident| ident.to_string());
        let span = meta.path.span();
        match key.as_deref() {
            Some("name") => {
                if let Some(name) = string_value(meta, "name", "name = \"db.query\"", errors) {
                    if name.value().trim().is_empty() {
                        errors.push(syn::Error::new(
                            name.span(),
                            "`name` must not be empty: give the metric a name, e.g. `name = \"db.query\"`, or drop the argument for the default `module::fn`",
                        ));
                    } else {
                        set_once(&mut self.name, name, span, "name", errors);
                    }
                }
            }
            Some("crate") => {
                if let Some(path) = string_value(meta, "crate", "crate = \"::telemetry\"", errors) {
                    match path.parse::<Path>() {
                        Ok(parsed) => set_once(&mut self.krate, parsed, span, "crate", errors),
                        Err(_) => errors.push(syn::Error::new(
                            path.span(),
                            "`crate` takes a path in a string, e.g. `crate = \"::telemetry\"`",
                        )),
                    }
                }
            }
            Some("sample") => {
                if let Some(every) = sample_value(meta, errors) {
                    set_once(&mut self.sample, (every, span), span, "sample", errors);
                }
            }
            Some(flag @ ("result" | "no_result" | "skip")) => {
                if meta.input.peek(syn::Token![=]) || meta.input.peek(syn::token::Paren) {
                    skip_value(meta);
                    errors.push(syn::Error::new(
                        span,
                        format!("`{flag}` takes no value: write just `{flag}`"),
                    ));
                    return;
                }
                match flag {
                    "skip" => set_once(&mut self.skip, span, span, "skip", errors),
                    "result" => self.set_result(ResultMode::Result, span, errors),
                    _ => self.set_result(ResultMode::NoResult, span, errors),
                }
            }
            _ => {
                skip_value(meta);
                let shown = meta
                    .path
                    .segments
                    .iter()
                    .map(|s| s.ident.to_string())
                    .collect::<Vec<_>>()
                    .join("::");
                errors.push(syn::Error::new(
                    span,
                    format!("unknown argument `{shown}`: {EXPECTED}"),
                ));
            }
        }
    }

    fn set_result(&mut self, mode: ResultMode, span: Span, errors: &mut Errors) {
        match self.result {
            None => self.result = Some((mode, span)),
            Some((previous, _)) if previous == mode => {
                let key = match mode {
                    ResultMode::Result => "result",
                    ResultMode::NoResult => "no_result",
                };
                errors.push(syn::Error::new(
                    span,
                    format!("duplicate argument `{key}`: give it once"),
                ));
            }
            Some(_) => errors.push(syn::Error::new(
                span,
                "`result` and `no_result` contradict each other: keep one",
            )),
        }
    }

    /// Adds `inner`'s arguments (a fn's own attribute) over `self`'s (the `impl`'s,
    /// or the other attribute on the same fn).
    pub fn overlay(mut self, inner: Args, errors: &mut Errors) -> Args {
        if let (Some(outer), Some(inner)) = (&self.name, &inner.name) {
            if outer.value() != inner.value() {
                errors.push(syn::Error::new(
                    inner.span(),
                    format!(
                        "this fn is named twice (`{}` and `{}`): keep one `name`",
                        outer.value(),
                        inner.value()
                    ),
                ));
            }
        }
        self.name = inner.name.or(self.name);
        self.krate = inner.krate.or(self.krate);
        self.result = inner.result.or(self.result);
        self.skip = inner.skip.or(self.skip);
        self.sample = inner.sample.or(self.sample);
        self
    }

    pub fn krate(&self) -> Path {
        self.krate
            .clone()
            .unwrap_or_else(|| syn::parse_quote!(::telemetry))
    }
}

fn set_once<T>(field: &mut Option<T>, value: T, span: Span, key: &str, errors: &mut Errors) {
    if field.is_some() {
        errors.push(syn::Error::new(
            span,
            format!("duplicate argument `{key}`: give it once"),
        ));
    } else {
        *field = Some(value);
    }
}

/// The expression after `key =`, or an error saying it is missing and `how` to
/// write it.
fn value_of(meta: &ParseNestedMeta, key: &str, how: &str, errors: &mut Errors) -> Option<Expr> {
    let value = match meta.value() {
        Ok(stream) => stream.parse::<Expr>(),
        Err(_) => {
            skip_value(meta);
            errors.push(syn::Error::new(
                meta.path.span(),
                format!("`{key}` needs a value: {how}"),
            ));
            return None;
        }
    };
    value.map_err(|error| errors.push(error)).ok()
}

/// The string literal after `key =`, or an error saying how to write it.
fn string_value(
    meta: &ParseNestedMeta,
    key: &str,
    example: &str,
    errors: &mut Errors,
) -> Option<LitStr> {
    match value_of(meta, key, &format!("write `{example}`"), errors)? {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(lit), ..
        }) => Some(lit),
        other => {
            errors.push(syn::Error::new(
                other.span(),
                format!("`{key}` takes a string literal: write `{example}`"),
            ));
            None
        }
    }
}

/// The integer after `sample =`, or an error saying what is accepted.
fn sample_value(meta: &ParseNestedMeta, errors: &mut Errors) -> Option<u32> {
    let expr = value_of(meta, "sample", SAMPLE_ACCEPTS, errors)?;
    let every = match &expr {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(int), ..
        }) if int.suffix().is_empty() || int.suffix() == "u32" => int.base10_parse::<u32>().ok(),
        _ => None,
    };
    match every {
        Some(every @ 1..) => Some(every),
        _ => {
            errors.push(syn::Error::new(
                expr.span(),
                format!("invalid `sample`: {SAMPLE_ACCEPTS}"),
            ));
            None
        }
    }
}

/// A literal where an argument belongs.
fn bare_literal(literal: &Literal) -> syn::Error {
    let message = match Lit::new(literal.clone()) {
        Lit::Str(_) => format!(
            "a bare string is not an argument: to name the metric, write `name = {literal}` inside the attribute's parentheses"
        ),
        _ => format!("unexpected literal `{literal}`: {EXPECTED}"),
    };
    syn::Error::new(literal.span(), message)
}

/// Consumes whatever follows an argument we reject, so parsing goes on with the next.
fn skip_value(meta: &ParseNestedMeta) {
    let _ = meta.input.step(|cursor| {
        let mut rest = *cursor;
        while let Some((tree, next)) = rest.token_tree() {
            if matches!(&tree, proc_macro2::TokenTree::Punct(p) if p.as_char() == ',') {
                break;
            }
            rest = next;
        }
        Ok(((), rest))
    });
}

/// Errors collected while parsing and expanding, reported together.
#[derive(Default)]
pub struct Errors(Option<syn::Error>);

impl Errors {
    pub fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub fn into_compile_errors(self) -> Option<proc_macro2::TokenStream> {
        self.0.map(|error| error.to_compile_error())
    }
}
