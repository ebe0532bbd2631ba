//! `GET /metrics`: Prometheus text of everything the process records — the framework's
//! `wsx_*` metrics and the chat's own `chat_*` ones.
//!
//! The recorder is global to the process: the first server installs it and later ones
//! (tests start many) share it.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder once per process; `None` if another recorder was
/// installed first.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| match PrometheusBuilder::new().install_recorder() {
            Ok(handle) => {
                describe();
                Some(handle)
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics recorder not installed: /metrics will be empty");
                None
            }
        })
        .clone()
}

fn describe() {
    metrics::describe_counter!("chat_messages_total", "Room messages committed.");
    metrics::describe_counter!("chat_private_messages_total", "Private messages delivered.");
    metrics::describe_counter!(
        "chat_origin_refused_total",
        "WebSocket upgrades refused for their Origin."
    );
    metrics::describe_counter!(
        "chat_rate_limited_total",
        "Messages and room creations refused by a per-name or per-address rate limit (`limit`: user, address, rooms)."
    );
    metrics::describe_counter!(
        "chat_sessions_resumed_total",
        "Names taken back with a resume token from a connection that never closed."
    );
    metrics::describe_gauge!("chat_users", "Users with a name.");
    metrics::describe_gauge!(
        "chat_rooms_loaded",
        "Rooms held in memory (with members, or emptied within --room-idle)."
    );
    metrics::describe_gauge!("chat_sse_clients", "Open /events streams.");
    describe_framework();
    // Present from the start, so a scrape of an idle server is not empty.
    metrics::counter!("chat_messages_total").absolute(0);
    metrics::gauge!("chat_users").set(0.0);
}

/// The `# HELP` of the framework's `wsx_*` metrics. `wsx-core` records them without
/// describing them; the recorder is the app's, so the app describes them (a metric
/// described but never recorded is not rendered).
fn describe_framework() {
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
        "wsx_errors_total",
        "Error answers and pushes, by protocol error code."
    );
    describe_histogram!(
        "wsx_handler_seconds",
        metrics::Unit::Seconds,
        "Time spent in request handlers, by event."
    );
}

/// Keeps histograms from growing without bound; call every few seconds.
pub fn upkeep() {
    if let Some(Some(handle)) = HANDLE.get() {
        handle.run_upkeep();
    }
}

/// `GET /metrics`.
pub async fn render() -> Response {
    let body = HANDLE
        .get()
        .and_then(|h| h.as_ref())
        .map(|h| h.render())
        .unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}
