//! How the load generator talks to each server: the wsx envelope in JSON text, cbor-x
//! records or CBOR maps (what a `@mdrv/wsx` client sends), Socket.IO over engine.io v4,
//! and JSON-RPC 2.0.
//!
//! Each wire builds the three requests the scenarios send (an echo, a join, a room
//! message) and reads the two things they wait for: the answer to a request (by its id)
//! and a room message's text. The bare server sends the wsx bytes back as they came, so
//! against it the load generator reads its own requests: the same work as against wsx.
//!
//! | wire | requests | answers | room messages |
//! | --- | --- | --- | --- |
//! | [`Wire::Json`] | `{"v":"1.0","t":"request","x":…,"id":"…","w":0,"p":{…}}` text | same `id`, `t` not `response_error` | `p.message` |
//! | [`Wire::CborRecords`], [`Wire::CborMaps`] | the same envelope, binary | the same | the same |
//! | [`Wire::SocketIo`] | `42<id>["echo",{…}]` after the `40` connect | `43<id>[…]` | `42["message",{"message":…}]` |
//! | [`Wire::JsonRpc`] | `{"jsonrpc":"2.0","id":"…","method":…,"params":{…}}` | same `id`, no `error` | a notification's `params.result.message` |
//!
//! Texts the benchmarks send are plain ASCII words and digits: nothing to escape.

use crate::StringField;
use tokio_tungstenite::tungstenite::Message;

/// A way of speaking to a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Wire {
    /// The wsx envelope as JSON text.
    Json,
    /// The wsx envelope as CBOR with cbor-x records (the TypeScript client's default).
    CborRecords,
    /// The wsx envelope as CBOR with standard maps.
    CborMaps,
    /// Socket.IO v5 over an engine.io v4 WebSocket, events with acknowledgements.
    SocketIo,
    /// JSON-RPC 2.0 over WebSocket, as jsonrpsee serves it.
    JsonRpc,
}

impl Wire {
    /// The three forms of the wsx envelope.
    pub const WSX: [Wire; 3] = [Wire::Json, Wire::CborRecords, Wire::CborMaps];

