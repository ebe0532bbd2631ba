//! The checked model: names resolved, types classified, constraints validated.
//!
//! Every check pushes its error into an [`Errors`] collector instead of returning at the
//! first one, so a user sees all their mistakes in one build.

use crate::parse::{
    ConstraintDecl, EnumDecl, EventDecl, FieldDecl, Input, Item, PayloadDecl, StructBody,
};
use proc_macro2::Span;
use quote::ToTokens;
use std::collections::HashMap;
use syn::{
    Attribute, Expr, ExprLit, ExprUnary, GenericArgument, Ident, Lit, LitStr, PathArguments, Type,
    UnOp,
};

/// The legal constraints, for error messages.
const CONSTRAINTS: &str =
    "`.min(n)`, `.max(n)`, `.pattern(\"regex\")`, `.one_of(\"a\", \"b\", …)` and `.default(value)`";

/// Collects errors so that several can be reported at once.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    fn spanned(&mut self, tokens: impl ToTokens, message: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    pub(crate) fn finish<T>(self, value: T) -> syn::Result<T> {
        match self.0 {
            Some(e) => Err(e),
            None => Ok(value),
        }
    }
}

/// The whole, checked definition.
pub(crate) struct Model {
    pub(crate) docs: Docs,
    pub(crate) vis: syn::Visibility,
    pub(crate) name: Ident,
    pub(crate) events: Vec<Event>,
    pub(crate) structs: Vec<StructDef>,
    pub(crate) enums: Vec<EnumDef>,
}

/// Doc comments: the attributes to copy onto generated items, and their text.
#[derive(Clone, Default)]
pub(crate) struct Docs {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) text: String,
}

impl Docs {
    pub(crate) fn is_empty(&self) -> bool {
        self.attrs.is_empty()
    }
}

/// Which way an event travels.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Request,
    Send,
    Push,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Request => "request",
            Kind::Send => "send",
            Kind::Push => "push",
        }
    }
}

/// One event.
pub(crate) struct Event {
    pub(crate) docs: Docs,
    /// Where the wire name was written (the identifier, or the `#[wsx(name)]` literal).
    pub(crate) span: Span,
    pub(crate) wire_name: String,
    pub(crate) kind: Kind,
    /// The marker type generated for the event, when the event is not its own payload.
    pub(crate) marker: Option<Ident>,
    pub(crate) payload: PayloadRef,
    pub(crate) response: Option<PayloadRef>,
}

/// A payload type, as used by an event.
pub(crate) struct PayloadRef {
    pub(crate) ty: Type,
    /// Its name in TypeScript (the ts-rs name: the type's identifier).
    pub(crate) ts_name: String,
    /// Whether the macro declares it (it then implements `TS` through the macro's derive).
    pub(crate) inline: bool,
}

/// Why a struct is generated.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum StructRole {
    /// Declared with `struct Name { … }`.
    Declared,
    /// The payload of a push or send event, which implements `Event` itself.
    EventPayload(usize),
    /// The request of a request event.
    Request(usize),
    /// The response of a request event.
    Response(usize),
}

/// A struct the macro generates.
pub(crate) struct StructDef {
    pub(crate) docs: Docs,
    pub(crate) name: Ident,
    pub(crate) role: StructRole,
    pub(crate) fields: Vec<Field>,
}

/// One field of a generated struct.
pub(crate) struct Field {
    pub(crate) docs: Docs,
    pub(crate) name: Ident,
    pub(crate) rename: Option<LitStr>,
    pub(crate) ty: Type,
    pub(crate) class: Class,
    pub(crate) constraints: Constraints,
}

impl Field {
    pub(crate) fn is_option(&self) -> bool {
        matches!(self.class, Class::Option(_))
    }
}

/// What the macro knows about a field's type.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Class {
    Str,
    Bool,
    Int,
    Float,
    /// `Vec`, `VecDeque`, sets, slices and arrays.
    List,
    /// `HashMap`, `BTreeMap`.
    Map,
    Option(Box<Class>),
    /// An enum declared in the same `define_events!`.
    Enum(String),
    /// A struct declared in the same `define_events!`.
    Struct,
    /// Anything else: a type defined elsewhere.
    Other,
}

