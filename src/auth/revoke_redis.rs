//! `auth/revoker` with `connection_name`: revocations shared by every
//! instance through one Redis server (cuttle's form; KrakenD documents
//! none: its Enterprise Revoke Server pushes to each instance's RPC port).
//!
//! - Writing (the revocation endpoint's thread, [`publish`]): in one
//!   MULTI, each `[claim, value]` (a JSON array, so any bytes in a value
//!   stay data) is put in the sorted set [`KEY`] with its expiry (unix
//!   ms) as score, expired members are removed, and each is published on
//!   the channel ([`channel`]).
//! - Following (one thread with its own current_thread runtime, never a
//!   worker, [`start`]): subscribe first, then read the whole set, then
//!   apply each message, so nothing published meanwhile falls between;
//!   every member read or received is added to this process's filter,
//!   which every worker reads. The instance that took the revocation gets
//!   its own message too (adding again is harmless).
//! - An entry expires `3 × TTL` after it was written: the longest a
//!   filter keeps an element (revoker.rs: added to current and next, gone
//!   at the third rotation), so an instance started late refuses a token
//!   as long as one that saw the revocation may still refuse it.
//! - Redis unreachable: the follower logs once, retries with a growing
//!   pause (up to [`MAX_PAUSE`]) and, once back, reads the whole set again
//!   and logs once more. The endpoint still adds to the local filter and
//!   answers 503 (docs/revoker.md).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_lite::StreamExt;

use super::revoker::Revoker;
use crate::config::RedisConnection;

/// The sorted set of revocations (per database).
pub const KEY: &str = "cuttle:auth/revoker";
/// A pause before reconnecting grows from `MIN_PAUSE` to this.
const MAX_PAUSE: Duration = Duration::from_secs(1);
const MIN_PAUSE: Duration = Duration::from_millis(50);
/// Commands from the endpoint and the follower's reads.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the follower checks a quiet subscription is still alive.
const PING_EVERY: Duration = Duration::from_secs(5);

/// The channel: pub/sub ignores databases, so the number is in the name
/// (two gateways on one server in different databases stay apart).
pub fn channel(target: &RedisConnection) -> String {
    format!("{KEY}:db{}", target.db)
}

/// One revocation as stored and published: `["claim","value"]`.
fn member(key: &str, value: &str) -> String {
    serde_json::Value::from(vec![key, value]).to_string()
}

fn parse_member(bytes: &[u8]) -> Option<(String, String)> {
    let [key, value]: [String; 2] = serde_json::from_slice(bytes).ok()?;
    Some((key, value))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// How long an entry stays in Redis.
fn lifetime(revoker: &Revoker) -> Duration {
    Duration::from_secs(revoker.settings.ttl.saturating_mul(3))
}

/// Stores and publishes `elements` (already in the local filter). `Err`
/// says why they did not reach Redis.
pub fn publish(
    revoker: &Revoker,
    target: &RedisConnection,
    elements: &[(String, String)],
) -> Result<(), String> {
    let client = crate::redis::client_for(target).map_err(|e| e.to_string())?;
    let mut conn = client
        .get_connection_with_timeout(target.dial_timeout)
        .map_err(|e| e.to_string())?;
    conn.set_read_timeout(Some(COMMAND_TIMEOUT))
        .and_then(|()| conn.set_write_timeout(Some(COMMAND_TIMEOUT)))
        .map_err(|e| e.to_string())?;
    let now = now_ms();
    let lifetime = lifetime(revoker);
    let expiry = now.saturating_add(u64::try_from(lifetime.as_millis()).unwrap_or(u64::MAX));
    let channel = channel(target);
    let mut pipe = redis::pipe();
    pipe.atomic();
    for (key, value) in elements {
        pipe.cmd("ZADD")
            .arg(KEY)
            .arg(expiry)
            .arg(member(key, value))
            .ignore();
    }
    pipe.cmd("ZREMRANGEBYSCORE")
        .arg(KEY)
        .arg("-inf")
        .arg(now)
        .ignore();
    // The newest entry expires with the key: a set nobody writes to goes.
    pipe.cmd("PEXPIRE")
        .arg(KEY)
        .arg(u64::try_from(lifetime.as_millis()).unwrap_or(u64::MAX))
        .ignore();
    for (key, value) in elements {
        pipe.cmd("PUBLISH")
            .arg(&channel)
            .arg(member(key, value))
            .ignore();
    }
    pipe.exec(&mut conn).map_err(|e| e.to_string())
}

/// Starts the thread that follows the set and the channel.
pub fn start(revoker: Arc<Revoker>, target: Arc<RedisConnection>) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("cuttle-revoke-redis".to_owned())
        .spawn(move || {
            // Started before the main thread blocks them: SIGTERM must
            // reach its sigwait, not end the process here.
            crate::process::signals::block_termination();
            runtime.block_on(follow(revoker, target))
        })
        .map(drop)
}

