//! The typed check: every constraint of a struct, checked on the decoded value.
//!
//! The server decodes a JSON payload straight into its type and calls this check; when it
//! passes, the JSON Schema validator is not run. The check must never pass a value the
//! schema refuses, so it only vouches for what it can decide exactly and says "not known"
//! (the validator decides) for everything else:
//!
//! - strings: length in characters (`minLength`/`maxLength` count code points),
//!   `.pattern` (matched by the validator's own regex engine), `.one_of`;
//! - integers: `.min`/`.max`, only for values an `f64` holds exactly; 128-bit integers
//!   only within 64 bits (the validator's input holds no more);
//! - `f64`: `.min`/`.max`, only below 2^53 in magnitude (serde and the validator read the
//!   same `f64` from a fraction, but the validator keeps a large integer literal exact);
//!   an `f32` with bounds is not vouched for (rounding to `f32` could cross a bound);
//! - `Vec`, `VecDeque`, arrays: item count and each item; sets are not vouched for (serde
//!   drops duplicates that `uniqueItems` refuses);
//! - maps with `String` keys: each value; structs and enums declared in the same macro;
//! - types defined elsewhere: not vouched for (their schema is unknown here).
//!
//! A struct with any field that cannot be vouched for gets no check at all, and its event
//! keeps the validator on every payload.
//!
//! What the check sees is a value `wsx_core::typed::from_str` decoded: it refuses what the
//! schema refuses before any constraint (an array for a struct, an object for an enum, an
//! unknown field that `serde_json::Value` cannot hold), so the check only has the
//! constraints left to decide.

use crate::model::{Class, Constraints, Model, Number, StructDef, classify};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use std::collections::HashMap;
use syn::{Ident, Type};

/// The name of the generated method.
pub(crate) fn method() -> Ident {
    format_ident!("__wsx_known_valid")
}

/// What can be said about a value of some type.
enum Verdict {
    /// Every decoded value satisfies the schema.
    Always,
    /// Satisfies the schema when this expression is `true`.
    Expr(TokenStream),
    /// Cannot be decided here.
    Unknown,
}

/// Decides, once per struct, whether the check can vouch for it, and builds its body.
pub(crate) struct TypedChecks<'m> {
    model: &'m Model,
    structs: Vec<String>,
    enums: Vec<String>,
    /// Struct name → the body of its check, or `None` when it gets no check.
    checks: HashMap<String, Option<TokenStream>>,
}

impl<'m> TypedChecks<'m> {
    pub(crate) fn new(model: &'m Model) -> Self {
        let mut checks = TypedChecks {
            model,
            structs: model.structs.iter().map(|s| s.name.to_string()).collect(),
            enums: model.enums.iter().map(|e| e.name.to_string()).collect(),
            checks: HashMap::new(),
        };
        for def in &model.structs {
            checks.resolve(&def.name.to_string());
        }
        checks
    }

    /// Whether the struct named `name` gets a check.
    pub(crate) fn vouches_for(&self, name: &str) -> bool {
        self.checks.get(name).is_some_and(Option::is_some)
    }

    /// Resolves a struct, the structs of its fields first. A struct reached again while
    /// it is being resolved (a cycle, which needs a `Box`: a type defined elsewhere) or
    /// an unknown name gets no check.
    fn resolve(&mut self, name: &str) -> bool {
        if let Some(done) = self.checks.get(name) {
            return done.is_some();
        }
        let Some(def) = self.model.structs.iter().find(|s| s.name == name) else {
            return false;
        };
        self.checks.insert(name.to_owned(), None);
        let nested: Vec<String> = def
            .fields
            .iter()
            .flat_map(|f| struct_names(&f.ty))
            .filter(|n| self.structs.contains(n))
            .collect();
        let body = if nested.iter().all(|n| self.resolve(n)) {
            self.fields(def).map(|parts| conjunction(&parts))
        } else {
            None
        };
        let vouched = body.is_some();
        self.checks.insert(name.to_owned(), body);
        vouched
    }

