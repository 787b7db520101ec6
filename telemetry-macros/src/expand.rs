//! Turns an item carrying `#[counted]` / `#[timed]` into its instrumented form.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{
    parse_quote, Attribute, Block, Expr, ExprAsync, Item, ReturnType, Signature, Stmt, Type,
};

use crate::args::{Args, Errors, Kind, ResultMode};

/// Whether the expansion instruments, or only checks and strips the attributes.
const INSTRUMENT: bool = !cfg!(feature = "compile-out");

/// Expands one attribute invocation. On any error the item is emitted unchanged
/// beside the errors, so the user sees only what they got wrong.
pub fn attribute(kind: Kind, args: TokenStream, input: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let args = Args::parse(args, &mut errors);
    let expanded = match syn::parse2::<Item>(input.clone()) {
        Ok(item) => expand_item(kind, args, item, &mut errors),
        Err(_) => {
            if let Ok(expr) = syn::parse2::<Expr>(input.clone()) {
                // A closure, say: the errors go in a block, beside it, since an
                // expression cannot be followed by more tokens.
                errors.push(not_an_expression(kind, &expr));
                let compile_errors = errors.into_compile_errors();
                return quote!({ #compile_errors #input });
            }
            errors.push(not_an_item(kind, &input));
            TokenStream::new()
        }
    };
    match errors.into_compile_errors() {
        Some(compile_errors) => quote!(#input #compile_errors),
        None => expanded,
    }
}

fn not_an_item(kind: Kind, input: &TokenStream) -> syn::Error {
    if let Ok(method) = syn::parse2::<syn::TraitItemFn>(input.clone()) {
        return needs_body(kind, &method);
    }
    syn::Error::new(
        Span::call_site(),
        format!(
            "`#[{}]` goes on a fn, an impl block or a trait",
            kind.attribute()
        ),
    )
}

fn not_an_expression(kind: Kind, expr: &Expr) -> syn::Error {
    let what = match expr {
        Expr::Closure(_) => "a closure",
        Expr::Async(_) => "an async block",
        _ => "an expression",
    };
    syn::Error::new(
        Span::call_site(),
        format!(
            "`#[{0}]` cannot go on {what}: move its code into a fn and put `#[{0}]` on that fn",
            kind.attribute()
        ),
    )
}

/// A trait method without a default body, which has nothing to instrument.
fn needs_body(kind: Kind, method: &syn::TraitItemFn) -> syn::Error {
    let span = match method.semi_token {
        Some(semi) => semi.span,
        None => method.sig.ident.span(),
    };
    syn::Error::new(
        span,
        format!(
            "`#[{}]` needs a fn body to instrument: put it on the methods of the impls, or give this trait method a default body",
            kind.attribute()
        ),
    )
}

/// An instrumented fn and where it stands.
struct Site<'a> {
    kind: Kind,
    args: Args,
    /// The `impl`'s self type or the trait, when the attribute is on one.
    owner: Option<&'a str>,
}

fn expand_item(kind: Kind, args: Args, item: Item, errors: &mut Errors) -> TokenStream {
    match item {
        Item::Fn(mut function) => {
            let (kind, args) = merge_own_attributes(kind, args, &mut function.attrs, errors);
            reject_const(kind, &function.sig, errors);
            if args.skip.is_none() && INSTRUMENT {
                let site = Site {
                    kind,
                    args,
                    owner: None,
                };
                function.block = Box::new(instrument(&site, &function.sig, &function.block));
            }
            function.into_token_stream()
        }
        Item::Impl(mut block) => {
            reject_block_arguments(kind, &args, "impl block", errors);
            let owner = type_label(&block.self_ty);
            block.items = split_on_cfg_attr(std::mem::take(&mut block.items), |item| match item {
                syn::ImplItem::Fn(method) => Some(&mut method.attrs),
                _ => None,
            });
            for item in &mut block.items {
                if let syn::ImplItem::Fn(method) = item {
                    let body = &mut method.block;
                    instrument_member(
                        kind,
                        &args,
                        &owner,
                        &mut method.attrs,
                        &method.sig,
                        body,
                        errors,
                    );
                }
            }
            block.into_token_stream()
        }
        Item::Trait(mut trait_) => {
            reject_block_arguments(kind, &args, "trait", errors);
            let owner = trait_.ident.unraw().to_string();
            trait_.items =
                split_on_cfg_attr(std::mem::take(&mut trait_.items), |item| match item {
                    syn::TraitItem::Fn(method) => Some(&mut method.attrs),
                    _ => None,
                });
            for item in &mut trait_.items {
                if let syn::TraitItem::Fn(method) = item {
                    match &mut method.default {
                        Some(body) => instrument_member(
                            kind,
                            &args,
                            &owner,
                            &mut method.attrs,
                            &method.sig,
                            body,
                            errors,
                        ),
                        None => {
                            // The same error as rustc's own expansion of the
                            // method's attribute reports, so the two are shown once.
                            for attr in &method.attrs {
                                if let Some(own) = Kind::of_attribute(attr) {
                                    errors.push(needs_body(own, method));
                                }
                            }
                            merge_own_attributes(kind, args.clone(), &mut method.attrs, errors);
                        }
                    }
                }
            }
            trait_.into_token_stream()
        }
        // Such as a trait method without a body.
        Item::Verbatim(tokens) => {
            errors.push(not_an_item(kind, &tokens));
            tokens
        }
        other => {
            let (what, span) = describe(&other);
            errors.push(syn::Error::new(
                span,
                format!(
                    "`#[{}]` cannot go on {what}: put it on a fn, an impl block or a trait",
                    kind.attribute()
                ),
            ));
            other.into_token_stream()
        }
    }
}

/// rustc expands the `cfg_attr`s of the item an attribute is on, but not those of
/// the methods inside an impl or trait. So a method whose `cfg_attr` holds
/// `#[timed]` / `#[counted]` is split in two, one per value of the condition:
/// `#[cfg(c)]` with the attributes applied (merged with the block's like any
/// others) and `#[cfg(not(c))]` without them. Otherwise rustc would expand them
/// after the block's attribute, on a method the block already instrumented.
fn split_on_cfg_attr<T: Clone>(
    items: Vec<T>,
    attrs: impl Fn(&mut T) -> Option<&mut Vec<Attribute>>,
) -> Vec<T> {
    let mut done = Vec::with_capacity(items.len());
    let mut pending: Vec<T> = items.into_iter().rev().collect();
    while let Some(mut item) = pending.pop() {
        let split = attrs(&mut item).and_then(|list| {
            list.iter().enumerate().find_map(|(index, attr)| {
                let (condition, nested) = cfg_attr_holding_ours(attr)?;
                Some((index, condition, nested))
            })
        });
        let Some((index, condition, nested)) = split else {
            done.push(item);
            continue;
        };
        let mut without = item.clone();
        if let Some(list) = attrs(&mut without) {
            list[index] = parse_quote!(#[cfg(not(#condition))]);
        }
        if let Some(list) = attrs(&mut item) {
            let applied = std::iter::once(parse_quote!(#[cfg(#condition)]))
                .chain(nested.iter().map(|meta| parse_quote!(#[#meta])));
            list.splice(index..=index, applied);
        }
        // Each half may hold more such `cfg_attr`s.
        pending.push(without);
        pending.push(item);
    }
    done
}

/// The condition and attributes of `#[cfg_attr(condition, attributes...)]`, if
/// one of the attributes (or of a nested `cfg_attr`'s) is ours.
fn cfg_attr_holding_ours(attr: &Attribute) -> Option<(syn::Meta, Vec<syn::Meta>)> {
    if !attr.path().is_ident("cfg_attr") {
        return None;
    }
    let parts = attr
        .parse_args_with(syn::punctuated::Punctuated::<syn::Meta, syn::Token![,]>::parse_terminated)
        .ok()?;
    let mut parts = parts.into_iter();
    let condition = parts.next()?;
    let nested: Vec<syn::Meta> = parts.collect();
    let ours = nested.iter().any(|meta| {
        let attr: Attribute = parse_quote!(#[#meta]);
        Kind::of_attribute(&attr).is_some() || cfg_attr_holding_ours(&attr).is_some()
    });
    ours.then_some((condition, nested))
}

/// A method of an instrumented `impl` or trait: its own attribute, if any, adds
/// to (or, with `skip`, cancels) the block's.
fn instrument_member(
    kind: Kind,
    block_args: &Args,
    owner: &str,
    attrs: &mut Vec<Attribute>,
    sig: &Signature,
    body: &mut Block,
    errors: &mut Errors,
) {
    let had_own = attrs.iter().any(|attr| Kind::of_attribute(attr).is_some());
    let (kind, args) = merge_own_attributes(kind, block_args.clone(), attrs, errors);
    if sig.constness.is_some() {
        // An impl may hold const fns; only one the user marked is a mistake.
        if had_own {
            reject_const(kind, sig, errors);
        }
        return;
    }
    if args.skip.is_none() && INSTRUMENT {
        let site = Site {
            kind,
            args,
            owner: Some(owner),
        };
        *body = instrument(&site, sig, body);
    }
}

/// Removes our attributes from `attrs`, folding their kind and arguments in.
fn merge_own_attributes(
    kind: Kind,
    args: Args,
    attrs: &mut Vec<Attribute>,
    errors: &mut Errors,
) -> (Kind, Args) {
    let (mut kind, mut args) = (kind, args);
    attrs.retain(|attr| match Kind::of_attribute(attr) {
        Some(other) => {
            kind = kind.join(other);
            args = std::mem::take(&mut args).overlay(Args::of_attribute(attr, errors), errors);
            false
        }
        None => true,
    });
    (kind, args)
}

fn reject_const(kind: Kind, sig: &Signature, errors: &mut Errors) {
    if let Some(constness) = sig.constness {
        errors.push(syn::Error::new(
            constness.span,
            format!(
                "`#[{}]` cannot instrument a `const fn`: it may run at compile time, where nothing is recorded; remove `const` or the attribute",
                kind.attribute()
            ),
        ));
    }
}

fn reject_block_arguments(kind: Kind, args: &Args, what: &str, errors: &mut Errors) {
    if let Some(name) = &args.name {
        errors.push(syn::Error::new(
            name.span(),
            format!(
                "`name` names one fn, not a whole {what}: put `#[{}(name = \"...\")]` on a method instead",
                kind.attribute()
            ),
        ));
    }
    if let Some(skip) = args.skip {
        errors.push(syn::Error::new(
            skip,
            format!("`skip` goes on a method inside an instrumented {what}; to skip the whole {what}, remove the attribute"),
        ));
    }
}

fn describe(item: &Item) -> (&'static str, Span) {
    match item {
        Item::Struct(item) => ("a struct", item.struct_token.span),
        Item::Enum(item) => ("an enum", item.enum_token.span),
        Item::Union(item) => ("a union", item.union_token.span),
        Item::Const(item) => ("a const", item.const_token.span),
        Item::Static(item) => ("a static", item.static_token.span),
        Item::Mod(item) => ("a module", item.mod_token.span),
        Item::Type(item) => ("a type alias", item.type_token.span),
        Item::Use(item) => ("a use declaration", item.use_token.span),
        Item::ExternCrate(item) => ("an extern crate", item.extern_token.span),
        Item::ForeignMod(item) => ("an extern block", item.abi.extern_token.span),
        Item::Macro(item) => ("a macro invocation", item.mac.path.span()),
        Item::TraitAlias(item) => ("a trait alias", item.trait_token.span),
        other => ("this item", other.span()),
    }
}

/// `Foo` for `impl Foo<T>`, `impl Trait for &Foo` and the like.
fn type_label(ty: &Type) -> String {
    match ty {
        Type::Path(path) => match path.path.segments.last() {
            Some(segment) => segment.ident.unraw().to_string(),
            None => String::new(),
        },
        Type::Reference(reference) => type_label(&reference.elem),
        Type::Paren(inner) => type_label(&inner.elem),
        Type::Group(inner) => type_label(&inner.elem),
        other => other.to_token_stream().to_string().replace(' ', ""),
    }
}

/// The instrumented body of a fn.
fn instrument(site: &Site, sig: &Signature, body: &Block) -> Block {
    let private = private_path(&site.args);
    let registration = registration(site, sig, &private);
    let outcome_of = |value: &syn::Ident| outcome(site, &private, value);
    let timed = site.kind == Kind::Timed;
    let guard = format_ident!("__telemetry_guard", span = Span::mixed_site());
    let value = format_ident!("__telemetry_value", span = Span::mixed_site());

    if sig.asyncness.is_some() {
        if returns_never(&sig.output) {
            // Never completes: the guard counts the panic, or the cancellation
            // if the future is dropped. (`!` cannot be named as a type argument.)
            return parse_quote!({
                #registration
                let #guard = #private::AsyncGuard::<#timed>::enter(&__TELEMETRY_SITE);
                (async move #body).await
            });
        }
        let output = nameable_return_type(&sig.output);
        let outcome = outcome_of(&value);
        return parse_quote!({
            #registration
            let #guard = #private::AsyncGuard::<#timed>::enter(&__TELEMETRY_SITE);
            let #value = #private::with_output::<#output, _>(async move #body).await;
            #guard.exit(#outcome);
            #value
        });
    }

    if let Some(output) = future_output(&sig.output) {
        let mut body = body.clone();
        if let Some(block) = returned_async_block(&mut body) {
            let capture = block.capture;
            let outcome = outcome_of(&value);
            *block = parse_quote!(async #capture {
                let #guard = #private::AsyncGuard::<#timed>::enter(&__TELEMETRY_SITE);
                let #value = #private::with_output::<#output, _>(#block).await;
                #guard.exit(#outcome);
                #value
            });
            let statements = &body.stmts;
            return parse_quote!({
                #registration
                #(#statements)*
            });
        }
    }

    if returns_never(&sig.output) {
        // Nothing returns: the guard counts the unwinding panic, if any.
        return parse_quote!({
            #registration
            let #guard = #private::SyncGuard::<#timed>::enter(&__TELEMETRY_SITE);
            #body
        });
    }

    let output = nameable_return_type(&sig.output);
    let outcome = outcome_of(&value);
    parse_quote!({
        #registration
        let #guard = #private::SyncGuard::<#timed>::enter(&__TELEMETRY_SITE);
        let #value = #private::call::<#output, _>(move || #body);
        #guard.exit(#outcome);
        #value
    })
}

/// Whether the fn returns `!`.
fn returns_never(output: &ReturnType) -> bool {
    matches!(output, ReturnType::Type(_, ty) if matches!(**ty, Type::Never(_)))
}

fn private_path(args: &Args) -> TokenStream {
    let krate = args.krate();
    quote!(#krate::__private)
}

/// The call site's statics, its link-time registration, and (for a method named
/// after its `Self` type) the statement that completes its name.
fn registration(site: &Site, sig: &Signature, private: &TokenStream) -> TokenStream {
    let fn_name = sig.ident.unraw().to_string();
    let (name, name_self_type) = match (&site.args.name, site.owner) {
        (Some(name), _) => (quote!(#private::SiteName::Fixed(#name)), None),
        (None, Some(owner)) => {
            let suffix = format!("::{owner}::{fn_name}");
            (
                quote!(#private::SiteName::Fixed(::core::concat!(::core::module_path!(), #suffix))),
                None,
            )
        }
        (None, None) if sig.receiver().is_some() => (
            quote!(#private::SiteName::OfSelfType { module: ::core::module_path!(), method: #fn_name }),
            Some(quote!(__TELEMETRY_SITE.name_self_type(::core::any::type_name::<Self>);)),
        ),
        (None, None) => {
            let suffix = format!("::{fn_name}");
            (
                quote!(#private::SiteName::Fixed(::core::concat!(::core::module_path!(), #suffix))),
                None,
            )
        }
    };
    let (histogram, constructor) = match site.kind {
        Kind::Timed => (
            quote!(static __TELEMETRY_HISTOGRAM: #private::Histogram = #private::Histogram::new();),
            quote!(#private::CallSite::timed(#name, &__TELEMETRY_COUNTERS, &__TELEMETRY_HISTOGRAM)),
        ),
        Kind::Counted => (
            TokenStream::new(),
            quote!(#private::CallSite::counted(#name, &__TELEMETRY_COUNTERS)),
        ),
    };
    quote! {
        static __TELEMETRY_COUNTERS: #private::CallCounters = #private::CallCounters::new();
        #histogram
        static __TELEMETRY_SITE: #private::CallSite = #constructor;
        #[#private::linkme::distributed_slice(#private::CALL_SITES)]
        #[linkme(crate = #private::linkme)]
        static __TELEMETRY_REGISTRATION: &#private::CallSite = &__TELEMETRY_SITE;
        #name_self_type
    }
}

/// How the returned value is classified as `ok` or `err`.
fn outcome(site: &Site, private: &TokenStream, value: &syn::Ident) -> TokenStream {
    match site.args.result {
        None => quote!({
            #[allow(unused_imports)]
            use #private::{ErrorAware as _, Infallible as _};
            #private::Probe(&#value).outcome()
        }),
        Some((ResultMode::Result, span)) => {
            // Spanned on `result`, so an unsatisfied `CallOutcome` bound points there.
            let private = respan(private.clone(), span);
            let returned = syn::Ident::new("__telemetry_returned", span);
            quote_spanned!(span=> {
                let #returned = &#value;
                #private::outcome_of_result(#returned)
            })
        }
        Some((ResultMode::NoResult, _)) => quote!(#private::Outcome::Ok),
    }
}

/// `tokens` with every span set to `span`.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tree| {
            tree.set_span(span);
            tree
        })
        .collect()
}

/// The return type as a type argument: `()` when absent, every `impl Trait` as `_`
/// (the compiler infers the hidden type from the body).
fn nameable_return_type(output: &ReturnType) -> Type {
    match output {
        ReturnType::Default => parse_quote!(()),
        ReturnType::Type(_, ty) => {
            let mut ty = (**ty).clone();
            InferImplTrait.visit_type_mut(&mut ty);
            ty
        }
    }
}

struct InferImplTrait;

impl VisitMut for InferImplTrait {
    fn visit_type_mut(&mut self, ty: &mut Type) {
        if let Type::ImplTrait(impl_trait) = ty {
            *ty = Type::Infer(syn::TypeInfer {
                underscore_token: syn::Token![_](impl_trait.impl_token.span),
            });
        } else {
            syn::visit_mut::visit_type_mut(self, ty);
        }
    }
}

/// `R` when the fn returns `impl Future<Output = R>` or, as `async-trait` writes
/// it, `Pin<Box<dyn Future<Output = R> + Send + 'a>>`.
fn future_output(output: &ReturnType) -> Option<Type> {
    let ReturnType::Type(_, ty) = output else {
        return None;
    };
    let bounds = match &**ty {
        Type::ImplTrait(impl_trait) => &impl_trait.bounds,
        Type::Path(pin) => {
            let boxed = last_generic_type(&pin.path, "Pin")?;
            let Type::Path(boxed) = boxed else {
                return None;
            };
            let Type::TraitObject(object) = last_generic_type(&boxed.path, "Box")? else {
                return None;
            };
            &object.bounds
        }
        _ => return None,
    };
    bounds.iter().find_map(|bound| {
        let syn::TypeParamBound::Trait(bound) = bound else {
            return None;
        };
        let segment = bound.path.segments.last().filter(|s| s.ident == "Future")?;
        let syn::PathArguments::AngleBracketed(args) = &segment.arguments else {
            return None;
        };
        args.args.iter().find_map(|arg| match arg {
            syn::GenericArgument::AssocType(assoc) if assoc.ident == "Output" => {
                Some(nameable_return_type(&ReturnType::Type(
                    Default::default(),
                    Box::new(assoc.ty.clone()),
                )))
            }
            _ => None,
        })
    })
}

/// The single type argument of `path` if its last segment is `name<T>`.
fn last_generic_type<'a>(path: &'a syn::Path, name: &str) -> Option<&'a Type> {
    let segment = path.segments.last().filter(|s| s.ident == name)?;
    let syn::PathArguments::AngleBracketed(args) = &segment.arguments else {
        return None;
    };
    match args.args.first()? {
        syn::GenericArgument::Type(ty) => Some(ty),
        _ => None,
    }
}

/// The async block a fn returns as its final expression: `async move { ... }`, or
/// `Box::pin(async move { ... })` (the `async-trait` desugaring).
fn returned_async_block(body: &mut Block) -> Option<&mut ExprAsync> {
    let Some(Stmt::Expr(last, None)) = body.stmts.last_mut() else {
        return None;
    };
    match last {
        Expr::Async(block) => Some(block),
        Expr::Call(call) if call.args.len() == 1 && is_box_pin(&call.func) => {
            match call.args.first_mut() {
                Some(Expr::Async(block)) => Some(block),
                _ => None,
            }
        }
        _ => None,
    }
}

fn is_box_pin(func: &Expr) -> bool {
    let Expr::Path(path) = func else { return false };
    let segments: Vec<_> = path
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    segments.ends_with(&["Box".to_owned(), "pin".to_owned()])
}
