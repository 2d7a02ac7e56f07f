//! Tessera: a self-hosted OAuth 2.0 client-credentials token issuer.
//!
//! Layers, outermost first: [`cli`] and [`startup`] wire the process; [`http`] turns requests into
//! calls of [`service`]; services orchestrate [`storage`], [`crypto`] and the pure rules of
//! [`domain`]. Each layer has one error type, mapped to the wire once, in `http`.
// `missing_docs` and `unsafe_code`: the workspace's `[workspace.lints]` table. Library code
// never unwraps or panics; its unit tests may (integration tests, benches and examples are other
// crates, which these attributes do not reach).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod http;
pub mod logging;
pub mod service;
pub mod startup;
pub mod state;
pub mod storage;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
