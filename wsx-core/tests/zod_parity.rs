//! The generated zod module accepts exactly what the server accepts: a fixture set made
//! here (valid payloads of every constraint kind, and mutations of them) is judged by
//! the Rust validator and, in Node, by the generated zod schemas; every answer must agree.
//!
//! Needs Node and the workspace's npm packages (`scripts/ensure-node.sh` installs them).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Command;

wsx_core::define_events! {
    /// Every constraint of `define_events!`.
    pub events Parity;

    /// Join a room.
    request join: JoinRequest {
        username: String.min(1).max(5),
        room: String.default("general"),
        history: u32.min(0).max(100).default(20),
        volume: f64.min(0.0).max(1.0).default(0.5),
        notify: bool.default(true),
        status: Status.default(Online),
        tags: Vec<String>.min(0).max(3),
        color: Option<String>.one_of("red", "green", "blue"),
        code: Option<String>.pattern("^[A-Z]{3}$").min(3).max(3),
        theme: String.one_of("dark", "light").default("dark"),
        offset: i64.min(-10).max(10),
        at: Option<Point>,
        extra: std::collections::HashMap<String, u32>,
    } -> JoinResponse { success: bool, users: Vec<String>, position: Point }

    /// Fire and forget.
    send typing: Typing { room: Option<String>.max(8) }

    /// A push.
    push said: Said { text: String.min(1).max(4), seq: u64, points: Vec<Point> }

    /// A point in the unit square.
    struct Point {
        x: f64.min(0.0).max(1.0),
        y: i32.min(-5).max(5),
    }

    /// Presence.
    enum Status {
        Online,
        Away,
        #[rename = "do-not-disturb"]
        Busy,
    }
}

/// Whether the server accepts a value as a payload type.
type Judge = fn(Value) -> bool;

/// The payload types, each with a valid value and a judge (the server's decode).
fn bases() -> Vec<(&'static str, Value, Judge)> {
    fn judge<T: wsx_core::event::Payload>(v: Value) -> bool {
        wsx_core::validate::decode::<T>(v).is_ok()
    }
    vec![
        (
            "JoinRequest",
            json!({
                "username": "ann", "tags": ["a"], "offset": 0, "extra": {"k": 1},
                "color": "red", "code": "ABC", "at": {"x": 0.5, "y": 1}, "status": "Away",
            }),
            judge::<JoinRequest>,
        ),
        (
            "JoinResponse",
            json!({"success": true, "users": ["a", "b"], "position": {"x": 1, "y": -5}}),
            judge::<JoinResponse>,
        ),
        ("Typing", json!({"room": "lobby"}), judge::<Typing>),
        (
            "Said",
            json!({"text": "hi", "seq": 7, "points": [{"x": 0, "y": 0}]}),
            judge::<Said>,
        ),
        ("Point", json!({"x": 0.25, "y": 5}), judge::<Point>),
    ]
}

/// Values a field could wrongly (or rightly) hold.
fn replacements(current: &Value) -> Vec<Value> {
    let mut out = vec![
        Value::Null,
        json!(7),
        json!(-11),
        json!(101),
        json!(1.5),
        json!(-0.5),
        json!(""),
        json!("x"),
        json!("dark"),
        json!("light"),
        json!("blue"),
        json!("purple"),
        json!("ABC"),
        json!("abc"),
        json!("ABCD"),
        json!("do-not-disturb"),
        json!("Busy"),
        json!("😀😀😀😀"),
        json!("😀😀😀😀😀"),
        json!("😀😀😀😀😀😀"),
        json!("abcdefghi"),
        json!(true),
        json!([]),
        json!(["a", "b", "c", "d"]),
        json!([1]),
        json!({}),
        json!({"x": 2, "y": 0}),
        json!({"x": 0, "y": 6}),
        json!({"x": 0}),
        json!({"k": "v"}),
        json!({"k": -1}),
    ];
    if let Value::String(s) = current {
        out.push(json!(format!("{s}{s}{s}")));
    }
    out
}

/// The base values and, for each field (top level and one level down), the value with
/// the field removed and with each replacement; plus whole-value mutations.
fn fixtures() -> Vec<(String, Value, bool)> {
    let mut out = Vec::new();
    for (name, base, judge) in bases() {
        let mut values = vec![
            base.clone(),
            json!([]),
            json!(null),
            json!("text"),
            json!({}),
        ];
        let mut with_unknown = base.clone();
        with_unknown["unknownField"] = json!(1);
        values.push(with_unknown);
        if let Value::Object(obj) = &base {
            for (key, current) in obj {
                let mut removed = base.clone();
                removed.as_object_mut().unwrap().remove(key);
                values.push(removed);
                for r in replacements(current) {
                    let mut changed = base.clone();
                    changed[key] = r;
                    values.push(changed);
                }
                if let Value::Object(inner) = current {
                    for (k2, v2) in inner {
                        for r in replacements(v2) {
                            let mut changed = base.clone();
                            changed[key][k2] = r;
                            values.push(changed);
                        }
                    }
                }
            }
        }
        for v in values {
            let accepted = judge(v.clone());
            out.push((name.to_owned(), v, accepted));
        }
    }
    out
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

#[test]
fn zod_schemas_accept_exactly_what_the_server_accepts() {
    let zod = root().join("node_modules/zod/package.json");
    assert!(
        zod.exists(),
        "zod is not installed in {}: run scripts/ensure-node.sh",
        root().display()
    );
    let fixtures = fixtures();
    let accepted = fixtures.iter().filter(|f| f.2).count();
    assert!(
        accepted > 20 && fixtures.len() - accepted > 100,
        "the fixture set needs both answers: {accepted} accepted of {}",
        fixtures.len()
    );
    // Inside the workspace, so Node finds `zod` in its node_modules.
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("zod-parity");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("parity.zod.mjs"),
        wsx_core::export::zod_module::<Parity>(),
    )
    .unwrap();
    let list: Vec<Value> = fixtures
        .iter()
        .map(|(t, v, ok)| json!({"type": t, "value": v, "rust": ok}))
        .collect();
    std::fs::write(
        dir.join("fixtures.json"),
        serde_json::to_string(&list).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.join("judge.mjs"),
        r#"
import { readFileSync } from "node:fs";
import * as schemas from "./parity.zod.mjs";
const fixtures = JSON.parse(readFileSync(new URL("./fixtures.json", import.meta.url)));
const mismatches = [];
for (const f of fixtures) {
  const result = schemas[f.type].safeParse(f.value);
  if (result.success !== f.rust) {
    mismatches.push({ ...f, zod: result.success, issues: result.error?.issues });
  }
}
const events = Object.keys(schemas.events).sort().join(",");
console.log(JSON.stringify({ checked: fixtures.length, mismatches, events }));
"#,
    )
    .unwrap();
    // Node must resolve `zod` from the workspace: run it with the module's directory
    // under the workspace root (CARGO_TARGET_TMPDIR is inside target/).
    let output = Command::new("node")
        .arg(dir.join("judge.mjs"))
        .env("NODE_PATH", root().join("node_modules"))
        .output()
        .expect("node is required (scripts/ensure-node.sh)");
    assert!(
        output.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["checked"], fixtures.len());
    assert_eq!(report["events"], "join,said,typing");
    let mismatches = report["mismatches"].as_array().unwrap();
    assert!(
        mismatches.is_empty(),
        "{} of {} fixtures judged differently, e.g. {}",
        mismatches.len(),
        fixtures.len(),
        serde_json::to_string_pretty(&mismatches[..mismatches.len().min(5)]).unwrap()
    );
}
