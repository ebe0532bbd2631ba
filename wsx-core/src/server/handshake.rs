//! What the client sent when it opened the connection.

use http::{HeaderMap, Uri};
use std::net::SocketAddr;

/// The upgrade request of a connection: headers, URI (with its query) and peer address.
/// Given to the connect hook, and to handlers that take `Arc<Handshake>`.
#[derive(Debug, Clone, Default)]
pub struct Handshake {
    /// The request URI, with its query string.
    pub uri: Uri,
    /// The request headers.
    pub headers: HeaderMap,
    /// The peer's address, when the server was started with
    /// `into_make_service_with_connect_info::<SocketAddr>()`.
    pub peer_addr: Option<SocketAddr>,
    /// The WebSocket subprotocol agreed on (`wsx.v1.json` or `wsx.v1.cbor`), if any.
    pub protocol: Option<String>,
}

impl Handshake {
    /// A handshake holding its own copy of the request's URI and headers.
    ///
    /// hyper parses headers without copying: their values are slices of the connection's
    /// read buffer (8 KiB or more). Keeping those slices for the life of a WebSocket would
    /// keep that whole buffer alive per connection, so the parts are copied out.
    pub fn detached(
        uri: &Uri,
        headers: &HeaderMap,
        peer_addr: Option<SocketAddr>,
        protocol: Option<String>,
    ) -> Self {
        // The WebSocket handshake's own headers mean nothing to an app once upgraded.
        const SKIP: [&str; 5] = [
            "sec-websocket-key",
            "sec-websocket-version",
            "sec-websocket-extensions",
            "connection",
            "upgrade",
        ];
        let keep = |name: &http::HeaderName| !SKIP.contains(&name.as_str());
        let mut own = HeaderMap::with_capacity(headers.keys().filter(|n| keep(n)).count());
        for (name, value) in headers.iter().filter(|(name, _)| keep(name)) {
            if let Ok(value) = http::HeaderValue::from_bytes(value.as_bytes()) {
                own.append(name.clone(), value);
            }
        }
        let uri = match uri.path_and_query() {
            Some(pq) => Uri::try_from(pq.as_str()).unwrap_or_default(),
            None => Uri::default(),
        };
        Handshake {
            uri,
            headers: own,
            peer_addr,
            protocol,
        }
    }

    /// A header's value, if present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `Origin` header.
    pub fn origin(&self) -> Option<&str> {
        self.header("origin")
    }

    /// A query parameter, percent-decoded (`+` is a space), as
    /// `application/x-www-form-urlencoded` reads it.
    pub fn query(&self, key: &str) -> Option<String> {
        let query = self.uri.query()?;
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_is_decoded() {
        let h = Handshake {
            uri: "/ws?codec=cbor&name=J%C3%BCrgen+K&flag".parse().unwrap(),
            ..Default::default()
        };
        assert_eq!(h.query("codec").as_deref(), Some("cbor"));
        assert_eq!(h.query("name").as_deref(), Some("Jürgen K"));
        assert_eq!(h.query("flag").as_deref(), Some(""));
        assert_eq!(h.query("missing"), None);
        let odd = Handshake {
            uri: "/ws?a=%zz&b=%4".parse().unwrap(),
            ..Default::default()
        };
        assert_eq!(odd.query("a").as_deref(), Some("%zz"));
        assert_eq!(odd.query("b").as_deref(), Some("%4"));
    }
}