impl Class {
    fn inner(&self) -> &Class {
        match self {
            Class::Option(inner) => inner.inner(),
            other => other,
        }
    }
}

/// A numeric bound or default.
#[derive(Clone, Copy, PartialEq, PartialOrd)]
pub(crate) enum Number {
    Int(i128),
    Float(f64),
}

impl Number {
    pub(crate) fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }
}

impl std::fmt::Display for Number {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Number::Int(i) => write!(f, "{i}"),
            Number::Float(x) => write!(f, "{x:?}"),
        }
    }
}

/// The constraints of a field, checked against its type.
#[derive(Default)]
pub(crate) struct Constraints {
    pub(crate) min: Option<Number>,
    pub(crate) max: Option<Number>,
    pub(crate) pattern: Option<LitStr>,
    pub(crate) one_of: Vec<LitStr>,
    pub(crate) default: Option<DefaultValue>,
}

/// The value of `.default(…)`.
pub(crate) enum DefaultValue {
    Str(LitStr),
    Bool(bool),
    Number(Number),
    Variant(Ident),
}

/// A string enum the macro generates.
pub(crate) struct EnumDef {
    pub(crate) docs: Docs,
    pub(crate) name: Ident,
    pub(crate) variants: Vec<Variant>,
}

/// One variant of a generated enum.
pub(crate) struct Variant {
    pub(crate) docs: Docs,
    pub(crate) name: Ident,
    pub(crate) rename: Option<LitStr>,
}

/// `join` → `Join`, `sendMessage` → `SendMessage`, `user_left` → `UserLeft`.
pub(crate) fn pascal_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.trim_start_matches("r#").chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `messageId` → `message_id`.
fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_uppercase() {
            if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Splits the doc comments off the other attributes.
fn split_docs(attrs: Vec<Attribute>) -> (Docs, Vec<Attribute>) {
    let mut docs = Docs::default();
    let mut lines = Vec::new();
    let mut rest = Vec::new();
    for attr in attrs {
        if attr.path().is_ident("doc") {
            if let syn::Meta::NameValue(nv) = &attr.meta
                && let Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) = &nv.value
            {
                let value = s.value();
                lines.push(value.strip_prefix(' ').map(str::to_owned).unwrap_or(value));
            }
            docs.attrs.push(attr);
        } else {
            rest.push(attr);
        }
    }
    docs.text = lines.join("\n").trim().to_owned();
    (docs, rest)
}

/// Reads `#[rename = "x"]`; refuses any other attribute, naming the legal ones.
fn rename_attr(attrs: Vec<Attribute>, what: &str, errors: &mut Errors) -> Option<LitStr> {
    let mut rename = None;
    for attr in attrs {
        let value = match &attr.meta {
            syn::Meta::NameValue(nv) if nv.path.is_ident("rename") => match &nv.value {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) => Some(s.clone()),
                other => {
                    errors.spanned(
                        other,
                        "`rename` takes a string literal: `#[rename = \"wireName\"]`",
                    );
                    continue;
                }
            },
            _ => None,
        };
        match value {
            Some(_) if rename.is_some() => errors.spanned(&attr, format!("duplicate `rename` on this {what}")),
            Some(s) if s.value().is_empty() => errors.spanned(&s, "`rename` needs a non-empty name"),
            Some(s) => rename = Some(s),
            None => errors.spanned(
                &attr,
                format!("unknown attribute on a {what}; the legal ones are doc comments and `#[rename = \"wireName\"]`"),
            ),
        }
    }
    rename
}

