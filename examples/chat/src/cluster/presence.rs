//! Who is where across the cluster, and the users of a node that is gone.
//!
//! Each node keeps `{prefix}:chat:node:{n}:users`, a hash of its connections' records
//! (connection → [`UserRecord`]: name key, name as shown, rooms), and a heartbeat key
//! `{prefix}:chat:node:{n}:alive` (`PX expiry`) in the set `{prefix}:chat:nodes`, both
//! renewed four times per expiry with the names. A node that stops renewing (killed, or
//! stopped gracefully: then it renews once more as it leaves, see [`Cluster::park`]) is
//! reaped by the first living node that sees its heartbeat gone: one script deletes its
//! records and hands them to that node, which tells each of the records' rooms
//! `userLeft`. A user who came back on another node with the resume token meanwhile has
//! no record there any more (the claim removed it), so nobody announces a leave for them.
//!
//! A user taken back (on another node, or on this one from a stale connection) is shown in
//! their old rooms before their client joins each again ([`User::held_rooms`]), but is
//! not yet in them in the adapter. For the member lists of every node, each node also
//! keeps `{prefix}:chat:node:{n}:held`: connection → a record listing those rooms only,
//! written and renewed with the users' records. An entry goes when its rooms are joined
//! again, when the connection ends, when the name is taken back elsewhere, and with its
//! node.

use super::Cluster;
use super::names::HeldName;
use crate::app::App;
use crate::chat::User;
use crate::events::{RoomSummary, UserLeft};
use crate::sse::SystemEvents;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use wsx_core::server::{Adapter, Conn, ConnId, SharedFrame, Target};

/// Deletes the records of a node whose heartbeat is gone (or, with `ARGV[3] == "1"`,
/// whatever its heartbeat: a node number taken again), frees the names they still hold,
/// and returns, to exactly one caller, the records of the users whose name nobody else
/// holds (someone of that name is present: no leave is announced for it).
/// KEYS: alive, users hash, nodes set, held hash. ARGV: node, name-key prefix, force.
const REAP_NODE: &str = r"
if ARGV[3] ~= '1' and redis.call('EXISTS', KEYS[1]) == 1 then return {} end
local all = redis.call('HGETALL', KEYS[2])
local gone = {}
for i = 1, #all, 2 do
  local p = all[i] .. ' '
  local ok, r = pcall(cjson.decode, all[i + 1])
  if ok and type(r) == 'table' and type(r.key) == 'string' then
    local nk = ARGV[2] .. r.key
    local v = redis.call('GET', nk)
    if v == false then
      table.insert(gone, all[i + 1])
    elseif string.sub(v, 1, #p) == p then
      redis.call('DEL', nk)
      table.insert(gone, all[i + 1])
    end
  end
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[4])
redis.call('SREM', KEYS[3], ARGV[1])
return gone";

/// What the cluster knows of one connection's user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// The name's key.
    pub key: String,
    /// The name as shown.
    pub name: String,
    /// Every room the user is shown in.
    pub rooms: Vec<String>,
}

impl UserRecord {
    /// The record of a name this node holds.
    pub fn of(held: &HeldName) -> UserRecord {
        UserRecord {
            key: held.key.clone(),
            name: held.display.clone(),
            rooms: held.rooms.clone(),
        }
    }
}

impl Cluster {
    pub(super) fn users_hash(&self, node: u64) -> String {
        format!("{}:chat:node:{node}:users", self.inner.prefix)
    }

    pub(super) fn held_hash(&self, node: u64) -> String {
        format!("{}:chat:node:{node}:held", self.inner.prefix)
    }

    pub(super) fn alive_key(&self, node: u64) -> String {
        format!("{}:chat:node:{node}:alive", self.inner.prefix)
    }

    pub(super) fn nodes_set(&self) -> String {
        format!("{}:chat:nodes", self.inner.prefix)
    }

