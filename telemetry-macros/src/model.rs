//! The typed model of an instrumented item: which fns get instrumented, under
//! which name rule, with which return shape, async form and parameters.
//!
//! Every check on the item happens here and every mistake becomes a spanned
//! `syn::Error` in [`Errors`], so `expand` only generates code for a model that
//! is known to be valid.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{
    parse_quote, Attribute, Block, Expr, FnArg, GenericParam, Generics, Item, Pat, ReturnType,
    Signature, Stmt, Type,
};

use crate::parse::{Args, Errors, Kind, ResultMode};

/// One instrumented fn: what the expansion needs to know about it.
pub struct Site {
    pub kind: Kind,
    pub args: Args,
    /// The readable name of the `impl`'s self type or of the trait, when the
    /// attribute is on a block (see [`owner_label`]).
    pub owner: Option<String>,
}

/// What the fn returns, as far as the counting is concerned.
pub enum ReturnShape {
    /// `()` (written or not), or `result = false`: every normal return is `ok`.
    NoValue,
    /// `!`: the fn never returns.
    Never,
    /// A value that may be an error (`Result`, an alias of it, any type
    /// implementing `CallOutcome`), classified at compile time through its type.
    Value,
}

/// How the body is wrapped.
pub enum BodyForm {
    /// A sync fn whose returns are all `ok`: the body stays where it is, after a
    /// guard whose `Drop` counts the return (or the unwinding panic). No closure:
    /// inference, drop order and `#[track_caller]` are the fn's own.
    InPlace,
    /// A sync fn whose returned value decides `ok` / `err`: the body runs in a
    /// `move` closure so that `return` and `?` hand their value to the counter.
    Closure,
    /// An `async fn`: the body runs in an inner `async move` block, watched.
    Async,
    /// A sync fn ending in `async move { ... }` (or `Box::pin(async move { ...
    /// })`, as `async-trait` writes it): that block is the call.
    ReturnedAsync,
}

impl Site {
    /// `N` of `sample = N`: 1 (every call timed) unless given, and for `#[counted]`.
    pub fn sample(&self) -> u32 {
        match (self.kind, self.args.sample) {
            (Kind::Timed, Some((every, _))) => every,
            _ => 1,
        }
    }

    pub fn shape(&self, sig: &Signature) -> ReturnShape {
        let output = match &sig.output {
            ReturnType::Default => return ReturnShape::NoValue,
            ReturnType::Type(_, ty) => ungrouped(ty),
        };
        if matches!(output, Type::Never(_)) {
            return ReturnShape::Never;
        }
        match self.args.result {
            Some((ResultMode::NoResult, _)) => ReturnShape::NoValue,
            Some((ResultMode::Result, _)) => ReturnShape::Value,
            // Neither `()` nor an opaque `impl Trait` can be an error: the caller
            // cannot look inside an `impl Trait` for one either.
            None if is_unit(output) || matches!(output, Type::ImplTrait(_)) => ReturnShape::NoValue,
            None => ReturnShape::Value,
        }
    }

    pub fn form(&self, sig: &Signature, body: &mut Block) -> BodyForm {
        if sig.asyncness.is_some() {
            BodyForm::Async
        } else if future_output(&sig.output).is_some() && returned_async_block(body).is_some() {
            BodyForm::ReturnedAsync
        } else {
            match self.shape(sig) {
                ReturnShape::Value => BodyForm::Closure,
                ReturnShape::NoValue | ReturnShape::Never => BodyForm::InPlace,
            }
        }
    }
}

fn is_unit(ty: &Type) -> bool {
    matches!(ungrouped(ty), Type::Tuple(tuple) if tuple.elems.is_empty())
}

/// `ty` without the parentheses around it, or the invisible group a
/// `macro_rules!` `$ty` fragment puts around it.
fn ungrouped(ty: &Type) -> &Type {
    match ty {
        Type::Paren(inner) => ungrouped(&inner.elem),
        Type::Group(inner) => ungrouped(&inner.elem),
        other => other,
    }
}

