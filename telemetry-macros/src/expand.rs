//! Code generation: an item whose model (see `model`) is valid, in its
//! instrumented form. No checks happen here.
//!
//! Generated names use `Span::mixed_site()`, so they never meet the user's; the
//! block that replaces a fn body keeps the body's braces, so rustc's own
//! diagnostics and suggestions about the body point at the user's tokens.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::ext::IdentExt;
use syn::visit_mut::VisitMut;
use syn::{parse_quote, Block, Expr, Item, ReturnType, Signature, Type};

use crate::model::{self, BodyForm, ParamMove, ReturnShape, Site};
use crate::parse::{Args, Errors, Kind, ResultMode};

/// Whether the expansion instruments, or only checks and strips the attributes.
const INSTRUMENT: bool = !cfg!(feature = "compile-out");

/// Expands one attribute invocation. On any error the item is emitted unchanged
/// beside the errors, so the user sees only what they got wrong.
pub fn attribute(kind: Kind, args: TokenStream, input: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let args = Args::parse(kind, args, &mut errors);
    let expanded = match syn::parse2::<Item>(input.clone()) {
        Ok(item) => expand_item(kind, args, item, &mut errors),
        Err(_) => {
            if let Ok(expr) = syn::parse2::<Expr>(input.clone()) {
                // A closure, say: the errors go in a block, beside it, since an
                // expression cannot be followed by more tokens.
                errors.push(model::not_an_expression(kind, &expr));
                let compile_errors = errors.into_compile_errors();
                return quote!({ #compile_errors #input });
            }
            errors.push(model::not_an_item(kind, &input));
            TokenStream::new()
        }
    };
    match errors.into_compile_errors() {
        Some(compile_errors) => quote!(#input #compile_errors),
        None => expanded,
    }
}

fn expand_item(kind: Kind, args: Args, item: Item, errors: &mut Errors) -> TokenStream {
    match item {
        Item::Fn(mut function) => {
            if let Some(site) = model::fn_site(kind, args, &mut function, errors) {
                instrument(&site, &mut function.sig, &mut function.block);
            }
            function.into_token_stream()
        }
        Item::Impl(mut block) => {
            model::reject_block_arguments(kind, &args, "impl block", errors);
            let owner = model::owner_label(&block);
            block.items =
                model::split_on_cfg_attr(std::mem::take(&mut block.items), |item| match item {
                    syn::ImplItem::Fn(method) => Some(&mut method.attrs),
                    _ => None,
                });
            for item in &mut block.items {
                if let syn::ImplItem::Fn(method) = item {
                    let (attrs, sig, body) =
                        (&mut method.attrs, &mut method.sig, &mut method.block);
                    instrument_member(kind, &args, &owner, attrs, sig, body, errors);
                }
            }
            block.into_token_stream()
        }
        Item::Trait(mut trait_) => {
            model::reject_block_arguments(kind, &args, "trait", errors);
            let owner = trait_.ident.unraw().to_string();
            trait_.items =
                model::split_on_cfg_attr(std::mem::take(&mut trait_.items), |item| match item {
                    syn::TraitItem::Fn(method) => Some(&mut method.attrs),
                    _ => None,
                });
            for item in &mut trait_.items {
                if let syn::TraitItem::Fn(method) = item {
                    match &mut method.default {
                        Some(body) => {
                            let (attrs, sig) = (&mut method.attrs, &mut method.sig);
                            instrument_member(kind, &args, &owner, attrs, sig, body, errors);
                        }
                        None => {
                            // The same error as rustc's own expansion of the
                            // method's attribute reports, so the two are shown once.
                            for attr in &method.attrs {
                                if let Some(own) = Kind::of_attribute(attr) {
                                    errors.push(model::needs_body(own, method));
                                }
                            }
                            model::merge_own_attributes(
                                kind,
                                args.clone(),
                                &mut method.attrs,
                                errors,
                            );
                        }
                    }
                }
            }
            trait_.into_token_stream()
        }
        // Such as a trait method without a body.
        Item::Verbatim(tokens) => {
            errors.push(model::not_an_item(kind, &tokens));
            tokens
        }
        other => {
            model::reject_item(kind, &other, errors);
            other.into_token_stream()
        }
    }
}

/// A method of an instrumented `impl` or trait, instrumented unless it is
/// skipped or a `const fn`.
fn instrument_member(
    kind: Kind,
    block_args: &Args,
    owner: &str,
    attrs: &mut Vec<syn::Attribute>,
    sig: &mut Signature,
    body: &mut Block,
    errors: &mut Errors,
) {
    if let Some(site) = model::member_site(kind, block_args, owner, attrs, sig, errors) {
        instrument(&site, sig, body);
    }
}

/// Replaces `body` (and, where the body moves into a closure or async block, the
/// parameter patterns of `sig`) with the instrumented form.
fn instrument(site: &Site, sig: &mut Signature, body: &mut Block) {
    if !INSTRUMENT {
        return;
    }
    let private = private_path(&site.args);
    let registration = registration(site, sig, &private);
    let timed = site.kind == Kind::Timed;
    let sample = proc_macro2::Literal::u32_unsuffixed(site.sample());
    let guard = format_ident!("__telemetry_guard", span = Span::mixed_site());
    let value = format_ident!("__telemetry_value", span = Span::mixed_site());
    let classify = match site.shape(sig) {
        ReturnShape::Value => outcome(site, &private, &value),
        ReturnShape::NoValue | ReturnShape::Never => quote!(#private::Outcome::Ok),
    };
    let never = matches!(site.shape(sig), ReturnShape::Never);
    // Where the site records: its statics, which `Recorder` takes; the debug
    // guards take a `#[timed]` site's in one (see the runtime's `TimedStatics`).
    let statics = recorded_in(site.kind);
    let (debug_statics, recorder, debug_guard) = match site.kind {
        Kind::Timed => (
            quote!(&__TELEMETRY_TIMED),
            quote!(timed),
            quote!(DebugTimedGuard),
        ),
        Kind::Counted => (
            quote!(&__TELEMETRY_COUNTERS),
            quote!(counted),
            quote!(DebugGuard),
        ),
    };
    let recorder = quote!(#private::Recorder::#recorder(#statics));

    // The statement that makes a sync call's guard with `enter` (`enter` or
    // `enter_in_place`): a `SyncGuard`, or, where the user's crate is built with
    // debug assertions and the site does not sample, a debug guard, which costs
    // less unoptimized (see the runtime's `guard` module). Both end the same way.
    let sync_guard = |enter: TokenStream| {
        let sync = quote! {
            let #guard = #private::SyncGuard::<#timed, #sample>::#enter(&__TELEMETRY_SITE, #recorder);
        };
        if site.sample() > 1 {
            return sync;
        }
        quote! {
            #[cfg(debug_assertions)]
            let #guard = #private::#debug_guard::#enter(#debug_statics);
            #[cfg(not(debug_assertions))]
            #sync
        }
    };

    let statements: TokenStream = match site.form(sig, body) {
        BodyForm::InPlace => {
            let guard = sync_guard(quote!(enter_in_place));
            quote! {
                #registration
                #guard
                #body
            }
        }
        BodyForm::Closure => {
            let output = nameable_return_type(&sig.output);
            let moved = moved_body(sig, body, Some(&output));
            let enter = sync_guard(quote!(enter));
            quote! {
                #registration
                #enter
                let #value = #private::call::<#output, _>(move || #moved);
                #guard.exit(#classify);
                #value
            }
        }
        BodyForm::Async if never => {
            // Never completes: the guard counts the panic, or the cancellation
            // if the future is dropped. (`!` cannot be named as a type argument.)
            let moved = moved_body(sig, body, None);
            quote! {
                #registration
                let mut #guard = #private::AsyncGuard::<#timed, #sample>::enter(#recorder);
                #guard.watch(async move #moved).await
            }
        }
        BodyForm::Async => {
            let output = nameable_return_type(&sig.output);
            let moved = moved_body(sig, body, Some(&output));
            quote! {
                #registration
                let mut #guard = #private::AsyncGuard::<#timed, #sample>::enter(#recorder);
                let #value = #guard
                    .watch(#private::with_output::<#output, _>(async move #moved))
                    .await;
                #guard.exit(#classify);
                #value
            }
        }
        BodyForm::ReturnedAsync => {
            let output = model::future_output(&sig.output)
                .map(|ty| nameable_type(&ty))
                .unwrap_or_else(|| parse_quote!(_));
            let outcome = outcome(site, &private, &value);
            if let Some(block) = model::returned_async_block(body) {
                let capture = block.capture;
                *block = parse_quote!(async #capture {
                    let mut #guard = #private::AsyncGuard::<#timed, #sample>::enter(#recorder);
                    let #value = #guard
                        .watch(#private::with_output::<#output, _>(#block))
                        .await;
                    #guard.exit(#outcome);
                    #value
                });
            }
            let statements = &body.stmts;
            quote! {
                #registration
                #(#statements)*
            }
        }
    };
    // The user's braces, so that spans of the whole body (as rustc's suggestions
    // use them) are the user's.
    body.stmts = syn::parse2::<BlockContents>(statements)
        .expect("statements made of the user's parsed body parse again")
        .0;
}

/// A block's statements without braces.
struct BlockContents(Vec<syn::Stmt>);

impl syn::parse::Parse for BlockContents {
    fn parse(input: syn::parse::ParseStream) -> syn::Result<Self> {
        Block::parse_within(input).map(BlockContents)
    }
}

/// The body of the closure or inner async block that runs a fn's body: the
/// parameters moved in first, in declaration order, so that they drop after
/// the body's locals, last first, as they do in the fn itself.
///
/// With `output`, the body's value is bound (as that type, so it infers as in
/// the fn's tail) before the block ends: the temporaries of the body's tail
/// expression then drop before the moved parameters, as they do before a fn's
/// parameters, so a tail such as `cell.borrow().len()` still compiles.
fn moved_body(sig: &mut Signature, body: &Block, output: Option<&Type>) -> Block {
    let moves = model::plan_param_moves(sig)
        .into_iter()
        .map(|planned| match planned {
            ParamMove::Rebind(binding) => {
                let name = &binding.ident;
                // `_name` says "unused" to clippy's pedantic lints, which would
                // take the rebinding, at the user's span, for the user's code.
                let allow = name.to_string().starts_with('_').then(|| {
                    quote!(#[allow(clippy::used_underscore_binding, clippy::no_effect_underscore_binding)])
                });
                quote!(#allow let #binding = #name;)
            }
            ParamMove::Destructure { hidden, pattern } => match pattern {
                syn::Pat::Wild(_) => quote!(let #hidden = #hidden;),
                pattern => quote!(let #hidden = #hidden; let #pattern = #hidden;),
            },
            // Captured whole and first, whatever fields the body uses.
            ParamMove::Receiver => quote!(let _ = &self;),
        });
    let Some(output) = output else {
        return parse_quote!({
            #(#moves)*
            #body
        });
    };
    let value = format_ident!("__telemetry_body", span = Span::mixed_site());
    // A body that never returns normally (`panic!`, `loop`) makes what follows
    // unreachable, which the fn's own tail never is: that warning is ours.
    parse_quote!({
        #(#moves)*
        let #value: #output = #body;
        #[allow(unreachable_code)]
        return #value;
    })
}

/// The runtime's hidden module, named after this crate's version: the facade
/// pins both crates to one version, so a mismatched pair fails to compile.
fn private_path(args: &Args) -> TokenStream {
    let krate = args.krate();
    let version = env!("CARGO_PKG_VERSION").replace(|c: char| !c.is_ascii_alphanumeric(), "_");
    let private = quote::format_ident!("__private_{}", version);
    quote!(#krate::#private)
}

/// The call site's statics, its link-time registration, and (for a method named
/// after its `Self` type) the statement that completes its name.
fn registration(site: &Site, sig: &Signature, private: &TokenStream) -> TokenStream {
    let fn_name = sig.ident.unraw().to_string();
    let (name, name_self_type) = match (&site.args.name, &site.owner) {
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
    let recorded_in = recorded_in(site.kind);
    let (statics, constructor) = match site.kind {
        Kind::Timed => (
            quote!(static __TELEMETRY_TIMED: #private::TimedStatics = #private::TimedStatics::new();),
            match site.sample() {
                1 => quote!(#private::CallSite::timed(#name, #recorded_in)),
                every => {
                    let every = proc_macro2::Literal::u32_unsuffixed(every);
                    quote!(#private::CallSite::timed(#name, #recorded_in).sampled(#every))
                }
            },
        ),
        Kind::Counted => (
            quote!(static __TELEMETRY_COUNTERS: #private::CallCounters = #private::CallCounters::new();),
            quote!(#private::CallSite::counted(#name, #recorded_in)),
        ),
    };
    quote! {
        #statics
        static __TELEMETRY_SITE: #private::CallSite = #constructor;
        #[#private::linkme::distributed_slice(#private::CALL_SITES)]
        #[linkme(crate = #private::linkme)]
        static __TELEMETRY_REGISTRATION: &#private::CallSite = &__TELEMETRY_SITE;
        #name_self_type
    }
}

/// The statics a site records in (declared by `registration`), as `CallSite`
/// and `Recorder` take them: its counters and, for `#[timed]`, its histogram.
fn recorded_in(kind: Kind) -> TokenStream {
    match kind {
        Kind::Timed => quote!(&__TELEMETRY_TIMED.counters, &__TELEMETRY_TIMED.histogram),
        Kind::Counted => quote!(&__TELEMETRY_COUNTERS),
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
        ReturnType::Type(_, ty) => nameable_type(ty),
    }
}

fn nameable_type(ty: &Type) -> Type {
    let mut ty = ty.clone();
    InferImplTrait.visit_type_mut(&mut ty);
    ty
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
