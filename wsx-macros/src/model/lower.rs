//! Lowering: the syntax tree of `parse` into the checked [`Model`]: events, their
//! payload structs and marker types, declared structs and enums, and the names every
//! generated type takes.

use super::attr::{event_name_attr, rename_attr, split_docs};
use super::case::{camel_case, lower_first, pascal_case, snake_case};
use super::constraints::ConstraintChecker;
use super::{
    Docs, EnumDef, Errors, Event, Field, Kind, Model, PayloadRef, StructDef, StructRole, Variant,
    classify, last_segment,
};
use crate::parse::{EnumDecl, EventDecl, FieldDecl, Input, Item, PayloadDecl, StructBody};
use proc_macro2::Span;
use std::collections::HashMap;
use syn::{Ident, LitStr};

/// What lowering carries from item to item: the errors so far and the declared names.
struct Lowering<'a> {
    errors: Errors,
    structs: &'a [String],
    enums: &'a HashMap<String, Vec<(String, Ident)>>,
    enum_names: Vec<String>,
}

impl Lowering<'_> {
    fn field(&mut self, decl: FieldDecl) -> Field {
        let (docs, rest) = split_docs(decl.attrs);
        let rename = rename_attr(rest, "field", &mut self.errors);
        let name_str = decl.name.to_string();
        if name_str.chars().any(char::is_uppercase) {
            let snake = snake_case(&name_str);
            self.errors.spanned(
                &decl.name,
                format!(
                    "field `{name_str}`: Rust field names are snake_case; write `{snake}` (it is still `{name_str}` on the wire, fields are camelCase there)"
                ),
            );
        }
        let class = classify(&decl.ty, self.structs, &self.enum_names);
        let constraints = ConstraintChecker {
            errors: &mut self.errors,
            enums: self.enums,
        }
        .check(&decl.ty, &class, decl.constraints);
        Field {
            docs,
            name: decl.name,
            rename,
            ty: decl.ty,
            class,
            constraints,
        }
    }
}

/// A name the generated code declares, with what declared it (for collision errors).
struct Declared {
    ident: Ident,
    what: String,
}

/// Checks the parsed input and builds the model.
pub(crate) fn lower(input: Input) -> syn::Result<Model> {
    let mut errors = Errors::default();
    let (docs, rest) = split_docs(input.attrs);
    for attr in rest {
        errors.spanned(
            attr,
            "the only attributes allowed on `events` are doc comments",
        );
    }

    // Names of declared types, needed to classify field types.
    let mut struct_names = Vec::new();
    let mut enums: HashMap<String, Vec<(String, Ident)>> = HashMap::new();
    for item in &input.items {
        match item {
            Item::Struct(s) => struct_names.push(s.body.name.to_string()),
            Item::Event(e) => {
                for p in std::iter::once(&e.payload).chain(e.response.as_ref().map(|(_, p)| p)) {
                    if let PayloadDecl::Inline(body) = p {
                        struct_names.push(body.name.to_string());
                    }
                }
            }
            Item::Enum(e) => {
                enums.insert(
                    e.name.to_string(),
                    e.variants
                        .iter()
                        .map(|v| (v.name.to_string(), v.name.clone()))
                        .collect(),
                );
            }
        }
    }
    let enum_names = enums.keys().cloned().collect();
    let mut lowering = Lowering {
        errors,
        structs: &struct_names,
        enums: &enums,
        enum_names,
    };

    let mut declared: Vec<Declared> = vec![Declared {
        ident: input.name.clone(),
        what: "the registry type".into(),
    }];
    let mut events = Vec::new();
    let mut structs = Vec::new();
    let mut enum_defs = Vec::new();
    let mut wire_names: HashMap<String, Span> = HashMap::new();

    for item in input.items {
        match item {
            Item::Event(decl) => {
                let index = events.len();
                if let Some(event) = event(&mut lowering, *decl, index, &mut structs, &mut declared)
                {
                    if wire_names.contains_key(&event.wire_name) {
                        lowering.errors.push(syn::Error::new(
                            event_span(&event),
                            format!(
                                "duplicate event `{}`: each event name may be declared once",
                                event.wire_name
                            ),
                        ));
                    } else {
                        wire_names.insert(event.wire_name.clone(), event_span(&event));
                    }
                    events.push(event);
                }
            }
            Item::Struct(decl) => {
                let (docs, rest) = split_docs(decl.attrs);
                for attr in rest {
                    lowering.errors.spanned(
                        attr,
                        "the only attributes allowed on a `struct` are doc comments",
                    );
                }
                declared.push(Declared {
                    ident: decl.body.name.clone(),
                    what: format!("the struct `{}`", decl.body.name),
                });
                let def = struct_def(&mut lowering, decl.body, docs, StructRole::Declared);
                structs.push(def);
            }
            Item::Enum(decl) => enum_defs.push(enum_def(&mut lowering, decl, &mut declared)),
        }
    }

    // Every generated type needs its own name.
    let mut by_name: HashMap<String, &Declared> = HashMap::new();
    for d in &declared {
        let key = d.ident.to_string();
        match by_name.get(&key) {
            Some(first) => {
                let hint =
                    if first.what.starts_with("the marker") && d.what.starts_with("the payload") {
                        format!(" (e.g. `{key}Request`)")
                    } else {
                        String::new()
                    };
                lowering.errors.spanned(
                    &d.ident,
                    format!(
                        "the name `{key}` is already used by {}; {} needs another name{hint}: every type `define_events!` generates must have its own name",
                        first.what, d.what
                    ),
                )
            }
            None => {
                by_name.insert(key, d);
            }
        }
    }

    let model = Model {
        docs,
        vis: input.vis,
        name: input.name,
        events,
        structs,
        enums: enum_defs,
    };
    lowering.errors.finish(model)
}

