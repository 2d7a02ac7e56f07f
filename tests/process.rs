//! Process-level tests: each runs the real `tessera` binary (`CARGO_BIN_EXE_tessera`), configured
//! by `TESSERA__…` environment variables and a temporary directory, and talks to it through its
//! exit code and output, HTTP and signals.
//!
//! The PostgreSQL tests run only when `TESSERA_TEST_POSTGRES_URL` is set (e.g.
//! `postgres://postgres@127.0.0.1:5432`); otherwise each prints a SKIPPED line naming itself and
//! passes, or panics when `TESSERA_REQUIRE_ALL=1` (as in CI). They need the `postgres` cargo
//! feature (a default), like the backend.
//!
//! Every spawned process is killed by a drop guard, also when an assertion fails; every wait is
//! bounded; servers bind `127.0.0.1:0` themselves and the harness reads the ports they got from
//! their start-up log.

#[path = "process/harness/mod.rs"]
mod harness;

#[path = "process/cli.rs"]
mod cli;
#[path = "process/crash.rs"]
mod crash;
#[path = "process/db_trouble.rs"]
mod db_trouble;
#[cfg(feature = "postgres")]
#[path = "process/postgres.rs"]
mod postgres;
#[path = "process/secrets.rs"]
mod secrets;
#[path = "process/serve.rs"]
mod serve;
