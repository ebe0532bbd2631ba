//! Everything on one port: the WebSocket at `/ws`, the REST API, `/events`, `/metrics`
//! and the page; and the graceful shutdown of it all.

use crate::app::{App, StartError};
use crate::chat::{User, build_server};
use crate::config::Config;
use axum::Router;
use axum::routing::get;
use axum::serve::ListenerExt;
use std::future::Future;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use wsx_core::protocol::close_code;
use wsx_core::server::Server;

/// A chat server, built and ready to serve.
#[derive(Debug)]
pub struct Chat {
    /// The app state.
    pub app: App,
    /// The WebSocket server (pushes, connection counts, shutdown).
    pub server: Server<App, User>,
    /// Every route.
    pub router: Router,
}

impl Chat {
    /// Opens the database and builds the routes.
    pub async fn new(config: Config) -> Result<Chat, StartError> {
        crate::metrics::install();
        let app = App::new(config).await?;
        let server = build_server(app.clone())?;
        let router = Router::new()
            .route("/ws", server.route())
            .merge(crate::http::routes())
            .route("/events", get(crate::sse::events))
            .route("/metrics", get(crate::metrics::render))
            .with_state(app.clone())
            .merge(crate::page::routes());
        Ok(Chat {
            app,
            server,
            router,
        })
    }

    /// Serves on `listener` until `signal` completes, then shuts down gracefully: new
    /// connections are refused, WebSockets are closed with 1001 and the reason
    /// [`RESTARTING`] after what they have queued (nobody is announced as leaving: the
    /// clients reconnect), SSE streams end, the database is checkpointed and closed. A
    /// cluster node then parks its users for the grace window (see
    /// [`crate::cluster::Cluster::park`]).
    pub async fn serve<F>(self, listener: TcpListener, signal: F) -> Result<(), StartError>
    where
        F: Future + Send + 'static,
    {
        if let Ok(addr) = listener.local_addr() {
            self.app.set_local_addr(addr);
        }
        let ticker = tokio::spawn(stats_ticker(self.app.clone()));
        let cluster_tasks = self
            .app
            .cluster()
            .map(|c| c.start(self.app.clone()))
            .unwrap_or_default();
        let service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        let listener = listener.tap_io(tune_socket);
        let (app, server) = (self.app.clone(), self.server.clone());
        let closing = async move {
            signal.await;
            app.begin_shutdown();
            for conn in server.connections() {
                conn.close(close_code::GOING_AWAY, RESTARTING);
            }
        };
        let served = axum::serve(listener, service)
            .with_graceful_shutdown(self.server.shutdown_on(closing))
            .await;
        ticker.abort();
        for task in cluster_tasks {
            task.abort();
        }
        if let Some(cluster) = self.app.cluster() {
            cluster.park(&self.app.held_names()).await;
        }
        Ok(served?)
    }
}

/// The reason sent with 1001 (going away) at a graceful shutdown: the server comes back (or
/// another node takes over), so clients reconnect.
pub const RESTARTING: &str = "server restarting";

/// What every accepted connection gets: `TCP_NODELAY`. Pushes are small writes, and with
/// Nagle's algorithm each one waits while the previous one is unacknowledged (it was
/// what made the chat's fan-out latency twice the bare server's, `BENCHMARKS.md`).
fn tune_socket(tcp: &mut tokio::net::TcpStream) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::warn!(error = %e, "could not set TCP_NODELAY");
    }
}

/// Publishes a `stats` system event every `--stats-interval`.
async fn stats_ticker(app: App) {
    let period = app
        .config()
        .stats_interval
        .max(std::time::Duration::from_millis(100));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        // A cluster's figures are each node's snapshot, not events of the shared log.
        if app.cluster().is_some() {
            app.events().publish_live("stats", app.stats_now().await);
        } else {
            app.events().publish("stats", app.stats());
        }
        app.evict_idle_rooms();
        crate::metrics::upkeep();
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn accepted_sockets_do_not_wait_for_acks_before_small_writes() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (_client, accepted) =
            tokio::join!(tokio::net::TcpStream::connect(addr), listener.accept());
        let (mut tcp, _) = accepted.unwrap();
        assert!(!tcp.nodelay().unwrap(), "Nagle is on by default");
        super::tune_socket(&mut tcp);
        assert!(tcp.nodelay().unwrap());
    }
}