/// The last segment of a type path and its generic arguments.
pub(crate) fn last_segment(ty: &Type) -> Option<(&Ident, Vec<&Type>)> {
    let Type::Path(p) = ty else { return None };
    if p.qself.is_some() {
        return None;
    }
    let seg = p.path.segments.last()?;
    let args = match &seg.arguments {
        PathArguments::AngleBracketed(a) => a
            .args
            .iter()
            .filter_map(|a| match a {
                GenericArgument::Type(t) => Some(t),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    Some((&seg.ident, args))
}

/// Classifies a type by its last path segment.
pub(crate) fn classify(ty: &Type, structs: &[String], enums: &[String]) -> Class {
    match ty {
        Type::Array(_) | Type::Slice(_) => return Class::List,
        Type::Reference(r) => return classify(&r.elem, structs, enums),
        Type::Paren(p) => return classify(&p.elem, structs, enums),
        Type::Group(g) => return classify(&g.elem, structs, enums),
        _ => {}
    }
    let Some((ident, args)) = last_segment(ty) else {
        return Class::Other;
    };
    let name = ident.to_string();
    match name.as_str() {
        "String" | "str" => Class::Str,
        "bool" => Class::Bool,
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" | "u8" | "u16" | "u32" | "u64" | "u128"
        | "usize" => Class::Int,
        "f32" | "f64" => Class::Float,
        "Vec" | "VecDeque" | "HashSet" | "BTreeSet" => Class::List,
        "HashMap" | "BTreeMap" => Class::Map,
        "Option" => match args.first() {
            Some(inner) if args.len() == 1 => {
                Class::Option(Box::new(classify(inner, structs, enums)))
            }
            _ => Class::Other,
        },
        _ if args.is_empty() && structs.contains(&name) => Class::Struct,
        _ if args.is_empty() && enums.contains(&name) => Class::Enum(name),
        _ => Class::Other,
    }
}

/// A type as shown in errors: "`Option<u32>`".
fn describe(ty: &Type) -> String {
    format!("`{}`", ty.to_token_stream().to_string().replace(' ', ""))
}

/// Parses a literal number, with an optional leading `-`.
fn number(expr: &Expr) -> Option<Number> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(i), ..
        }) => i.base10_parse::<i128>().ok().map(Number::Int),
        Expr::Lit(ExprLit {
            lit: Lit::Float(f), ..
        }) => f
            .base10_parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .map(Number::Float),
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr,
            ..
        }) => match number(expr)? {
            Number::Int(i) => Some(Number::Int(-i)),
            Number::Float(f) => Some(Number::Float(-f)),
        },
        Expr::Group(g) => number(&g.expr),
        _ => None,
    }
}

struct Checker<'a> {
    errors: Errors,
    structs: &'a [String],
    enums: &'a HashMap<String, Vec<(String, Ident)>>,
    enum_names: Vec<String>,
}

