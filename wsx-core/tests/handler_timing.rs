//! `ServerConfig::handler_timing`: handler calls reach the `wsx_handler_seconds`
//! histogram of the installed recorder when it is on, and the clock is not read (nothing
//! is recorded) when it is off, the default.
//!
//! The recorder is global to the process, so this file is its own test binary with one
//! test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use serde_json::json;
use std::sync::Arc;
use std::sync::Mutex;
use wsx_core::server::ServerConfig;

/// Every histogram value recorded, with its metric's name and labels.
#[derive(Default)]
struct Recorded(Mutex<Vec<(String, f64)>>);

struct Series {
    key: String,
    into: Arc<Recorded>,
}

impl HistogramFn for Series {
    fn record(&self, value: f64) {
        self.into.0.lock().unwrap().push((self.key.clone(), value));
    }
}

struct TestRecorder(Arc<Recorded>);

impl Recorder for TestRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
        Counter::noop()
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        Histogram::from_arc(Arc::new(Series {
            key: format!("{}{{{}}}", key.name(), labels.join(",")),
            into: self.0.clone(),
        }))
    }
}

fn timed(recorded: &Recorded) -> Vec<(String, f64)> {
    recorded.0.lock().unwrap().clone()
}

#[tokio::test]
async fn handler_calls_are_timed_only_when_asked() {
    let recorded = Arc::new(Recorded::default());
    metrics::set_global_recorder(TestRecorder(recorded.clone())).unwrap();

    // The default: no clock read, nothing recorded.
    let srv = start(ServerConfig::default()).await;
    let mut ws = connect(&srv.url("")).await;
    for id in ["1", "2"] {
        let (v, _) = call(&mut ws, "echo", id, json!({"text": "untimed"})).await;
        assert_eq!(v["p"]["text"], "untimed");
    }
    assert_eq!(timed(&recorded), []);

    // On: one value per call, in seconds, labelled with the event.
    let srv = start(ServerConfig {
        handler_timing: true,
        ..ServerConfig::default()
    })
    .await;
    let mut ws = connect(&srv.url("")).await;
    for id in ["1", "2", "3"] {
        let (v, _) = call(&mut ws, "echo", id, json!({"text": "timed"})).await;
        assert_eq!(v["p"]["text"], "timed");
    }
    // A reply is queued after its handler's time is recorded.
    let values = timed(&recorded);
    assert_eq!(values.len(), 3, "{values:?}");
    for (key, seconds) in values {
        assert_eq!(key, "wsx_handler_seconds{event=echo}");
        assert!((0.0..1.0).contains(&seconds), "{seconds}");
    }
}
