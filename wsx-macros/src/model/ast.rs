//! The checked model: what `define_events!` declares, with names resolved, field types
//! classified and constraints checked. Built by [`lower`](super::lower), read by the
//! expansion and the typed check.

use proc_macro2::Span;
use syn::{Attribute, GenericArgument, Ident, LitStr, PathArguments, Type};

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
    pub(super) fn inner(&self) -> &Class {
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
