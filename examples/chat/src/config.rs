//! The server's settings: flags and environment variables (clap), with documented
//! defaults.

use crate::store::Database;
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
    /// SQLite database file holding every room message (when `--database` is not given).
    #[arg(long, env = "WSX_CHAT_DB", default_value = "wsx-chat.db")]
    pub db: PathBuf,
    /// Keep history in memory only (a fresh database every start: tests and demos).
    #[arg(long, env = "WSX_CHAT_MEMORY", conflicts_with = "database")]
    pub memory: bool,
    /// Where the history lives: `sqlite://FILE` (one node; the same as `--db FILE`) or
    /// `postgres://USER@HOST:PORT/DB` (a database several nodes may share). Default:
    /// the SQLite file of `--db`.
    #[arg(long, env = "WSX_CHAT_DATABASE", value_parser = Database::parse)]
    pub database: Option<Database>,
    /// The Redis that joins several nodes into one chat (`redis://HOST:PORT`). Needs a
    /// shared `--database postgres://…`: a SQLite file cannot be shared between nodes.
    #[arg(long, env = "WSX_CHAT_REDIS")]
    pub redis: Option<String>,
    /// The start of every Redis key and channel of this chat (several chats, or tests,
    /// may share one Redis); every node of one chat uses the same.
    #[arg(long, env = "WSX_CHAT_REDIS_PREFIX", default_value = "wsx-chat")]
    pub redis_prefix: String,
    /// With `--redis`: how long a node that stopped answering (killed, cut off) still
    /// holds its users' names and counts in member lists.
    #[arg(long, env = "WSX_CHAT_NODE_EXPIRY", default_value = "10s", value_parser = parse_duration)]
    pub node_expiry: Duration,
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
    /// Messages (room and private) one user name may send, across all its connections
    /// and reconnects: `COUNT/PERIOD` (e.g. `40/2s`: bursts of 40, one more every 50 ms);
    /// `0`: no limit. Default: what one connection may send (`--rate-limit`).
    #[arg(long, env = "WSX_CHAT_USER_RATE_LIMIT", value_parser = RateSpec::parse)]
    pub user_rate_limit: Option<RateSpec>,
    /// Messages one client address (an IPv6 address by its /64) may send, whatever the
    /// names and connections: `COUNT/PERIOD`; `0`: no limit. Default: five users' worth.
    /// The address is the TCP peer's (`X-Forwarded-For` is not trusted): behind a reverse
    /// proxy every user shares the proxy's, so raise this there or turn it off.
    #[arg(long, env = "WSX_CHAT_IP_RATE_LIMIT", value_parser = RateSpec::parse)]
    pub ip_rate_limit: Option<RateSpec>,
    /// Rooms one client address may bring into memory with `join` (a new room, or one
    /// that was evicted): `COUNT/PERIOD`; `0`: no limit.
    #[arg(long, env = "WSX_CHAT_ROOM_RATE_LIMIT", default_value = "30/1m", value_parser = RateSpec::parse)]
    pub room_rate_limit: RateSpec,
    /// Most live rooms (rooms with members); a join that would open one more is refused.
    /// Rooms without members leave memory: at once when they have no history, after
    /// `--room-idle` (or sooner, when the cap is reached) when they have.
    #[arg(long, env = "WSX_CHAT_MAX_ROOMS", default_value_t = 10_000)]
    pub max_rooms: usize,
    /// How long a room with history stays in memory without members (`0`: leaves at
    /// once); it is loaded again from the database on the next join.
    #[arg(long, env = "WSX_CHAT_ROOM_IDLE", default_value = "1m", value_parser = parse_duration)]
    pub room_idle: Duration,
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
            database: None,
            redis: None,
            redis_prefix: "wsx-chat".to_owned(),
            node_expiry: Duration::from_secs(10),
            history: 100,
            idle_timeout: Duration::from_secs(300),
            allowed_origins: Vec::new(),
            max_message_bytes: 16 * 1024,
            rate_limit: 20,
            user_rate_limit: None,
            ip_rate_limit: None,
            room_rate_limit: RateSpec {
                count: 30,
                per: Duration::from_secs(60),
            },
            max_rooms: 10_000,
            room_idle: Duration::from_secs(60),
            typing_timeout: Duration::from_secs(5),
            stats_interval: Duration::from_secs(5),
        }
    }
}

impl Config {
    /// The per-name message limit: `--user-rate-limit`, or one connection's budget.
    pub fn user_rate(&self) -> RateSpec {
        self.user_rate_limit.unwrap_or(RateSpec {
            count: self.rate_limit.saturating_mul(2),
            per: Duration::from_secs(2),
        })
    }

    /// The per-address message limit: `--ip-rate-limit`, or five users' budgets.
    pub fn ip_rate(&self) -> RateSpec {
        self.ip_rate_limit.unwrap_or(RateSpec {
            count: self.rate_limit.saturating_mul(10),
            per: Duration::from_secs(2),
        })
    }