/// How one parameter moves into the closure or inner async block that runs the
/// body, so that parameters drop where and in the order they do without the
/// attribute: after the body's locals, last parameter first.
pub enum ParamMove {
    /// A binding: `let a = a;` (with the `mut` moved inside).
    Rebind(syn::PatIdent),
    /// A parameter of any other pattern (`_`, `(x, y)`, `ref a`): the
    /// signature takes it under a hidden name, which moves in whole and is then
    /// destructured, so what the pattern leaves unbound drops with it.
    Destructure { hidden: syn::Ident, pattern: Pat },
    /// `self` by value: cannot be rebound; it is captured whole, first.
    Receiver,
}

/// Rewrites the parameter patterns of `sig` (never their types) so that they
/// can move into the body's closure or async block, and returns the moves in
/// declaration order. This is how rustc itself moves an `async fn`'s
/// parameters into its future.
pub fn plan_param_moves(sig: &mut Signature) -> Vec<ParamMove> {
    let mut moves = Vec::new();
    for (index, input) in sig.inputs.iter_mut().enumerate() {
        let typed = match input {
            FnArg::Receiver(_) => {
                moves.push(ParamMove::Receiver);
                continue;
            }
            FnArg::Typed(typed) => typed,
        };
        if !typed.attrs.is_empty() {
            // It may be configured away: left where it is.
            continue;
        }
        match &mut *typed.pat {
            Pat::Ident(ident) if ident.by_ref.is_none() && ident.subpat.is_none() => {
                moves.push(ParamMove::Rebind(ident.clone()));
                // Mutability belongs to the binding the body uses.
                ident.mutability = None;
            }
            pattern => {
                let hidden = syn::Ident::new(&format!("__arg{index}"), Span::mixed_site());
                let original = std::mem::replace(pattern, parse_quote!(#hidden));
                moves.push(ParamMove::Destructure {
                    hidden,
                    pattern: original,
                });
            }
        }
    }
    moves
}

/// The readable name of an `impl`'s self type, the middle part of the default
/// metric names of its methods.
///
/// - a path names its last segment without generics: `my::Foo<T>` → `Foo`;
/// - a blanket impl over a type parameter (`impl<N: Into<X>> Trait for N`) is
///   named after the trait: `Trait`, since `N` names no type;
/// - references, pointers and parentheses are looked through: `&mut Foo` → `Foo`;
/// - `[T]` → `T_slice`, `[T; N]` → `T_array`, `(A, B)` → `A_B_tuple`, `()` →
///   `unit`, `dyn Trait` → `Trait`, `fn(..)` → `fn`.
pub fn owner_label(block: &syn::ItemImpl) -> String {
    let trait_name = block
        .trait_
        .as_ref()
        .and_then(|(_, path, _)| path.segments.last())
        .map(|segment| segment.ident.unraw().to_string());
    type_label(&block.self_ty, &block.generics, trait_name.as_deref())
}

fn type_label(ty: &Type, generics: &Generics, trait_name: Option<&str>) -> String {
    let label = |inner: &Type| type_label(inner, generics, trait_name);
    match ty {
        Type::Path(path) => {
            let Some(segment) = path.path.segments.last() else {
                return String::new();
            };
            let name = segment.ident.unraw().to_string();
            let is_parameter = path.qself.is_none()
                && path.path.segments.len() == 1
                && generics.params.iter().any(|param| {
                    matches!(param, GenericParam::Type(param) if param.ident == segment.ident)
                });
            match (is_parameter, trait_name) {
                (true, Some(trait_name)) => trait_name.to_owned(),
                _ => name,
            }
        }
        Type::Reference(reference) => label(&reference.elem),
        Type::Ptr(pointer) => label(&pointer.elem),
        Type::Paren(inner) => label(&inner.elem),
        Type::Group(inner) => label(&inner.elem),
        Type::Slice(slice) => format!("{}_slice", label(&slice.elem)),
        Type::Array(array) => format!("{}_array", label(&array.elem)),
        Type::Tuple(tuple) if tuple.elems.is_empty() => "unit".to_owned(),
        Type::Tuple(tuple) => {
            let parts: Vec<String> = tuple.elems.iter().map(label).collect();
            format!("{}_tuple", parts.join("_"))
        }
        Type::TraitObject(object) => object
            .bounds
            .iter()
            .find_map(|bound| match bound {
                syn::TypeParamBound::Trait(bound) => bound
                    .path
                    .segments
                    .last()
                    .map(|segment| segment.ident.unraw().to_string()),
                _ => None,
            })
            .unwrap_or_else(|| "dyn".to_owned()),
        Type::BareFn(_) => "fn".to_owned(),
        Type::Never(_) => "never".to_owned(),
        other => other.to_token_stream().to_string().replace(' ', ""),
    }
}

/// `R` when the fn returns `impl Future<Output = R>` or, as `async-trait` writes
/// it, `Pin<Box<dyn Future<Output = R> + Send + 'a>>`.
pub fn future_output(output: &ReturnType) -> Option<Type> {
    let ReturnType::Type(_, ty) = output else {
        return None;
    };
    let bounds = match ungrouped(ty) {
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
                Some(assoc.ty.clone())
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
pub fn returned_async_block(body: &mut Block) -> Option<&mut syn::ExprAsync> {
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

// ---- Checks on the item and its attributes -------------------------------

pub fn not_an_item(kind: Kind, input: &TokenStream) -> syn::Error {
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

pub fn not_an_expression(kind: Kind, expr: &Expr) -> syn::Error {
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
pub fn needs_body(kind: Kind, method: &syn::TraitItemFn) -> syn::Error {
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

/// rustc expands the `cfg_attr`s of the item an attribute is on, but not those of
/// the methods inside an impl or trait. So a method whose `cfg_attr` holds
/// `#[timed]` / `#[counted]` is split in two, one per value of the condition:
/// `#[cfg(c)]` with the attributes applied (merged with the block's like any
/// others) and `#[cfg(not(c))]` without them. Otherwise rustc would expand them
/// after the block's attribute, on a method the block already instrumented.
pub fn split_on_cfg_attr<T: Clone>(
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

/// The site of a method of an instrumented `impl` or trait, if it is to be
/// instrumented: its own attribute, if any, adds to (or, with `skip`, cancels)
/// the block's.
pub fn member_site(
    kind: Kind,
    block_args: &Args,
    owner: &str,
    attrs: &mut Vec<Attribute>,
    sig: &Signature,
    errors: &mut Errors,
) -> Option<Site> {
    let had_own = attrs.iter().any(|attr| Kind::of_attribute(attr).is_some());
    let (kind, args) = merge_own_attributes(kind, block_args.clone(), attrs, errors);
    if sig.constness.is_some() {
        // An impl may hold const fns; only one the user marked is a mistake.
        if had_own {
            reject_const(kind, sig, errors);
        }
        return None;
    }
    args.skip.is_none().then(|| Site {
        kind,
        args,
        owner: Some(owner.to_owned()),
    })
}

/// The site of a free fn (or of a method carrying the attribute itself).
pub fn fn_site(
    kind: Kind,
    args: Args,
    function: &mut syn::ItemFn,
    errors: &mut Errors,
) -> Option<Site> {
    let (kind, args) = merge_own_attributes(kind, args, &mut function.attrs, errors);
    reject_const(kind, &function.sig, errors);
    args.skip.is_none().then_some(Site {
        kind,
        args,
        owner: None,
    })
}

/// Removes our attributes from `attrs`, folding their kind and arguments in.
pub fn merge_own_attributes(
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

pub fn reject_block_arguments(kind: Kind, args: &Args, what: &str, errors: &mut Errors) {
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

pub fn reject_item(kind: Kind, item: &Item, errors: &mut Errors) {
    let (what, span) = describe(item);
    errors.push(syn::Error::new(
        span,
        format!(
            "`#[{}]` cannot go on {what}: put it on a fn, an impl block or a trait",
            kind.attribute()
        ),
    ));
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
