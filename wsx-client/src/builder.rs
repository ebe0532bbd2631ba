//! The client builder: every setting with its documented default.

use crate::client::Client;
use crate::error::Error;
use crate::reconnect::ReconnectPolicy;
use futures::future::BoxFuture;
use http::{HeaderMap, HeaderName, HeaderValue};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use wsx_core::Codec;

/// The subprotocol a JSON client offers.
const SUBPROTOCOL_JSON: &str = "wsx.v1.json";
/// The subprotocol a CBOR client offers.
const SUBPROTOCOL_CBOR: &str = "wsx.v1.cbor";

pub(crate) type ReconnectHook = Arc<dyn Fn(Client) -> BoxFuture<'static, ()> + Send + Sync>;

/// Everything the connection needs, fixed when the client is built.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) url: String,
    pub(crate) codec: Codec,
    pub(crate) request_timeout: Duration,
    pub(crate) handshake_timeout: Duration,
    pub(crate) reconnect: ReconnectPolicy,
    pub(crate) headers: HeaderMap,
    pub(crate) subprotocols: Vec<String>,
    pub(crate) ping_interval: Option<Duration>,
    pub(crate) pong_timeout: Duration,
    pub(crate) send_queue: usize,
    pub(crate) push_buffer: usize,
    pub(crate) max_message_size: usize,
    pub(crate) on_reconnect: Option<ReconnectHook>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("url", &self.url)
            .field("codec", &self.codec)
            .field("request_timeout", &self.request_timeout)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("reconnect", &self.reconnect)
            .field("subprotocols", &self.subprotocols)
            .field("ping_interval", &self.ping_interval)
            .field("pong_timeout", &self.pong_timeout)
            .field("send_queue", &self.send_queue)
            .field("push_buffer", &self.push_buffer)
            .field("max_message_size", &self.max_message_size)
            .field("on_reconnect", &self.on_reconnect.is_some())
            .finish_non_exhaustive()
    }
}

/// Builds a [`Client`]. Every setting has a default:
///
/// | setting | default |
/// | --- | --- |
/// | [`codec`](Self::codec) | [`Codec::JsonText`] |
/// | [`request_timeout`](Self::request_timeout) | 30 s |
/// | [`handshake_timeout`](Self::handshake_timeout) | 10 s |
/// | [`reconnect`](Self::reconnect) | [`ReconnectPolicy::default`]: 250 ms … 30 s, unlimited |
/// | [`subprotocols`](Self::subprotocols) | `wsx.v1.json` (or `wsx.v1.cbor` for a CBOR codec) |
/// | [`ping_interval`](Self::ping_interval) | 20 s |
/// | [`pong_timeout`](Self::pong_timeout) | 10 s |
/// | [`send_queue`](Self::send_queue) | 256 messages |
/// | [`push_buffer`](Self::push_buffer) | 1024 pushes per subscriber |
/// | [`max_message_size`](Self::max_message_size) | 4 MiB |
#[derive(Debug)]
pub struct ClientBuilder {
    config: Config,
    errors: Vec<String>,
}

impl ClientBuilder {
    /// A builder for the server at `url` (`ws://host:port/path`).
    pub fn new(url: impl Into<String>) -> Self {
        ClientBuilder {
            config: Config {
                url: url.into(),
                codec: Codec::JsonText,
                request_timeout: Duration::from_secs(30),
                handshake_timeout: Duration::from_secs(10),
                reconnect: ReconnectPolicy::default(),
                headers: HeaderMap::new(),
                subprotocols: Vec::new(),
                ping_interval: Some(Duration::from_secs(20)),
                pong_timeout: Duration::from_secs(10),
                send_queue: 256,
                push_buffer: 1024,
                max_message_size: 4 << 20,
                on_reconnect: None,
            },
            errors: Vec::new(),
        }
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

    /// How to reconnect; see [`ReconnectPolicy`].
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
        self.config.subprotocols = protocols.into_iter().map(Into::into).collect();
        if self.config.subprotocols.is_empty() {
            // An explicit empty list: remember that none is wanted.
            self.config.subprotocols.push(String::new());
        }
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

    /// How many pushes a subscriber may leave unread before newer ones are dropped (and
    /// logged). Default 1024.
    pub fn push_buffer(mut self, capacity: usize) -> Self {
        self.config.push_buffer = capacity;
        self
    }

    /// The largest message accepted from the server, in bytes. Default 4 MiB.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.config.max_message_size = bytes;
        self
    }

    /// Runs after each successful *re*connect (not the first connection), before the
    /// messages queued during the outage are sent: re-join rooms, resume from the last
    /// message id seen. Requests made from the hook with the [`Client`] it is given go out
    /// at once; other calls wait until it returns. If the connection drops meanwhile, the
    /// hook is cancelled and runs again after the next reconnect; a hook still running
    /// after the request timeout is cancelled too, and the queue flushed. Do not capture
    /// a [`Client`] in the hook (use the one it is given), or dropping every handle will
    /// not close the client.
    pub fn on_reconnect<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(Client) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.config.on_reconnect = Some(Arc::new(move |client| Box::pin(hook(client))));
        self
    }

    /// Connects (one attempt, bounded by the handshake timeout) and returns the client;
    /// reconnection applies to connections lost after this.
    pub async fn connect(mut self) -> Result<Client, Error> {
        if let Some(message) = self.errors.into_iter().next() {
            return Err(Error::Connect { message });
        }
        if self.config.subprotocols.is_empty() {
            let default = match self.config.codec.family() {
                wsx_core::codec::CodecFamily::Json => SUBPROTOCOL_JSON,
                wsx_core::codec::CodecFamily::Cbor => SUBPROTOCOL_CBOR,
            };
            self.config.subprotocols.push(default.to_owned());
        }
        self.config.subprotocols.retain(|p| !p.is_empty());
        Client::start(self.config).await
    }
}
