//! The server's settings: flags and environment variables (clap), with documented
//! defaults.

use clap::Parser;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// How to run the chat server. Every flag also reads an environment variable
/// (`WSX_CHAT_*`); flags win.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "wsx-chat",
    version,
    about = "The wsx example chat server: WebSocket, REST, SSE and metrics on one port"
)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "WSX_CHAT_ADDR", default_value = "127.0.0.1")]
    pub addr: IpAddr,
    /// Port to listen on (0: any free port; the bound address is printed on stdout).
    #[arg(long, short, env = "WSX_CHAT_PORT", default_value_t = 3001)]
    pub port: u16,
    /// SQLite database file holding every room message.
    #[arg(long, env = "WSX_CHAT_DB", default_value = "wsx-chat.db")]
    pub db: PathBuf,
    /// Keep history in memory only (a fresh database every start: tests and demos).
    #[arg(long, env = "WSX_CHAT_MEMORY")]
    pub memory: bool,
    /// Messages kept per room for `join` and for replay after a reconnect.
    #[arg(long, env = "WSX_CHAT_HISTORY", default_value_t = 100)]
    pub history: usize,
    /// Close connections that send nothing for this long (`300`, `90s`, `5m`, `500ms`; `0`: never).
    #[arg(long, env = "WSX_CHAT_IDLE_TIMEOUT", default_value = "5m", value_parser = parse_duration)]
    pub idle_timeout: Duration,
    /// Origins allowed to open a WebSocket, besides the server's own page at its listen
    /// address (`http://127.0.0.1:PORT`, `http://localhost:PORT`, `http://[::1]:PORT`);
    /// comma-separated, `*` allows any. Serving the page under another name (a domain, a
    /// proxy, a dev server on another port) needs it here: the request's `Host` is never
    /// trusted (DNS rebinding). A client that sends no `Origin` (not a browser) is always
    /// allowed.
    #[arg(
        long = "allow-origin",
        env = "WSX_CHAT_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,
    /// Largest WebSocket message accepted, in bytes (a larger one closes with 1009).
    #[arg(long, env = "WSX_CHAT_MAX_MESSAGE_BYTES", default_value_t = 16 * 1024)]
    pub max_message_bytes: usize,
    /// Messages per second one connection may send on average (`0`: no limit); bursts
    /// of twice as many are allowed.
    #[arg(long, env = "WSX_CHAT_RATE_LIMIT", default_value_t = 20)]
    pub rate_limit: u32,
    /// Most rooms the server keeps (each holds its recent history in memory).
    #[arg(long, env = "WSX_CHAT_MAX_ROOMS", default_value_t = 10_000)]
    pub max_rooms: usize,
    /// How long a `typing` lasts without a new one.
    #[arg(long, env = "WSX_CHAT_TYPING_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub typing_timeout: Duration,
    /// How often the SSE stream carries a `stats` event.
    #[arg(long, env = "WSX_CHAT_STATS_INTERVAL", default_value = "5s", value_parser = parse_duration)]
    pub stats_interval: Duration,
}

impl Default for Config {
    /// The defaults of the flags, with history in memory (what tests want).
    fn default() -> Self {
        Config {
            addr: IpAddr::from([127, 0, 0, 1]),
            port: 3001,
            db: PathBuf::from("wsx-chat.db"),
            memory: true,
            history: 100,
            idle_timeout: Duration::from_secs(300),
            allowed_origins: Vec::new(),
            max_message_bytes: 16 * 1024,
            rate_limit: 20,
            max_rooms: 10_000,
            typing_timeout: Duration::from_secs(5),
            stats_interval: Duration::from_secs(5),
        }
    }
}

impl Config {
    /// The idle timeout, `None` when disabled.
    pub fn idle_timeout(&self) -> Option<Duration> {
        (!self.idle_timeout.is_zero()).then_some(self.idle_timeout)
    }
}

/// Parses `300` (seconds), `300s`, `5m`, `500ms`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (digits, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map_or((s, ""), |i| s.split_at(i));
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (e.g. 300, 90s, 5m, 500ms)"))?;
    match unit {
        "" | "s" => Ok(Duration::from_secs(n)),
        "ms" => Ok(Duration::from_millis(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        other => Err(format!("unknown unit `{other}` (use ms, s, m or h)")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("300").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("m").is_err());
    }

    #[test]
    fn flags_parse() {
        let c = Config::try_parse_from([
            "wsx-chat",
            "--port",
            "0",
            "--memory",
            "--allow-origin",
            "https://a.example,https://b.example",
            "--idle-timeout",
            "0",
        ])
        .unwrap();
        assert_eq!(c.port, 0);
        assert!(c.memory);
        assert_eq!(
            c.allowed_origins,
            ["https://a.example", "https://b.example"]
        );
        assert_eq!(c.idle_timeout(), None);
    }
}
