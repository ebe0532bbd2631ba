//! The adapter's three tasks: publishing pushes, receiving them (and reconnecting the
//! subscription), and maintenance (membership writes, heartbeat, cleaning dead nodes).
//!
//! Each holds the adapter weakly and ends when the adapter is dropped.

use crate::adapter::Inner;
use crate::keys::Keys;
use crate::wire::Publication;
use futures::StreamExt;
use redis::aio::{PubSubSink, PubSubStream};
use std::collections::HashSet;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};
use wsx_core::server::{Adapter, Target};

/// Most publications sent in one pipeline.
const PUBLISH_BATCH: usize = 256;
/// First pause before reconnecting the subscription; doubles up to the configured most.
const FIRST_RETRY: Duration = Duration::from_millis(50);

/// Deletes a dead node's state, atomically, unless its heartbeat key exists again
/// (`ARGV[3] == "1"`: the node itself leaving, whatever its heartbeat).
/// KEYS: alive, rooms hash, conns, nodes set; ARGV: room-set key prefix, node, force.
const CLEANUP_SCRIPT: &str = r"
if ARGV[3] ~= '1' and redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
for _, room in ipairs(redis.call('HKEYS', KEYS[2])) do
  redis.call('DEL', ARGV[1] .. room)
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('SREM', KEYS[4], ARGV[2])
return 1
";

/// Raises the node sequence to at least this node's number (after Redis lost its data,
/// a new node must not take a number in use). KEYS: sequence; ARGV: node.
const SEQ_FLOOR_SCRIPT: &str = r"
local seq = tonumber(redis.call('GET', KEYS[1]) or '0')
if seq < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return 0
";

/// The `EVAL` of [`CLEANUP_SCRIPT`] for one node.
pub(crate) fn cleanup(keys: &Keys, node: u64, force: bool) -> redis::Cmd {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(CLEANUP_SCRIPT)
        .arg(4)
        .arg(keys.alive(node))
        .arg(keys.node_rooms(node))
        .arg(keys.node_conns(node))
        .arg(keys.nodes())
        .arg(keys.node_room_prefix(node))
        .arg(node)
        .arg(if force { "1" } else { "0" });
    cmd
}

/// Opens the subscription connection and subscribes to this node's channel and the
/// everyone channel (room channels follow in the maintenance task).
pub(crate) async fn subscribe(inner: &Inner) -> redis::RedisResult<(PubSubSink, PubSubStream)> {
    let (mut sink, stream) = inner.client.get_async_pubsub().await?.split();
    sink.subscribe(&[inner.node_channel.as_str(), inner.all_channel.as_str()])
        .await?;
    Ok((sink, stream))
}

/// Sends queued pushes, up to [`PUBLISH_BATCH`] per pipeline. A batch that fails is
/// counted as dropped.
pub(crate) async fn publish(weak: Weak<Inner>, mut queue: mpsc::Receiver<(String, Vec<u8>)>) {
    let mut batch = Vec::with_capacity(PUBLISH_BATCH);
    while queue.recv_many(&mut batch, PUBLISH_BATCH).await > 0 {
        let Some(inner) = weak.upgrade() else { return };
        let n = batch.len() as u64;
        if !inner.health.connected() {
            inner.health.dropped(n);
            batch.clear();
            continue;
        }
        let mut pipe = redis::pipe();
        for (channel, bytes) in batch.drain(..) {
            pipe.cmd("PUBLISH").arg(channel).arg(bytes).ignore();
        }
        let mut conn = inner.commands.clone();
        if inner.query(pipe.exec_async(&mut conn)).await.is_err() {
            inner.health.dropped(n);
        }
    }
}

/// Reads the subscription and delivers what other nodes published to this node's
/// connections; when the connection is lost, reconnects (with growing pauses) and asks
/// the maintenance task to resubscribe the rooms and rewrite the membership.
pub(crate) async fn receive(weak: Weak<Inner>, sink: PubSubSink, stream: PubSubStream) {
    let mut link = Some((sink, stream));
    let mut pause = FIRST_RETRY;
    loop {
        if let Some((sink, stream)) = link.take() {
            pause = FIRST_RETRY;
            let why = read(&weak, sink, stream).await;
            let Some(inner) = weak.upgrade() else { return };
            *inner.sink.lock() = None;
            inner.fail("subscription", &why);
        }
        let Some(inner) = weak.upgrade() else { return };
        let attempt = tokio::time::timeout(inner.config.command_timeout, subscribe(&inner)).await;
        match attempt {
            Ok(Ok((sink, stream))) => {
                *inner.sink.lock() = Some(sink.clone());
                inner.dirty.lock().resync = true;
                inner.wake.notify_one();
                link = Some((sink, stream));
            }
            Ok(Err(e)) => inner.fail("subscription", &e),
            Err(_) => inner.fail("subscription", &"connect timed out"),
        }
        let max = inner.config.reconnect_max_delay;
        drop(inner);
        if link.is_none() {
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(max);
        }
    }
}

