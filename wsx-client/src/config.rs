//! The settings a client runs with, fixed when it is built.
//!
//! A leaf module: [`ClientBuilder`](crate::ClientBuilder) fills a [`Config`], the
//! [`Client`](crate::Client) handles and the I/O task read it; nothing here refers back to
//! either of them.

use crate::reconnect::ReconnectPolicy;
use http::HeaderMap;
use std::time::Duration;
use wsx_core::Codec;
use wsx_core::codec::CodecFamily;
use wsx_core::protocol::{SUBPROTOCOL_CBOR, SUBPROTOCOL_JSON};

/// Everything the connection needs, fixed when the client is built.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// The servers, in the order they are tried; never empty.
    pub(crate) urls: Vec<String>,
    pub(crate) codec: Codec,
    pub(crate) request_timeout: Duration,
    pub(crate) handshake_timeout: Duration,
    pub(crate) reconnect: ReconnectPolicy,
    pub(crate) headers: HeaderMap,
    /// `None`: the wsx subprotocol of the codec's family; `Some(list)` as given (an
    /// empty list offers none).
    pub(crate) subprotocols: Option<Vec<String>>,
    pub(crate) ping_interval: Option<Duration>,
    pub(crate) pong_timeout: Duration,
    pub(crate) send_queue: usize,
    pub(crate) max_message_size: usize,
}

impl Config {
    /// The documented defaults, for the server at `url`.
    pub(crate) fn new(url: String) -> Self {
        Config {
            urls: vec![url],
            codec: Codec::JsonText,
            request_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
            reconnect: ReconnectPolicy::default(),
            headers: HeaderMap::new(),
            subprotocols: None,
            ping_interval: Some(Duration::from_secs(20)),
            pong_timeout: Duration::from_secs(10),
            send_queue: 256,
            max_message_size: 4 << 20,
        }
    }

    /// The subprotocols offered in the handshake.
    pub(crate) fn offered_subprotocols(&self) -> Vec<&str> {
        match &self.subprotocols {
            Some(list) => list.iter().map(String::as_str).collect(),
            None => vec![match self.codec.family() {
                CodecFamily::Json => SUBPROTOCOL_JSON,
                CodecFamily::Cbor => SUBPROTOCOL_CBOR,
            }],
        }
    }

    /// The URL at `index`, counted round the list.
    pub(crate) fn url(&self, index: usize) -> &str {
        // `urls` is never empty: the builder starts with one and refuses an empty list.
        self.urls
            .get(index % self.urls.len().max(1))
            .map_or("", String::as_str)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn default_subprotocol_follows_the_codec_family() {
        let mut config = Config::new("ws://127.0.0.1:1/ws".into());
        assert_eq!(config.offered_subprotocols(), [SUBPROTOCOL_JSON]);
        config.codec = Codec::CborRecords;
        assert_eq!(config.offered_subprotocols(), [SUBPROTOCOL_CBOR]);
        config.subprotocols = Some(Vec::new());
        assert!(config.offered_subprotocols().is_empty());
    }

    #[test]
    fn urls_are_counted_round_the_list() {
        let mut config = Config::new("ws://a/ws".into());
        config.urls.push("ws://b/ws".into());
        assert_eq!(config.url(0), "ws://a/ws");
        assert_eq!(config.url(1), "ws://b/ws");
        assert_eq!(config.url(2), "ws://a/ws");
    }
}