    /// The check of every field, or `None` when one cannot be decided.
    fn fields(&self, def: &StructDef) -> Option<Vec<TokenStream>> {
        let mut out = Vec::new();
        for field in &def.fields {
            let name = &field.name;
            match self.value(
                &field.ty,
                &field.class,
                Some(&field.constraints),
                quote!((&self.#name)),
            ) {
                Verdict::Always => {}
                Verdict::Expr(e) => out.push(e),
                Verdict::Unknown => return None,
            }
        }
        Some(out)
    }

    /// The check of a value of type `ty`, reached by the expression `v` (a reference).
    fn value(
        &self,
        ty: &Type,
        class: &Class,
        constraints: Option<&Constraints>,
        v: TokenStream,
    ) -> Verdict {
        let none = Constraints::default();
        let c = constraints.unwrap_or(&none);
        match class {
            Class::Option(inner) => {
                let Some(inner_ty) = generic_args(ty).into_iter().next() else {
                    return Verdict::Unknown;
                };
                match self.value(inner_ty, inner, constraints, quote!(__some)) {
                    Verdict::Always => Verdict::Always,
                    Verdict::Unknown => Verdict::Unknown,
                    Verdict::Expr(e) => Verdict::Expr(quote! {
                        match #v {
                            ::core::option::Option::Some(__some) => #e,
                            ::core::option::Option::None => true,
                        }
                    }),
                }
            }
            Class::Str => {
                let mut parts = Vec::new();
                if let (Some(exact), Some(most), Some(least)) = (
                    bounds(quote!(__n), c),
                    bounds(quote!(__most), c),
                    bounds(quote!(__least), c),
                ) {
                    // A string of `len` bytes has between `len / 4` (rounded up) and
                    // `len` characters, and the bounds are an interval: when both ends
                    // pass, the count does too and the characters are not counted.
                    parts.push(quote!({
                        let __most = #v.len() as f64;
                        let __least = #v.len().div_ceil(4) as f64;
                        (#most && #least) || {
                            let __n = #v.chars().count() as f64;
                            #exact
                        }
                    }));
                }
                if let Some(pattern) = &c.pattern {
                    parts.push(quote!({
                        static __PATTERN: ::wsx_core::__private::Pattern =
                            ::wsx_core::__private::Pattern::new(#pattern);
                        __PATTERN.matches(#v)
                    }));
                }
                if !c.one_of.is_empty() {
                    let values = &c.one_of;
                    parts.push(quote!([#(#values),*].contains(&#v.as_str())));
                }
                all(parts)
            }
            Class::Int => match bounds(quote!(__x), c) {
                // Exact in an f64 below 2^53: beyond, the validator decides.
                Some(bounds) => Verdict::Expr(quote!({
                    let __x = *#v as f64;
                    __x.abs() < 9007199254740992.0 && #bounds
                })),
                // The validator's input holds integers in 64 bits (a larger one becomes
                // an f64, which serde then refuses for an integer type).
                None if is_named(ty, "i128") || is_named(ty, "u128") => Verdict::Expr(quote!(
                    i64::try_from(*#v).is_ok() || u64::try_from(*#v).is_ok()
                )),
                None => Verdict::Always,
            },
            Class::Float => match bounds(quote!(__x), c) {
                Some(_) if is_named(ty, "f32") => Verdict::Unknown,
                // An integer literal is read as an f64 here but kept exact by the
                // validator, which compares it with the bound exactly: the same below
                // 2^53 only.
                Some(bounds) => Verdict::Expr(quote!({
                    let __x = f64::from(*#v);
                    __x.abs() < 9007199254740992.0 && #bounds
                })),
                None => Verdict::Always,
            },
            Class::Bool | Class::Enum(_) => Verdict::Always,
            Class::List => {
                let item = match ty {
                    Type::Array(a) => Some(&*a.elem),
                    _ if is_named(ty, "Vec") || is_named(ty, "VecDeque") => {
                        generic_args(ty).into_iter().next()
                    }
                    _ => None,
                };
                let Some(item) = item else {
                    return Verdict::Unknown;
                };
                let mut parts = Vec::new();
                if let Some(bounds) = bounds(quote!(__n), c) {
                    parts.push(quote!({
                        let __n = #v.len() as f64;
                        #bounds
                    }));
                }
                match self.item(item, quote!(__item)) {
                    Verdict::Always => {}
                    Verdict::Unknown => return Verdict::Unknown,
                    Verdict::Expr(e) => parts.push(quote!(#v.iter().all(|__item| #e))),
                }
                all(parts)
            }
            Class::Map => {
                let args = generic_args(ty);
                let (Some(key), Some(value)) = (args.first(), args.get(1)) else {
                    return Verdict::Unknown;
                };
                if !is_named(key, "String") {
                    return Verdict::Unknown;
                }
                match self.item(value, quote!(__value)) {
                    Verdict::Always => Verdict::Always,
                    Verdict::Unknown => Verdict::Unknown,
                    Verdict::Expr(e) => Verdict::Expr(quote!(#v.values().all(|__value| #e))),
                }
            }
            Class::Struct => {
                let known = struct_names(ty)
                    .first()
                    .is_some_and(|n| self.vouches_for(n));
                if known {
                    let method = method();
                    Verdict::Expr(quote!(#v.#method()))
                } else {
                    Verdict::Unknown
                }
            }
            Class::Other => Verdict::Unknown,
        }
    }

    /// The check of a list item or map value (no constraints of its own).
    fn item(&self, ty: &Type, v: TokenStream) -> Verdict {
        let class = classify(ty, &self.structs, &self.enums);
        self.value(ty, &class, None, v)
    }
}

/// The methods of every struct the check can vouch for.
pub(crate) fn expand_methods(model: &Model, checks: &TypedChecks<'_>) -> TokenStream {
    let method = method();
    let impls = model.structs.iter().filter_map(|def| {
        let body = checks.checks.get(&def.name.to_string())?.as_ref()?;
        let name = &def.name;
        Some(quote! {
            const _: () = {
                impl #name {
                    /// Whether every declared constraint holds (see `Event::known_valid`).
                    #[doc(hidden)]
                    #[allow(dead_code)]
                    fn #method(&self) -> bool {
                        #body
                    }
                }
            };
        })
    });
    quote!(#(#impls)*)
}

/// The `Event` items that hand the check to the server, for a payload the checks
/// vouches for (nothing otherwise: the trait's defaults keep the validator).
pub(crate) fn event_items(checks: &TypedChecks<'_>, payload: &Type) -> TokenStream {
    match struct_names(payload).first() {
        Some(name) if checks.vouches_for(name) => {
            let method = method();
            quote! {
                const TYPED_CHECK: bool = true;
                fn known_valid(payload: &Self::Payload) -> bool {
                    payload.#method()
                }
            }
        }
        _ => quote!(),
    }
}

/// `(lo..=hi).contains(&x)`, or the one bound that is set.
fn bounds(x: TokenStream, c: &Constraints) -> Option<TokenStream> {
    match (c.min.map(f64_lit), c.max.map(f64_lit)) {
        (Some(lo), Some(hi)) => Some(quote!((#lo..=#hi).contains(&#x))),
        (Some(lo), None) => Some(quote!(#x >= #lo)),
        (None, Some(hi)) => Some(quote!(#x <= #hi)),
        (None, None) => None,
    }
}

fn f64_lit(n: Number) -> proc_macro2::Literal {
    proc_macro2::Literal::f64_suffixed(n.as_f64())
}

fn all(parts: Vec<TokenStream>) -> Verdict {
    if parts.is_empty() {
        Verdict::Always
    } else {
        Verdict::Expr(conjunction(&parts))
    }
}

/// `(a) && (b) && …`, parenthesized as a whole (`true` for none).
fn conjunction(parts: &[TokenStream]) -> TokenStream {
    let mut iter = parts.iter();
    let Some(first) = iter.next() else {
        return quote!(true);
    };
    let joined = iter.fold(quote!((#first)), |acc, p| quote!(#acc && (#p)));
    quote!((#joined))
}

/// The type arguments of a path type's last segment.
fn generic_args(ty: &Type) -> Vec<&Type> {
    crate::model::last_segment(ty)
        .map(|(_, args)| args)
        .unwrap_or_default()
}

fn is_named(ty: &Type, name: &str) -> bool {
    crate::model::last_segment(ty).is_some_and(|(ident, _)| ident == name)
}

/// The identifiers of the path types in `ty` (itself and its type arguments).
fn struct_names(ty: &Type) -> Vec<String> {
    let mut out = Vec::new();
    if let Type::Array(a) = ty {
        return struct_names(&a.elem);
    }
    if let Some((ident, args)) = crate::model::last_segment(ty) {
        out.push(ident.to_string());
        for arg in args {
            out.extend(struct_names(arg));
        }
    }
    out
}
