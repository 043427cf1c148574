//! Corral: a ZooKeeper-wire-compatible coordination server.
//!
//! A request's path through the code:
//! - [`server`]: listener, connection task, handshake, four-letter words;
//!   [`server::request`] sorts each request into a read or a write.
//! - Reads are answered from the local [`tree`] under the [`node`] lock,
//!   registering [`watch`]es atomically with the read.
//! - Writes become [`tree::Command`]s that go through [`consensus`] (openraft,
//!   log in [`storage`]) and are applied on every replica by [`node`], which
//!   runs [`tree`]'s deterministic apply and then queues notifications and
//!   the reply for the connections it holds.
//! - [`session`] tracks liveness for expiry; [`config`] reads flags and zoo.cfg,
//!   [`zoo_env`] the zookeeper Docker image's ZOO_* variables.
//! - [`admin`] serves ZooKeeper's AdminServer commands and Prometheus metrics over HTTP.

pub mod admin;
mod alloc;
pub mod config;
pub mod consensus;
pub mod metrics;
pub mod node;
pub mod server;
pub mod session;
pub mod storage;
pub mod tree;
pub mod watch;
pub mod zoo_env;
