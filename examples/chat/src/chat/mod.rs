//! The chat's WebSocket side: one handler per concern, wired to the events here.
//!
//! | module | events |
//! | --- | --- |
//! | [`presence`] | connect (`Origin`), `welcome`, disconnect (`userLeft`), shutdown |
//! | [`rooms`] | `join` (replay), `leave`, `listRooms`, `listUsers`; `userJoined`, `userLeft` |
//! | [`messages`] | `sendMessage` → `message`, `history` |
//! | [`private`] | `sendPrivate` → `privateMessage` |
//! | [`typing`] | `typing` → `userTyping` |
//! | [`nick`] | `setNick` → `nickChanged` |
//! | [`user`] | the user of a connection: name, rooms, typing |

pub mod messages;
pub mod nick;
pub mod presence;
pub mod private;
pub mod rooms;
pub mod typing;
pub mod user;

use crate::app::App;
use crate::events::*;
use std::time::Duration;
#[doc(inline)]
pub use user::User;
use wsx_core::server::{BuildError, Server, ServerBuilder, ServerConfig};

/// The WebSocket server of the chat, with the limits of the app's config.
pub fn build_server(app: App) -> Result<Server<App, User>, BuildError> {
    let config = app.config();
    let rate = (config.rate_limit > 0).then_some(config.rate_limit);
    let server_config = ServerConfig {
        max_message_size: config.max_message_bytes,
        idle_timeout: config.idle_timeout(),
        rate_limit_per_second: rate,
        rate_limit_burst: config.rate_limit.saturating_mul(2).max(1),
        shutdown_deadline: Duration::from_secs(3),
        // Up to 8 requests of one connection are answered concurrently. A sender's next
        // message no longer waits for the previous one's commit and for its own task's
        // turn behind a fan-out to the room: with 1,000 members, one at a time capped a
        // sender at ~240 messages/s. Messages stay in order: each takes its `seq` in
        // the order its request arrived, and a request that depends on an earlier one
        // (a message right after `join`) waits for it (`User::changing`/`using`).
        max_in_flight: 8,
        // The chat exports `/metrics` (its recorder is installed before the server is
        // built), so the handlers' time goes somewhere.
        handler_timing: true,
        ..ServerConfig::default()
    };
    let mut builder = ServerBuilder::<App, User>::new(app.clone());
    if let Some(cluster) = app.cluster() {
        builder = builder.adapter(cluster.adapter().clone());
    }
    builder
        .config(server_config)
        .on_connect(presence::connect)
        .on_open(presence::open)
        .on_disconnect(presence::disconnect)
        .on_shutdown(presence::shutdown)
        .on_request::<Join, _, _>(rooms::join)
        .on_request::<Leave, _, _>(rooms::leave)
        .on_request::<ListRooms, _, _>(rooms::list_rooms)
        .on_request::<ListUsers, _, _>(rooms::list_users)
        .on_request::<SendMessage, _, _>(messages::send_message)
        .on_request::<History, _, _>(messages::history)
        .on_request::<SendPrivate, _, _>(private::send_private)
        .on_request::<SetNick, _, _>(nick::set_nick)
        .on_send::<TypingRequest, _, _>(typing::typing)
        .build()
}
