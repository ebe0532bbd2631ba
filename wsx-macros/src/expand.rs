//! Expansion: the checked model into Rust items.
//!
//! Every path is absolute and goes through `::wsx_core`, so a crate using the macro needs
//! no dependency but `wsx-core`. Trait impls live inside `const _: () = { … };`.

use crate::model::{
    Class, DefaultValue, Docs, EnumDef, Event, Field, Kind, Model, Number, StructDef, StructRole,
};
use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

/// Derives shared by every generated struct and enum.
fn derives() -> TokenStream {
    quote! {
        #[derive(
            ::core::fmt::Debug,
            ::core::clone::Clone,
            ::core::cmp::PartialEq,
            ::wsx_core::__private::serde::Serialize,
            ::wsx_core::__private::serde::Deserialize,
            ::wsx_core::__private::schemars::JsonSchema,
            ::wsx_core::__private::ts_rs::TS,
        )]
    }
}

/// The derives of a unit marker type (an event, the event set).
fn marker_derives() -> TokenStream {
    quote! {
        #[derive(
            ::core::fmt::Debug,
            ::core::clone::Clone,
            ::core::marker::Copy,
            ::core::default::Default,
            ::core::cmp::PartialEq,
            ::core::cmp::Eq,
            ::core::hash::Hash,
        )]
    }
}

/// Tells each derive where to find its crate.
fn crate_attrs() -> TokenStream {
    quote! {
        #[schemars(crate = "::wsx_core::__private::schemars")]
        #[ts(crate = "::wsx_core::__private::ts_rs")]
    }
}

