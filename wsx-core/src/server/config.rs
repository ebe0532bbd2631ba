//! Server limits, each with a documented, conservative default.

use std::time::Duration;

/// Limits and timings of a [`Server`](super::Server). Every field has a default chosen for
/// a chat-like workload with many mostly idle connections; see [`ServerConfig::default`].
///
/// ```
/// use std::time::Duration;
/// use wsx_core::server::ServerConfig;
///
/// let config = ServerConfig {
///     max_message_size: 16 * 1024,
///     idle_timeout: Some(Duration::from_secs(300)),
///     ..ServerConfig::default()
/// };
/// assert_eq!(config.read_buffer_size, 1024);
/// ```
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest message accepted, in bytes. A larger one closes the connection with 1009.
    /// Default 64 KiB.
    pub max_message_size: usize,
    /// WebSocket read buffer per connection: what an idle connection keeps allocated, the
    /// most one socket read takes, and what tungstenite zeroes before each read. Default
    /// 1 KiB: an idle connection then costs about 4 KiB in all (130 KiB with tungstenite's
    /// 128 KiB default), and bursts of small messages still arrive in one read. A larger
    /// message grows the buffer to its size but is read 1 KiB per system call; raise it
    /// for a workload of large messages (see BENCHMARKS.md for what each size costs).
    pub read_buffer_size: usize,
    /// Bytes buffered before a write goes to the socket. Default 4 KiB; 0 writes at once.
    pub write_buffer_size: usize,
    /// Most frames waiting in one connection's outbound queue. A peer that does not read
    /// fills it and is disconnected with 1008 (droppable pushes are dropped first, oldest
    /// first). Default 1024.
    pub outbound_queue: usize,
    /// Most bytes waiting for one connection: queued frames plus the burst being written.
    /// Past it the connection is a slow consumer and is closed with 1008, as when
    /// [`outbound_queue`](Self::outbound_queue) is full (a single frame larger than this
    /// is still sent when nothing else waits). Error replies count too, so a peer that
    /// sends bad frames without reading their answers is cut off. Default 1 MiB.
    pub max_queued_bytes: usize,
    /// How long a write may make no progress (not one frame taken by the socket) before
    /// the connection is closed (reason [`WriteTimeout`](super::DisconnectReason::WriteTimeout),
    /// close 1008): a peer that stops reading cannot hold its queue forever. The idle and
    /// pong timers keep running while a write waits. Default 5 s.
    pub write_timeout: Duration,
    /// Most connections at once; past it the upgrade is answered 503. Default 20 000.
    pub max_connections: usize,
    /// Most rooms one connection may be in; joining more fails with
    /// [`RoomError::TooManyRooms`](super::RoomError::TooManyRooms). Default 64.
    pub max_rooms_per_connection: usize,
    /// Messages per second one connection may send on average (token bucket refill).
    /// `None` disables the limit. Default 100.
    pub rate_limit_per_second: Option<u32>,
    /// Token bucket size: how many messages may arrive at once. Default 200.
    pub rate_limit_burst: u32,
    /// Over-limit messages tolerated (each answered `rate_limited`) before the
    /// connection is closed with 1008. Default 50.
    pub rate_limit_strikes: u32,
    /// Undecodable frames tolerated (each answered with a `$error` push) before the
    /// connection is closed with 1008. Default 10.
    pub max_bad_frames: u32,
    /// Handlers of one connection running at once. Default 1: a connection's events are
    /// handled one after another, in the order they arrived (two quick `sendMessage`s keep
    /// their order). Raise it when a connection's requests are independent and may
    /// overlap. While the limit is reached the socket is not read, which pushes back on
    /// the peer. Handlers that finish without waiting never count against it.
    ///
    /// Handlers always start (run up to their first wait) in arrival order; with more
    /// than one in flight, a request that depends on an earlier one's effect must wait
    /// for it, e.g. with a fair lock in the connection state that the earlier handler
    /// holds (the chat does this, `examples/chat/src/chat/session.rs`). A connection
    /// that sends faster than one handler's round trip (a chat sender whose message
    /// waits for a database commit) needs more than one.
    pub max_in_flight: usize,
    /// How often the server pings. `None` disables pings. Default 25 s.
    pub ping_interval: Option<Duration>,
    /// How long a peer may stay silent (no frame at all, pongs included) after a ping
    /// before it is considered dead and dropped. Default 20 s.
    pub pong_timeout: Duration,
    /// Close connections that send no message (pings and pongs do not count) for this
    /// long, with close code 4000. `None` disables it. Default `None`; the chat app uses
    /// 5 minutes.
    pub idle_timeout: Option<Duration>,
    /// How long a connection whose codec is not known yet (no subprotocol, no `codec=`
    /// query) holds its pushes, waiting for its first frame to tell the codec: pushes
    /// made on open (a `welcome`) then reach a CBOR or binary-JSON client in its own
    /// codec. Past it, held pushes go out in the server's default codec. `ZERO` sends
    /// them at once. Default 2 s.
    pub codec_wait: Duration,
    /// How long graceful shutdown waits for connections to flush and close. Default 5 s.
    pub shutdown_deadline: Duration,
    /// Validate responses and pushes against their schema before sending. Default: on in
    /// debug builds (and so in tests), off in release builds.
    pub validate_outgoing: bool,
    /// Time every handler call into the `wsx_handler_seconds` histogram (by event). Off
    /// by default: it reads the clock twice per request (about 1.4% of an echo round
    /// trip's server CPU on the benchmark's host), which only pays off where a metrics
    /// recorder is installed to receive it. The frame and error counters are kept either
    /// way; they cost nothing without a recorder.
    pub handler_timing: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_message_size: 64 * 1024,
            read_buffer_size: 1024,
            write_buffer_size: 4 * 1024,
            outbound_queue: 1024,
            max_queued_bytes: 1024 * 1024,
            write_timeout: Duration::from_secs(5),
            max_connections: 20_000,
            max_rooms_per_connection: 64,
            rate_limit_per_second: Some(100),
            rate_limit_burst: 200,
            rate_limit_strikes: 50,
            max_bad_frames: 10,
            max_in_flight: 1,
            ping_interval: Some(Duration::from_secs(25)),
            pong_timeout: Duration::from_secs(20),
            idle_timeout: None,
            codec_wait: Duration::from_secs(2),
            shutdown_deadline: Duration::from_secs(5),
            validate_outgoing: cfg!(debug_assertions),
            handler_timing: false,
        }
    }
}
