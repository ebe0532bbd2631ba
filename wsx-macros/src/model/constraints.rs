//! The constraint checker: each `.min`, `.max`, `.pattern`, `.one_of` and `.default` of
//! a field, checked against the field's type and against each other.

use super::{Class, Constraints, DefaultValue, Errors, Number};
use crate::parse::ConstraintDecl;
use quote::ToTokens;
use std::collections::HashMap;
use syn::{Expr, ExprLit, ExprUnary, Ident, Lit, LitStr, Type, UnOp};

/// The legal constraints, for error messages.
const CONSTRAINTS: &str =
    "`.min(n)`, `.max(n)`, `.pattern(\"regex\")`, `.one_of(\"a\", \"b\", …)` and `.default(value)`";

/// Checks the constraints of one field.
pub(super) struct ConstraintChecker<'a> {
    pub(super) errors: &'a mut Errors,
    /// Each enum declared in the macro, with its variants (for `.default(Variant)`).
    pub(super) enums: &'a HashMap<String, Vec<(String, Ident)>>,
}

impl ConstraintChecker<'_> {
    /// The checked constraints of a field of type `ty`.
    pub(super) fn check(
        &mut self,
        ty: &Type,
        class: &Class,
        decls: Vec<ConstraintDecl>,
    ) -> Constraints {
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
                            match check_pattern(&s.value()) {
                                Ok(()) => out.pattern = Some(s.clone()),
                                Err(why) => self.errors.spanned(
                                    s,
                                    format!("`.pattern({:?})` does not compile as the JSON Schema validator compiles it ({why}); a pattern is an ECMA-262 regular expression, e.g. `.pattern(\"^[a-z][a-z0-9_-]*$\")`", s.value()),
                                ),
                            }
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
            if let Some(pattern) = &out.pattern
                && pattern_matches(&pattern.value(), &s.value()) == Some(false)
            {
                self.errors.spanned(
                    s,
                    format!(
                        "the default {:?} does not match `.pattern({:?})`",
                        s.value(),
                        pattern.value()
                    ),
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

/// Checks a `.pattern` as the JSON Schema validator (`jsonschema`) compiles it at run
/// time: the patterns it matches without a regex engine (`^literal`, `^(a|b)$`, …) are
/// taken as they are; any other is translated from ECMA-262 and compiled by
/// `fancy-regex`, its default engine. `Err` says why the validator would refuse it.
fn check_pattern(pattern: &str) -> Result<(), String> {
    if jsonschema_regex::analyze_pattern(pattern).is_some() {
        return Ok(());
    }
    let translated = jsonschema_regex::to_rust_regex(pattern)
        .map_err(|()| "not a valid ECMA-262 regular expression".to_owned())?;
    fancy_regex::Regex::new(&translated)
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Whether `s` matches `pattern` (an unanchored search, as JSON Schema's `pattern` is);
/// `None` when that cannot be decided here.
fn pattern_matches(pattern: &str, s: &str) -> Option<bool> {
    let translated = jsonschema_regex::to_rust_regex(pattern).ok()?;
    fancy_regex::Regex::new(&translated).ok()?.is_match(s).ok()
}

fn single_arg(c: &ConstraintDecl) -> Option<&Expr> {
    if c.args.len() == 1 {
        c.args.first()
    } else {
        None
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON Schema validator's own answer: does a schema with this pattern compile?
    fn validator_accepts(pattern: &str) -> bool {
        jsonschema::validator_for(&serde_json::json!({ "type": "string", "pattern": pattern }))
            .is_ok()
    }

    #[test]
    fn patterns_are_refused_exactly_when_the_validator_refuses_them() {
        let patterns = [
            "^[a-z]+$",
            "^[A-Za-z0-9][A-Za-z0-9_-]*$",
            "^abc",
            "^(get|put)$",
            r"^\S*$",
            r"\d{3}-\w+",
            r"\p{L}+",
            "(?<year>[0-9]{4})",
            "(a)\\1",
            "a(?=b)",
            "(?<!x)y",
            "[^]",
            "([a-z",
            "[a-z",
            "a{2,1}",
            "a**",
            "(?P<n>x)",
            "\\",
            ")",
            r"\k<none>",
        ];
        for pattern in patterns {
            assert_eq!(
                check_pattern(pattern).is_ok(),
                validator_accepts(pattern),
                "{pattern:?}: {:?}",
                check_pattern(pattern)
            );
        }
        assert!(check_pattern("([a-z").is_err());
    }

    #[test]
    fn a_default_is_matched_as_the_validator_matches_it() {
        assert_eq!(pattern_matches("^[a-z]+$", "lobby"), Some(true));
        assert_eq!(pattern_matches("^[a-z]+$", "Lobby"), Some(false));
        // Unanchored, as JSON Schema's `pattern` is.
        assert_eq!(pattern_matches("[0-9]", "room7"), Some(true));
        // ECMA-262 `\d` is ASCII only.
        assert_eq!(pattern_matches(r"^\d$", "٣"), Some(false));
    }
}
