//! The zod module of an event set: runtime validators for TypeScript clients, generated
//! from the same JSON Schema the server validates with, so the two cannot drift.
//!
//! The module's `events` export is the object `createClient(url, events)` of the
//! TypeScript wsx client takes: `{ request, response }` for a request, `{ request }` for
//! a one-way event or a push. Every payload type is exported as a zod schema of its own
//! name. The file is plain ECMAScript as well as TypeScript (no type annotations), so
//! Node runs it as it is.
//!
//! What JSON Schema says and what zod checks:
//!
//! | JSON Schema | zod |
//! | --- | --- |
//! | `minLength` / `maxLength` | a `refine` counting characters (code points, as JSON Schema and the server do; zod's `.min` counts UTF-16 units) |
//! | `pattern` | `.regex(new RegExp(pattern, "u"))` |
//! | `minimum`, `maximum`, `exclusive…` | `.min`, `.max`, `.gt`, `.lt` |
//! | `type: integer` | `.int()` (a JavaScript number: 64-bit integers are exact up to 2^53) |
//! | `enum`, `oneOf` of `const`s | `z.enum([…])` or a union of literals |
//! | `anyOf [T, null]`, `type: [T, "null"]` | `T.nullable()` |
//! | a property not in `required` | `.optional()`, or `.default(v)` when the schema has one |
//! | `additionalProperties: false` | `z.strictObject` (else unknown keys are accepted, as the schema does) |
//! | `$ref` | the referenced schema's constant |

use super::{GENERATED, jsdoc, ts_key};
use crate::event::EventSet;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// The zod module of `S` (`<set>.zod.ts` in `bindings/`).
///
/// ```
/// wsx_core::define_events! {
///     /// Greetings.
///     pub events Greetings;
///     /// Say hello.
///     request hello: HelloRequest { name: String.min(1).max(20) } -> Welcome { text: String }
///     /// Someone arrived.
///     push arrived: Arrived { name: String }
/// }
///
/// let module = wsx_core::export::zod_module::<Greetings>();
/// assert!(module.contains("import { z } from \"zod\";"));
/// assert!(module.contains("hello: { request: HelloRequest, response: Welcome },"));
/// assert!(module.contains("arrived: { request: Arrived },"));
/// assert!(module.contains("[...s].length >= 1"));
/// ```
pub fn zod_module<S: EventSet>() -> String {
    let defs = super::collect_schemas::<S>();
    let mut out = format!("// {GENERATED}\n");
    out.push_str("//\n// Runtime validators of every payload, and the `events` object of the TypeScript\n// wsx client (`createClient(url, events)`). Needs the `zod` package (version 4).\n");
    out.push_str("import { z } from \"zod\";\n\n");
    let order = dependency_order(&defs);
    let mut emitted = BTreeSet::new();
    for name in &order {
        let Some(schema) = defs.get(name.as_str()) else {
            continue;
        };
        let docs = schema
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default();
        out.push_str(&jsdoc(docs, ""));
        let zod = Zod {
            defs: &defs,
            emitted: &emitted,
        };
        let _ = writeln!(out, "export const {name} = {};\n", zod.schema(schema));
        emitted.insert(name.clone());
    }
    out.push_str(&jsdoc(
        &format!("The events of `{}`, as `createClient` takes them.", S::NAME),
        "",
    ));
    out.push_str("export const events = {\n");
    for e in S::events() {
        out.push_str(&jsdoc(e.docs, "  "));
        match e.response_ts {
            Some(response) => {
                let _ = writeln!(
                    out,
                    "  {}: {{ request: {}, response: {response} }},",
                    ts_key(e.name),
                    e.payload_ts
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "  {}: {{ request: {} }},",
                    ts_key(e.name),
                    e.payload_ts
                );
            }
        }
    }
    out.push_str("};\n");
    out
}