/// Follows forever: a session at a time, a pause between them.
async fn follow(revoker: Arc<Revoker>, target: Arc<RedisConnection>) {
    let address = &target.addresses[0];
    let mut down = false;
    let mut pause = MIN_PAUSE;
    loop {
        let mut synced = |count: usize| {
            if down {
                tracing::warn!(
                    "auth/revoker: Redis {address} reachable again: {count} revocation(s) read, following its channel"
                );
            } else {
                tracing::info!(
                    "auth/revoker: {count} revocation(s) read from Redis {address}, following its channel"
                );
            }
            down = false;
        };
        let why = session(&revoker, &target, &mut synced).await;
        if !down {
            tracing::warn!(
                "auth/revoker: Redis {address} unreachable ({why}): revocations sent to this instance are applied here only (its endpoint answers 503) until it is back; retrying"
            );
            down = true;
            pause = MIN_PAUSE;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

enum Next {
    Message(Option<redis::Msg>),
    Ping,
}

/// One connection's life: subscribe, read the set (`synced` with the
/// count), apply messages. Returns why it ended.
async fn session(
    revoker: &Revoker,
    target: &RedisConnection,
    synced: &mut dyn FnMut(usize),
) -> String {
    let bounded = |what: &'static str| move |e: tokio::time::error::Elapsed| format!("{what}: {e}");
    let run = async {
        let client = crate::redis::client_for(target).map_err(|e| e.to_string())?;
        let pubsub = tokio::time::timeout(target.dial_timeout, client.get_async_pubsub())
            .await
            .map_err(bounded("connect"))?
            .map_err(|e| e.to_string())?;
        let (mut sink, mut stream) = pubsub.split();
        tokio::time::timeout(COMMAND_TIMEOUT, sink.subscribe(channel(target)))
            .await
            .map_err(bounded("subscribe"))?
            .map_err(|e| e.to_string())?;
        // Subscribed: whatever is published from now on is queued in
        // `stream` while the set is read.
        let mut reader = tokio::time::timeout(
            target.dial_timeout,
            crate::redis::connect(target, COMMAND_TIMEOUT),
        )
        .await
        .map_err(bounded("connect"))?
        .map_err(|e| e.to_string())?;
        let members: Vec<Vec<u8>> = redis::cmd("ZRANGEBYSCORE")
            .arg(KEY)
            .arg(now_ms())
            .arg("+inf")
            .query_async(&mut reader)
            .await
            .map_err(|e| e.to_string())?;
        drop(reader);
        for (key, value) in members.iter().filter_map(|m| parse_member(m)) {
            revoker.revoke(&key, &value);
        }
        synced(members.len());
        loop {
            let next =
                futures_lite::future::or(async { Next::Message(stream.next().await) }, async {
                    tokio::time::sleep(PING_EVERY).await;
                    Next::Ping
                })
                .await;
            match next {
                Next::Message(Some(message)) => match parse_member(message.get_payload_bytes()) {
                    Some((key, value)) => revoker.revoke(&key, &value),
                    None => tracing::warn!(
                        "auth/revoker: a message on {} is not [claim, value]; skipped",
                        message.get_channel_name()
                    ),
                },
                Next::Message(None) => return Err("the connection closed".to_owned()),
                Next::Ping => {
                    tokio::time::timeout(COMMAND_TIMEOUT, sink.ping::<redis::Value>())
                        .await
                        .map_err(bounded("ping"))?
                        .map_err(|e| e.to_string())?;
                }
            }
        }
    };
    let ended: Result<std::convert::Infallible, String> = run.await;
    match ended {
        Err(why) => why,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_keep_any_value_as_data() {
        for (key, value) in [
            ("jti", "plain"),
            ("sub", "a-b\"c\\d,e]\n\u{0}é"),
            ("jti", "[\"x\",\"y\"]"),
        ] {
            let m = member(key, value);
            assert_eq!(
                parse_member(m.as_bytes()),
                Some((key.to_owned(), value.to_owned()))
            );
        }
        for bad in [
            &b"x"[..],
            b"[\"a\"]",
            b"[\"a\",\"b\",\"c\"]",
            b"[1,2]",
            b"{}",
        ] {
            assert_eq!(parse_member(bad), None);
        }
    }
}
