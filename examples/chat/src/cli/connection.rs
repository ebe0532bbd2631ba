//! The terminal client's connection: it joins rooms, re-joins them after a reconnect with
//! replay (through [`Transcript`]), sends messages through an outbox, and turns pushes
//! and connection changes into [`Update`]s for whichever interface shows them.
//!
//! # The outbox
//! A message typed by the user (to a room, or privately to a user) goes into the outbox ([`Update::Sending`], shown as
//! "sending…") and stays there until the server answers it ([`Update::Sent`]) or refuses
//! it ([`Update::SendFailed`]). One task sends the outbox in order, one message at a time;
//! when a send fails because the connection dropped or the answer did not come in time,
//! the task waits for the connection to be open again (after the re-joins) and sends the
//! same message again, with the same random [`Outgoing::client_id`]: the server answers a
//! repeat with its first answer, so a message it stored whose answer was lost is neither
//! lost nor stored twice.
//!
//! # Restarts
//! A close with 1001 (going away: the server's graceful shutdown) is a restart, shown as
//! such ([`Link::Restarting`]) rather than as a lost connection; the client reconnects by
//! itself, re-joins with replay, and sends the outbox.
//!
//! # Final closes
//! After a close the server means to stick (4000, the idle timeout, and the other codes
//! `wsx-client` treats as final), the client does not reconnect by itself: it says why
//! ([`Link::Disconnected`]) and reconnects when the user acts ([`Connection::wake`]).

use super::{Input, Shown, Transcript, count};
use crate::events::*;
use futures::StreamExt;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{Notify, mpsc, watch};
use wsx_client::{
    Client, CloseReason, ConnectionState, Error, Lagged, ReconnectPolicy, Subscription,
};
use wsx_core::protocol::close_code;

/// How long the client waits for an answer, by default, before it counts a request as
/// lost (an outbox message is then sent again once the connection is open).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The pause before an outbox message is sent again.
const RESEND_PAUSE: Duration = Duration::from_millis(200);

/// How long a rename waits for the outbox to empty before it is refused.
const NICK_DRAIN: Duration = Duration::from_secs(1);

/// The connection as the user sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// Connected.
    Open,
    /// The connection dropped; the client reconnects by itself.
    Reconnecting {
        /// Why it dropped, in words.
        error: String,
    },
    /// The server is restarting (it closed with 1001, going away: its graceful shutdown);
    /// the client reconnects by itself.
    Restarting,
    /// The server closed the connection for good; the client reconnects when the user
    /// acts.
    Disconnected {
        /// Why, in words (see [`describe_disconnect`]).
        why: String,
    },
    /// Closed for good.
    Closed {
        /// Why, in words.
        why: String,
    },
}

/// Something for the interface to show.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// The connection changed.
    Link(Link),
    /// The server's greeting when a connection opens.
    Welcome {
        /// The greeting.
        message: String,
        /// The rooms that have members.
        rooms: Vec<RoomSummary>,
    },
    /// A room joined (or joined again after a reconnect, `again`).
    Joined {
        /// The room.
        room: String,
        /// Who is in it, the user included.
        users: Vec<String>,
        /// Whether this is a re-join after a reconnect.
        again: bool,
    },
    /// A room message, shown once.
    Message(ChatMessage),
    /// A private message to or from the user.
    Private(PrivateMessage),
    /// Someone else joined a room.
    UserJoined(UserJoined),
    /// Someone left a room.
    UserLeft(UserLeft),
    /// Someone else changed their name.
    NickChanged {
        /// The name before.
        old_name: String,
        /// The name now.
        new_name: String,
    },
    /// The user's own name changed.
    Renamed(String),
    /// Someone started or stopped typing.
    Typing(UserTyping),
    /// The user left a room.
    Left {
        /// The room.
        room: String,
    },
    /// The answer to `/rooms`.
    Rooms(Vec<RoomSummary>),
    /// The answer to `/users`.
    Users {
        /// The room.
        room: String,
        /// Its users.
        users: Vec<String>,
    },
    /// A message went into the outbox.
    Sending(Outgoing),
    /// The server answered an outbox message: it is sent.
    Sent {
        /// The outbox id.
        id: u64,
    },
    /// The server refused an outbox message; it is not sent.
    SendFailed {
        /// The outbox id.
        id: u64,
        /// Why, in words.
        why: String,
    },
    /// Something to say (a line of its own).
    Notice(String),
    /// Something that went wrong.
    Error(String),
}