/// Reads one subscription connection until it fails; pings it every heartbeat so that
/// a silent cut is noticed too. Returns why it ended.
async fn read(weak: &Weak<Inner>, mut sink: PubSubSink, mut stream: PubSubStream) -> String {
    let Some((every, timeout)) = weak
        .upgrade()
        .map(|i| (i.config.heartbeat(), i.config.command_timeout))
    else {
        return "adapter dropped".into();
    };
    let mut ping = tokio::time::interval(every);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            msg = stream.next() => {
                let Some(msg) = msg else { return "connection closed".into() };
                let Some(inner) = weak.upgrade() else { return "adapter dropped".into() };
                deliver_remote(&inner, &msg);
            }
            _ = ping.tick() => {
                match tokio::time::timeout(timeout, sink.ping::<redis::Value>()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return e.to_string(),
                    Err(_) => return "ping timed out".into(),
                }
            }
        }
    }
}

/// Delivers one publication of another node to this node's connections.
fn deliver_remote(inner: &Inner, msg: &redis::Msg) {
    let publication = match Publication::decode(msg.get_payload_bytes()) {
        Ok(p) => p,
        Err(e) => {
            inner.health.bad_publication();
            tracing::warn!(%e, channel = msg.get_channel_name(), "redis: unreadable publication");
            return;
        }
    };
    if publication.origin == inner.node {
        // Delivered locally when it was sent.
        return;
    }
    let channel = msg.get_channel_name();
    let except = publication.except;
    let target = if channel == inner.all_channel {
        Target::All { except }
    } else if channel == inner.node_channel {
        match publication.conn {
            Some(id) => Target::Conn(id),
            None => return,
        }
    } else if let Some(room) = inner.keys.room_of_channel(channel) {
        Target::room(room, except)
    } else {
        return;
    };
    inner.local.deliver(&target, &publication.into_frame());
}

/// What the maintenance task knows Redis holds for this node.
#[derive(Debug, Default)]
struct Written {
    /// Rooms whose member set of this node exists in Redis.
    rooms: HashSet<Box<str>>,
    /// Rooms whose channel is subscribed.
    subscribed: HashSet<Box<str>>,
}

/// Writes membership changes (batched over `membership_flush`), renews the heartbeat,
/// cleans the state of dead nodes, and after an outage resubscribes and rewrites
/// everything.
pub(crate) async fn maintain(weak: Weak<Inner>, wake: Arc<Notify>) {
    let Some((heartbeat_every, flush, retry)) = weak.upgrade().map(|i| {
        (
            i.config.heartbeat(),
            i.config.membership_flush,
            i.config.reconnect_max_delay.min(i.config.heartbeat()),
        )
    }) else {
        return;
    };
    let mut heartbeat = tokio::time::interval(heartbeat_every);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut written = Written::default();
    let mut pending = true;
    loop {
        tokio::select! {
            _ = wake.notified() => {
                // Collect the joins and leaves of this window into one write.
                tokio::time::sleep(flush).await;
            }
            _ = heartbeat.tick() => {
                let Some(inner) = weak.upgrade() else { return };
                beat(&inner).await;
            }
            _ = tokio::time::sleep(retry), if pending => {}
        }
        let Some(inner) = weak.upgrade() else { return };
        pending = !flush_membership(&inner, &mut written).await;
    }
}

/// Renews this node's heartbeat, then removes the state of nodes whose heartbeat
/// expired.
async fn beat(inner: &Inner) {
    let keys = &inner.keys;
    let mut pipe = redis::pipe();
    pipe.cmd("SET")
        .arg(keys.alive(inner.node))
        .arg(&inner.token)
        .arg("PX")
        .arg(inner.config.node_expiry.as_millis() as u64)
        .arg("GET")
        .cmd("SADD")
        .arg(keys.nodes())
        .arg(inner.node)
        .ignore()
        .cmd("EVAL")
        .arg(SEQ_FLOOR_SCRIPT)
        .arg(1)
        .arg(keys.node_seq())
        .arg(inner.node)
        .ignore();
    let mut conn = inner.commands.clone();
    let Ok((previous,)) = inner
        .query(pipe.query_async::<(Option<String>,)>(&mut conn))
        .await
    else {
        return;
    };
    match previous {
        Some(token) if token == inner.token => {}
        Some(other) => {
            tracing::error!(
                node = inner.node,
                other,
                "redis: another process holds this node number (Redis lost its data?); \
                 connection ids may collide"
            );
        }
        None => {
            // The key had expired (an outage longer than the expiry, or Redis lost its
            // data): the others may have cleaned this node's membership. Write it again.
            tracing::warn!(
                node = inner.node,
                "redis: heartbeat had expired; rewriting membership"
            );
            inner.dirty.lock().resync = true;
            inner.wake.notify_one();
        }
    }
    let Ok(nodes) = inner
        .query(
            redis::cmd("SMEMBERS")
                .arg(keys.nodes())
                .query_async::<Vec<u64>>(&mut conn),
        )
        .await
    else {
        return;
    };
    let mut pipe = redis::pipe();
    let others: Vec<u64> = nodes.into_iter().filter(|n| *n != inner.node).collect();
    for node in &others {
        pipe.add_command(cleanup(keys, *node, false));
    }
    if others.is_empty() {
        return;
    }
    if let Ok(cleaned) = inner.query(pipe.query_async::<Vec<i64>>(&mut conn)).await {
        for (node, cleaned) in others.iter().zip(cleaned) {
            if cleaned == 1 {
                metrics::counter!("wsx_redis_nodes_expired_total").increment(1);
                tracing::info!(node, "redis: node expired; its connections are gone");
            }
        }
    }
}