impl Checker<'_> {
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
        let constraints = self.constraints(&decl.ty, &class, decl.constraints);
        Field {
            docs,
            name: decl.name,
            rename,
            ty: decl.ty,
            class,
            constraints,
        }
    }

    fn constraints(&mut self, ty: &Type, class: &Class, decls: Vec<ConstraintDecl>) -> Constraints {
        let mut out = Constraints::default();
        let mut seen: Vec<String> = Vec::new();
        let inner = class.inner();
        let shown = describe(ty);
        for c in decls {
            let name = c.name.to_string();
            if seen.contains(&name) {
                self.errors.spanned(
                    &c.name,
                    format!("duplicate constraint `.{name}`: each constraint may appear once"),
                );
                continue;
            }
            seen.push(name.clone());
            match name.as_str() {
                "min" | "max" => {
                    let Some(value) = self.one_number(&c, inner, &shown) else {
                        continue;
                    };
                    if name == "min" {
                        out.min = Some(value);
                    } else {
                        out.max = Some(value);
                    }
                }
                "pattern" => {
                    if *inner != Class::Str {
                        self.errors.spanned(
                            &c.name,
                            format!("`.pattern` applies to strings, not to {shown}; constraints by type: strings take `.min`, `.max`, `.pattern`, `.one_of`; numbers and lists take `.min`, `.max`"),
                        );
                        continue;
                    }
                    match single_arg(&c) {
                        Some(Expr::Lit(ExprLit { lit: Lit::Str(s), .. })) if !s.value().is_empty() => {
                            out.pattern = Some(s.clone())
                        }
                        _ => self.errors.push(syn::Error::new(
                            c.args_span,
                            "`.pattern` takes one non-empty string literal, e.g. `.pattern(\"^[a-z]+$\")`",
                        )),
                    }
                }
                "one_of" => {
                    if *inner != Class::Str {
                        self.errors.spanned(
                            &c.name,
                            format!("`.one_of` applies to strings, not to {shown}; for a closed set of values of another type declare an `enum` in `define_events!`"),
                        );
                        continue;
                    }
                    let mut values: Vec<LitStr> = Vec::new();
                    for arg in &c.args {
                        match arg {
                            Expr::Lit(ExprLit {
                                lit: Lit::Str(s), ..
                            }) => {
                                if values.iter().any(|v| v.value() == s.value()) {
                                    self.errors.spanned(
                                        s,
                                        format!("`.one_of` lists \"{}\" twice", s.value()),
                                    );
                                } else {
                                    values.push(s.clone());
                                }
                            }
                            other => self.errors.spanned(
                                other,
                                "`.one_of` takes string literals: `.one_of(\"a\", \"b\")`",
                            ),
                        }
                    }
                    if c.args.is_empty() {
                        self.errors.push(syn::Error::new(
                            c.args_span,
                            "`.one_of` needs at least one string literal",
                        ));
                    }
                    out.one_of = values;
                }
                "default" => out.default = self.default(&c, class, &shown),
                _ => self.errors.spanned(
                    &c.name,
                    format!(
                        "unknown constraint `.{name}`; the legal constraints are {CONSTRAINTS}"
                    ),
                ),
            }
        }
        if let (Some(min), Some(max)) = (out.min, out.max)
            && min.as_f64() > max.as_f64()
        {
            self.errors.spanned(
                ty,
                format!("`.min({min})` is greater than `.max({max})`: no value could be valid"),
            );
        }
        if let Some(DefaultValue::Number(n)) = &out.default {
            if out.min.is_some_and(|m| n.as_f64() < m.as_f64())
                || out.max.is_some_and(|m| n.as_f64() > m.as_f64())
            {
                self.errors.spanned(
                    ty,
                    format!("the default {n} is outside the range set by `.min`/`.max`"),
                );
            }
        }
        if let Some(DefaultValue::Str(s)) = &out.default {
            let len = s.value().chars().count() as f64;
            if out.min.is_some_and(|m| len < m.as_f64())
                || out.max.is_some_and(|m| len > m.as_f64())
            {
                self.errors.spanned(
                    s,
                    "the default's length is outside the bounds set by `.min`/`.max`",
                );
            }
            if !out.one_of.is_empty() && !out.one_of.iter().any(|v| v.value() == s.value()) {
                self.errors.spanned(
                    s,
                    "the default is not one of the values listed by `.one_of`",
                );
            }
        }
        out
    }

    /// The number of `.min(n)` / `.max(n)`, checked against the type.
    fn one_number(&mut self, c: &ConstraintDecl, inner: &Class, shown: &str) -> Option<Number> {
        let name = &c.name;
        let meaning = match inner {
            Class::Str | Class::List => "count",
            Class::Int => "int",
            Class::Float => "float",
            _ => {
                self.errors.spanned(
                    name,
                    format!("`.{name}` applies to strings (length), lists (item count) and numbers (value), not to {shown}"),
                );
                return None;
            }
        };
        let Some(arg) = single_arg(c) else {
            self.errors.push(syn::Error::new(
                c.args_span,
                format!("`.{name}` takes exactly one number, e.g. `.{name}(1)`"),
            ));
            return None;
        };
        match (meaning, number(arg)) {
            ("count", Some(Number::Int(n))) if n >= 0 && n <= i128::from(u32::MAX) => {
                Some(Number::Int(n))
            }
            ("count", _) => {
                self.errors.spanned(
                    arg,
                    format!(
                        "`.{name}` on {shown} counts {}: it takes a non-negative integer literal",
                        if *inner == Class::Str {
                            "characters"
                        } else {
                            "items"
                        }
                    ),
                );
                None
            }
            ("int", Some(Number::Int(n))) => Some(Number::Int(n)),
            ("int", _) => {
                self.errors.spanned(
                    arg,
                    format!("`.{name}` on {shown} takes an integer literal"),
                );
                None
            }
            (_, Some(n)) => Some(Number::Float(n.as_f64())),
            (_, None) => {
                self.errors
                    .spanned(arg, format!("`.{name}` on {shown} takes a number literal"));
                None
            }
        }
    }

    fn default(&mut self, c: &ConstraintDecl, class: &Class, shown: &str) -> Option<DefaultValue> {
        let Some(arg) = single_arg(c) else {
            self.errors.push(syn::Error::new(
                c.args_span,
                "`.default` takes exactly one literal, e.g. `.default(\"general\")`",
            ));
            return None;
        };
        let wrong = |expected: &str| format!("`.default` of {shown} must be {expected}");
        match class {
            Class::Option(_) => {
                self.errors.spanned(
                    &c.name,
                    format!("`.default` cannot be used on {shown}: an `Option` field is already optional (absent means `None`); use the inner type with `.default(…)` instead"),
                );
                None
            }
            Class::Str => match arg {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) => Some(DefaultValue::Str(s.clone())),
                _ => {
                    self.wrong_default(arg, wrong("a string literal, e.g. `.default(\"general\")`"))
                }
            },
            Class::Bool => match arg {
                Expr::Lit(ExprLit {
                    lit: Lit::Bool(b), ..
                }) => Some(DefaultValue::Bool(b.value)),
                _ => self.wrong_default(arg, wrong("`true` or `false`")),
            },
            Class::Int => match number(arg) {
                Some(Number::Int(n)) => Some(DefaultValue::Number(Number::Int(n))),
                _ => self.wrong_default(arg, wrong("an integer literal, e.g. `.default(10)`")),
            },
            Class::Float => match number(arg) {
                Some(n) => Some(DefaultValue::Number(Number::Float(n.as_f64()))),
                None => self.wrong_default(arg, wrong("a number literal, e.g. `.default(1.5)`")),
            },
            Class::Enum(enum_name) => {
                let variants = self.enums.get(enum_name).cloned().unwrap_or_default();
                let ident = match arg {
                    Expr::Path(p) => p
                        .path
                        .get_ident()
                        .cloned()
                        .or_else(|| p.path.segments.last().map(|s| s.ident.clone())),
                    _ => None,
                };
                match ident {
                    Some(id) if variants.iter().any(|(v, _)| id == v) => {
                        Some(DefaultValue::Variant(id))
                    }
                    _ => {
                        let legal: Vec<String> =
                            variants.iter().map(|(v, _)| format!("`{v}`")).collect();
                        self.wrong_default(
                            arg,
                            format!(
                                "`.default` of {shown} must name one of its variants: {}",
                                legal.join(", ")
                            ),
                        )
                    }
                }
            }
            _ => {
                self.errors.spanned(
                    &c.name,
                    format!("`.default` is not supported on {shown}; it applies to `String`, `bool`, integers, floats and enums declared in `define_events!`"),
                );
                None
            }
        }
    }

    fn wrong_default(&mut self, arg: &Expr, message: String) -> Option<DefaultValue> {
        self.errors.spanned(arg, message);
        None
    }
}