    /// A short name for the report.
    pub const fn name(self) -> &'static str {
        match self {
            Wire::Json => "json",
            Wire::CborRecords => "cbor-records",
            Wire::CborMaps => "cbor-maps",
            Wire::SocketIo => "socketio",
            Wire::JsonRpc => "jsonrpc",
        }
    }

    /// What to send right after the WebSocket handshake (Socket.IO's connect to the
    /// default namespace).
    pub fn hello(self) -> Option<Message> {
        match self {
            Wire::SocketIo => Some(Message::text("40")),
            _ => None,
        }
    }

    /// The answer to a keep-alive ping that travels as a message (Socket.IO's `2` is
    /// answered with `3`); `None` for any other message.
    pub fn pong(self, msg: &Message) -> Option<Message> {
        match (self, msg) {
            (Wire::SocketIo, Message::Text(t)) if t.as_str() == "2" => Some(Message::text("3")),
            _ => None,
        }
    }

    /// Whether `msg` is the server's answer to [`Wire::hello`] (Socket.IO's `40{…}`).
    pub fn is_welcome(self, msg: &Message) -> bool {
        matches!((self, msg), (Wire::SocketIo, Message::Text(t)) if t.starts_with("40"))
    }

    /// A request's id on this wire, from a number: Socket.IO's acknowledgement ids are
    /// numbers, the others' are strings and carry a prefix (`j` for joins, `s` for room
    /// messages) so that a reader can tell them apart.
    pub fn id(self, prefix: &str, n: u64) -> String {
        match self {
            Wire::SocketIo => n.to_string(),
            _ => format!("{prefix}{n}"),
        }
    }

    /// The `echo` request carrying `text`.
    pub fn echo(self, id: &str, text: &str) -> Message {
        self.request("echo", id, &[("text", text)])
    }

    /// Joining `room` (the chat's `join`, Socket.IO's `join` event, jsonrpsee's
    /// `subscribe_room`).
    pub fn join(self, id: &str, username: &str, room: &str) -> Message {
        match self {
            Wire::JsonRpc => Message::text(format!(
                r#"{{"jsonrpc":"2.0","id":"{id}","method":"subscribe_room","params":{{"room":"{room}"}}}}"#
            )),
            _ => self.request("join", id, &[("username", username), ("room", room)]),
        }
    }

    /// A message to the room the connection joined (`room` is named only where the wire
    /// has no joined room: JSON-RPC's `send`).
    pub fn send(self, id: &str, room: &str, message: &str) -> Message {
        match self {
            Wire::JsonRpc => Message::text(format!(
                r#"{{"jsonrpc":"2.0","id":"{id}","method":"send","params":{{"room":"{room}","message":"{message}"}}}}"#
            )),
            Wire::SocketIo => Message::text(format!(
                r#"42{id}["send",{{"room":"{room}","message":"{message}"}}]"#
            )),
            _ => self.request("sendMessage", id, &[("message", message)]),
        }
    }

    fn request(self, event: &str, id: &str, payload: &[(&str, &str)]) -> Message {
        match self {
            Wire::Json => {
                let p = json_fields(payload);
                Message::text(format!(
                    r#"{{"v":"1.0","t":"request","x":"{event}","id":"{id}","w":0,"p":{{{p}}}}}"#
                ))
            }
            Wire::CborRecords | Wire::CborMaps => Message::binary(crate::cbor::request(
                self == Wire::CborRecords,
                event,
                id,
                payload,
            )),
            Wire::SocketIo => {
                let p = json_fields(payload);
                Message::text(format!(r#"42{id}["{event}",{{{p}}}]"#))
            }
            Wire::JsonRpc => {
                let p = json_fields(payload);
                Message::text(format!(
                    r#"{{"jsonrpc":"2.0","id":"{id}","method":"{event}","params":{{{p}}}}}"#
                ))
            }
        }
    }

    /// A reader of this wire's messages; make one per connection.
    pub fn reader(self) -> Reader {
        Reader {
            wire: self,
            id: StringField::new("id"),
            t: StringField::new("t"),
            message: StringField::new("message"),
        }
    }
}

/// `"k1":"v1","k2":"v2"`: the members of a JSON object of text fields.
fn json_fields(payload: &[(&str, &str)]) -> String {
    let mut p = String::with_capacity(64);
    for (i, (key, value)) in payload.iter().enumerate() {
        if i > 0 {
            p.push(',');
        }
        p.push('"');
        p.push_str(key);
        p.push_str("\":\"");
        p.push_str(value);
        p.push('"');
    }
    p
}

/// An answer to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer<'a> {
    /// The request's id.
    pub id: &'a str,
    /// Whether the server answered with an error.
    pub error: bool,
}

/// Reads one wire's messages, with its field lookups prepared once.
#[derive(Debug, Clone)]
pub struct Reader {
    wire: Wire,
    id: StringField,
    t: StringField,
    message: StringField,
}