fn event_span(event: &Event) -> Span {
    event.span
}

fn event(
    lowering: &mut Lowering<'_>,
    decl: EventDecl,
    index: usize,
    structs: &mut Vec<StructDef>,
    declared: &mut Vec<Declared>,
) -> Option<Event> {
    let EventDecl {
        attrs,
        kind: kind_ident,
        name,
        payload,
        response,
    } = decl;
    let kind = match kind_ident.to_string().as_str() {
        "request" => Kind::Request,
        "send" => Kind::Send,
        _ => Kind::Push,
    };
    let (docs, rest) = split_docs(attrs);
    let mut wire_name = name.to_string().trim_start_matches("r#").to_owned();
    let mut span = name.span();
    event_name_attr(rest, &mut wire_name, &mut span, &mut lowering.errors);

    let event_label = format!("the {} `{}`", kind.as_str(), wire_name);
    let payload_inline = matches!(payload, PayloadDecl::Inline(_));
    let marker = if kind == Kind::Request || !payload_inline {
        let marker = Ident::new(&pascal_case(&name.to_string()), name.span());
        declared.push(Declared {
            ident: marker.clone(),
            what: format!("the marker type generated for {event_label}"),
        });
        Some(marker)
    } else {
        None
    };

    match (&response, kind) {
        (None, Kind::Request) => {
            lowering.errors.spanned(
                &kind_ident,
                format!("request without response: the request `{wire_name}` needs `-> Response`, e.g. `request {name}: Req {{ … }} -> Res {{ … }}`; for a one-way event use `send`"),
            );
        }
        (Some((arrow, _)), Kind::Send | Kind::Push) => {
            lowering.errors.spanned(
                arrow,
                format!("a `{}` event is one-way and has no response; remove `-> …` or make it a `request`", kind.as_str()),
            );
        }
        _ => {}
    }

    let payload_role = if kind == Kind::Request {
        StructRole::Request(index)
    } else {
        StructRole::EventPayload(index)
    };
    let payload_docs = if kind == Kind::Request {
        Docs::default()
    } else {
        docs.clone()
    };
    let payload = payload_ref(
        lowering,
        payload,
        payload_role,
        payload_docs,
        structs,
        declared,
        &event_label,
    );
    let response = match response {
        Some((_, p)) if kind == Kind::Request => Some(payload_ref(
            lowering,
            p,
            StructRole::Response(index),
            Docs::default(),
            structs,
            declared,
            &event_label,
        )),
        _ => None,
    };
    Some(Event {
        docs,
        span,
        wire_name,
        kind,
        marker,
        payload,
        response,
    })
}