fn single_arg(c: &ConstraintDecl) -> Option<&Expr> {
    if c.args.len() == 1 {
        c.args.first()
    } else {
        None
    }
}

/// A name the generated code declares, with what declared it (for collision errors).
struct Declared {
    ident: Ident,
    what: String,
}

/// Checks the parsed input and builds the model.
pub(crate) fn check(input: Input) -> syn::Result<Model> {
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
    let mut checker = Checker {
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
                if let Some(event) = event(&mut checker, *decl, index, &mut structs, &mut declared)
                {
                    if wire_names.contains_key(&event.wire_name) {
                        checker.errors.push(syn::Error::new(
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
                    checker.errors.spanned(
                        attr,
                        "the only attributes allowed on a `struct` are doc comments",
                    );
                }
                declared.push(Declared {
                    ident: decl.body.name.clone(),
                    what: format!("the struct `{}`", decl.body.name),
                });
                let def = struct_def(&mut checker, decl.body, docs, StructRole::Declared);
                structs.push(def);
            }
            Item::Enum(decl) => enum_defs.push(enum_def(&mut checker, decl, &mut declared)),
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
                checker.errors.spanned(
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
    checker.errors.finish(model)
}

fn event_span(event: &Event) -> Span {
    event.span
}

fn event(
    checker: &mut Checker<'_>,
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
    for attr in rest {
        if attr.path().is_ident("wsx") {
            let parsed = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("name") {
                    let lit: LitStr = meta.value()?.parse()?;
                    let value = lit.value();
                    if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) || value.starts_with('$') {
                        return Err(syn::Error::new_spanned(
                            &lit,
                            format!("invalid event name {:?}: an event name is non-empty, has no whitespace or control characters, and does not start with `$` (reserved for protocol events such as `$error`)", value),
                        ));
                    }
                    wire_name = value;
                    span = lit.span();
                    Ok(())
                } else {
                    Err(meta.error("unknown `wsx` option; the only one is `#[wsx(name = \"wireName\")]`"))
                }
            });
            if let Err(e) = parsed {
                checker.errors.push(e);
            }
        } else {
            checker.errors.spanned(
                attr,
                "unknown attribute on an event; the legal ones are doc comments and `#[wsx(name = \"wireName\")]`",
            );
        }
    }

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
            checker.errors.spanned(
                &kind_ident,
                format!("request without response: the request `{wire_name}` needs `-> Response`, e.g. `request {name}: Req {{ … }} -> Res {{ … }}`; for a one-way event use `send`"),
            );
        }
        (Some((arrow, _)), Kind::Send | Kind::Push) => {
            checker.errors.spanned(
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
        checker,
        payload,
        payload_role,
        payload_docs,
        structs,
        declared,
        &event_label,
    );
    let response = match response {
        Some((_, p)) if kind == Kind::Request => Some(payload_ref(
            checker,
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
    checker: &mut Checker<'_>,
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
            structs.push(struct_def(checker, body, docs, role));
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
                    checker.errors.spanned(
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
    checker: &mut Checker<'_>,
    body: StructBody,
    docs: Docs,
    role: StructRole,
) -> StructDef {
    let mut fields: Vec<Field> = Vec::new();
    let mut seen: HashMap<String, ()> = HashMap::new();
    for decl in body.fields {
        let field = checker.field(decl);
        let wire = field
            .rename
            .as_ref()
            .map(LitStr::value)
            .unwrap_or_else(|| camel_case(&field.name.to_string()));
        let rust = field.name.to_string();
        if seen.contains_key(&format!("rust:{rust}")) {
            checker.errors.spanned(
                &field.name,
                format!("duplicate field `{rust}` in `{}`", body.name),
            );
        } else if seen.contains_key(&format!("wire:{wire}")) {
            checker.errors.spanned(
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

/// serde's `rename_all = "camelCase"` for a snake_case field name.
fn camel_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.trim_start_matches("r#").chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn enum_def(checker: &mut Checker<'_>, decl: EnumDecl, declared: &mut Vec<Declared>) -> EnumDef {
    let (docs, rest) = split_docs(decl.attrs);
    for attr in rest {
        checker.errors.spanned(
            attr,
            "the only attributes allowed on an `enum` are doc comments",
        );
    }
    declared.push(Declared {
        ident: decl.name.clone(),
        what: format!("the enum `{}`", decl.name),
    });
    if decl.variants.is_empty() {
        checker.errors.spanned(
            &decl.name,
            format!("the enum `{}` needs at least one variant", decl.name),
        );
    }
    let mut variants: Vec<Variant> = Vec::new();
    let mut wire: Vec<String> = Vec::new();
    for v in decl.variants {
        let (docs, rest) = split_docs(v.attrs);
        let rename = rename_attr(rest, "variant", &mut checker.errors);
        let name = rename.as_ref().map(LitStr::value).unwrap_or_else(|| {
            let s = v.name.to_string();
            let mut c = s.chars();
            c.next()
                .map(|f| f.to_lowercase().chain(c).collect())
                .unwrap_or_default()
        });
        if wire.contains(&name) || variants.iter().any(|x| x.name == v.name) {
            checker.errors.spanned(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(pascal_case("join"), "Join");
        assert_eq!(pascal_case("sendMessage"), "SendMessage");
        assert_eq!(pascal_case("user_left"), "UserLeft");
        assert_eq!(camel_case("message_id"), "messageId");
        assert_eq!(snake_case("messageId"), "message_id");
    }
}
