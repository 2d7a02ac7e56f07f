//! Application services: each orchestrates storage, crypto and the domain rules for one use case.
//! They know nothing of HTTP; handlers call them and map their errors.

pub mod admin;
pub mod auth_lookup;
pub mod client_assertion;
pub mod federated_client;
pub mod federation;
pub mod revocation;
pub mod throttle;
pub mod token;
pub mod token_reuse;
pub mod usage;
