//! The server's metrics (through the `metrics` facade, in the app's recorder): their
//! descriptions, the handles of the counters every frame touches, and handler timing.

/// Gives every `wsx_*` metric its `# HELP` text and unit, in the recorder installed
/// now. [`ServerBuilder::build`](super::ServerBuilder::build) calls it; an app that
/// installs its recorder later calls it again after installing (calling twice is
/// harmless).
pub fn describe_metrics() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_gauge!("wsx_connections", "Open WebSocket connections.");
    describe_counter!("wsx_connections_total", "WebSocket connections opened.");
    describe_counter!(
        "wsx_connections_refused_total",
        "Upgrades refused because the server was at its connection limit."
    );
    describe_counter!(
        "wsx_connections_rejected_total",
        "Upgrades rejected by the app's connect hook (e.g. an Origin not allowed)."
    );
    describe_counter!("wsx_frames_in_total", "Frames received, by event.");
    describe_counter!(
        "wsx_frames_out_total",
        "Frames queued for sending, by event."
    );
    describe_counter!(
        "wsx_frames_dropped_total",
        "Droppable frames dropped because a connection's queue was full."
    );
    describe_counter!("wsx_frames_written_total", "Frames written to sockets.");
    describe_counter!(
        "wsx_writes_total",
        "Socket writes (each may carry several frames)."
    );
    describe_counter!(
        "wsx_bytes_in_total",
        "Bytes received in WebSocket messages."
    );
    describe_counter!(
        "wsx_queue_overflows_total",
        "Connections whose outbound queue overflowed (slow consumers, disconnected)."
    );
    describe_counter!(
        "wsx_write_timeouts_total",
        "Connections closed because a write made no progress for the write timeout."
    );
    describe_counter!(
        "wsx_errors_total",
        "Error answers and pushes, by protocol error code."
    );
    describe_histogram!(
        "wsx_handler_seconds",
        metrics::Unit::Seconds,
        "Time spent in request handlers, by event (when the server's handler_timing is on)."
    );
}

/// The counters every message or write touches, looked up once per process instead of
/// once per message (a lookup builds and hashes a key). The first connection comes after
/// the app installed its recorder, so the handles are the recorder's.
pub(super) struct IoCounters {
    pub(super) bytes_in: metrics::Counter,
    pub(super) writes: metrics::Counter,
    pub(super) frames_written: metrics::Counter,
}

pub(super) fn io_counters() -> &'static IoCounters {
    static COUNTERS: std::sync::OnceLock<IoCounters> = std::sync::OnceLock::new();
    COUNTERS.get_or_init(|| IoCounters {
        bytes_in: metrics::counter!("wsx_bytes_in_total"),
        writes: metrics::counter!("wsx_writes_total"),
        frames_written: metrics::counter!("wsx_frames_written_total"),
    })
}

/// The `wsx_handler_seconds` histogram of one event, looked up once (on first use, after
/// the app installed its recorder) rather than once per message. Used only when
/// [`ServerConfig::handler_timing`](super::ServerConfig::handler_timing) is on.
#[derive(Default)]
pub(super) struct HandlerSeconds(std::sync::OnceLock<::metrics::Histogram>);

impl HandlerSeconds {
    /// Starts timing one call.
    pub(super) fn start(&self, event: &'static str) -> HandlerTimer {
        let histogram = self
            .0
            .get_or_init(|| ::metrics::histogram!("wsx_handler_seconds", "event" => event))
            .clone();
        HandlerTimer {
            histogram,
            started: handler_clock().raw(),
        }
    }
}

/// One call being timed.
pub(super) struct HandlerTimer {
    histogram: ::metrics::Histogram,
    started: u64,
}

impl HandlerTimer {
    /// Records the time since [`HandlerSeconds::start`].
    pub(super) fn stop(self) {
        let clock = handler_clock();
        let nanos = clock.delta_as_nanos(self.started, clock.raw());
        self.histogram.record(nanos as f64 * 1e-9);
    }
}

/// The clock handlers are timed with: the CPU's time-stamp counter where it is steady
/// (quanta checks), calibrated once per process when the first server is built: it is
/// read twice per request, and a counter read costs a fraction of a system clock read.
pub(crate) fn handler_clock() -> &'static quanta::Clock {
    static CLOCK: std::sync::OnceLock<quanta::Clock> = std::sync::OnceLock::new();
    CLOCK.get_or_init(quanta::Clock::new)
}
