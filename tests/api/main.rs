//! The issuer's integration tests: one binary; every test starts the real server on random ports
//! with a fresh database and talks HTTP to it. Each test runs on SQLite, and on PostgreSQL when
//! `TESSERA_TEST_POSTGRES_URL` is set (see `helpers::backend_tests!`).

#![allow(dead_code)] // helpers serve many modules; not every one uses each

#[macro_use]
mod helpers;

mod admin;
mod admin_api;
mod algorithms;
mod boundary;
mod connections;
mod console;
mod credential_reads;
mod federated;
mod lifecycle;
mod metrics;
mod openapi;
mod private_key_jwt;
mod revocation;
mod throttling;
mod token;
