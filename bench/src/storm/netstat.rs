//! The kernel's TCP counters that explain a slow reconnect: connections dropped because
//! the server's accept queue was full, and the SYN retransmissions (1 s, then 2 s, …) that
//! make a client wait after such a drop. Read from `/proc/net/netstat`; they count the
//! whole machine, so another process's connections add to them.

use serde::Serialize;

/// The counters of interest at one moment, or their growth between two.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct TcpCounters {
    /// Connections dropped because a listener's accept queue was full (`ListenOverflows`).
    pub listen_overflows: u64,
    /// SYNs sent again after no answer (`TCPSynRetrans`).
    pub syn_retransmits: u64,
    /// SYN cookies sent when the SYN queue was full (`SyncookiesSent`).
    pub syncookies_sent: u64,
}

impl TcpCounters {
    /// The counters now; zeros where there is no `/proc/net/netstat`.
    pub fn now() -> TcpCounters {
        std::fs::read_to_string("/proc/net/netstat")
            .map(|text| TcpCounters::parse(&text))
            .unwrap_or_default()
    }

    /// The counters of a `/proc/net/netstat` text: a `TcpExt:` line of names followed by
    /// a `TcpExt:` line of values.
    pub fn parse(text: &str) -> TcpCounters {
        let mut lines = text.lines().filter(|l| l.starts_with("TcpExt:"));
        let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
            return TcpCounters::default();
        };
        let mut c = TcpCounters::default();
        for (name, value) in names.split_whitespace().zip(values.split_whitespace()) {
            let value = value.parse().unwrap_or(0);
            match name {
                "ListenOverflows" => c.listen_overflows = value,
                "TCPSynRetrans" => c.syn_retransmits = value,
                "SyncookiesSent" => c.syncookies_sent = value,
                _ => {}
            }
        }
        c
    }

    /// How much each counter grew since `earlier`.
    pub fn since(self, earlier: TcpCounters) -> TcpCounters {
        TcpCounters {
            listen_overflows: self
                .listen_overflows
                .saturating_sub(earlier.listen_overflows),
            syn_retransmits: self.syn_retransmits.saturating_sub(earlier.syn_retransmits),
            syncookies_sent: self.syncookies_sent.saturating_sub(earlier.syncookies_sent),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_tcpext_counters() {
        let text = "TcpExt: SyncookiesSent ListenOverflows TCPSynRetrans Other\n\
                    TcpExt: 3 14 7 9\n\
                    IpExt: InNoRoutes\nIpExt: 0\n";
        let c = TcpCounters::parse(text);
        assert_eq!(
            c,
            TcpCounters {
                listen_overflows: 14,
                syn_retransmits: 7,
                syncookies_sent: 3
            }
        );
        assert_eq!(c.since(TcpCounters::default()), c);
        assert_eq!(TcpCounters::default().since(c), TcpCounters::default());
        assert_eq!(TcpCounters::parse("nothing"), TcpCounters::default());
    }
}
