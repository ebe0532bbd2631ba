//! The client builder: every setting with its documented default, and subscriptions made
//! before the connection opens.

use crate::client::{Client, ReconnectHook};
use crate::config::Config;
use crate::error::Error;
use crate::reconnect::ReconnectPolicy;
use crate::subscribe::{Subscribers, Subscription};
use http::{HeaderName, HeaderValue};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use wsx_core::Codec;
use wsx_core::event::PushEvent;

impl Client {
    /// A builder for the server at `url`; see [`ClientBuilder`].
    pub fn builder(url: impl Into<String>) -> ClientBuilder {
        ClientBuilder::new(url)
    }

    /// Connects to `url` with the default settings.
    pub async fn connect(url: impl Into<String>) -> Result<Client, Error> {
        ClientBuilder::new(url).connect().await
    }
}

/// Builds a [`Client`]. Every setting has a default:
///
/// | setting | default |
/// | --- | --- |
/// | [`urls`](Self::urls) | the one URL given to [`new`](Self::new) |
/// | [`codec`](Self::codec) | [`Codec::JsonText`] |
/// | [`request_timeout`](Self::request_timeout) | 30 s |
/// | [`handshake_timeout`](Self::handshake_timeout) | 10 s |
/// | [`reconnect`](Self::reconnect) | [`ReconnectPolicy::default`]: 250 ms … 30 s, unlimited; no reconnect after `1008` or `4000..=4999` |
/// | [`subprotocols`](Self::subprotocols) | `wsx.v1.json` (or `wsx.v1.cbor` for a CBOR codec) |
/// | [`ping_interval`](Self::ping_interval) | 20 s |
/// | [`pong_timeout`](Self::pong_timeout) | 10 s |
/// | [`send_queue`](Self::send_queue) | 256 messages |
/// | [`push_buffer`](Self::push_buffer) | 1024 pushes per subscriber |
/// | [`max_message_size`](Self::max_message_size) | 4 MiB |
pub struct ClientBuilder {
    config: Config,
    /// Subscriptions made on the builder live here, and move into the client.
    subs: Subscribers,
    on_reconnect: Option<ReconnectHook>,
    /// Settings refused on the way (bad header, empty URL list), reported by `connect`.
    errors: Vec<String>,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("config", &self.config)
            .field("subs", &self.subs)
            .field("on_reconnect", &self.on_reconnect.is_some())
            .field("errors", &self.errors)
            .finish()
    }
}

impl ClientBuilder {
    /// A builder for the server at `url` (`ws://host:port/path`).
    pub fn new(url: impl Into<String>) -> Self {
        ClientBuilder {
            config: Config::new(url.into()),
            subs: Subscribers::new(1024),
            on_reconnect: None,
            errors: Vec::new(),
        }
    }

    /// Several servers of one app (nodes of a cluster), replacing the URL given to
    /// [`new`](Self::new). [`connect`](Self::connect) tries them in order, one attempt
    /// each, and uses the first that opens. Afterwards the client moves on to the next
    /// URL, round the list, whenever a connection is lost or a reconnect attempt fails,
    /// with the policy's backoff between attempts; [`Client::url`] tells which one is in
    /// use. An HTTP client error (401, 403, 404…) from any of them ends the search, since
    /// the nodes of one app would all say the same. An empty list makes `connect` fail.
    pub fn urls<I, S>(mut self, urls: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let urls: Vec<String> = urls.into_iter().map(Into::into).collect();
        if urls.is_empty() {
            self.errors
                .push("`urls` was given an empty list".to_owned());
        } else {
            self.config.urls = urls;
        }
        self
    }

    /// The encoding of messages. [`Codec::JsonText`] by default; [`Codec::CborRecords`]
    /// or [`Codec::CborMaps`] select CBOR in binary frames.
    pub fn codec(mut self, codec: Codec) -> Self {
        self.config.codec = codec;
        self
    }