/// The doc attributes as written, or `fallback` as a doc, or an `allow(missing_docs)`.
fn docs_or(docs: &Docs, fallback: Option<String>) -> TokenStream {
    if !docs.is_empty() {
        let attrs = &docs.attrs;
        return quote!(#(#attrs)*);
    }
    match fallback {
        Some(text) => quote!(#[doc = #text]),
        None => quote!(#[allow(missing_docs)]),
    }
}

/// Doc lines as attributes.
fn doc_lines(text: &str) -> TokenStream {
    let lines = text.lines().map(|l| format!(" {l}"));
    quote!(#(#[doc = #lines])*)
}

/// A string as a TypeScript/JSON string literal.
fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn number_tokens(n: Number) -> TokenStream {
    match n {
        Number::Int(i) if i < 0 => {
            let lit = Literal::u128_unsuffixed(i.unsigned_abs());
            quote!(-#lit)
        }
        Number::Int(i) => {
            let lit = Literal::u128_unsuffixed(i.unsigned_abs());
            quote!(#lit)
        }
        Number::Float(f) if f < 0.0 => {
            let lit = Literal::f64_unsuffixed(-f);
            quote!(-#lit)
        }
        Number::Float(f) => {
            let lit = Literal::f64_unsuffixed(f);
            quote!(#lit)
        }
    }
}

/// A bound as a JSON Schema keyword value. Integers carry a 64-bit suffix: inside
/// schemars' `extend`, an unsuffixed literal is an `i32` and a larger bound would wrap
/// silently (`.max(4294967296)` became `"maximum": 0`).
fn schema_number_tokens(n: Number) -> TokenStream {
    match n {
        Number::Int(i) => match (u64::try_from(i), i64::try_from(i.unsigned_abs())) {
            (Ok(u), _) => {
                let lit = Literal::u64_suffixed(u);
                quote!(#lit)
            }
            (Err(_), Ok(abs)) => {
                let lit = Literal::i64_suffixed(abs);
                quote!(-#lit)
            }
            // Beyond 64 bits (or `i64::MIN`): an f64, as JSON readers take it anyway.
            (Err(_), Err(_)) => {
                let lit = Literal::f64_suffixed(i as f64);
                quote!(#lit)
            }
        },
        Number::Float(_) => number_tokens(n),
    }
}

/// Expands the whole model.
pub(crate) fn expand(model: &Model) -> TokenStream {
    let structs = model.structs.iter().map(|s| expand_struct(model, s));
    let enums = model.enums.iter().map(|e| expand_enum(model, e));
    let checks = crate::typed_check::TypedChecks::new(model);
    let events = model.events.iter().map(|e| expand_event(model, &checks, e));
    let methods = crate::typed_check::expand_methods(model, &checks);
    let registry = expand_registry(model);
    quote! {
        #registry
        #(#events)*
        #(#structs)*
        #(#enums)*
        #methods
    }
}

fn role_doc(model: &Model, role: StructRole) -> Option<String> {
    let event = |i: usize| &model.events[i];
    match role {
        StructRole::Declared => None,
        StructRole::EventPayload(i) => Some(format!(
            "The payload of the `{}` {} event.",
            event(i).wire_name,
            event(i).kind.as_str()
        )),
        StructRole::Request(i) => Some(request_doc("The request of", event(i))),
        StructRole::Response(i) => Some(request_doc("The response to", event(i))),
    }
}

fn request_doc(prefix: &str, event: &Event) -> String {
    if event.docs.text.is_empty() {
        format!("{prefix} `{}`.", event.wire_name)
    } else {
        format!("{prefix} `{}`: {}", event.wire_name, event.docs.text)
    }
}

fn expand_struct(model: &Model, def: &StructDef) -> TokenStream {
    let vis = &model.vis;
    let name = &def.name;
    let docs = match def.role {
        StructRole::Request(_) | StructRole::Response(_) => {
            let text = role_doc(model, def.role).unwrap_or_default();
            doc_lines(&text)
        }
        role => docs_or(&def.docs, role_doc(model, role)),
    };
    let derives = derives();
    let crate_attrs = crate_attrs();
    let mut default_fns = Vec::new();
    let fields: Vec<TokenStream> = def
        .fields
        .iter()
        .map(|f| {
            let (tokens, default_fn) = expand_field(model, def, f);
            default_fns.extend(default_fn);
            tokens
        })
        .collect();
    let defaults = if default_fns.is_empty() {
        quote!()
    } else {
        quote! {
            const _: () = {
                impl #name {
                    #(#default_fns)*
                }
            };
        }
    };
    quote! {
        #docs
        #derives
        #[serde(crate = "::wsx_core::__private::serde", rename_all = "camelCase")]
        #crate_attrs
        #vis struct #name {
            #(#fields,)*
        }
        #defaults
    }
}

fn expand_field(
    model: &Model,
    def: &StructDef,
    field: &Field,
) -> (TokenStream, Option<TokenStream>) {
    let vis = &model.vis;
    let name = &field.name;
    let ty = &field.ty;
    let docs = docs_or(&field.docs, None);
    let mut attrs = Vec::new();
    let mut default_fn = None;
    if let Some(rename) = &field.rename {
        attrs.push(quote!(#[serde(rename = #rename)]));
    }
    if field.is_option() {
        attrs.push(
            quote!(#[serde(default, skip_serializing_if = "::core::option::Option::is_none")]),
        );
    }
    let c = &field.constraints;
    if let Some(default) = &c.default {
        let fn_name = format_ident!(
            "__wsx_default_{}",
            name.to_string().trim_start_matches("r#")
        );
        let path = format!("{}::{}", def.name, fn_name);
        let value = match default {
            DefaultValue::Str(s) => quote!(::core::convert::From::from(#s)),
            DefaultValue::Bool(b) => quote!(#b),
            DefaultValue::Number(n) => number_tokens(*n),
            DefaultValue::Variant(v) => quote!(<#ty>::#v),
        };
        attrs.push(quote!(#[serde(default = #path)]));
        default_fn = Some(quote! {
            #[doc(hidden)]
            fn #fn_name() -> #ty {
                #value
            }
        });
    }

    // JSON Schema keywords, by what the (inner) type is.
    let mut keywords = Vec::new();
    let inner = match &field.class {
        Class::Option(inner) => inner.as_ref(),
        other => other,
    };
    let (min_key, max_key) = match inner {
        Class::Str => ("minLength", "maxLength"),
        Class::List => ("minItems", "maxItems"),
        _ => ("minimum", "maximum"),
    };
    if let Some(min) = c.min {
        let v = schema_number_tokens(min);
        keywords.push(quote!(#min_key = #v));
    }
    if let Some(max) = c.max {
        let v = schema_number_tokens(max);
        keywords.push(quote!(#max_key = #v));
    }
    if let Some(p) = &c.pattern {
        keywords.push(quote!("pattern" = #p));
    }
    if !c.one_of.is_empty() {
        let values = &c.one_of;
        if field.is_option() {
            keywords.push(quote!("enum" = [#(#values,)* null]));
        } else {
            keywords.push(quote!("enum" = [#(#values),*]));
        }
    }
    if !keywords.is_empty() {
        attrs.push(quote!(#[schemars(extend(#(#keywords),*))]));
    }

    // TypeScript.
    let mut ts = Vec::new();
    if field.is_option() {
        ts.push(quote!(optional));
    } else if c.default.is_some() {
        // The peer may omit a field with a default: `room?: string`.
        ts.push(quote!(optional = nullable));
    }
    if !c.one_of.is_empty() {
        let union = c
            .one_of
            .iter()
            .map(|v| quoted(&v.value()))
            .collect::<Vec<_>>()
            .join(" | ");
        ts.push(quote!(type = #union));
    }
    if !ts.is_empty() {
        attrs.push(quote!(#[ts(#(#ts),*)]));
    }
    (
        quote! {
            #docs
            #(#attrs)*
            #vis #name: #ty
        },
        default_fn,
    )
}

fn expand_enum(model: &Model, def: &EnumDef) -> TokenStream {
    let vis = &model.vis;
    let name = &def.name;
    let docs = docs_or(&def.docs, None);
    let crate_attrs = crate_attrs();
    let variants = def.variants.iter().map(|v| {
        let docs = docs_or(&v.docs, None);
        let ident = &v.name;
        let rename = v.rename.as_ref().map(|r| quote!(#[serde(rename = #r)]));
        quote! {
            #docs
            #rename
            #ident
        }
    });
    quote! {
        #docs
        #[derive(
            ::core::fmt::Debug,
            ::core::clone::Clone,
            ::core::marker::Copy,
            ::core::cmp::PartialEq,
            ::core::cmp::Eq,
            ::core::hash::Hash,
            ::wsx_core::__private::serde::Serialize,
            ::wsx_core::__private::serde::Deserialize,
            ::wsx_core::__private::schemars::JsonSchema,
            ::wsx_core::__private::ts_rs::TS,
        )]
        #[serde(crate = "::wsx_core::__private::serde", rename_all = "camelCase")]
        #crate_attrs
        #vis enum #name {
            #(#variants,)*
        }
    }
}

fn kind_tokens(kind: Kind) -> TokenStream {
    match kind {
        Kind::Request => quote!(::wsx_core::event::EventKind::Request),
        Kind::Send => quote!(::wsx_core::event::EventKind::Send),
        Kind::Push => quote!(::wsx_core::event::EventKind::Push),
    }
}

fn expand_event(
    model: &Model,
    checks: &crate::typed_check::TypedChecks<'_>,
    event: &Event,
) -> TokenStream {
    let vis = &model.vis;
    let wire = &event.wire_name;
    let kind = kind_tokens(event.kind);
    let payload = &event.payload.ty;
    // Only what the server decodes gets the typed check.
    let check = match event.kind {
        Kind::Request | Kind::Send => crate::typed_check::event_items(checks, payload),
        Kind::Push => quote!(),
    };
    let kind_impl = |target: &TokenStream| match (event.kind, &event.response) {
        (Kind::Request, Some(response)) => {
            let response = &response.ty;
            quote!(impl ::wsx_core::event::RequestEvent for #target { type Response = #response; })
        }
        (Kind::Request, None) => quote!(),
        (Kind::Send, _) => quote!(impl ::wsx_core::event::SendEvent for #target {}),
        (Kind::Push, _) => quote!(impl ::wsx_core::event::PushEvent for #target {}),
    };
    match &event.marker {
        Some(marker) => {
            let target = quote!(#marker);
            let kind_impl = kind_impl(&target);
            let user_docs = &event.docs.attrs;
            let summary = match &event.response {
                Some(r) => format!(
                    " The `{wire}` request: a [`{}`] answered by a [`{}`].",
                    event.payload.ts_name, r.ts_name
                ),
                None => format!(
                    " The `{wire}` {} event, carrying a [`{}`].",
                    event.kind.as_str(),
                    event.payload.ts_name
                ),
            };
            let marker_derives = marker_derives();
            let separator = if user_docs.is_empty() {
                quote!()
            } else {
                quote!(#[doc = ""])
            };
            quote! {
                #(#user_docs)*
                #separator
                #[doc = #summary]
                #marker_derives
                #vis struct #marker;

                const _: () = {
                    impl ::wsx_core::event::Event for #marker {
                        const NAME: &'static str = #wire;
                        const KIND: ::wsx_core::event::EventKind = #kind;
                        type Payload = #payload;
                        #check
                    }
                    #kind_impl
                };
            }
        }
        None => {
            let target = quote!(#payload);
            let kind_impl = kind_impl(&target);
            quote! {
                const _: () = {
                    impl ::wsx_core::event::Event for #payload {
                        const NAME: &'static str = #wire;
                        const KIND: ::wsx_core::event::EventKind = #kind;
                        type Payload = Self;
                        #check
                    }
                    #kind_impl
                };
            }
        }
    }
}

fn expand_registry(model: &Model) -> TokenStream {
    let vis = &model.vis;
    let name = &model.name;
    let set_name = name.to_string();
    let set_docs = &model.docs.text;
    let docs = docs_or(
        &model.docs,
        Some(format!(
            " The events declared by `define_events!` for `{set_name}`."
        )),
    );
    let count = model.events.len();
    let schema = quote!(::wsx_core::__private::schemars::Schema);
    let mut schema_fns = Vec::new();
    let infos: Vec<TokenStream> = model
        .events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let wire = &e.wire_name;
            let kind = kind_tokens(e.kind);
            let docs = &e.docs.text;
            let payload_ts = &e.payload.ts_name;
            let payload_ty = &e.payload.ty;
            let payload_fn = format_ident!("__wsx_payload_schema_{}", i);
            schema_fns.push(quote! {
                fn #payload_fn() -> #schema { ::wsx_core::__private::schemars::schema_for!(#payload_ty) }
            });
            let (response_ts, response_schema) = match &e.response {
                Some(r) => {
                    let ts = &r.ts_name;
                    let ty = &r.ty;
                    let f = format_ident!("__wsx_response_schema_{}", i);
                    schema_fns.push(quote! {
                        fn #f() -> #schema { ::wsx_core::__private::schemars::schema_for!(#ty) }
                    });
                    (quote!(::core::option::Option::Some(#ts)), quote!(::core::option::Option::Some(#f as fn() -> #schema)))
                }
                None => (quote!(::core::option::Option::None), quote!(::core::option::Option::None)),
            };
            quote! {
                ::wsx_core::event::EventInfo {
                    name: #wire,
                    kind: #kind,
                    docs: #docs,
                    payload_ts: #payload_ts,
                    response_ts: #response_ts,
                    payload_schema: #payload_fn,
                    response_schema: #response_schema,
                }
            }
        })
        .collect();

    // Every type with a TypeScript declaration: generated ones, then external payloads.
    let mut ts_types: Vec<TokenStream> = Vec::new();
    for s in &model.structs {
        let n = &s.name;
        ts_types.push(quote!(#n));
    }
    for e in &model.enums {
        let n = &e.name;
        ts_types.push(quote!(#n));
    }
    for e in &model.events {
        for p in std::iter::once(&e.payload).chain(e.response.as_ref()) {
            if !p.inline {
                let ty = &p.ty;
                ts_types.push(quote!(#ty));
            }
        }
    }

    let marker_derives = marker_derives();
    quote! {
        #docs
        #marker_derives
        #vis struct #name;

        const _: () = {
            impl ::wsx_core::event::EventSet for #name {
                const NAME: &'static str = #set_name;
                const DOCS: &'static str = #set_docs;

                fn events() -> &'static [::wsx_core::event::EventInfo] {
                    #(#schema_fns)*
                    static EVENTS: [::wsx_core::event::EventInfo; #count] = [#(#infos),*];
                    &EVENTS
                }

                fn export_typescript_types(
                    dir: &::std::path::Path,
                ) -> ::core::result::Result<::std::vec::Vec<::std::string::String>, ::wsx_core::__private::ts_rs::ExportError> {
                    let mut export = ::wsx_core::export::TypeScriptExport::new(dir);
                    #(export.add::<#ts_types>();)*
                    export.finish()
                }
            }
        };
    }
}
