//! The access log of both listeners: one line per request at `info`, target `tessera::access`.
//!
//! The line is `<peer> <METHOD> <path> <status> <bytes> <duration>ms`: the TCP peer's address,
//! the path **without the query string** (where a careless client might put a secret), the body
//! size and the time taken. A token request adds ` outcome=<code> client_id=<id>`, which the
//! handler leaves in a [`TokenOutcome`] request extension: the outcome is `issued`, `reused` or
//! the OAuth error code, the client id is shown only when well formed. The same values travel as
//! the record's key-values, which the JSON format writes as members.

use std::time::Instant;

use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};

/// The log target of access lines (`RUST_LOG=tessera::access=warn` silences them).
pub const TARGET: &str = "tessera::access";

/// What a token request's access line adds: set by the token handler.
#[derive(Debug, Clone)]
pub struct TokenOutcome {
    /// `issued`, `reused` or the OAuth error code.
    pub outcome: &'static str,
    /// A well-formed client id, or `<none>` / `<malformed>`.
    pub client_id: String,
}

/// The access-log middleware.
pub async fn log<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, Error> {
    if !log::log_enabled!(target: TARGET, log::Level::Info) {
        return next.call(req).await;
    }
    let started = Instant::now();
    let res = next.call(req).await?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let request = res.request();
    let peer = request
        .peer_addr()
        .map_or_else(|| "-".to_owned(), |a| a.ip().to_string());
    let method = request.method().as_str();
    let path = request.path();
    let status = res.status().as_u16();
    let bytes = match res.response().body().size() {
        BodySize::Sized(n) => n,
        BodySize::None | BodySize::Stream => 0,
    };
    match request.extensions().get::<TokenOutcome>() {
        Some(token) => {
            let (outcome, client_id) = (token.outcome, token.client_id.as_str());
            log::info!(
                target: TARGET,
                peer = peer.as_str(), method, path, status, bytes, duration_ms = ms,
                outcome, client_id;
                "{peer} {method} {path} {status} {bytes} {ms:.3}ms outcome={outcome} client_id={client_id}"
            );
        }
        None => log::info!(
            target: TARGET,
            peer = peer.as_str(), method, path, status, bytes, duration_ms = ms;
            "{peer} {method} {path} {status} {bytes} {ms:.3}ms"
        ),
    }
    Ok(res)
}
