//! The events of the chat, declared once for the server, the clients and the bindings.
//!
//! The five seed events (`join`, `sendMessage`, `message`, `userJoined`, `userLeft`) keep
//! the wire names and shapes of the seed TypeScript chat, so its clients talk to this
//! server unchanged; every field added to them is additive (a zod object strips unknown
//! keys). The rest is what a real chat needs.
//!
//! Rooms: a connection may be in several rooms. Where a request has an optional `room`,
//! it defaults to the room the connection joined most recently.
//!
//! Replay: every room message has a per-room `seq` (1, 2, 3, …) and every room an `epoch`
//! that changes when its history is lost. A client that reconnects joins again with
//! `since: { epoch, seq }` (the last message it saw) and gets exactly the messages it
//! missed in `history`, with `recovered: true` — or `recovered: false` and the latest
//! history when they are no longer kept.

wsx_core::define_events! {
    /// The events of the wsx example chat.
    pub events ChatEvents;

    // ----- the seed events -----

    /// Join a chat room (or re-join after a reconnect, with `since`); the answer lists
    /// who is there and the room's recent history.
    request join: JoinRequest {
        /// The name others see. The first join of a connection sets it; later joins must
        /// use the same name (change it with `setNick`).
        username: String.min(1).max(50),
        /// The room to join.
        room: String.default("general").min(1).max(32).pattern("^[A-Za-z0-9][A-Za-z0-9_-]*$"),
        /// The last message this client saw in the room, to receive exactly what it
        /// missed.
        since: Option<RoomPosition>,
        /// The `resumeToken` of an earlier join, on a new connection: when another
        /// connection still holds the name (one whose network died without closing),
        /// that connection is closed and this one takes the name and its rooms at once,
        /// without `userLeft`/`userJoined`. Without it (or with a wrong one), a name in
        /// use is refused as before.
        resume_token: Option<String>.max(64),
    } -> JoinResponse {
        /// Whether the user joined.
        success: bool,
        /// A greeting, or why joining failed.
        message: String,
        /// Everyone in the room, the new user included.
        users: Vec<String>,
        /// The room joined.
        room: String,
        /// The room's history epoch.
        epoch: String,
        /// The sequence number of the room's latest message (0 when it has none).
        seq: u64,
        /// Without `since`: the latest messages (up to the history size). With `since`:
        /// the messages after it, when `recovered` is true.
        history: Vec<ChatMessage>,
        /// Only when `since` was given: whether every missed message is in `history`.
        recovered: Option<bool>,
        /// A secret that lets a later connection take this name back (see the request's
        /// `resumeToken`). Keep it for re-joins; it changes when it is used.
        resume_token: Option<String>,
    }

    /// Send a message to a room (by default the most recently joined one).
    request sendMessage: SendMessageRequest {
        /// The text of the message.
        message: String.min(1).max(500),
        /// The room; default: the most recently joined one.
        room: Option<String>,
        /// `action` for a `/me` action ("alice waves"); default `message`.
        kind: Option<MessageKind>,
        /// A client-generated id for this send (letters, digits, `-`, `_`, `.`, `:`; up to
        /// 64), unique per user name: a repeat of the same id by the same name is answered
        /// with the first answer (same `messageId`, `seq`, `timestamp`) and not sent again,
        /// so a client may re-send after a lost answer or a reconnect without doubling.
        client_id: Option<String>.min(1).max(64).pattern("^[A-Za-z0-9_.:-]+$"),
    } -> SendMessageResponse {
        /// The id the server gave the message.
        message_id: String,
        /// When the server accepted the message, in milliseconds since the Unix epoch.
        timestamp: u64,
        /// The room it went to.
        room: String,
        /// Its sequence number in the room.
        seq: u64,
    }

    /// A message someone sent to a room.
    push message: ChatMessage {
        /// The id the server gave the message.
        message_id: String,
        /// Who sent it.
        username: String,
        /// The text of the message.
        message: String,
        /// When the server accepted it, in milliseconds since the Unix epoch.
        timestamp: u64,
        /// The room it was sent to.
        room: String,
        /// Its sequence number in the room (1, 2, 3, … with no gap).
        seq: u64,
        /// A plain message or a `/me` action.
        kind: MessageKind,
    }

    /// Someone joined a room.
    push userJoined: UserJoined {
        /// Who joined.
        username: String,
        /// The room.
        room: String,
    }

    /// Someone left a room (or disconnected).
    push userLeft: UserLeft {
        /// Who left.
        username: String,
        /// The room.
        room: String,
    }

    // ----- rooms -----

    /// Leave a room (by default the most recently joined one).
    request leave: LeaveRequest {
        /// The room; default: the most recently joined one.
        room: Option<String>,
    } -> LeaveResponse {
        /// Whether the user was in the room.
        success: bool,
        /// The room left.
        room: String,
    }

    /// List the rooms that have members.
    request listRooms: ListRoomsRequest {} -> ListRoomsResponse {
        /// Every room with its member and message counts, by name.
        rooms: Vec<RoomSummary>,
    }

    /// List the users in a room (by default the most recently joined one).
    request listUsers: ListUsersRequest {
        /// The room; default: the most recently joined one.
        room: Option<String>,
    } -> ListUsersResponse {
        /// The room.
        room: String,
        /// Its users, sorted.
        users: Vec<String>,
    }

    /// Fetch a page of a room's history, by sequence number.
    request history: HistoryRequest {
        /// The room; default: the most recently joined one.
        room: Option<String>,
        /// Only messages with a smaller sequence number (paging backwards).
        before: Option<u64>,
        /// Only messages with a larger sequence number.
        after: Option<u64>,
        /// How many messages at most.
        limit: u32.min(1).max(100).default(50),
    } -> HistoryResponse {
        /// The room.
        room: String,
        /// The room's history epoch.
        epoch: String,
        /// The messages, oldest first.
        messages: Vec<ChatMessage>,
        /// Whether older messages exist beyond this page.
        has_more: bool,
    }

    // ----- people -----

    /// Change the user's name; every room the user is in is told.
    request setNick: SetNickRequest {
        /// The new name.
        username: String.min(1).max(50),
    } -> SetNickResponse {
        /// The name before.
        old_name: String,
        /// The name now.
        username: String,
    }

    /// Someone changed their name (sent to each room they are in).
    push nickChanged: NickChanged {
        /// The room.
        room: String,
        /// The name before.
        old_name: String,
        /// The name now.
        new_name: String,
    }

    /// Send a private message to a user by name.
    request sendPrivate: SendPrivateRequest {
        /// The recipient's name.
        to: String.min(1).max(50),
        /// The text.
        message: String.min(1).max(500),
        /// A client-generated id for this send (letters, digits, `-`, `_`, `.`, `:`; up to
        /// 64), unique per user name: a repeat of the same id by the same name is answered
        /// with the first answer (same `messageId`, `seq`, `timestamp`) and not sent again,
        /// so a client may re-send after a lost answer or a reconnect without doubling.
        client_id: Option<String>.min(1).max(64).pattern("^[A-Za-z0-9_.:-]+$"),
    } -> SendPrivateResponse {
        /// The id the server gave the message.
        message_id: String,
        /// When the server accepted it, in milliseconds since the Unix epoch.
        timestamp: u64,
    }

    /// A private message, sent to its recipient and echoed to its sender.
    push privateMessage: PrivateMessage {
        /// The id the server gave the message.
        message_id: String,
        /// The sender.
        from: String,
        /// The recipient.
        to: String,
        /// The text.
        message: String,
        /// When the server accepted it, in milliseconds since the Unix epoch.
        timestamp: u64,
    }

    /// Start or stop typing in a room; the server stops it by itself after a few
    /// seconds without a new `typing`.
    send typing: TypingRequest {
        /// The room; default: the most recently joined one.
        room: Option<String>,
        /// `true` while typing, `false` to stop.
        active: bool,
    }

    /// Someone started or stopped typing in a room (never sent back to the typist).
    push userTyping: UserTyping {
        /// The room.
        room: String,
        /// Who.
        username: String,
        /// Whether they are typing now.
        active: bool,
    }

    /// Sent once when a connection opens.
    push welcome: Welcome {
        /// A greeting.
        message: String,
        /// The server's clock, in milliseconds since the Unix epoch.
        server_time: u64,
        /// The rooms that have members now.
        rooms: Vec<RoomSummary>,
        /// How long a connection may stay silent before it is closed, in seconds (0: never).
        idle_timeout_secs: u64,
    }

    /// The last message a client saw in a room.
    struct RoomPosition {
        /// The room's epoch when the client saw it.
        epoch: String,
        /// The sequence number of the last message seen.
        seq: u64,
    }

    /// A room, for listings.
    struct RoomSummary {
        /// The room's name.
        name: String,
        /// Users in it now.
        members: u64,
        /// Messages it has stored.
        messages: u64,
    }

    /// What kind of room message this is.
    enum MessageKind {
        /// A plain message.
        Message,
        /// A `/me` action: "alice waves".
        Action,
    }
}
