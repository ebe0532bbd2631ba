//! wsx: typed events over WebSocket.
//!
//! One `define_events!` declaration gives an app's events as Rust types, their JSON
//! Schema, runtime validation and TypeScript bindings; [`server`] maps them to async
//! handlers on axum, and the `wsx-client` crate calls them from Rust.
//!
//! ```
//! use wsx_core::server::{Conn, HandlerError, ServerBuilder};
//!
//! wsx_core::define_events! {
//!     /// The events of a tiny chat.
//!     pub events ChatEvents;
//!     /// Join a room.
//!     request join: JoinRequest {
//!         username: String.min(1).max(20),
//!         room: String.default("general"),
//!     } -> JoinResponse { users: Vec<String> }
//!     /// Someone joined.
//!     push userJoined: UserJoined { username: String }
//! }
//!
//! async fn join(conn: Conn<()>, req: JoinRequest) -> Result<JoinResponse, HandlerError> {
//!     conn.join(&req.room)?;
//!     conn.others_in(&req.room).push::<UserJoined>(UserJoined { username: req.username.clone() })?;
//!     Ok(JoinResponse { users: vec![req.username] })
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = ServerBuilder::<(), ()>::new(()).on_request::<Join, _, _>(join).build()?;
//! // Mount it: `axum::Router::new().route("/ws", server.route())`. Or drive it in-process:
//! let mut alice = server.test_client().await.map_err(|r| r.message)?;
//! let mut bob = server.test_client().await.map_err(|r| r.message)?;
//! alice.request::<Join>(JoinRequest { username: "alice".into(), room: "general".into() }).await?;
//! let joined = bob.request::<Join>(JoinRequest { username: "bob".into(), room: "general".into() }).await?;
//! assert_eq!(joined.users, ["bob"]);
//! assert_eq!(alice.next_push_of::<UserJoined>().await?.username, "bob");
//!
//! // A payload that breaks the declaration never reaches the handler: every failing
//! // field comes back with its path.
//! let refused = bob.request_raw("join", serde_json::json!({ "username": "" })).await.unwrap_err();
//! assert_eq!(refused.fields()[0].path, "/username");
//! # Ok(()) }
//! ```
//!
//! # Features
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `server` | on | the axum server ([`server`]): without it, a client-only program builds the wire types, codecs, validation and exports without axum |
//!
//! # Layout
//! | module | what it holds |
//! | --- | --- |
//! | [`protocol`] | the envelope of `PROTOCOL.md` |
//! | [`codec`] | JSON text/binary, CBOR maps and cbor-x records |
//! | [`event`] | the traits `define_events!` implements |
//! | [`validate`] | JSON Schema validation, compiled once per type |
//! | [`typed`] | the typed fast path: payloads decoded as their schema reads them |
//! | [`error`] | error codes and the wire error |
//! | [`server`] | the axum dispatcher, rooms, limits, shutdown |
#![doc(html_root_url = "https://docs.rs/wsx-core/0.1.0")]

pub mod codec;
pub mod error;
pub mod event;
pub mod export;
pub mod protocol;
#[cfg(feature = "server")]
pub mod server;
pub mod typed;
pub mod validate;

#[doc(inline)]
pub use wsx_macros::define_events;

#[doc(inline)]
pub use codec::Codec;
#[doc(inline)]
pub use error::{ErrorCode, FieldError, WireError};
#[doc(inline)]
pub use event::{Event, EventKind, EventSet, PushEvent, RequestEvent, SendEvent};

/// The README's example, compiled as a doc test.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

#[doc(hidden)]
pub mod __private {
    pub use crate::validate::Pattern;
    pub use schemars;
    pub use serde;
    pub use serde_json;
    pub use ts_rs;

    #[cfg(feature = "server")]
    use crate::protocol::Frame;
    #[cfg(feature = "server")]
    use serde_json::Value;

    /// The frame the server reads from a JSON message (`text`, or binary), as an owned
    /// [`Frame`] with its payload parsed, for the fuzz target that holds it to
    /// [`Codec::decode`](crate::Codec::decode). `None` where the server refuses the
    /// frame; `Some(Err)` where it refuses the payload (not one value a
    /// `serde_json::Value` holds). `e` is not read (`None`): no handler sees it.
    #[cfg(feature = "server")]
    pub fn borrowed_json_frame(bytes: &[u8], text: bool) -> Option<Result<Frame, String>> {
        use crate::codec::json_read;
        let frame = if text {
            json_read::decode_str(std::str::from_utf8(bytes).ok()?).ok()?
        } else {
            json_read::decode_slice(bytes).ok()?
        };
        owned_frame(frame)
    }

    /// The frames the server reads from a CBOR message, for the fuzz target that holds
    /// its two reads to each other and to [`Codec::decode`](crate::Codec::decode): by
    /// the envelope read (`transcode_envelope`: the envelope from the bytes, only the
    /// payload transcoded), and by the whole message transcoded and read as JSON; each
    /// as [`borrowed_json_frame`] gives a frame, `None` where that read gives up.
    #[cfg(feature = "server")]
    pub fn borrowed_cbor_frames(bytes: &[u8]) -> [Option<Result<Frame, String>>; 2] {
        use crate::codec::{cbor_json, json_read};
        let mut payload = String::new();
        let envelope = cbor_json::transcode_envelope(bytes, &mut payload)
            .and_then(|envelope| owned_frame(envelope.into_frame(&payload)));
        let mut text = String::new();
        let whole = cbor_json::transcode(bytes, &mut text)
            .then(|| json_read::decode_str(&text).ok())
            .flatten()
            .and_then(owned_frame);
        [envelope, whole]
    }

    /// A borrowed frame, once it passes the envelope checks, as an owned [`Frame`] with
    /// its payload parsed (`Err` where no `serde_json::Value` holds it).
    #[cfg(feature = "server")]
    fn owned_frame(frame: crate::codec::json_read::JsonFrame<'_>) -> Option<Result<Frame, String>> {
        let (t, _) = frame.parts().check().ok()?;
        let p = match frame.p.map(serde_json::from_str::<Value>) {
            Some(Ok(value)) => Some(value),
            Some(Err(e)) => return Some(Err(e.to_string())),
            None => None,
        };
        Some(Ok(Frame {
            t,
            x: frame
                .x
                .map(std::borrow::Cow::into_owned)
                .unwrap_or_default(),
            id: frame.id.map(std::borrow::Cow::into_owned),
            w: frame.w,
            p: p.filter(|p| !p.is_null()),
            e: None,
        }))
    }

    /// Reads a JSON frame as the server does (`canonical_scan`), or with the canonical
    /// scan skipped (serde alone), for the micro-benchmark that shows whether the scan
    /// pays: whether the frame was read.
    #[cfg(feature = "server")]
    pub fn read_json_frame(text: &str, canonical_scan: bool) -> bool {
        crate::codec::json_read::read_for_bench(text, canonical_scan)
    }
}