/// The names of `defs` with every referenced schema before its users (names in a cycle
/// keep their order; their back references become `z.lazy`).
fn dependency_order(defs: &Map<String, Value>) -> Vec<String> {
    fn refs(value: &Value, into: &mut BTreeSet<String>) {
        match value {
            Value::Object(obj) => {
                for (k, v) in obj {
                    match (k.as_str(), v) {
                        ("$ref", Value::String(r)) => {
                            if let Some(name) = r.strip_prefix("#/$defs/") {
                                into.insert(name.to_owned());
                            }
                        }
                        _ => refs(v, into),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, into)),
            _ => {}
        }
    }
    fn visit(
        name: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, bool>,
        order: &mut Vec<String>,
    ) {
        if state.contains_key(name) {
            return;
        }
        state.insert(name.to_owned(), false);
        if let Some(deps) = graph.get(name) {
            for dep in deps {
                visit(dep, graph, state, order);
            }
        }
        state.insert(name.to_owned(), true);
        order.push(name.to_owned());
    }
    let graph: BTreeMap<String, BTreeSet<String>> = defs
        .iter()
        .map(|(name, schema)| {
            let mut deps = BTreeSet::new();
            refs(schema, &mut deps);
            deps.retain(|d| defs.contains_key(d));
            (name.clone(), deps)
        })
        .collect();
    let mut state = BTreeMap::new();
    let mut order = Vec::new();
    for name in graph.keys() {
        visit(name, &graph, &mut state, &mut order);
    }
    order
}

/// Writes zod expressions for the schemas of one set.
struct Zod<'a> {
    defs: &'a Map<String, Value>,
    /// Constants already declared: a reference to any other is a cycle (`z.lazy`).
    emitted: &'a BTreeSet<String>,
}