/// A message in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Its id in the outbox (local to this client).
    pub id: u64,
    /// A random id, the same for every attempt: the server answers a repeat of it with
    /// its first answer, so a message re-sent after a lost answer is not stored twice.
    pub client_id: String,
    /// The room it goes to; for a private message, the room it was typed in (where it is
    /// shown until sent).
    pub room: String,
    /// The user a private message goes to; `None` for a room message.
    pub to: Option<String>,
    /// Its text.
    pub text: String,
    /// A message or an action (a private message is a message).
    pub kind: MessageKind,
}

/// What a close with a final code means, in words: `disconnected after 5 minutes without
/// activity` for the idle timeout (4000).
pub fn describe_disconnect(code: u16, reason: &str, idle_secs: u64) -> String {
    match code {
        4000 => {
            let idle = if idle_secs == 0 {
                "a while".to_owned()
            } else if idle_secs.is_multiple_of(60) {
                count(idle_secs / 60, "minute", "minutes")
            } else {
                count(idle_secs, "second", "seconds")
            };
            format!("disconnected after {idle} without activity")
        }
        1008 => match reason {
            "" => "disconnected by the server for breaking its rules".to_owned(),
            reason => format!("disconnected by the server: {reason}"),
        },
        code => match reason {
            "" => format!("disconnected by the server (code {code})"),
            reason => format!("disconnected by the server: {reason} (code {code})"),
        },
    }
}

/// One connection to the chat, shared by the interface's tasks.
#[derive(Clone)]
pub struct Connection {
    client: Client,
    inner: Arc<Inner>,
}

/// What the connection's tasks share.
struct Inner {
    /// What was shown per room, for replay without repeats.
    transcript: Mutex<Transcript>,
    /// The user's name now.
    name: Mutex<String>,
    /// The latest join's `resumeToken`: a re-join after a reconnect presents it, so the
    /// server hands the name back at once even if it has not noticed the old connection
    /// die.
    resume_token: Mutex<Option<String>>,
    /// Where the updates go. Unbounded: the interface reads it at once, and the pushes
    /// feeding it are bounded by the client's push buffer.
    updates: mpsc::UnboundedSender<Update>,
    /// Messages not yet answered, oldest first.
    outbox: Mutex<VecDeque<Outgoing>>,
    /// Wakes the outbox task when a message is added.
    outbox_added: Notify,
    /// How many messages wait in the outbox (to wait for it to drain).
    outbox_len: watch::Sender<usize>,
    /// The last outbox id given.
    next_id: AtomicU64,
    /// The server's idle timeout, from its welcome (0: unknown or none).
    idle_secs: AtomicU64,
}

impl Inner {
    fn send(&self, update: Update) {
        let _ = self.updates.send(update);
    }

