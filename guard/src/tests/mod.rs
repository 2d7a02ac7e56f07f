//! Unit tests, with fixed test keys (`src/test_keys/`) and a local fake issuer.

#[cfg(feature = "actix")]
mod actix;
mod algorithms;
mod discovery;
mod feed;
mod keys;
mod props;
mod revocation;
mod support;
mod validation;