impl Zod<'_> {
    fn schema(&self, schema: &Value) -> String {
        let Value::Object(obj) = schema else {
            // `true` (anything) or `false` (nothing).
            return if schema == &Value::Bool(false) {
                "z.never()".into()
            } else {
                "z.unknown()".into()
            };
        };
        if let Some(Value::String(r)) = obj.get("$ref") {
            let name = r.strip_prefix("#/$defs/").unwrap_or(r);
            return if self.emitted.contains(name) || !self.defs.contains_key(name) {
                name.to_owned()
            } else {
                format!("z.lazy(() => {name})")
            };
        }
        if let Some(Value::Array(options)) = obj.get("enum") {
            return literals(options);
        }
        if let Some(value) = obj.get("const") {
            return format!("z.literal({value})");
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(Value::Array(branches)) = obj.get(key) {
                return self.union(branches);
            }
        }
        match obj.get("type") {
            Some(Value::String(t)) => self.typed(t, obj),
            Some(Value::Array(types)) => {
                let names: Vec<&str> = types.iter().filter_map(Value::as_str).collect();
                let nullable = names.contains(&"null");
                let others: Vec<&str> = names.iter().copied().filter(|t| *t != "null").collect();
                let base = match others.as_slice() {
                    [] => "z.null()".to_owned(),
                    [one] => self.typed(one, obj),
                    many => format!(
                        "z.union([{}])",
                        many.iter()
                            .map(|t| self.typed(t, obj))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                if nullable && !others.is_empty() {
                    format!("{base}.nullable()")
                } else {
                    base
                }
            }
            _ => "z.unknown()".into(),
        }
    }

    /// `anyOf` / `oneOf`: `T | null` as `.nullable()`, constants as an enum.
    fn union(&self, branches: &[Value]) -> String {
        let is_null = |b: &Value| b.get("type") == Some(&Value::String("null".into()));
        let others: Vec<&Value> = branches.iter().filter(|b| !is_null(b)).collect();
        let nullable = others.len() < branches.len();
        let consts: Option<Vec<Value>> = others.iter().map(|b| b.get("const").cloned()).collect();
        let base = match (others.as_slice(), consts) {
            ([], _) => return "z.null()".into(),
            ([one], _) => self.schema(one),
            (_, Some(values)) => literals(&values),
            (many, None) => format!(
                "z.union([{}])",
                many.iter()
                    .map(|b| self.schema(b))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        if nullable {
            format!("{base}.nullable()")
        } else {
            base
        }
    }

    fn typed(&self, t: &str, obj: &Map<String, Value>) -> String {
        let num = |k: &str| obj.get(k).filter(|v| v.is_number()).map(Value::to_string);
        match t {
            "string" => {
                let mut s = "z.string()".to_owned();
                if let Some(min) = obj.get("minLength").and_then(Value::as_u64) {
                    let _ = write!(
                        s,
                        ".refine((s) => [...s].length >= {min}, \"must be at least {min} character{}\")",
                        plural(min)
                    );
                }
                if let Some(max) = obj.get("maxLength").and_then(Value::as_u64) {
                    let _ = write!(
                        s,
                        ".refine((s) => [...s].length <= {max}, \"must be at most {max} character{}\")",
                        plural(max)
                    );
                }
                if let Some(Value::String(pattern)) = obj.get("pattern") {
                    let _ = write!(
                        s,
                        ".regex(new RegExp({}, \"u\"))",
                        Value::from(pattern.as_str())
                    );
                }
                s
            }
            "integer" | "number" => {
                let mut s = if t == "integer" {
                    "z.number().int()".to_owned()
                } else {
                    "z.number()".to_owned()
                };
                for (key, method) in [
                    ("minimum", "min"),
                    ("maximum", "max"),
                    ("exclusiveMinimum", "gt"),
                    ("exclusiveMaximum", "lt"),
                ] {
                    if let Some(n) = num(key) {
                        let _ = write!(s, ".{method}({n})");
                    }
                }
                if let Some(n) = num("multipleOf") {
                    let _ = write!(s, ".multipleOf({n})");
                }
                s
            }
            "boolean" => "z.boolean()".into(),
            "null" => "z.null()".into(),
            "array" => {
                let item = obj
                    .get("items")
                    .map(|i| self.schema(i))
                    .unwrap_or_else(|| "z.unknown()".into());
                let mut s = format!("z.array({item})");
                if let Some(min) = obj.get("minItems").and_then(Value::as_u64) {
                    let _ = write!(s, ".min({min})");
                }
                if let Some(max) = obj.get("maxItems").and_then(Value::as_u64) {
                    let _ = write!(s, ".max({max})");
                }
                s
            }
            "object" => self.object(obj),
            _ => "z.unknown()".into(),
        }
    }

    fn object(&self, obj: &Map<String, Value>) -> String {
        let required: BTreeSet<&str> = obj
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let extra = obj.get("additionalProperties");
        let Some(Value::Object(props)) = obj.get("properties") else {
            return match extra {
                Some(Value::Bool(false)) => "z.strictObject({})".into(),
                Some(schema @ Value::Object(_)) => {
                    format!("z.record(z.string(), {})", self.schema(schema))
                }
                _ => "z.looseObject({})".into(),
            };
        };
        let mut fields = Vec::new();
        for (key, schema) in props {
            let mut field = self.schema(schema);
            if !required.contains(key.as_str()) {
                match schema.get("default") {
                    Some(default) => {
                        let _ = write!(field, ".default({default})");
                    }
                    None => field.push_str(".optional()"),
                }
            }
            fields.push(format!("{}: {field}", ts_key(key)));
        }
        let shape = format!("{{ {} }}", fields.join(", "));
        match extra {
            Some(Value::Bool(false)) => format!("z.strictObject({shape})"),
            Some(schema @ Value::Object(_)) => {
                format!("z.object({shape}).catchall({})", self.schema(schema))
            }
            _ => format!("z.object({shape})"),
        }
    }
}

/// `z.enum` for strings, a union of literals otherwise.
fn literals(values: &[Value]) -> String {
    if values.iter().all(Value::is_string) {
        let list: Vec<String> = values.iter().map(Value::to_string).collect();
        return format!("z.enum([{}])", list.join(", "));
    }
    match values {
        [one] => format!("z.literal({one})"),
        _ => format!(
            "z.union([{}])",
            values
                .iter()
                .map(|v| format!("z.literal({v})"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}
