//! The end of a run: what each room holds (read from the chat's REST history), and every
//! client's seqs checked against it: no gap, no duplicate, nothing the room does not hold.

use super::Error;
use super::client::ClientLog;
use serde::Serialize;
use serde_json::Value;

/// Most history pages read for one room (100 messages each).
const MAX_PAGES: usize = 10_000;

/// Every seq a room holds, ascending, from `GET /api/room/{room}/history`: pages of the
/// latest 100 before the oldest seen so far.
pub async fn stored_seqs(
    http: &reqwest::Client,
    base_url: &str,
    room: &str,
) -> Result<Vec<u64>, Error> {
    let mut seqs = Vec::new();
    let mut before: Option<u64> = None;
    for _ in 0..MAX_PAGES {
        let mut url = format!("{base_url}/api/room/{room}/history?limit=100");
        if let Some(b) = before {
            url.push_str(&format!("&before={b}"));
        }
        let response = http.get(&url).send().await?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            break;
        }
        let page: Value = response.error_for_status()?.json().await?;
        let page_seqs: Vec<u64> = page["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["seq"].as_u64())
            .collect();
        let oldest = page_seqs.iter().copied().min();
        seqs.extend(page_seqs);
        match oldest {
            Some(o) if o > 1 => before = Some(o),
            _ => break,
        }
    }
    seqs.sort_unstable();
    seqs.dedup();
    Ok(seqs)
}

/// Every client's deliveries against its room.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Audit {
    /// Messages the clients had to receive: for each client, what its room holds after
    /// the client's first join.
    pub expected: u64,
    /// Of those, how many arrived (once or more).
    pub delivered: u64,
    /// `expected - delivered`.
    pub gaps: u64,
    /// Deliveries of a seq the client already had.
    pub duplicates: u64,
    /// Seqs received that the room does not hold.
    pub unknown: u64,
    /// Seqs not kept because a client received more than it may keep.
    pub overflow: u64,
    /// Clients missing at least one message.
    pub clients_with_gaps: u64,
    /// Clients that received a message twice.
    pub clients_with_duplicates: u64,
    /// Clients that never joined (nothing to check).
    pub never_joined: u64,
    /// The first few clients at fault, with what they miss or repeat.
    pub examples: Vec<String>,
}

/// How many faulty clients [`Audit::examples`] names.
const EXAMPLES: usize = 8;

/// Checks each client against `stored[client.room]` (ascending seqs).
pub fn audit(logs: &[ClientLog], stored: &[Vec<u64>]) -> Audit {
    let mut a = Audit::default();
    let empty = Vec::new();
    for log in logs {
        let Some(base) = log.base else {
            a.never_joined += 1;
            continue;
        };
        let room = stored.get(log.room).unwrap_or(&empty);
        let mut got = log.seqs.clone();
        got.sort_unstable();
        let received = got.len();
        got.dedup();
        let duplicates = (received - got.len()) as u64;
        let must: Vec<u64> = room.iter().copied().filter(|&s| s > base).collect();
        let missing: Vec<u64> = must
            .iter()
            .copied()
            .filter(|s| got.binary_search(s).is_err())
            .collect();
        let unknown = got
            .iter()
            .filter(|s| room.binary_search(s).is_err())
            .count() as u64;
        a.expected += must.len() as u64;
        a.delivered += (must.len() - missing.len()) as u64;
        a.gaps += missing.len() as u64;
        a.duplicates += duplicates;
        a.unknown += unknown;
        a.overflow += log.overflow;
        a.clients_with_gaps += u64::from(!missing.is_empty());
        a.clients_with_duplicates += u64::from(duplicates > 0);
        if (!missing.is_empty() || duplicates > 0 || unknown > 0) && a.examples.len() < EXAMPLES {
            let first: Vec<u64> = missing.iter().copied().take(10).collect();
            a.examples.push(format!(
                "client s{} (room {}, joined at seq {base}, {} joins): misses {} {first:?}, {duplicates} duplicates, {unknown} unknown",
                log.index,
                log.room,
                log.joins,
                missing.len()
            ));
        }
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(room: usize, base: u64, seqs: &[u64]) -> ClientLog {
        ClientLog {
            room,
            base: Some(base),
            seqs: seqs.to_vec(),
            ..ClientLog::default()
        }
    }

    #[test]
    fn counts_gaps_duplicates_and_unknown_seqs_per_client() {
        let stored = vec![vec![1, 2, 3, 4, 5], vec![1, 2]];
        let whole = log(0, 2, &[5, 3, 4]);
        let gap_and_twice = log(0, 0, &[1, 2, 2, 5]);
        let phantom = log(1, 1, &[2, 9]);
        let a = audit(
            &[whole, gap_and_twice, phantom, ClientLog::default()],
            &stored,
        );
        assert_eq!(a.expected, 3 + 5 + 1);
        assert_eq!(a.delivered, 3 + 3 + 1);
        assert_eq!(a.gaps, 2);
        assert_eq!(a.duplicates, 1);
        assert_eq!(a.unknown, 1);
        assert_eq!((a.clients_with_gaps, a.clients_with_duplicates), (1, 1));
        assert_eq!(a.never_joined, 1);
        assert_eq!(a.examples.len(), 2);
        assert!(
            a.examples[0].contains("misses 2 [3, 4]"),
            "{:?}",
            a.examples
        );
    }

    #[test]
    fn a_client_that_has_everything_is_clean() {
        let a = audit(&[log(0, 0, &[1, 2])], &[vec![1, 2]]);
        assert_eq!((a.gaps, a.duplicates, a.unknown), (0, 0, 0));
        assert!(a.examples.is_empty());
    }
}