    /// Where the history lives (`--memory`, `--database`, else `--db`), once checked
    /// against `--redis`.
    pub fn database(&self) -> Result<Database, String> {
        let database = if self.memory {
            Database::Memory
        } else {
            self.database
                .clone()
                .unwrap_or_else(|| Database::Sqlite(self.db.clone()))
        };
        if self.redis.is_some() && !database.is_shared() {
            return Err(format!(
                "--redis joins nodes that share one database, but the history is in {}: \
                 a SQLite file cannot be shared between nodes; use --database postgres://…",
                database.describe()
            ));
        }
        Ok(database)
    }

    /// The idle timeout, `None` when disabled.
    pub fn idle_timeout(&self) -> Option<Duration> {
        (!self.idle_timeout.is_zero()).then_some(self.idle_timeout)
    }
}

/// A rate: `count` events per `per`, in bursts of up to `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateSpec {
    /// How many (0: no limit).
    pub count: u32,
    /// In how long.
    pub per: Duration,
}

impl RateSpec {
    /// No limit.
    pub const OFF: RateSpec = RateSpec {
        count: 0,
        per: Duration::from_secs(1),
    };

    /// Parses `COUNT/PERIOD` (`40/2s`, `30/1m`, `5/s`) or `0` (no limit).
    pub fn parse(s: &str) -> Result<RateSpec, String> {
        let s = s.trim();
        if s == "0" {
            return Ok(RateSpec::OFF);
        }
        let (count, per) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}` is not a rate (e.g. 40/2s, 30/1m, or 0 for none)"))?;
        let count: u32 = count
            .trim()
            .parse()
            .map_err(|_| format!("`{count}` is not a count (in `{s}`)"))?;
        let per = per.trim();
        let per = if per.starts_with(|c: char| c.is_ascii_digit()) {
            parse_duration(per)?
        } else {
            parse_duration(&format!("1{per}"))?
        };
        if per.is_zero() {
            return Err(format!("the period of `{s}` is zero"));
        }
        Ok(RateSpec { count, per })
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
        // Rates follow `--rate-limit` unless given.
        assert_eq!(c.user_rate().count, 40);
        assert_eq!(c.ip_rate().count, 200);
    }

    #[test]
    fn databases_and_redis() {
        let parse = |args: &[&str]| {
            Config::try_parse_from(std::iter::once("wsx-chat").chain(args.iter().copied())).unwrap()
        };
        // No flag: today's SQLite file.
        assert_eq!(
            parse(&[]).database().unwrap(),
            Database::Sqlite("wsx-chat.db".into())
        );
        assert_eq!(
            parse(&["--db", "a.db"]).database().unwrap(),
            Database::Sqlite("a.db".into())
        );
        assert_eq!(parse(&["--memory"]).database().unwrap(), Database::Memory);
        assert_eq!(
            parse(&["--database", "sqlite://b.db"]).database().unwrap(),
            Database::Sqlite("b.db".into())
        );
        assert_eq!(
            parse(&["--database", "postgres://root@127.0.0.1/test"])
                .database()
                .unwrap(),
            Database::Postgres("postgres://root@127.0.0.1/test".into())
        );
        assert!(Config::try_parse_from(["wsx-chat", "--database", "chat.db"]).is_err());
        assert!(
            Config::try_parse_from(["wsx-chat", "--memory", "--database", "sqlite://x"]).is_err()
        );
        // A SQLite file cannot be shared: --redis is refused, saying why.
        for args in [
            &["--redis", "redis://127.0.0.1:6379"][..],
            &["--redis", "redis://127.0.0.1:6379", "--memory"],
            &[
                "--redis",
                "redis://127.0.0.1:6379",
                "--database",
                "sqlite://c.db",
            ],
        ] {
            let e = parse(args).database().unwrap_err();
            assert!(
                e.contains("cannot be shared between nodes"),
                "{args:?}: {e}"
            );
        }
        // PostgreSQL and Redis: a cluster node.
        assert!(
            parse(&[
                "--redis",
                "redis://127.0.0.1:6379",
                "--database",
                "postgres://root@127.0.0.1/test",
            ])
            .database()
            .unwrap()
            .is_shared()
        );
    }

    #[test]
    fn rates_parse() {
        let r = |s| RateSpec::parse(s).unwrap();
        assert_eq!(
            r("40/2s"),
            RateSpec {
                count: 40,
                per: Duration::from_secs(2)
            }
        );
        assert_eq!(r("30/m").per, Duration::from_secs(60));
        assert_eq!(r("5/1m").per, Duration::from_secs(60));
        assert_eq!(r("0").count, 0);
        for bad in ["40", "x/s", "4/0s", "4/parsec"] {
            assert!(RateSpec::parse(bad).is_err(), "{bad}");
        }
        let c = Config::try_parse_from(["wsx-chat", "--rate-limit", "0"]).unwrap();
        assert_eq!((c.user_rate().count, c.ip_rate().count), (0, 0));
    }
}
