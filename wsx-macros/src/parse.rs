//! Parsing: the tokens of `define_events!` into a syntax tree that still carries every span.
//!
//! Nothing is checked here beyond the grammar; meaning (names, types, constraints) is
//! checked in [`crate::model`], which can report several errors at once.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Attribute, Expr, Ident, Token, Type, Visibility, braced, parenthesized};

/// The whole input: `/// docs  pub events Name;  items…`.
pub(crate) struct Input {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) name: Ident,
    pub(crate) items: Vec<Item>,
}

/// One item of the body.
pub(crate) enum Item {
    Event(Box<EventDecl>),
    Struct(StructDecl),
    Enum(EnumDecl),
}

/// `request join: JoinRequest { … } -> JoinResponse { … }`, `push x: Path;` …
pub(crate) struct EventDecl {
    pub(crate) attrs: Vec<Attribute>,
    /// `request`, `send` or `push`.
    pub(crate) kind: Ident,
    pub(crate) name: Ident,
    pub(crate) payload: PayloadDecl,
    /// The `->` token and the response, when written.
    pub(crate) response: Option<(Token![->], PayloadDecl)>,
}

/// A payload: declared inline with its fields, or a type defined elsewhere.
pub(crate) enum PayloadDecl {
    Inline(StructBody),
    External(Type),
}

/// `Name { field: Type.constraint(…), … }`
pub(crate) struct StructBody {
    pub(crate) name: Ident,
    pub(crate) fields: Punctuated<FieldDecl, Token![,]>,
}

/// `/// docs  #[rename = "x"]  name: Type.min(1).max(2)`
pub(crate) struct FieldDecl {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) name: Ident,
    pub(crate) ty: Type,
    pub(crate) constraints: Vec<ConstraintDecl>,
}

/// `.name(arg, …)`
pub(crate) struct ConstraintDecl {
    pub(crate) name: Ident,
    pub(crate) args: Punctuated<Expr, Token![,]>,
    /// The span of the parentheses, for errors about the argument list as a whole.
    pub(crate) args_span: Span,
}

/// `/// docs  struct Name { … }`
pub(crate) struct StructDecl {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) body: StructBody,
}

/// `/// docs  enum Name { A, #[rename = "b"] B }`
pub(crate) struct EnumDecl {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) name: Ident,
    pub(crate) variants: Punctuated<VariantDecl, Token![,]>,
}

/// One unit variant of a declared enum.
pub(crate) struct VariantDecl {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) name: Ident,
}

const ITEM_KEYWORDS: &str = "`request`, `send`, `push`, `struct` or `enum`";

impl Parse for Input {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let keyword = Ident::parse_any(input).map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected `events Name;` (e.g. `pub events ChatEvents;`) first",
            )
        })?;
        if keyword != "events" {
            return Err(syn::Error::new_spanned(
                keyword,
                "expected `events Name;` first: `define_events!` starts by naming its registry type, e.g. `pub events ChatEvents;`",
            ));
        }
        let name: Ident = input.parse()?;
        input.parse::<Token![;]>()?;
        let mut items = Vec::new();
        while !input.is_empty() {
            items.push(input.parse()?);
        }
        Ok(Input {
            attrs,
            vis,
            name,
            items,
        })
    }
}

impl Parse for Item {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        if input.peek(Token![struct]) {
            input.parse::<Token![struct]>()?;
            let body = input.parse()?;
            input.parse::<Option<Token![;]>>()?;
            return Ok(Item::Struct(StructDecl { attrs, body }));
        }
        if input.peek(Token![enum]) {
            input.parse::<Token![enum]>()?;
            let name = input.parse()?;
            let content;
            braced!(content in input);
            let variants = content.parse_terminated(VariantDecl::parse, Token![,])?;
            input.parse::<Option<Token![;]>>()?;
            return Ok(Item::Enum(EnumDecl {
                attrs,
                name,
                variants,
            }));
        }
        if input.peek(Token![pub]) {
            return Err(input.error(
                "items inside `define_events!` take no visibility: every generated type gets the visibility written before `events`",
            ));
        }
        let kind = Ident::parse_any(input)
            .map_err(|e| syn::Error::new(e.span(), format!("expected an item: {ITEM_KEYWORDS}")))?;
        if kind != "request" && kind != "send" && kind != "push" {
            return Err(syn::Error::new_spanned(
                &kind,
                format!("unknown item `{kind}`; expected {ITEM_KEYWORDS}"),
            ));
        }
        let name = Ident::parse_any(input)?;
        input.parse::<Token![:]>()?;
        let payload: PayloadDecl = input.parse()?;
        let response = if input.peek(Token![->]) {
            let arrow = input.parse::<Token![->]>()?;
            Some((arrow, input.parse::<PayloadDecl>()?))
        } else {
            None
        };
        let last = response.as_ref().map(|(_, p)| p).unwrap_or(&payload);
        match last {
            // A braced payload ends the item; a `;` after it is tolerated.
            PayloadDecl::Inline(_) => {
                input.parse::<Option<Token![;]>>()?;
            }
            PayloadDecl::External(_) => {
                if !input.is_empty() {
                    input.parse::<Token![;]>().map_err(|e| {
                        syn::Error::new(
                            e.span(),
                            "expected `;`: an event whose last payload is a type defined elsewhere ends with `;`",
                        )
                    })?;
                }
            }
        }
        Ok(Item::Event(Box::new(EventDecl {
            attrs,
            kind,
            name,
            payload,
            response,
        })))
    }
}

impl Parse for PayloadDecl {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.peek(Ident) && input.peek2(syn::token::Brace) {
            return Ok(PayloadDecl::Inline(input.parse()?));
        }
        let ty: Type = input.parse()?;
        if input.peek(syn::token::Brace) {
            return Err(syn::Error::new_spanned(
                ty,
                "an inline payload is named by a plain identifier, e.g. `JoinRequest { … }`",
            ));
        }
        Ok(PayloadDecl::External(ty))
    }
}

impl Parse for StructBody {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let name = input.parse()?;
        let content;
        braced!(content in input);
        let fields = content.parse_terminated(FieldDecl::parse, Token![,])?;
        Ok(StructBody { name, fields })
    }
}

impl Parse for FieldDecl {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let name = Ident::parse_any(input)?;
        input.parse::<Token![:]>()?;
        let ty: Type = input.parse()?;
        let mut constraints = Vec::new();
        while input.peek(Token![.]) {
            input.parse::<Token![.]>()?;
            let name = Ident::parse_any(input)?;
            if !input.peek(syn::token::Paren) {
                return Err(syn::Error::new_spanned(
                    &name,
                    format!(
                        "expected `(` after `.{name}`: constraints are written like calls, e.g. `.min(1)`"
                    ),
                ));
            }
            let content;
            let paren = parenthesized!(content in input);
            let args = content.parse_terminated(Expr::parse, Token![,])?;
            constraints.push(ConstraintDecl {
                name,
                args,
                args_span: paren.span.join(),
            });
        }
        Ok(FieldDecl {
            attrs,
            name,
            ty,
            constraints,
        })
    }
}

impl Parse for VariantDecl {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let name = input.parse()?;
        Ok(VariantDecl { attrs, name })
    }
}
