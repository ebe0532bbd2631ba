//! A server under test, run as a child process so that its memory is its own.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server; killed when dropped.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// What it is, for the report (`wsx`, `bare`, `chat`).
    pub name: String,
}

/// A binary next to the running one (`target/release/NAME`).
pub fn sibling(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    exe.parent()
        .map(|dir| dir.join(name))
        .unwrap_or_else(|| PathBuf::from(name))
}

/// The chat server binary: `given`, else `wsx-chat` next to this program; when it is not
/// there, an error that says how to build it.
pub fn chat_binary(given: Option<PathBuf>) -> Result<PathBuf, String> {
    let chat = given.unwrap_or_else(|| sibling("wsx-chat"));
    if chat.exists() {
        Ok(chat)
    } else {
        Err(format!(
            "{} not found; build it with `cargo build --release -p wsx-chat`",
            chat.display()
        ))
    }
}

impl ServerProcess {
    /// Starts a server that prints `listening on ADDR` as its first stdout line.
    pub fn spawn_announced(
        name: &str,
        bin: &Path,
        args: &[&str],
    ) -> std::io::Result<ServerProcess> {
        let mut child = Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("no stdout"))?;
        let mut lines = BufReader::new(stdout);
        let mut first = String::new();
        lines.read_line(&mut first)?;
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = String::new();
            while matches!(lines.read_line(&mut sink), Ok(n) if n > 0) {
                sink.clear();
            }
        });
        let addr = first
            .trim()
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| {
                std::io::Error::other(format!(
                    "{} printed {first:?}, not `listening on ADDR`",
                    bin.display()
                ))
            });
        match addr {
            Ok(addr) => Ok(ServerProcess {
                child,
                addr,
                name: name.to_owned(),
            }),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(e)
            }
        }
    }

    /// Starts a server on a given port and waits (at most 20 s) until it accepts.
    pub fn spawn_on_port(
        name: &str,
        bin: &Path,
        args: &[String],
        port: u16,
    ) -> std::io::Result<ServerProcess> {
        let child = Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut server = ServerProcess {
            child,
            addr,
            name: name.to_owned(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(server);
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(std::io::Error::other(format!(
                    "{} exited: {status}",
                    bin.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(std::io::Error::other(format!(
            "{} did not listen on {addr} within 20 s",
            bin.display()
        )))
    }

    /// Kills the process with SIGKILL (no shutdown of any kind) and reaps it.
    pub fn kill_hard(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory in bytes (`VmRSS` of `/proc/PID/status`).
    pub fn rss(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    /// CPU time (user + system) the server used so far, from `/proc/PID/stat`.
    pub fn cpu_time(&self) -> Option<Duration> {
        process_cpu_time(self.pid())
    }
}

/// CPU time between two readings of [`process_cpu_time`], in microseconds per unit of
/// work done meanwhile; 0 when either reading is missing or nothing was done.
pub fn cpu_us_per(from: Option<Duration>, to: Option<Duration>, units: u64) -> f64 {
    match (from, to) {
        (Some(from), Some(to)) if units > 0 => {
            to.saturating_sub(from).as_secs_f64() * 1e6 / units as f64
        }
        _ => 0.0,
    }
}

/// A process's CPU time so far (user + system), from `/proc/PID/stat`; `None` where
/// there is no `/proc`.
pub fn process_cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port on 127.0.0.1 (for servers that take `--port`, not an address).
pub fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_per_unit_needs_both_readings_and_some_work() {
        let (from, to) = (Some(Duration::from_secs(1)), Some(Duration::from_secs(3)));
        assert_eq!(cpu_us_per(from, to, 4), 500_000.0);
        assert_eq!(cpu_us_per(from, None, 4), 0.0);
        assert_eq!(cpu_us_per(from, to, 0), 0.0);
        assert_eq!(
            cpu_us_per(to, from, 4),
            0.0,
            "a clock going back is no time"
        );
    }
}
