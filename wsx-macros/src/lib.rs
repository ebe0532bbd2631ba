//! The `define_events!` macro of wsx. Use it through `wsx_core::define_events!`: the
//! generated code names only `::wsx_core`, so `wsx-core` is the one dependency you need.
//!
//! # Layout
//! - `parse`: tokens → syntax tree (grammar only).
//! - `model`: syntax tree → checked model (names, types, constraints); reports every
//!   error at once. Its types (`ast`), case conversion (`case`), attributes (`attr`),
//!   the constraint checker (`constraints`) and the lowering itself (`lower`).
//! - `expand`: model → Rust items.
//! - `typed_check`: model → the typed check of each payload (its constraints on the
//!   decoded value), which lets the server skip the JSON Schema validator for valid
//!   payloads.
//!
//! See [`define_events!`] for the syntax.

mod expand;
mod model;
mod parse;
mod typed_check;

use proc_macro::TokenStream;

/// Declares a set of typed events: their payload types, one type per event, and the
/// registry that the server, the client and the exports walk.
///
/// ```
/// wsx_core::define_events! {
///     /// The events of the chat.
///     pub events ChatEvents;
///
///     /// Join a chat room.
///     request join: JoinRequest {
///         /// The name others see.
///         username: String.min(1).max(50),
///         room: String.default("general"),
///     } -> JoinResponse {
///         success: bool,
///         users: Vec<String>,
///     }
///
///     /// A message, sent to everyone in the room.
///     push message: ChatMessage { message_id: String, text: String, timestamp: u64 }
///
///     /// The user is typing.
///     send typing: Typing { room: Option<String>, mood: Option<Mood> }
///
///     /// How a user feels.
///     enum Mood { Happy, #[rename = "so-so"] SoSo }
/// }
///
/// use wsx_core::event::{Event, EventKind, EventSet, RequestEvent};
///
/// // `join` is a request: a marker type `Join` ties the request to its response.
/// assert_eq!(<Join as Event>::NAME, "join");
/// let _: <Join as RequestEvent>::Response = JoinResponse { success: true, users: vec![] };
/// // A push with an inline payload is its own event type.
/// assert_eq!(<ChatMessage as Event>::KIND, EventKind::Push);
/// // Fields are camelCase on the wire; defaults apply when a field is absent.
/// let join: JoinRequest = wsx_core::validate::decode(serde_json::json!({ "username": "ann" })).unwrap();
/// assert_eq!(join.room, "general");
/// let json = serde_json::to_string(&ChatMessage { message_id: "1".into(), text: "hi".into(), timestamp: 7 }).unwrap();
/// assert_eq!(json, r#"{"messageId":"1","text":"hi","timestamp":7}"#);
/// assert_eq!(ChatEvents::events().len(), 3);
/// ```
///
/// # Grammar
/// ```text
/// define_events! {
///     /// docs of the set
///     VIS events SetName;          // the registry type; VIS applies to every generated item
///     ITEM*
/// }
/// ITEM    := DOCS [#[wsx(name = "wire")]] KIND ident ':' PAYLOAD ['->' PAYLOAD]
///          | DOCS struct Name { FIELD,* }
///          | DOCS enum Name { [DOCS] [#[rename = "wire"]] Variant,* }
/// KIND    := request | send | push
/// PAYLOAD := Name { FIELD,* }      // declared here
///          | path::to::Type        // defined elsewhere; an event ending so needs a `;`
/// FIELD   := DOCS [#[rename = "wire"]] snake_name ':' Type CONSTRAINT*
/// CONSTRAINT := .min(n) | .max(n) | .pattern("regex") | .one_of("a", "b", …) | .default(literal)
/// ```
///
/// # Events
/// - **Kinds**: `request` (client → server, answered: needs `-> Response`), `send`
///   (client → server, one-way), `push` (server → client, one-way).
/// - **Wire name**: the identifier exactly as written (`sendMessage`);
///   `#[wsx(name = "…")]` overrides it. A wire name is non-empty, has no whitespace or
///   control characters, and does not start with `$` (reserved for protocol events such
///   as `$error`).
/// - **Event types**: a `request` gets a unit marker struct named in PascalCase
///   (`sendMessage` → `SendMessage`) implementing `Event` (`Payload` = the request) and
///   `RequestEvent` (`Response`). A `push`/`send` with an inline payload makes the payload
///   struct itself the event (`type Payload = Self`), so `push::<UserJoined>(UserJoined
///   { … })` reads naturally (see the example below); with an external payload it gets a
///   PascalCase marker. Every generated type needs its own name: a payload named like a
///   marker is an error.
/// - **Docs**: the event's doc comment is the marker's rustdoc and `EventInfo::docs`
///   (JSDoc of the event maps in `index.ts`, descriptions in the JSON Schema and AsyncAPI
///   exports). A push/send inline payload carries the event docs itself; request and
///   response structs get "The request of `join`: …" / "The response to `join`: …".
///
/// A handler answers a request and pushes an event to a room; `push` takes the payload
/// by value:
///
/// ```
/// wsx_core::define_events! {
///     pub events Chat;
///
///     request join: JoinRequest { username: String.min(1), room: String.default("general") }
///         -> JoinResponse { ok: bool }
///
///     push userJoined: UserJoined { username: String, room: String }
/// }
///
/// use wsx_core::server::{Conn, HandlerError, ServerBuilder};
///
/// async fn join(conn: Conn<()>, req: JoinRequest) -> Result<JoinResponse, HandlerError> {
///     conn.join(&req.room)?;
///     let joined = UserJoined { username: req.username, room: req.room.clone() };
///     conn.to(&req.room).push::<UserJoined>(joined)?;
///     Ok(JoinResponse { ok: true })
/// }
///
/// let server = ServerBuilder::<(), ()>::new(()).on_request::<Join, _, _>(join).build();
/// assert!(server.is_ok());
/// ```
///
/// # Payload types and fields
/// - Generated structs derive `Debug, Clone, PartialEq, Serialize, Deserialize,
///   JsonSchema, TS`; enums additionally `Copy, Eq, Hash`. Unknown fields of an incoming
///   payload are ignored (like zod's default `strip`).
/// - Field names are snake_case in Rust and camelCase on the wire (`message_id` ↔
///   `messageId`); `#[rename = "x"]` sets the wire name. Enum variants are camelCase on
///   the wire (`SoSo` → `soSo`) unless renamed.
/// - Any Rust type may be used: `String`, `bool`, integers, floats, `Vec<T>`,
///   `Option<T>`, `HashMap<String, T>`/`BTreeMap`, types declared in the macro, paths to
///   types defined elsewhere (which must implement serde, `JsonSchema` and `TS`).
/// - `Option<T>` fields are optional: absent on the wire when `None`, `field?: T` in
///   TypeScript, not `required` in the JSON Schema.
/// - 64-bit and 128-bit integers are `number` in the exported TypeScript (JSON carries
///   numbers, not `bigint`).
/// - Doc comments on types, fields and variants become rustdoc, JSDoc and JSON Schema
///   `description`s.
///
/// # Constraints
/// | constraint | applies to | JSON Schema |
/// | --- | --- | --- |
/// | `.min(n)` / `.max(n)` | `String` (length in characters) | `minLength` / `maxLength` |
/// | | lists: `Vec`, `VecDeque`, sets, arrays (item count) | `minItems` / `maxItems` |
/// | | integers and floats (value, inclusive) | `minimum` / `maximum` |
/// | `.pattern("re")` | `String` | `pattern` (ECMA-262 regex; compiled at build time as the validator compiles it at run time) |
/// | `.one_of("a", …)` | `String` (TypeScript: `"a" \| …`) | `enum` |
/// | `.default(v)` | `String` (`"s"`), `bool`, integers, floats (int or float literal), enums declared here (`Variant`) | `default`; the field may be omitted and TypeScript shows it as `field?: T` |
///
/// On `Option<T>` the constraints apply to the inner `T` (`.default` is refused: absent
/// already means `None`). Types the macro cannot classify (external paths, declared
/// structs, maps) take no constraint. Compile-time errors: unknown constraint, constraint
/// on the wrong type, default of the wrong type or outside `.min`/`.max`/`.one_of`,
/// `min > max`, a `.pattern` the validator's regex engine refuses (`.pattern("([a-z")`),
/// a string default that does not match its `.pattern`, duplicate constraint, duplicate
/// event or field, request without response, invalid event name, two generated types with
/// one name.
///
/// The macro also checks these constraints on the typed value (`Event::known_valid`): the
/// server decodes a JSON payload straight into its type (by `wsx_core::typed::from_str`,
/// which reads a struct from an object only and an enum from a string only, as the schema
/// does) and skips the JSON Schema validator when the check passes. The check only vouches for what it decides exactly
/// (no external types, no sets, no `f32` with bounds, no integer beyond 2^53); anything
/// else, and every payload that fails it, goes through the validator, which names each
/// failing field.
#[proc_macro]
pub fn define_events(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as parse::Input);
    match model::lower(input) {
        Ok(model) => expand::expand(&model).into(),
        Err(e) => e.to_compile_error().into(),
    }
}