/// Subscribes the rooms that got their first local member, unsubscribes those that
/// lost their last, and writes the changed member sets and the connection count in one
/// transaction. After an outage (`resync`) it does so for every room. Returns whether
/// everything was written; what was not stays to write.
async fn flush_membership(inner: &Inner, written: &mut Written) -> bool {
    let dirty = std::mem::take(&mut *inner.dirty.lock());
    if dirty.rooms.is_empty() && !dirty.conns && !dirty.resync {
        return true;
    }
    let mut rooms = dirty.rooms;
    if dirty.resync {
        written.subscribed.clear();
        rooms.extend(written.rooms.iter().cloned());
        rooms.extend(
            inner
                .local
                .rooms()
                .into_iter()
                .map(|r| r.name.into_boxed_str()),
        );
    }
    // On a failure nothing is known of what Redis holds: write it all again.
    let give_back = |rooms: HashSet<Box<str>>| {
        let mut dirty = inner.dirty.lock();
        dirty.rooms.extend(rooms);
        dirty.conns = true;
        dirty.resync = true;
    };
    let Some(mut sink) = inner.sink.lock().clone() else {
        give_back(rooms);
        return false;
    };
    let keys = &inner.keys;
    let mut subscribe = Vec::new();
    let mut unsubscribe = Vec::new();
    let mut occupied = Vec::with_capacity(rooms.len());
    let mut pipe = redis::pipe();
    pipe.atomic();
    for room in &rooms {
        let members = inner.local.members(room);
        occupied.push(!members.is_empty());
        let set = keys.node_room(inner.node, room);
        pipe.cmd("DEL").arg(&set).ignore();
        if members.is_empty() {
            pipe.cmd("HDEL")
                .arg(keys.node_rooms(inner.node))
                .arg(&**room)
                .ignore();
            // After an outage the connection may still hold a subscription this task
            // no longer knows of: unsubscribing one that is not there is harmless.
            if dirty.resync || written.subscribed.contains(room) {
                unsubscribe.push(keys.room_channel(room));
            }
        } else {
            pipe.cmd("SADD").arg(&set).arg(&members).ignore();
            pipe.cmd("HSET")
                .arg(keys.node_rooms(inner.node))
                .arg(&**room)
                .arg(members.len())
                .ignore();
            if !written.subscribed.contains(room) {
                subscribe.push(keys.room_channel(room));
            }
        }
    }
    pipe.cmd("SET")
        .arg(keys.node_conns(inner.node))
        .arg(inner.local.connections())
        .ignore();
    // Subscribed before the membership is visible: once another node sees a member
    // here, its pushes to that room reach this node.
    let timeout = inner.config.command_timeout;
    let subscribed = async {
        if !subscribe.is_empty() {
            sink.subscribe(&subscribe).await?;
        }
        if !unsubscribe.is_empty() {
            sink.unsubscribe(&unsubscribe).await?;
        }
        Ok::<(), redis::RedisError>(())
    };
    match tokio::time::timeout(timeout, subscribed).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            inner.fail("subscribe", &e);
            give_back(rooms);
            return false;
        }
        Err(_) => {
            inner.fail("subscribe", &"timed out");
            give_back(rooms);
            return false;
        }
    }
    let mut conn = inner.commands.clone();
    if inner.query(pipe.exec_async(&mut conn)).await.is_err() {
        give_back(rooms);
        return false;
    }
    for (room, occupied) in rooms.into_iter().zip(occupied) {
        if occupied {
            written.subscribed.insert(room.clone());
            written.rooms.insert(room);
        } else {
            written.subscribed.remove(&room);
            written.rooms.remove(&room);
        }
    }
    if dirty.resync {
        inner.health.up(inner.node);
    }
    true
}