    /// Writes (or, without a name, drops) a connection's record, and the record of the
    /// rooms it holds (dropped when it holds none): after a join, a leave, a rename, a
    /// resume.
    pub async fn note_user(&self, conn: &Conn<User>) {
        let (users, held) = (self.users_hash(self.node()), self.held_hash(self.node()));
        let mut pipe = redis::pipe();
        match conn.state().name() {
            Some(name) => {
                let held_rooms = conn.state().held_rooms();
                let record = UserRecord {
                    key: name.key,
                    name: name.display,
                    rooms: conn.state().all_rooms(),
                };
                let Ok(json) = serde_json::to_string(&record) else {
                    return;
                };
                pipe.cmd("HSET").arg(&users).arg(conn.id()).arg(json);
                if held_rooms.is_empty() {
                    pipe.cmd("HDEL").arg(&held).arg(conn.id());
                } else {
                    let held_record = UserRecord {
                        rooms: held_rooms,
                        ..record
                    };
                    let Ok(json) = serde_json::to_string(&held_record) else {
                        return;
                    };
                    pipe.cmd("HSET").arg(&held).arg(conn.id()).arg(json);
                }
            }
            None => {
                pipe.cmd("HDEL").arg(&users).arg(conn.id());
                pipe.cmd("HDEL").arg(&held).arg(conn.id());
            }
        }
        if let Err(e) = pipe.exec_async(&mut self.commands()).await {
            tracing::warn!(error = %e, "cluster: user record not written");
        }
    }

    /// The users shown in rooms they are not members of in the adapter: the records of
    /// the nodes that left the adapter's cluster but are not reaped yet (a node in its
    /// grace window after a graceful stop), with every room, and the held rooms of the
    /// users taken back on living nodes (see the module docs).
    async fn shown_elsewhere(&self) -> Result<Vec<UserRecord>, String> {
        let live: BTreeSet<u64> = self
            .inner
            .adapter
            .live_nodes()
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .collect();
        let mut commands = self.commands();
        let nodes: Vec<u64> = redis::cmd("SMEMBERS")
            .arg(self.nodes_set())
            .query_async(&mut commands)
            .await
            .map_err(|e| e.to_string())?;
        if nodes.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for node in &nodes {
            if live.contains(node) {
                pipe.cmd("HVALS").arg(self.held_hash(*node));
            } else {
                pipe.cmd("HVALS").arg(self.users_hash(*node));
            }
        }
        let values: Vec<Vec<String>> = pipe
            .query_async(&mut commands)
            .await
            .map_err(|e| e.to_string())?;
        Ok(values
            .into_iter()
            .flatten()
            .filter_map(|v| serde_json::from_str(&v).ok())
            .collect())
    }