    /// How long a request waits for its answer (queueing for a connection included);
    /// override per call with [`Client::request_with_timeout`]. Default 30 s.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.config.request_timeout = timeout;
        self
    }

    /// How long TCP connect plus the WebSocket handshake may take. Default 10 s.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.config.handshake_timeout = timeout;
        self
    }

    /// How to reconnect, and after which close codes not to; see [`ReconnectPolicy`].
    pub fn reconnect(mut self, policy: ReconnectPolicy) -> Self {
        self.config.reconnect = policy;
        self
    }

    /// Adds a header to the upgrade request (e.g. `Authorization`). An invalid name or
    /// value makes [`connect`](Self::connect) fail.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        match (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            (Ok(name), Ok(value)) => {
                self.config.headers.append(name, value);
            }
            _ => self.errors.push(format!("invalid header `{name}`")),
        }
        self
    }

    /// The subprotocols offered in the handshake, replacing the default (the wsx one of
    /// the codec's family, which fixes the server's codec). An empty list offers none.
    pub fn subprotocols<I, S>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config.subprotocols = Some(protocols.into_iter().map(Into::into).collect());
        self
    }

    /// How often to ping the server; `None` disables keep-alive. Default 20 s.
    pub fn ping_interval(mut self, interval: Option<Duration>) -> Self {
        self.config.ping_interval = interval;
        self
    }

    /// How long after a ping the server may stay silent (no pong, no frame at all) before
    /// the connection is taken for dead and replaced. Also bounds one socket write.
    /// Default 10 s.
    pub fn pong_timeout(mut self, timeout: Duration) -> Self {
        self.config.pong_timeout = timeout;
        self
    }

    /// How many messages (one-way sends, and requests made while disconnected) may wait
    /// for a connection; past it calls fail with [`Error::QueueFull`]. Default 256.
    pub fn send_queue(mut self, capacity: usize) -> Self {
        self.config.send_queue = capacity;
        self
    }

    /// How many pushes a subscriber may leave unread (at least 1). Past it, newer pushes
    /// are dropped for that subscriber, which reads a [`Lagged`](crate::Lagged) with their
    /// number where they were lost. Applies to every subscription, those made on the
    /// builder before this call included. Default 1024.
    pub fn push_buffer(mut self, capacity: usize) -> Self {
        self.subs.set_buffer(capacity);
        self
    }

    /// The largest message accepted from the server, in bytes. Default 4 MiB.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.config.max_message_size = bytes;
        self
    }

    /// A typed stream of push event `E`, made before the connection exists, so that it
    /// gets every push from the first frame on, those the server sends as the connection
    /// opens (from its open hook) included; a subscription made on the [`Client`] after
    /// `connect` returns may miss them. Otherwise the same as [`Client::subscribe`]. If
    /// the builder is dropped or `connect` fails, the stream ends.
    ///
    /// ```no_run
    /// # wsx_core::define_events! {
    /// #     pub events Greeting;
    /// #     push welcome: Welcome { text: String }
    /// # }
    /// # async fn run() -> Result<(), wsx_client::Error> {
    /// let builder = wsx_client::Client::builder("ws://127.0.0.1:3001/ws");
    /// let mut welcomes = builder.subscribe::<Welcome>();
    /// let client = builder.connect().await?;
    /// # Ok(()) }
    /// ```
    pub fn subscribe<E: PushEvent>(&self) -> Subscription<E::Payload> {
        self.subs.subscribe::<E::Payload>(E::NAME)
    }

    /// Runs after each successful *re*connect (not the first connection), before the
    /// messages queued during the outage are sent: re-join rooms, resume from the last
    /// message id seen. Requests made from the hook with the [`Client`] it is given go out
    /// at once; other calls wait until it returns. If the connection drops meanwhile, the
    /// hook is cancelled and runs again after the next reconnect; a hook still running
    /// after the request timeout is cancelled too (its future dropped), then the queue
    /// flushed. It runs after
    /// an explicit [`Client::reconnect`] too. Do not capture a [`Client`] in the hook (use
    /// the one it is given), or dropping every handle will not close the client.
    pub fn on_reconnect<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(Client) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.on_reconnect = Some(Arc::new(move |client| Box::pin(hook(client))));
        self
    }

    /// Connects (one attempt per URL, each bounded by the handshake timeout) and returns
    /// the client; reconnection applies to connections lost after this.
    pub async fn connect(self) -> Result<Client, Error> {
        if let Some(message) = self.errors.into_iter().next() {
            return Err(Error::Connect { message });
        }
        Client::start(self.config, self.subs, self.on_reconnect).await
    }
}