fn payload_ref(
    lowering: &mut Lowering<'_>,
    decl: PayloadDecl,
    role: StructRole,
    docs: Docs,
    structs: &mut Vec<StructDef>,
    declared: &mut Vec<Declared>,
    event_label: &str,
) -> PayloadRef {
    match decl {
        PayloadDecl::Inline(body) => {
            let name = body.name.clone();
            let what = match role {
                StructRole::Response(_) => format!("the response payload of {event_label}"),
                _ => format!("the payload of {event_label}"),
            };
            declared.push(Declared {
                ident: name.clone(),
                what,
            });
            structs.push(struct_def(lowering, body, docs, role));
            PayloadRef {
                ty: syn::parse_quote!(#name),
                ts_name: name.to_string(),
                inline: true,
            }
        }
        PayloadDecl::External(ty) => {
            let ts_name = last_segment(&ty)
                .map(|(i, _)| i.to_string())
                .unwrap_or_else(|| {
                    lowering.errors.spanned(
                        &ty,
                        "a payload type must be a named type (a path such as `crate::Foo`)",
                    );
                    String::new()
                });
            PayloadRef {
                ty,
                ts_name,
                inline: false,
            }
        }
    }
}

fn struct_def(
    lowering: &mut Lowering<'_>,
    body: StructBody,
    docs: Docs,
    role: StructRole,
) -> StructDef {
    let mut fields: Vec<Field> = Vec::new();
    let mut seen: HashMap<String, ()> = HashMap::new();
    for decl in body.fields {
        let field = lowering.field(decl);
        let wire = field
            .rename
            .as_ref()
            .map(LitStr::value)
            .unwrap_or_else(|| camel_case(&field.name.to_string()));
        let rust = field.name.to_string();
        if seen.contains_key(&format!("rust:{rust}")) {
            lowering.errors.spanned(
                &field.name,
                format!("duplicate field `{rust}` in `{}`", body.name),
            );
        } else if seen.contains_key(&format!("wire:{wire}")) {
            lowering.errors.spanned(
                &field.name,
                format!(
                    "duplicate field: `{rust}` is `{wire}` on the wire, like another field of `{}`",
                    body.name
                ),
            );
        }
        seen.insert(format!("rust:{rust}"), ());
        seen.insert(format!("wire:{wire}"), ());
        fields.push(field);
    }
    StructDef {
        docs,
        name: body.name,
        role,
        fields,
    }
}

fn enum_def(lowering: &mut Lowering<'_>, decl: EnumDecl, declared: &mut Vec<Declared>) -> EnumDef {
    let (docs, rest) = split_docs(decl.attrs);
    for attr in rest {
        lowering.errors.spanned(
            attr,
            "the only attributes allowed on an `enum` are doc comments",
        );
    }
    declared.push(Declared {
        ident: decl.name.clone(),
        what: format!("the enum `{}`", decl.name),
    });
    if decl.variants.is_empty() {
        lowering.errors.spanned(
            &decl.name,
            format!("the enum `{}` needs at least one variant", decl.name),
        );
    }
    let mut variants: Vec<Variant> = Vec::new();
    let mut wire: Vec<String> = Vec::new();
    for v in decl.variants {
        let (docs, rest) = split_docs(v.attrs);
        let rename = rename_attr(rest, "variant", &mut lowering.errors);
        let name = rename
            .as_ref()
            .map(LitStr::value)
            .unwrap_or_else(|| lower_first(&v.name.to_string()));
        if wire.contains(&name) || variants.iter().any(|x| x.name == v.name) {
            lowering.errors.spanned(
                &v.name,
                format!("duplicate variant `{}` (`{name}` on the wire)", v.name),
            );
        }
        wire.push(name);
        variants.push(Variant {
            docs,
            name: v.name,
            rename,
        });
    }
    EnumDef {
        docs,
        name: decl.name,
        variants,
    }
}