    /// Who is in a room on every node, sorted: `local` (this node's members), the other
    /// nodes' members, the users of a node in its grace window, and the users taken back
    /// who have not joined the room again yet; `None` when Redis cannot answer.
    pub async fn room_users(&self, room: &str, local: Vec<String>) -> Option<Vec<String>> {
        let ids = match self.inner.adapter.cluster_members(room).await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(error = %e, "cluster: member list unavailable");
                return None;
            }
        };
        let mut by_node: BTreeMap<u64, Vec<ConnId>> = BTreeMap::new();
        let here = self.node();
        for id in ids {
            if super::node_of(id) != here {
                by_node.entry(super::node_of(id)).or_default().push(id);
            }
        }
        let mut names = local;
        if !by_node.is_empty() {
            let mut pipe = redis::pipe();
            for (node, ids) in &by_node {
                pipe.cmd("HMGET").arg(self.users_hash(*node)).arg(ids);
            }
            let records: Vec<Vec<Option<String>>> =
                match pipe.query_async(&mut self.commands()).await {
                    Ok(records) => records,
                    Err(e) => {
                        tracing::warn!(error = %e, "cluster: member names unavailable");
                        return None;
                    }
                };
            names.extend(
                records
                    .into_iter()
                    .flatten()
                    .flatten()
                    .filter_map(|r| serde_json::from_str::<UserRecord>(&r).ok())
                    .map(|r| r.name),
            );
        }
        match self.shown_elsewhere().await {
            Ok(records) => names.extend(
                records
                    .into_iter()
                    .filter(|r| r.rooms.iter().any(|r| r == room))
                    .map(|r| r.name),
            ),
            Err(e) => tracing::warn!(error = %e, "cluster: departed and held members unavailable"),
        }
        names.sort_by_cached_key(|n| crate::names::fold_case(n));
        names.dedup();
        Some(names)
    }

    /// The rooms with members on any node (those of a node in its grace window and the
    /// users taken back who have not joined again yet too), with their member counts, by
    /// name.
    pub async fn room_members(&self) -> Option<BTreeMap<String, u64>> {
        let rooms = match self.inner.adapter.cluster_rooms().await {
            Ok(rooms) => rooms,
            Err(e) => {
                tracing::warn!(error = %e, "cluster: room list unavailable");
                return None;
            }
        };
        let mut members: BTreeMap<String, u64> = rooms
            .into_iter()
            .map(|r| (r.name, r.members as u64))
            .collect();
        if let Ok(records) = self.shown_elsewhere().await {
            for room in records.into_iter().flat_map(|r| r.rooms) {
                *members.entry(room).or_default() += 1;
            }
        }
        Some(members)
    }

    /// [`Cluster::room_members`] with each room's message count (this node's log, or
    /// the database for a room not in memory here).
    pub async fn room_summaries(&self, app: &App) -> Option<Vec<RoomSummary>> {
        let members = self.room_members().await?;
        let mut summaries = Vec::with_capacity(members.len());
        for (name, members) in members {
            let messages = match app.existing_room(&name) {
                Some(room) => room.last_seq(),
                None => app.last_seq(&name).await,
            };
            summaries.push(RoomSummary {
                name,
                members,
                messages,
            });
        }
        Some(summaries)
    }

    /// How many users have a name on every node (those of nodes not reaped yet too).
    pub async fn user_count(&self) -> Option<u64> {
        let mut commands = self.commands();
        let nodes: Vec<u64> = redis::cmd("SMEMBERS")
            .arg(self.nodes_set())
            .query_async(&mut commands)
            .await
            .ok()?;
        let mut pipe = redis::pipe();
        for node in &nodes {
            pipe.cmd("HLEN").arg(self.users_hash(*node));
        }
        let counts: Vec<u64> = pipe.query_async(&mut commands).await.ok()?;
        Some(counts.into_iter().sum())
    }

    /// Reaps every other node whose heartbeat is gone: the leave of each of its users
    /// who did not come back is announced to their rooms.
    pub(super) async fn reap_dead_nodes(&self, app: &App) {
        let mut commands = self.commands();
        let nodes: Vec<u64> = match redis::cmd("SMEMBERS")
            .arg(self.nodes_set())
            .query_async(&mut commands)
            .await
        {
            Ok(nodes) => nodes,
            Err(e) => {
                tracing::warn!(error = %e, "cluster: node list unavailable");
                return;
            }
        };
        for node in nodes.into_iter().filter(|n| *n != self.node()) {
            let gone = self.reap(node, false).await;
            self.announce_leaves(&gone, Some(app.events()));
        }
    }

    /// Reaps one node (see [`REAP_NODE`]; `force`: whatever its heartbeat) and returns
    /// the records of its users.
    pub(super) async fn reap(&self, node: u64, force: bool) -> Vec<UserRecord> {
        let reaped: Vec<String> = match redis::cmd("EVAL")
            .arg(REAP_NODE)
            .arg(4)
            .arg(self.alive_key(node))
            .arg(self.users_hash(node))
            .arg(self.nodes_set())
            .arg(self.held_hash(node))
            .arg(node)
            .arg(self.name_prefix())
            .arg(if force { "1" } else { "0" })
            .query_async(&mut self.commands())
            .await
        {
            Ok(reaped) => reaped,
            Err(e) => {
                tracing::warn!(node, error = %e, "cluster: node not reaped");
                return Vec::new();
            }
        };
        if !reaped.is_empty() {
            tracing::info!(
                node,
                users = reaped.len(),
                "cluster: a node is gone; its users who did not come back left"
            );
            metrics::counter!("chat_cluster_nodes_reaped_total").increment(1);
        }
        reaped
            .iter()
            .filter_map(|r| serde_json::from_str(r).ok())
            .collect()
    }

    /// Tells the rooms of users whose node is gone that they left (every node's
    /// members), and the SSE subscribers.
    pub(super) fn announce_leaves(&self, gone: &[UserRecord], events: Option<&SystemEvents>) {
        for record in gone {
            for room in &record.rooms {
                let frame = SharedFrame::push::<UserLeft>(UserLeft {
                    username: record.name.clone(),
                    room: room.clone(),
                });
                Adapter::deliver(&self.inner.adapter, &Target::room(room, None), &frame);
            }
            if let Some(events) = events {
                events.publish(
                    "userDisconnected",
                    json!({ "username": record.name, "reason": "their server stopped" }),
                );
            }
        }
    }
}
