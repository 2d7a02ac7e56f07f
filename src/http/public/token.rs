//! `POST /oauth/token`.

use std::time::Instant;

use actix_web::http::header;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};

use super::oauth_response::{
    self, BadRequest, InvalidClient, QuotaExceeded, RateLimited, TokenResponse, Unavailable,
};
use super::token_request::{self, TokenParams, MAX_BODY_BYTES};
use crate::domain::ids::ClientId;
use crate::domain::oauth_error::OAuthError;
use crate::http::access::TokenOutcome;
use crate::http::client_ip;
use crate::http::BodyError;
use crate::service::token;
use crate::state::AppState;
use crate::telemetry;

/// Exchange client credentials for an access token (RFC 6749 §4.4).
///
/// Three forms are accepted: a form body with HTTP Basic client authentication
/// (`client_secret_basic`), a form body carrying `client_id` and `client_secret`
/// (`client_secret_post`), or the same parameters as a JSON object.
#[utoipa::path(
    post,
    path = "/oauth/token",
    tag = "oauth",
    operation_id = "token",
    request_body(
        description = "The token request: a form (RFC 6749) or the same parameters as JSON.",
        content(
            (TokenParams = "application/x-www-form-urlencoded"),
            (TokenParams = "application/json"),
        )
    ),
    security(("client_secret_basic" = []), ()),
    responses(
        (status = 200, description = "The access token.", body = TokenResponse,
            headers(
                ("Cache-Control" = String, description = "`no-store`"),
                ("Pragma" = String, description = "`no-cache`"),
            )),
        BadRequest, InvalidClient, QuotaExceeded, RateLimited, Unavailable,
    )
)]
pub async fn token(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let started = Instant::now();
    let headers = req.headers();
    let authorization = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes());
    let basic = authorization.is_some_and(token_request::is_basic);
    let parsed = match read_body(&req, payload).await {
        Ok(body) => token_request::parse(
            headers.get(header::CONTENT_TYPE).map(|v| v.as_bytes()),
            authorization,
            &body,
        ),
        Err(e) => Err(e),
    };
    let parsed = match parsed {
        Ok(p) => p,
        Err(e) => {
            finish(&req, started, e.code(), None);
            return oauth_response::error(&e, basic);
        }
    };
    let client_id = parsed.client.client_id.clone();
    match token::issue(&state, parsed.client, parsed.grant, client_ip(&req)).await {
        Ok(issued) => {
            let outcome = telemetry::outcome(Ok(issued.reused));
            finish(&req, started, outcome, Some(&issued.client_id));
            oauth_response::success(&issued)
        }
        Err(e) => {
            finish(&req, started, e.code(), client_id.as_deref());
            oauth_response::error(&e, basic)
        }
    }
}

/// Counts the request, and hands its outcome and client to the access line.
fn finish(req: &HttpRequest, started: Instant, outcome: &'static str, client_id: Option<&str>) {
    telemetry::token_request(outcome, started.elapsed());
    if log::log_enabled!(target: crate::http::access::TARGET, log::Level::Info) {
        req.extensions_mut().insert(TokenOutcome {
            outcome,
            client_id: loggable_client_id(client_id),
        });
    }
}

/// The presented `client_id` as a log line may show it: a well-formed id as it is, anything else
/// only as `<malformed>` — it may be the client secret sent in the wrong field (a swapped pair),
/// and it is text the client chose, which must not forge log lines.
fn loggable_client_id(presented: Option<&str>) -> String {
    match presented {
        None => "<none>".to_owned(),
        Some(id) => {
            ClientId::parse(id).map_or_else(|| "<malformed>".to_owned(), |id| id.to_string())
        }
    }
}

/// Reads at most [`MAX_BODY_BYTES`]; a larger body is refused without reading the rest.
pub(super) async fn read_body(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<Vec<u8>, OAuthError> {
    crate::http::read_body(req, payload, MAX_BODY_BYTES)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge => {
                OAuthError::InvalidRequest("the request body exceeds 16 KiB".to_owned())
            }
            BodyError::Unreadable => {
                OAuthError::InvalidRequest("the request body could not be read".into())
            }
        })
}

#[cfg(test)]
mod tests {
    use super::loggable_client_id;
    use crate::domain::secret::ClientSecret;

    #[test]
    fn only_well_formed_client_ids_reach_the_log() {
        let id = "ak_0123456789abcdefghijklmn";
        assert_eq!(loggable_client_id(Some(id)), id);
        assert_eq!(loggable_client_id(None), "<none>");
        let secret = ClientSecret::generate();
        assert_eq!(loggable_client_id(Some(secret.expose())), "<malformed>");
        assert_eq!(
            loggable_client_id(Some("ak_x\n[INFO] forged")),
            "<malformed>"
        );
    }
}