    fn transcript(&self) -> MutexGuard<'_, Transcript> {
        self.transcript
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn name(&self) -> String {
        self.name
            .lock()
            .map(|n| n.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    fn outbox(&self) -> MutexGuard<'_, VecDeque<Outgoing>> {
        self.outbox
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The pushes the connection follows, subscribed before the connection opens.
struct Pushes {
    messages: Subscription<ChatMessage>,
    joined: Subscription<UserJoined>,
    left: Subscription<UserLeft>,
    nicks: Subscription<NickChanged>,
    privates: Subscription<PrivateMessage>,
    typing: Subscription<UserTyping>,
    welcomes: Subscription<Welcome>,
}

impl Connection {
    /// Connects to `url` as `name`, waiting up to `request_timeout` for each answer;
    /// updates go to `updates`. Nothing is joined yet.
    pub async fn connect(
        url: &str,
        name: &str,
        request_timeout: Duration,
        updates: mpsc::UnboundedSender<Update>,
    ) -> Result<Connection, Error> {
        let (outbox_len, _) = watch::channel(0);
        let inner = Arc::new(Inner {
            transcript: Mutex::default(),
            name: Mutex::new(name.to_owned()),
            resume_token: Mutex::default(),
            updates,
            outbox: Mutex::default(),
            outbox_added: Notify::new(),
            outbox_len,
            next_id: AtomicU64::new(0),
            idle_secs: AtomicU64::new(0),
        });
        let hook_inner = inner.clone();
        let builder = Client::builder(url)
            .request_timeout(request_timeout)
            .reconnect(
                ReconnectPolicy::default()
                    .min_delay(Duration::from_millis(100))
                    .max_delay(Duration::from_secs(5)),
            )
            .on_reconnect(move |client| {
                let inner = hook_inner.clone();
                async move { rejoin_all(&client, &inner, true).await }
            });
        let pushes = Pushes {
            messages: builder.subscribe::<ChatMessage>(),
            joined: builder.subscribe::<UserJoined>(),
            left: builder.subscribe::<UserLeft>(),
            nicks: builder.subscribe::<NickChanged>(),
            privates: builder.subscribe::<PrivateMessage>(),
            typing: builder.subscribe::<UserTyping>(),
            welcomes: builder.subscribe::<Welcome>(),
        };
        let client = builder.connect().await?;
        tokio::spawn(follow(client.clone(), pushes, inner.clone()));
        tokio::spawn(send_outbox(client.clone(), inner.clone()));
        Ok(Connection { client, inner })
    }

    /// The current room (the one joined last).
    pub fn current(&self) -> Option<String> {
        self.inner.transcript().current().map(str::to_owned)
    }

    /// The user's name now.
    pub fn name(&self) -> String {
        self.inner.name()
    }

    /// Called when the user acts: after a final close, reconnects (the rooms are joined
    /// again and what was missed is shown).
    pub async fn wake(&self) {
        if self.client.state().is_disconnected() {
            self.inner.send(Update::Notice("reconnecting…".into()));
            if let Err(e) = self.client.reconnect().await {
                self.inner
                    .send(Update::Error(format!("cannot reconnect: {e}")));
            }
        }
    }

    /// Joins a room; it becomes the current one.
    pub async fn join(&self, room: &str) -> Result<(), String> {
        join(&self.client, &self.inner, room, true).await
    }

    /// Acts on a typed line; `room` is the room it is about (default: the current one).
    /// [`Input::Quit`] and [`Input::Help`] are the interface's to handle and do nothing
    /// here.
    pub async fn act(&self, input: Input, room: Option<String>) {
        let room = room.or_else(|| self.current());
        let result = match input {
            Input::Empty | Input::Quit | Input::Help => Ok(()),
            Input::Invalid(why) => Err(why),
            Input::Say(text) => self.queue(room, text, MessageKind::Message),
            Input::Me(text) => self.queue(room, text, MessageKind::Action),
            Input::Join(room) => self.join(&room).await,
            Input::Leave(which) => self.leave(which.or(room)).await,
            Input::Rooms => self
                .client
                .request::<ListRooms>(ListRoomsRequest {})
                .await
                .map(|answer| self.inner.send(Update::Rooms(answer.rooms)))
                .map_err(|e| e.to_string()),
            Input::Users(which) => self
                .client
                .request::<ListUsers>(ListUsersRequest {
                    room: which.or(room),
                })
                .await
                .map(|answer| {
                    self.inner.send(Update::Users {
                        room: answer.room,
                        users: answer.users,
                    });
                })
                .map_err(|e| e.to_string()),
            Input::Pm(to, message) => self.queue_for(room, Some(to), message, MessageKind::Message),
            Input::Nick(name) => self.nick(name).await,
        };
        if let Err(e) = result {
            self.inner.send(Update::Error(e));
        }
    }

    /// Tells the room the user is typing (or stopped).
    pub async fn typing(&self, room: String, active: bool) {
        let request = TypingRequest {
            room: Some(room),
            active,
        };
        // Best effort: a lost indicator is not worth a line.
        let _ = self.client.send::<TypingRequest>(request).await;
    }

    /// Waits until the outbox is empty, up to `timeout`; whether it is.
    pub async fn drain(&self, timeout: Duration) -> bool {
        let mut len = self.inner.outbox_len.subscribe();
        let empty = len.wait_for(|n| *n == 0);
        matches!(tokio::time::timeout(timeout, empty).await, Ok(Ok(_)))
    }

    /// Closes the connection for good. The connection's tasks hold the client, so dropping
    /// this value does not close it: call this.
    pub async fn close(&self) {
        self.client.close().await;
    }

    fn queue(&self, room: Option<String>, text: String, kind: MessageKind) -> Result<(), String> {
        self.queue_for(room, None, text, kind)
    }

    /// Puts a message to `room`, or privately `to` a user, into the outbox.
    fn queue_for(
        &self,
        room: Option<String>,
        to: Option<String>,
        text: String,
        kind: MessageKind,
    ) -> Result<(), String> {
        let Some(room) = room else {
            return Err("join a room first: /join <room>".into());
        };
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let outgoing = Outgoing {
            id,
            client_id: uuid::Uuid::new_v4().simple().to_string(),
            room,
            to,
            text,
            kind,
        };
        let len = {
            let mut outbox = self.inner.outbox();
            outbox.push_back(outgoing.clone());
            outbox.len()
        };
        self.inner.outbox_len.send_replace(len);
        self.inner.send(Update::Sending(outgoing));
        self.inner.outbox_added.notify_one();
        Ok(())
    }

    async fn leave(&self, room: Option<String>) -> Result<(), String> {
        let Some(room) = room else {
            return Err("you are in no room".into());
        };
        let answer = self
            .client
            .request::<Leave>(LeaveRequest { room: Some(room) })
            .await
            .map_err(|e| e.to_string())?;
        let mut t = self.inner.transcript();
        t.left(&answer.room);
        self.inner.send(Update::Left { room: answer.room });
        Ok(())
    }

    async fn nick(&self, name: String) -> Result<(), String> {
        // The server knows a message's clientId under the name it was sent with: one sent
        // again under a new name would be stored a second time. A message whose echo is
        // on screen may still wait for its answer (the room's push can come first): give
        // the outbox a moment before refusing.
        let waiting = if self.drain(NICK_DRAIN).await {
            0
        } else {
            *self.inner.outbox_len.borrow()
        };
        if waiting > 0 {
            return Err(format!(
                "wait until your {} sent before changing your name",
                count(waiting as u64, "message is", "messages are")
            ));
        }
        let answer = self
            .client
            .request::<SetNick>(SetNickRequest { username: name })
            .await
            .map_err(|e| e.to_string())?;
        if let Ok(mut n) = self.inner.name.lock() {
            n.clone_from(&answer.username);
        }
        self.inner.send(Update::Renamed(answer.username));
        Ok(())
    }
}

/// Whether a failed send may be sent again once the connection is back: it may not have
/// reached the server, or its answer was lost.
fn worth_resending(e: &Error) -> bool {
    matches!(
        e,
        Error::ConnectionLost { .. } | Error::Timeout { .. } | Error::QueueFull { .. }
    )
}

/// Sends the outbox, oldest first, each message until the server answers it.
async fn send_outbox(client: Client, inner: Arc<Inner>) {
    loop {
        let next = inner.outbox().front().cloned();
        let Some(outgoing) = next else {
            inner.outbox_added.notified().await;
            continue;
        };
        match deliver(&client, &outgoing).await {
            Ok(()) => {
                done(&inner, outgoing.id);
                inner.send(Update::Sent { id: outgoing.id });
            }
            Err(e) if worth_resending(&e) => {
                // Once the connection is open again (and the rooms re-joined), again; not
                // in a tight loop if it is open and the server just did not answer.
                if !wait_open(&client).await {
                    return;
                }
                tokio::time::sleep(RESEND_PAUSE).await;
            }
            Err(Error::Closed { .. }) => return,
            Err(e) => {
                done(&inner, outgoing.id);
                inner.send(Update::SendFailed {
                    id: outgoing.id,
                    why: e.to_string(),
                });
            }
        }
    }
}

/// Sends one outbox message, with the same `clientId` on every attempt: the server
/// answers a repeat with the first answer, so a resend after a lost answer never doubles
/// the message.
async fn deliver(client: &Client, outgoing: &Outgoing) -> Result<(), Error> {
    let client_id = Some(outgoing.client_id.clone());
    match &outgoing.to {
        Some(to) => {
            let request = SendPrivateRequest {
                to: to.clone(),
                message: outgoing.text.clone(),
                client_id,
            };
            client.request::<SendPrivate>(request).await.map(|_| ())
        }
        None => {
            let request = SendMessageRequest {
                message: outgoing.text.clone(),
                room: Some(outgoing.room.clone()),
                kind: Some(outgoing.kind),
                client_id,
            };
            client.request::<SendMessage>(request).await.map(|_| ())
        }
    }
}

fn done(inner: &Inner, id: u64) {
    let len = {
        let mut outbox = inner.outbox();
        outbox.retain(|o| o.id != id);
        outbox.len()
    };
    inner.outbox_len.send_replace(len);
}

/// Waits until the connection is open; `false` if the client closed for good.
async fn wait_open(client: &Client) -> bool {
    loop {
        if client.wait_open(Duration::from_secs(60)).await {
            return true;
        }
        if client.state().is_closed() {
            return false;
        }
    }
}

/// Joins a room (or joins it again after a reconnect, with the last position seen); with
/// `announce`, says so ([`Update::Joined`]).
async fn join(client: &Client, inner: &Inner, room: &str, announce: bool) -> Result<(), String> {
    let since = inner.transcript().begin_join(room);
    let again = since.is_some();
    let request = JoinRequest {
        username: inner.name(),
        room: room.to_owned(),
        since,
        resume_token: inner.resume_token.lock().ok().and_then(|t| t.clone()),
    };
    let mut attempt = 0;
    let answer = loop {
        match client.request::<Join>(request.clone()).await {
            Ok(answer) => break answer,
            // After a reconnect the server may not have seen the old connection go yet.
            Err(e) if again && attempt < 40 && e.to_string().contains("taken") => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => {
                let mut t = inner.transcript();
                for m in t.abort_join(room) {
                    inner.send(Update::Message(m));
                }
                return Err(format!("cannot join {room}: {e}"));
            }
        }
    };
    if let (Some(token), Ok(mut kept)) = (answer.resume_token.clone(), inner.resume_token.lock()) {
        *kept = Some(token);
    }
    // Under the lock: nothing from the push task slips in between.
    let mut t = inner.transcript();
    let shown = t.finish_join(&answer);
    let joined = Update::Joined {
        room: answer.room.clone(),
        users: answer.users.clone(),
        again,
    };
    // "joined" opens the room's history; "back in" follows what was missed.
    if announce && !again {
        inner.send(joined.clone());
    }
    for s in shown {
        inner.send(match s {
            Shown::Message(m) => Update::Message(m),
            Shown::Notice(n) => Update::Notice(n),
        });
    }
    if announce && again {
        inner.send(joined);
    }
    Ok(())
}

/// After a reconnect (or pushes lost on the way): every room again, in the order joined,
/// from where we were, for exactly what was missed.
async fn rejoin_all(client: &Client, inner: &Inner, announce: bool) {
    let rooms = inner.transcript().rooms();
    for room in rooms {
        if let Err(e) = join(client, inner, &room, announce).await {
            inner.send(Update::Error(e));
        }
    }
}

/// Turns pushes and connection changes into updates until the client closes.
async fn follow(client: Client, mut p: Pushes, inner: Arc<Inner>) {
    let mut states = client.states();
    let missed = |inner: &Inner, n: u64, what: &str| {
        inner.send(Update::Error(format!(
            "missed {} (the client fell behind)",
            count(n, what, &format!("{what}s"))
        )));
    };
    let mut last_nick: Option<(String, String)> = None;
    loop {
        tokio::select! {
            Some(m) = p.messages.next() => match m {
                Ok(m) => {
                    let mut t = inner.transcript();
                    if let Some(m) = t.on_message(m) {
                        inner.send(Update::Message(m));
                    }
                }
                Err(Lagged(n)) => {
                    // The server keeps them: join again from the last one shown.
                    inner.send(Update::Error(format!(
                        "missed {} (the client fell behind); fetching them",
                        count(n, "message", "messages")
                    )));
                    let (client, inner) = (client.clone(), inner.clone());
                    tokio::spawn(async move { rejoin_all(&client, &inner, false).await });
                }
            },
            Some(j) = p.joined.next() => match j {
                Ok(j) => inner.send(Update::UserJoined(j)),
                Err(Lagged(n)) => missed(&inner, n, "arrival"),
            },
            Some(l) = p.left.next() => match l {
                Ok(l) => inner.send(Update::UserLeft(l)),
                Err(Lagged(n)) => missed(&inner, n, "departure"),
            },
            Some(n) = p.nicks.next() => match n {
                Ok(n) => {
                    // The user's own change is announced by the answer to `setNick`
                    // (whichever of the two arrives first).
                    // One line per change, not one per room shared with the user.
                    let me = inner.name();
                    let change = (n.old_name, n.new_name);
                    if change.0 != me && change.1 != me && last_nick.as_ref() != Some(&change) {
                        last_nick = Some(change.clone());
                        inner.send(Update::NickChanged { old_name: change.0, new_name: change.1 });
                    }
                }
                Err(Lagged(n)) => missed(&inner, n, "name change"),
            },
            Some(pm) = p.privates.next() => match pm {
                Ok(pm) => inner.send(Update::Private(pm)),
                Err(Lagged(n)) => missed(&inner, n, "private message"),
            },
            Some(t) = p.typing.next() => {
                if let Ok(t) = t {
                    inner.send(Update::Typing(t));
                }
            }
            Some(w) = p.welcomes.next() => {
                if let Ok(w) = w {
                    inner.idle_secs.store(w.idle_timeout_secs, Ordering::Relaxed);
                    inner.send(Update::Welcome { message: w.message, rooms: w.rooms });
                }
            }
            Some(state) = states.next() => match state {
                ConnectionState::Reconnecting { attempt: 1, error, close_code: code, .. } => {
                    // Told once: the later attempts are refused while the server is down.
                    // 1001 (going away) is the server's graceful shutdown: a restart.
                    let link = if code == Some(close_code::GOING_AWAY) {
                        Link::Restarting
                    } else {
                        Link::Reconnecting { error }
                    };
                    inner.send(Update::Link(link));
                }
                ConnectionState::Open => inner.send(Update::Link(Link::Open)),
                ConnectionState::Disconnected { code, reason } => {
                    let idle = inner.idle_secs.load(Ordering::Relaxed);
                    let why = describe_disconnect(code, &reason, idle);
                    inner.send(Update::Link(Link::Disconnected { why }));
                }
                ConnectionState::Closed { reason } => {
                    // The user's own quit needs no word.
                    if reason != CloseReason::ClientClosed {
                        inner.send(Update::Link(Link::Closed { why: reason.to_string() }));
                    }
                    break;
                }
                _ => {}
            },
            else => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_closes_are_said_in_words() {
        assert_eq!(
            describe_disconnect(4000, "idle", 300),
            "disconnected after 5 minutes without activity"
        );
        assert_eq!(
            describe_disconnect(4000, "", 60),
            "disconnected after 1 minute without activity"
        );
        assert_eq!(
            describe_disconnect(4000, "", 90),
            "disconnected after 90 seconds without activity"
        );
        assert_eq!(
            describe_disconnect(4003, "kicked", 300),
            "disconnected by the server: kicked (code 4003)"
        );
    }
}
