//! Names unique across the cluster: `SET {prefix}:chat:name:{key} "CONN TOKEN" PX expiry`,
//! claimed when free, taken back with the holder's resume token, renewed by the holding
//! node, freed by the holder alone.

use super::Cluster;
use super::presence::UserRecord;
use wsx_core::server::ConnId;

/// Claims a name: free (1), held by a connection whose resume token is presented
/// (`ARGV[3]`: a user back from a node that died or restarted; 2, and the old holder's
/// record, removed from its node's users hash so nobody announces that user's leave, and
/// from its held hash), or taken (0).
/// KEYS: the name. ARGV: holder, expiry ms, token, users-hash prefix (`…:chat:node:`).
const CLAIM_NAME: &str = r"
local v = redis.call('GET', KEYS[1])
if v == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {1, ''}
end
if ARGV[3] ~= '' then
  local sp = string.find(v, ' ', 1, true)
  if sp and string.sub(v, sp + 1) == ARGV[3] then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    local conn = string.sub(v, 1, sp - 1)
    local node = math.floor(tonumber(conn) / 4294967296)
    local users = ARGV[4] .. string.format('%d', node) .. ':users'
    local record = redis.call('HGET', users, conn) or ''
    redis.call('HDEL', users, conn)
    redis.call('HDEL', ARGV[4] .. string.format('%d', node) .. ':held', conn)
    return {2, record}
  end
end
return {0, ''}";

/// Renews a name this connection holds (the whole value: connection and token), or takes
/// it again if it expired meanwhile; then writes the connection's record, and its record
/// of held rooms (or drops it, given none). A name another connection took back is left
/// alone, and so are that user's records.
/// KEYS: the name, the node's users hash, its held hash. ARGV: holder, expiry ms,
/// connection, record, held record (`''`: none).
const RENEW_NAME: &str = r"
local v = redis.call('GET', KEYS[1])
if v == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
elseif v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
else
  return 0
end
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
if ARGV[5] == '' then
  redis.call('HDEL', KEYS[3], ARGV[3])
else
  redis.call('HSET', KEYS[3], ARGV[3], ARGV[5])
end
return 1";

/// Frees a name if connection `ARGV[1]` holds it (1), and with `ARGV[2] == "1"` drops
/// its records; -1 when another connection holds it now (taken back with the resume
/// token), 0 when nobody does. KEYS: the name, the node's users hash, its held hash.
const RELEASE_NAME: &str = r"
if ARGV[2] == '1' then
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('HDEL', KEYS[3], ARGV[1])
end
local v = redis.call('GET', KEYS[1])
if v == false then return 0 end
local p = ARGV[1] .. ' '
if string.sub(v, 1, #p) == p then
  redis.call('DEL', KEYS[1])
  return 1
end
return -1";

/// The value of a name key: the holding connection, a space, its resume token.
fn holder(conn: ConnId, resume_token: &str) -> String {
    format!("{conn} {resume_token}")
}

/// A name held by a connection of this node (renewed by the node).
#[derive(Debug, Clone)]
pub struct HeldName {
    /// The name's key.
    pub key: String,
    /// The connection.
    pub conn: ConnId,
    /// The name as shown.
    pub display: String,
    /// The user's resume token.
    pub resume_token: String,
    /// Every room the user is shown in.
    pub rooms: Vec<String>,
    /// The rooms the user is shown in but has not joined again since being taken back
    /// (see the held hash in [`super::presence`]).
    pub held_rooms: Vec<String>,
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// The name was free: it is this connection's now.
    Free,
    /// Another connection held it and the claim carried its resume token: the user is
    /// back (from a node that died or restarted), in the rooms it was shown in there.
    TakenBack {
        /// The rooms of the former connection: the user never left them.
        rooms: Vec<String>,
    },
    /// Another connection holds it.
    Taken,
}

/// What freeing a name found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Released {
    /// The connection held it; it is free now (or Redis could not be asked).
    Freed,
    /// Another connection took it back with the resume token: the user is elsewhere.
    TakenBack,
}

impl Cluster {
    fn name_key(&self, key: &str) -> String {
        format!("{}{key}", self.name_prefix())
    }

    pub(super) fn name_prefix(&self) -> String {
        format!("{}:chat:name:", self.inner.prefix)
    }

