//! Connections to the Redis servers and clusters named in the root `redis`
//! namespace (`config::redis`), for the components that keep state in
//! Redis (cluster-wide rate limits, revocations).
//!
//! Each worker opens its own connection per named connection, inside its
//! runtime (shared-nothing, like the backend pools): a multiplexed
//! connection pipelines every command the worker's requests send at once
//! over one socket, so go-redis's pool of connections has no counterpart.
//! Callers bound each command with their own deadline; a connection that
//! fails is replaced by the caller (`connect` again), never retried here.

pub mod health;
mod link;

pub use link::{Failure, Link, Links, RECONNECT_BACKOFF};

use std::time::Duration;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::{
    AsyncConnectionConfig, Cmd, ConnectionAddr, ConnectionInfo, IntoConnectionInfo, Pipeline,
    RedisConnectionInfo, RedisFuture, RedisResult, Value,
};

use crate::config::{RedisConnection, RedisKind};

/// One worker's connection to a named Redis server or cluster.
#[derive(Clone)]
pub enum Connection {
    Server(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Server(c) => c.req_packed_command(cmd),
            Connection::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Server(c) => c.req_packed_commands(pipeline, offset, count),
            Connection::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Server(c) => c.get_db(),
            Connection::Cluster(c) => c.get_db(),
        }
    }
}

/// Opens a connection to `target` on the current runtime. `response_timeout`
/// bounds each command (the caller's decision budget); `dial_timeout`
/// bounds the connect.
pub async fn connect(
    target: &RedisConnection,
    response_timeout: Duration,
) -> RedisResult<Connection> {
    match target.kind {
        RedisKind::Server => {
            let info = connection_info(target, &target.addresses[0])?;
            let client = redis::Client::open(info)?;
            let config = AsyncConnectionConfig::new()
                .set_connection_timeout(Some(target.dial_timeout))
                .set_response_timeout(Some(response_timeout));
            let mut connection = client
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            if let Some(name) = &target.client_name {
                redis::cmd("CLIENT")
                    .arg("SETNAME")
                    .arg(name)
                    .exec_async(&mut connection)
                    .await?;
            }
            Ok(Connection::Server(connection))
        }
        RedisKind::Cluster => {
            let nodes = target
                .addresses
                .iter()
                .map(|a| connection_info(target, a))
                .collect::<RedisResult<Vec<_>>>()?;
            let mut builder = redis::cluster::ClusterClientBuilder::new(nodes)
                .connection_timeout(target.dial_timeout)
                .response_timeout(response_timeout)
                // The caller falls back at its deadline; retries would
                // only outlive it.
                .retries(0);
            if let Some(user) = &target.user_name {
                builder = builder.username(user);
            }
            if let Some(password) = &target.password {
                builder = builder.password(password);
            }
            let client = builder.build()?;
            Ok(Connection::Cluster(client.get_async_connection().await?))
        }
    }
}

/// `host:port` (checked by `config::redis`) with the connection's
/// database and credentials.
fn connection_info(target: &RedisConnection, address: &str) -> RedisResult<ConnectionInfo> {
    let (host, port) = address
        .rsplit_once(':')
        .and_then(|(h, p)| {
            Some((
                h.trim_start_matches('[').trim_end_matches(']'),
                p.parse().ok()?,
            ))
        })
        .ok_or_else(|| {
            redis::RedisError::from((redis::ErrorKind::InvalidClientConfig, "not host:port"))
        })?;
    let mut settings = RedisConnectionInfo::default().set_db(target.db);
    if let Some(user) = &target.user_name {
        settings = settings.set_username(user);
    }
    if let Some(password) = &target.password {
        settings = settings.set_password(password);
    }
    Ok(ConnectionAddr::Tcp(host.to_owned(), port)
        .into_connection_info()?
        .set_redis_settings(settings))
}

/// A client for `target` (a single server), for what a multiplexed
/// connection cannot do: pub/sub (`get_async_pubsub`) and blocking
/// commands from a thread outside the workers (`get_connection_with_timeout`).
pub fn client_for(target: &RedisConnection) -> RedisResult<redis::Client> {
    if target.kind != RedisKind::Server {
        return Err(redis::RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            "a single server is needed, not a cluster",
        )));
    }
    redis::Client::open(connection_info(target, &target.addresses[0])?)
}