impl Reader {
    /// The answer this message carries, if it is one.
    pub fn answer<'a>(&self, msg: &'a Message) -> Option<Answer<'a>> {
        match (self.wire, msg) {
            (Wire::Json, Message::Text(body)) => Some(Answer {
                id: self.id.find(body)?,
                error: self.t.find(body) == Some("response_error"),
            }),
            (Wire::CborRecords | Wire::CborMaps, Message::Binary(bytes)) => {
                let fields = crate::cbor::read(bytes, None)?;
                Some(Answer {
                    id: fields.id?,
                    error: fields.t == Some("response_error"),
                })
            }
            (Wire::SocketIo, Message::Text(body)) => {
                let rest = body.strip_prefix("43")?;
                let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
                (digits > 0).then(|| Answer {
                    id: &rest[..digits],
                    error: false,
                })
            }
            (Wire::JsonRpc, Message::Text(body)) => Some(Answer {
                id: self.id.find(body)?,
                error: body.contains("\"error\":"),
            }),
            _ => None,
        }
    }

    /// The text of the room message this message delivers, if it is one.
    pub fn delivery<'a>(&self, msg: &'a Message) -> Option<&'a str> {
        match (self.wire, msg) {
            (Wire::CborRecords | Wire::CborMaps, Message::Binary(bytes)) => {
                crate::cbor::read(bytes, Some("message"))?.inner
            }
            (Wire::CborRecords | Wire::CborMaps, _) => None,
            (_, Message::Text(body)) => self.message.find(body),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(msg: &Message) -> &str {
        msg.to_text().unwrap()
    }

    #[test]
    fn json_requests_are_the_wsx_envelope() {
        let msg = Wire::Json.echo("5", "abc");
        assert_eq!(
            text(&msg),
            r#"{"v":"1.0","t":"request","x":"echo","id":"5","w":0,"p":{"text":"abc"}}"#
        );
        let join = Wire::Json.join("j3", "bench3", "r");
        assert_eq!(
            text(&join),
            r#"{"v":"1.0","t":"request","x":"join","id":"j3","w":0,"p":{"username":"bench3","room":"r"}}"#
        );
        let value = wsx_core::codec::Codec::JsonText
            .decode_value(text(&join).as_bytes())
            .unwrap();
        assert_eq!(value["p"]["room"], "r");
    }

    #[test]
    fn every_wire_reads_its_own_echo_as_an_answer() {
        // What the bare server does: the request comes back as it went.
        for wire in Wire::WSX.into_iter().chain([Wire::JsonRpc]) {
            let reader = wire.reader();
            let msg = wire.echo(&wire.id("", 17), "abc");
            assert_eq!(
                reader.answer(&msg),
                Some(Answer {
                    id: "17",
                    error: false
                }),
                "{wire:?}"
            );
            let sent = wire.send(&wire.id("s", 4), "room", "bench 4 99");
            assert_eq!(reader.delivery(&sent), Some("bench 4 99"), "{wire:?}");
        }
    }

    #[test]
    fn socket_io_packets() {
        let wire = Wire::SocketIo;
        assert_eq!(
            text(&wire.echo("12", "abc")),
            r#"4212["echo",{"text":"abc"}]"#
        );
        assert_eq!(
            text(&wire.send("3", "r", "bench 3 1")),
            r#"423["send",{"room":"r","message":"bench 3 1"}]"#
        );
        let reader = wire.reader();
        let ack = Message::text(r#"4312[{"text":"abc"}]"#);
        assert_eq!(
            reader.answer(&ack),
            Some(Answer {
                id: "12",
                error: false
            })
        );
        let welcome = Message::text("40{\"sid\":\"x\"}");
        assert_eq!(reader.answer(&welcome), None);
        assert!(wire.is_welcome(&welcome) && !Wire::Json.is_welcome(&welcome));
        assert_eq!(wire.pong(&Message::text("2")), Some(Message::text("3")));
        assert_eq!(wire.pong(&ack), None);
        assert_eq!(Wire::Json.pong(&Message::text("2")), None);
        let push = Message::text(r#"42["message",{"message":"bench 1 2"}]"#);
        assert_eq!(reader.delivery(&push), Some("bench 1 2"));
    }

    #[test]
    fn json_rpc_answers_and_notifications() {
        let reader = Wire::JsonRpc.reader();
        let ok = Message::text(r#"{"jsonrpc":"2.0","id":"9","result":{"text":"abc"}}"#);
        let err = Message::text(
            r#"{"jsonrpc":"2.0","id":"9","error":{"code":-32601,"message":"Method not found"}}"#,
        );
        assert_eq!(reader.answer(&ok).map(|a| a.error), Some(false));
        assert_eq!(reader.answer(&err).map(|a| a.error), Some(true));
        let note = Message::text(
            r#"{"jsonrpc":"2.0","method":"room_message","params":{"subscription":"a1","result":{"message":"bench 2 5"}}}"#,
        );
        assert_eq!(reader.delivery(&note), Some("bench 2 5"));
    }
}
