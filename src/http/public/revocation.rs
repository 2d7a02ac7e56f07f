//! `GET /oauth/revocations`, `POST /oauth/introspect`, `POST /oauth/revoke`.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::oauth_response::{self, BadRequest, InvalidClient, RateLimited, Unavailable};
use super::token::read_body;
use super::token_request::{self, TokenParam, TokenRequest};
use serde::Serialize;
use utoipa::openapi::{Object, ObjectBuilder, Type};
use utoipa::ToSchema;

use super::feed::{Feed, FeedAnswer, FeedCache};
use crate::domain::claims::AccessTokenClaims;
use crate::domain::oauth_error::OAuthError;
use crate::http::{bearer_token, client_ip};
use crate::service::revocation::{self, Introspector};
use crate::state::AppState;

/// An RFC 7662 introspection response.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum Introspection {
    /// A token that is valid right now, with its claims.
    Active(Box<ActiveToken>),
    /// Anything else: nothing is said about it.
    Inactive(InactiveToken),
}

/// `{"active": true, "token_type": "Bearer", …claims}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActiveToken {
    /// Always `true`.
    #[schema(schema_with = always_true)]
    pub active: bool,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// The token's claims.
    #[serde(flatten)]
    pub claims: AccessTokenClaims,
}

/// `{"active": false}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct InactiveToken {
    /// Always `false`.
    #[schema(schema_with = always_false)]
    pub active: bool,
}

fn boolean_const(value: bool) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Boolean)
        .enum_values(Some([value]))
        .build()
}

fn always_true() -> Object {
    boolean_const(true)
}

fn always_false() -> Object {
    boolean_const(false)
}

impl Introspection {
    fn of(claims: Option<AccessTokenClaims>) -> Self {
        match claims {
            Some(claims) => Self::Active(Box::new(ActiveToken {
                active: true,
                token_type: "Bearer",
                claims,
            })),
            None => Self::Inactive(InactiveToken { active: false }),
        }
    }
}

/// The revocation feed: what an offline validator needs to reject tokens that are unexpired
/// but no longer valid.
///
/// A token is invalid when its `client_id`, `account_id` or `workspace_id` is listed with
/// `revoked_before` greater than its `iat`, or its `jti` is listed. Without `since` (or with a
/// cursor this issuer cannot answer from) the answer is the whole list (`complete: true`);
/// with the `next_cursor` of an earlier answer, only the entries added or changed since, and
/// under `removed` the keys of entries withdrawn since. `If-None-Match` with the last `ETag`
/// gets `304` while nothing changed.
#[utoipa::path(
    get,
    path = "/oauth/revocations",
    tag = "oauth",
    operation_id = "revocation_feed",
    params(
        ("since" = Option<String>, Query,
            description = "The `next_cursor` of an earlier answer: only what changed since."),
        ("If-None-Match" = Option<String>, Header,
            description = "The `ETag` of an earlier answer: `304` while nothing changed."),
    ),
    responses(
        (status = 200, description = "The feed.", body = Feed,
            headers(
                ("Cache-Control" = String, description = "`public, max-age=N`"),
                ("ETag" = String, description = "Changes only when the entries change."),
            )),
        (status = 304, description = "Nothing changed since the `ETag` sent.",
            headers(("ETag" = String, description = "The current tag."))),
        Unavailable,
    )
)]
pub async fn feed(
    req: HttpRequest,
    state: web::Data<AppState>,
    cache: web::Data<FeedCache>,
) -> HttpResponse {
    // The first `since` wins; anything unreadable is no cursor at all (the whole list).
    let since = form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(key, _)| key == "since")
        .map(|(_, value)| value.into_owned());
    let if_none_match = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    let cache_control = format!(
        "public, max-age={}",
        state.settings.revocation.feed_cache_seconds
    );
    match cache.answer(&state, since.as_deref(), if_none_match).await {
        Ok(FeedAnswer::NotModified { etag }) => HttpResponse::NotModified()
            .insert_header((header::CACHE_CONTROL, cache_control))
            .insert_header((header::ETAG, etag))
            .finish(),
        Ok(FeedAnswer::Body { etag, body }) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, cache_control))
            .insert_header((header::ETAG, etag))
            .content_type("application/json")
            .body(body),
        Err(e) => oauth_response::error(&e, false),
    }
}

async fn parse_form(
    req: &HttpRequest,
    payload: web::Payload,
    authorization: Option<&[u8]>,
) -> Result<TokenRequest, OAuthError> {
    let body = read_body(req, payload).await?;
    token_request::parse(
        req.headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.as_bytes()),
        authorization,
        &body,
    )
}

/// Introspect an access token (RFC 7662).
///
/// For callers holding an admin token (Bearer) or a credential (HTTP Basic or in the body).
/// A caller sees only tokens of its own account (of any account for an unscoped admin
/// token) as active.
#[utoipa::path(
    post,
    path = "/oauth/introspect",
    tag = "oauth",
    operation_id = "introspect",
    request_body(
        description = "`token=…`, as a form (RFC 7662) or as JSON.",
        content(
            (TokenParam = "application/x-www-form-urlencoded"),
            (TokenParam = "application/json"),
        )
    ),
    security(("client_secret_basic" = []), ("admin_token" = []), ()),
    responses(
        (status = 200, description = "Whether the token is active, and its claims if it is.",
            body = Introspection,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        BadRequest, InvalidClient, RateLimited, Unavailable,
    )
)]
pub async fn introspect(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    let basic = authorization.is_some_and(token_request::is_basic);
    let admin = bearer_token(&req);
    let result = async {
        let parsed = parse_form(
            &req,
            payload,
            if admin.is_some() { None } else { authorization },
        )
        .await?;
        let caller = match admin {
            Some(token) => Introspector::AdminToken(token),
            None => Introspector::Client(parsed.client),
        };
        revocation::introspect(&state, caller, client_ip(&req), parsed.token).await
    }
    .await;
    match result {
        Ok(claims) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(Introspection::of(claims)),
        Err(e) => oauth_response::error(&e, basic),
    }
}

/// Revoke one of the caller's own access tokens (RFC 7009).
///
/// The answer is 200 with no body whatever the token is (garbage, expired, another
/// client's), so nothing is learned from it.
#[utoipa::path(
    post,
    path = "/oauth/revoke",
    tag = "oauth",
    operation_id = "revoke",
    request_body(
        description = "`token=…`, as a form (RFC 7009) or as JSON.",
        content(
            (TokenParam = "application/x-www-form-urlencoded"),
            (TokenParam = "application/json"),
        )
    ),
    security(("client_secret_basic" = []), ()),
    responses(
        (status = 200, description = "Done (or nothing to do).",
            headers(("Cache-Control" = String, description = "`no-store`"))),
        BadRequest, InvalidClient, RateLimited, Unavailable,
    )
)]
pub async fn revoke(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    let basic = authorization.is_some_and(token_request::is_basic);
    let result = async {
        let parsed = parse_form(&req, payload, authorization).await?;
        revocation::revoke(
            &state,
            parsed.client,
            client_ip(&req).as_deref(),
            parsed.token,
        )
        .await
    }
    .await;
    match result {
        Ok(()) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish(),
        Err(e) => oauth_response::error(&e, basic),
    }
}
