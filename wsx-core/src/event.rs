//! Events: the typed vocabulary an application speaks.
//!
//! `define_events!` implements these traits; the server, the client and the exports only
//! ever see an event through them.

use schemars::JsonSchema;
use serde::{Serialize, de::DeserializeOwned};

/// What a payload type must be: serializable both ways, described by a JSON Schema,
/// shareable across tasks. Implemented for every such type.
pub trait Payload: Serialize + DeserializeOwned + JsonSchema + Send + Sync + 'static {}

impl<T> Payload for T where T: Serialize + DeserializeOwned + JsonSchema + Send + Sync + 'static {}

/// Which way an event travels and whether it is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Client → server, answered by exactly one response or error.
    Request,
    /// Client → server, one-way: no answer.
    Send,
    /// Server → client, one-way (a `send` frame on the wire).
    Push,
}

impl EventKind {
    /// The keyword used for this kind in `define_events!` and in exports.
    pub const fn as_str(self) -> &'static str {
        match self {
            EventKind::Request => "request",
            EventKind::Send => "send",
            EventKind::Push => "push",
        }
    }
}

/// One event of an event set: its wire name, its kind and its payload type.
///
/// For a request the payload is the request; the response type is on [`RequestEvent`].
pub trait Event: Send + Sync + 'static {
    /// The exact name on the wire (the `x` of the envelope).
    const NAME: &'static str;
    /// Which way the event travels.
    const KIND: EventKind;
    /// The payload the event carries (the request payload, for a request).
    type Payload: Payload;
}

/// An event the client sends and the server answers.
pub trait RequestEvent: Event {
    /// What a successful answer carries.
    type Response: Payload;
}

/// A one-way event from the client to the server.
pub trait SendEvent: Event {}

/// A one-way event from the server to the client.
pub trait PushEvent: Event {}

/// What an export needs to know about one event, without naming its types.
#[derive(Debug, Clone, Copy)]
pub struct EventInfo {
    /// Wire name.
    pub name: &'static str,
    /// Which way it travels.
    pub kind: EventKind,
    /// The doc comment given to the event in `define_events!` (may be empty).
    pub docs: &'static str,
    /// TypeScript name of the payload (the request, for a request).
    pub payload_ts: &'static str,
    /// TypeScript name of the response, for a request.
    pub response_ts: Option<&'static str>,
    /// JSON Schema of the payload.
    pub payload_schema: fn() -> schemars::Schema,
    /// JSON Schema of the response, for a request.
    pub response_schema: Option<fn() -> schemars::Schema>,
}

/// A whole set of events, as declared by one `define_events!`: the registry the
/// dispatcher checks handlers against and the exports walk.
pub trait EventSet: Send + Sync + 'static {
    /// The name of the set (the type name given in `define_events!`).
    const NAME: &'static str;
    /// The doc comment given to the set in `define_events!` (may be empty).
    const DOCS: &'static str = "";
    /// Every event of the set, in declaration order.
    fn events() -> &'static [EventInfo];
    /// Writes the TypeScript type of every payload into `dir`, one file per type
    /// (through ts-rs), and returns the file names written.
    fn export_typescript_types(dir: &std::path::Path) -> Result<Vec<String>, ts_rs::ExportError>;

    /// Looks up an event by wire name.
    fn event(name: &str) -> Option<&'static EventInfo> {
        Self::events().iter().find(|e| e.name == name)
    }
}
