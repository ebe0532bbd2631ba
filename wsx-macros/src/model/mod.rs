//! The checked model of a `define_events!` input, built from the syntax tree: names
//! resolved, field types classified, constraints checked. Every check pushes its error
//! into an [`Errors`] collector instead of returning at the first one, so a user sees all
//! their mistakes in one build.
//!
//! Split the way serde_derive's `internals` and thiserror are:
//!
//! | module | what it holds |
//! | --- | --- |
//! | `ast` | the model's types, and how a field's Rust type is classified |
//! | `case` | case conversion between Rust and wire names |
//! | `attr` | doc comments, `#[rename]`, `#[wsx(name)]` |
//! | `constraints` | the constraint checker (`.min`, `.max`, `.pattern`, `.one_of`, `.default`) |
//! | `lower` | lowering: syntax tree → [`Model`] |
//! | `errors` | the error collector |

mod ast;
mod attr;
mod case;
mod constraints;
mod errors;
mod lower;

pub(crate) use ast::{
    Class, Constraints, DefaultValue, Docs, EnumDef, Event, Field, Kind, Model, Number, PayloadRef,
    StructDef, StructRole, Variant, classify, last_segment,
};
pub(crate) use lower::lower;

use errors::Errors;