    /// Claims `key` for connection `conn` across the cluster (`SET … PX` if free). A name
    /// held elsewhere is taken back when `resume_token` is its holder's. Follow a
    /// successful claim with [`Cluster::set_holder`] once the user's resume token is
    /// known.
    pub async fn claim_name(
        &self,
        key: &str,
        conn: ConnId,
        resume_token: Option<&str>,
    ) -> Result<Claimed, redis::RedisError> {
        let mut commands = self.commands();
        let (claimed, record): (i64, String) = redis::cmd("EVAL")
            .arg(CLAIM_NAME)
            .arg(1)
            .arg(self.name_key(key))
            .arg(holder(conn, ""))
            .arg(self.inner.expiry.as_millis() as u64)
            .arg(resume_token.unwrap_or(""))
            .arg(format!("{}:chat:node:", self.inner.prefix))
            .query_async(&mut commands)
            .await?;
        Ok(match claimed {
            1 => Claimed::Free,
            2 => {
                metrics::counter!("chat_cluster_names_taken_back_total").increment(1);
                tracing::info!(name = %key, "cluster: a name was taken back from another node with its resume token");
                let rooms = serde_json::from_str::<UserRecord>(&record)
                    .map(|r| r.rooms)
                    .unwrap_or_default();
                Claimed::TakenBack { rooms }
            }
            _ => Claimed::Taken,
        })
    }

    /// Writes who holds a name this node holds: the connection and its resume token
    /// (after a claim, a resume on this node, a rename).
    pub async fn set_holder(&self, key: &str, conn: ConnId, resume_token: &str) {
        let mut commands = self.commands();
        let set = redis::cmd("SET")
            .arg(self.name_key(key))
            .arg(holder(conn, resume_token))
            .arg("PX")
            .arg(self.inner.expiry.as_millis() as u64)
            .exec_async(&mut commands)
            .await;
        if let Err(e) = set {
            tracing::warn!(error = %e, "cluster: name holder not written");
        }
    }

    /// Frees a name if `conn` holds it; with `gone`, drops the connection's records too
    /// (it ended; without it, the connection changed its name).
    pub async fn release_name(&self, key: &str, conn: ConnId, gone: bool) -> Released {
        let mut commands = self.commands();
        let released = redis::cmd("EVAL")
            .arg(RELEASE_NAME)
            .arg(3)
            .arg(self.name_key(key))
            .arg(self.users_hash(self.node()))
            .arg(self.held_hash(self.node()))
            .arg(conn)
            .arg(if gone { "1" } else { "0" })
            .query_async::<i64>(&mut commands)
            .await;
        match released {
            Ok(-1) => Released::TakenBack,
            Ok(_) => Released::Freed,
            Err(e) => {
                tracing::warn!(error = %e, "cluster: name not released (it expires)");
                Released::Freed
            }
        }
    }

    /// Renews this node's heartbeat and the names its connections hold with their
    /// records (or takes a name again after an outage that let it expire, if nobody took
    /// it meanwhile), with an expiry of `expiry` from now. `false` when Redis did not answer.
    pub(super) async fn renew_names(&self, held: &[HeldName]) -> bool {
        let node = self.node();
        let expiry = self.inner.expiry.as_millis() as u64;
        let mut pipe = redis::pipe();
        // The heartbeat first: whoever sees a record also sees its node alive.
        pipe.cmd("SET")
            .arg(self.alive_key(node))
            .arg(1)
            .arg("PX")
            .arg(expiry)
            .ignore()
            .cmd("SADD")
            .arg(self.nodes_set())
            .arg(node)
            .ignore();
        let (users, held_hash) = (self.users_hash(node), self.held_hash(node));
        for name in held {
            let record = UserRecord::of(name);
            let held_record = if name.held_rooms.is_empty() {
                String::new()
            } else {
                let held_record = UserRecord {
                    rooms: name.held_rooms.clone(),
                    ..record.clone()
                };
                serde_json::to_string(&held_record).unwrap_or_default()
            };
            let Ok(record) = serde_json::to_string(&record) else {
                continue;
            };
            pipe.cmd("EVAL")
                .arg(RENEW_NAME)
                .arg(3)
                .arg(self.name_key(&name.key))
                .arg(&users)
                .arg(&held_hash)
                .arg(holder(name.conn, &name.resume_token))
                .arg(expiry)
                .arg(name.conn)
                .arg(record)
                .arg(held_record);
        }
        let mut commands = self.commands();
        match pipe.query_async::<Vec<i64>>(&mut commands).await {
            Ok(renewed) => {
                for (name, ok) in held.iter().zip(renewed) {
                    if ok == 0 {
                        tracing::info!(name = %name.key, conn = name.conn, "cluster: another connection holds this connection's name now (taken back, or taken while Redis was away)");
                    }
                }
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "cluster: names not renewed");
                false
            }
        }
    }

    /// Who holds a name on another node: its connection and the name as shown.
    pub async fn find_user(&self, key: &str) -> Option<(ConnId, String)> {
        let mut commands = self.commands();
        let value: Option<String> = redis::cmd("GET")
            .arg(self.name_key(key))
            .query_async(&mut commands)
            .await
            .ok()?;
        let conn: ConnId = value?.split(' ').next()?.parse().ok()?;
        let record: Option<String> = redis::cmd("HGET")
            .arg(self.users_hash(super::node_of(conn)))
            .arg(conn)
            .query_async(&mut commands)
            .await
            .ok()?;
        let record: UserRecord = serde_json::from_str(&record?).ok()?;
        Some((conn, record.name))
    }
}
