//! Attributes: doc comments, `#[rename = "…"]` on fields and variants, and
//! `#[wsx(name = "…")]` on events; any other attribute is refused, naming the legal ones.

use super::{Docs, Errors};
use proc_macro2::Span;
use syn::{Attribute, Expr, ExprLit, Lit, LitStr};

/// Splits the doc comments off the other attributes.
pub(super) fn split_docs(attrs: Vec<Attribute>) -> (Docs, Vec<Attribute>) {
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
pub(super) fn rename_attr(
    attrs: Vec<Attribute>,
    what: &str,
    errors: &mut Errors,
) -> Option<LitStr> {
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

/// Reads `#[wsx(name = "wire")]` on an event into its wire name and where it was written;
/// refuses an invalid name and any other attribute.
pub(super) fn event_name_attr(
    attrs: Vec<Attribute>,
    wire_name: &mut String,
    span: &mut Span,
    errors: &mut Errors,
) {
    for attr in attrs {
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
                    *wire_name = value;
                    *span = lit.span();
                    Ok(())
                } else {
                    Err(meta.error("unknown `wsx` option; the only one is `#[wsx(name = \"wireName\")]`"))
                }
            });
            if let Err(e) = parsed {
                errors.push(e);
            }
        } else {
            errors.spanned(
                attr,
                "unknown attribute on an event; the legal ones are doc comments and `#[wsx(name = \"wireName\")]`",
            );
        }
    }
}
