//! Admin handlers: extract, call the service, wrap the view. Each one's `#[utoipa::path]` is its
//! entry in the admin OpenAPI document: every status it can answer, with its body.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};

use super::error::{Conflict, Forbidden, InvalidRequest, NotFound, Unauthorized, Unavailable};
use super::requests::{
    AccountPatch, AuditQuery, CredentialPatch, CredentialQuery, JwksBody, NewAccount,
    NewCredential, NewWorkspace, PageRequest, RotateRequest, TrustBody, TrustTestBody, UsageQuery,
    WorkspacePatch,
};
use super::views::{
    AccountUsageView, AccountView, AuditView, CredentialView, IssuedCredentialView, Page,
    TrustTestView, WorkspaceView,
};
use super::MAX_JSON_BYTES;
use crate::http::BodyError;
use crate::service::admin::credentials::{IssuedCredential, Owner};
use crate::service::admin::{accounts, audit, credentials, workspaces, AdminError, Caller};
use crate::state::AppState;

type Reply = Result<HttpResponse, AdminError>;
type Id = web::Path<String>;

/// A response showing a new secret: never stored by a cache on the way (RFC 9111 `no-store`).
fn issued(state: &AppState, status: StatusCode, issued: IssuedCredential) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(IssuedCredentialView::new(
            issued,
            state.settings.token_url(),
        ))
}

/// Create an account.
///
/// Needs an unscoped admin token.
#[utoipa::path(
    post,
    path = "/admin/v1/accounts",
    tag = "accounts",
    request_body = NewAccount,
    responses(
        (status = 201, description = "The account.", body = AccountView),
        InvalidRequest, Unauthorized, Forbidden, Unavailable,
    )
)]
pub(super) async fn create_account(
    caller: Caller,
    state: web::Data<AppState>,
    body: web::Json<NewAccount>,
) -> Reply {
    let body = body.into_inner();
    let account = accounts::create(&state, &caller, &body.name, body.plan).await?;
    Ok(HttpResponse::Created().json(AccountView::from(account)))
}

/// List accounts.
///
/// A token scoped to an account lists only that account.
#[utoipa::path(
    get,
    path = "/admin/v1/accounts",
    tag = "accounts",
    params(PageRequest),
    responses(
        (status = 200, description = "One page of accounts.", body = Page<AccountView>),
        InvalidRequest, Unauthorized, Unavailable,
    )
)]
pub(super) async fn list_accounts(
    caller: Caller,
    state: web::Data<AppState>,
    page: web::Query<PageRequest>,
) -> Reply {
    let list = accounts::list(&state, &caller, page.into_inner().try_into()?).await?;
    Ok(HttpResponse::Ok().json(Page::of(list, AccountView::from)))
}

/// Read an account.
#[utoipa::path(
    get,
    path = "/admin/v1/accounts/{id}",
    tag = "accounts",
    params(("id" = String, Path, description = "The account's id.")),
    responses(
        (status = 200, description = "The account.", body = AccountView),
        Unauthorized, Forbidden, NotFound, Unavailable,
    )
)]
pub(super) async fn get_account(caller: Caller, state: web::Data<AppState>, id: Id) -> Reply {
    let account = accounts::get(&state, &caller, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(AccountView::from(account)))
}

/// Rename an account, change its plan, suspend or reactivate it.
///
/// Changing the plan or the status needs an unscoped admin token.
#[utoipa::path(
    patch,
    path = "/admin/v1/accounts/{id}",
    tag = "accounts",
    params(("id" = String, Path, description = "The account's id.")),
    request_body = AccountPatch,
    responses(
        (status = 200, description = "The account as changed.", body = AccountView),
        InvalidRequest, Unauthorized, Forbidden, NotFound, Unavailable,
    )
)]
pub(super) async fn update_account(
    caller: Caller,
    state: web::Data<AppState>,
    id: Id,
    body: web::Json<AccountPatch>,
) -> Reply {
    let update = body.into_inner().try_into()?;
    let account = accounts::update(&state, &caller, id.into_inner(), update).await?;
    Ok(HttpResponse::Ok().json(AccountView::from(account)))
}

/// An account's token usage in a month, against its plan.
///
/// Includes what this replica counted and has not flushed yet; other replicas' last few
/// seconds appear after their next flush.
#[utoipa::path(
    get,
    path = "/admin/v1/accounts/{id}/usage",
    tag = "accounts",
    params(("id" = String, Path, description = "The account's id."), UsageQuery),
    responses(
        (status = 200, description = "The usage.", body = AccountUsageView),
        InvalidRequest, Unauthorized, Forbidden, NotFound, Unavailable,
    )
)]
pub(super) async fn account_usage(
    caller: Caller,
    state: web::Data<AppState>,
    id: Id,
    query: web::Query<UsageQuery>,
) -> Reply {
    let month = query.into_inner().month;
    let usage = accounts::usage(&state, &caller, id.into_inner(), month).await?;
    Ok(HttpResponse::Ok().json(AccountUsageView::from(usage)))
}

/// Create a workspace in an account.
#[utoipa::path(
    post,
    path = "/admin/v1/accounts/{id}/workspaces",
    tag = "workspaces",
    params(("id" = String, Path, description = "The account's id.")),
    request_body = NewWorkspace,
    responses(
        (status = 201, description = "The workspace.", body = WorkspaceView),
        InvalidRequest, Unauthorized, Forbidden, NotFound, Unavailable,
    )
)]
pub(super) async fn create_workspace(
    caller: Caller,
    state: web::Data<AppState>,
    id: Id,
    body: web::Json<NewWorkspace>,
) -> Reply {
    let workspace = workspaces::create(&state, &caller, id.into_inner(), &body.name).await?;
    Ok(HttpResponse::Created().json(WorkspaceView::from(workspace)))
}

/// List the workspaces of an account.
#[utoipa::path(
    get,
    path = "/admin/v1/accounts/{id}/workspaces",
    tag = "workspaces",
    params(("id" = String, Path, description = "The account's id."), PageRequest),
    responses(
        (status = 200, description = "One page of workspaces.", body = Page<WorkspaceView>),
        InvalidRequest, Unauthorized, Forbidden, NotFound, Unavailable,
    )
)]
pub(super) async fn list_workspaces(
    caller: Caller,
    state: web::Data<AppState>,
    id: Id,
    page: web::Query<PageRequest>,
) -> Reply {
    let page = page.into_inner().try_into()?;
    let list = workspaces::list(&state, &caller, id.into_inner(), page).await?;
    Ok(HttpResponse::Ok().json(Page::of(list, WorkspaceView::from)))
}

/// Read a workspace.
#[utoipa::path(
    get,
    path = "/admin/v1/workspaces/{id}",
    tag = "workspaces",
    params(("id" = String, Path, description = "The workspace's id.")),
    responses(
        (status = 200, description = "The workspace.", body = WorkspaceView),
        Unauthorized, Forbidden, NotFound, Unavailable,
    )
)]
pub(super) async fn get_workspace(caller: Caller, state: web::Data<AppState>, id: Id) -> Reply {
    let workspace = workspaces::get(&state, &caller, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(WorkspaceView::from(workspace)))
}

/// Rename a workspace, suspend or reactivate it.
#[utoipa::path(
    patch,
    path = "/admin/v1/workspaces/{id}",
    tag = "workspaces",
    params(("id" = String, Path, description = "The workspace's id.")),
    request_body = WorkspacePatch,
    responses(
        (status = 200, description = "The workspace as changed.", body = WorkspaceView),
        InvalidRequest, Unauthorized, Forbidden, NotFound, Unavailable,
    )
)]
pub(super) async fn update_workspace(
    caller: Caller,
    state: web::Data<AppState>,
    id: Id,
    body: web::Json<WorkspacePatch>,
) -> Reply {
    let update = body.into_inner().try_into()?;
    let workspace = workspaces::update(&state, &caller, id.into_inner(), update).await?;
    Ok(HttpResponse::Ok().json(WorkspaceView::from(workspace)))
}

/// Create an account credential ("Account API key", role `account_admin`).
///
/// The response is the only place the secret is ever shown. A `private_key_jwt` credential has
/// no secret: it is created with the client's public keys (`jwks`), and the response shows the
/// assertion to sign instead.
#[utoipa::path(
    post,
    path = "/admin/v1/accounts/{id}/credentials",
    tag = "credentials",
    params(("id" = String, Path, description = "The account's id.")),
    request_body = NewCredential,
    responses(
        (status = 201, description = "The credential, with its secret shown this once (or, for `private_key_jwt`, the assertion's claims).",
            body = IssuedCredentialView,
            headers(("Cache-Control" = String, description = "`no-store`: the secret must not be cached."))),
        InvalidRequest, Unauthorized, Forbidden, NotFound, Conflict, Unavailable,
    )
)]
pub(super) async fn create_account_credential(
    caller: Caller,
    state: web::Data<AppState>,
    id: Id,
    body: web::Json<NewCredential>,
) -> Reply {
    let owner = Owner::Account(id.into_inner());
    let spec = body.into_inner().try_into()?;
    let created = credentials::create(&state, &caller, owner, spec).await?;
    Ok(issued(&state, StatusCode::CREATED, created))
}

/// Create a workspace credential ("Workspace API key") with one workspace role.
///
/// The response is the only place the secret is ever shown. A `private_key_jwt` credential has
/// no secret: it is created with the client's public keys (`jwks`), and the response shows the
/// assertion to sign instead.
#[utoipa::path(
    post,
    path = "/admin/v1/workspaces/{id}/credentials",
    tag = "credentials",
    params(("id" = String, Path, description = "The workspace's id.")),
    request_body = NewCredential,
    responses(
        (status = 201, description = "The credential, with its secret shown this once (or, for `private_key_jwt`, the assertion's claims).",
            body = IssuedCredentialView,
            headers(("Cache-Control" = String, description = "`no-store`: the secret must not be cached."))),
        InvalidRequest, Unauthorized, Forbidden, NotFound, Conflict, Unavailable,
    )
)]
pub(super) async fn create_workspace_credential(
    caller: Caller,
    state: web::Data<AppState>,
    id: Id,
    body: web::Json<NewCredential>,
) -> Reply {
    let owner = Owner::Workspace(id.into_inner());
    let spec = body.into_inner().try_into()?;
    let created = credentials::create(&state, &caller, owner, spec).await?;
    Ok(issued(&state, StatusCode::CREATED, created))
}

/// List credentials, never with a secret.
#[utoipa::path(
    get,
    path = "/admin/v1/credentials",
    tag = "credentials",
    params(CredentialQuery, PageRequest),
    responses(
        (status = 200, description = "One page of credentials.", body = Page<CredentialView>),
        InvalidRequest, Unauthorized, Forbidden, NotFound, Unavailable,
    )
)]
pub(super) async fn list_credentials(
    caller: Caller,
    state: web::Data<AppState>,
    query: web::Query<CredentialQuery>,
    page: web::Query<PageRequest>,
) -> Reply {
    let page = page.into_inner().try_into()?;
    let list = credentials::list(&state, &caller, query.into_inner().try_into()?, page).await?;
    Ok(HttpResponse::Ok().json(Page::of(list, CredentialView::from)))
}

/// Read a credential, never with a secret.
#[utoipa::path(
    get,
    path = "/admin/v1/credentials/{id}",
    tag = "credentials",
    params(("id" = String, Path, description = "The credential's id.")),
    responses(
        (status = 200, description = "The credential.", body = CredentialView),
        Unauthorized, Forbidden, NotFound, Unavailable,
    )
)]
pub(super) async fn get_credential(caller: Caller, state: web::Data<AppState>, id: Id) -> Reply {
    let credential = credentials::get(&state, &caller, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(CredentialView::from(credential)))
}

/// Rename a credential, change its description or (workspace credentials only) its role.
#[utoipa::path(
    patch,
    path = "/admin/v1/credentials/{id}",
    tag = "credentials",
    params(("id" = String, Path, description = "The credential's id.")),
    request_body = CredentialPatch,
    responses(
        (status = 200, description = "The credential as changed.", body = CredentialView),
        InvalidRequest, Unauthorized, Forbidden, NotFound, Conflict, Unavailable,
    )
)]
pub(super) async fn update_credential(
    caller: Caller,
    state: web::Data<AppState>,
    id: Id,
    body: web::Json<CredentialPatch>,
) -> Reply {
    let update = body.into_inner().into();
    let credential = credentials::update(&state, &caller, id.into_inner(), update).await?;
    Ok(HttpResponse::Ok().json(CredentialView::from(credential)))
}

/// Rotate a credential's secret.
///
/// The old secret stops working at once, or after `grace_seconds`. The body is optional:
/// absent, empty, `null` or an object. A credential without a secret (`private_key_jwt`,
/// `federated`) is 409: replace its keys or trust rules instead.
#[utoipa::path(
    post,
    path = "/admin/v1/credentials/{id}/rotate",
    tag = "credentials",
    params(("id" = String, Path, description = "The credential's id.")),
    request_body(content = Option<RotateRequest>, content_type = "application/json"),
    responses(
        (status = 200, description = "The credential, with its new secret shown this once.",
            body = IssuedCredentialView,
            headers(("Cache-Control" = String, description = "`no-store`: the secret must not be cached."))),
        InvalidRequest, Unauthorized, Forbidden, NotFound, Conflict, Unavailable,
    )
)]
pub(super) async fn rotate_credential(
    caller: Caller,
    state: web::Data<AppState>,
    id: Id,
    req: HttpRequest,
    payload: web::Payload,
) -> Reply {
    // At most MAX_JSON_BYTES, refused like the JSON extractor does (a 400, not a plain 413).
    let body = crate::http::read_body(&req, payload, MAX_JSON_BYTES)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge => AdminError::Validation("the request body exceeds 64 KiB".into()),
            BodyError::Unreadable => {
                AdminError::Validation("the request body could not be read".into())
            }
        })?;
    // The body is optional (absent, empty or `null`), but a body that is there must be valid.
    let request: RotateRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RotateRequest::default()
    } else {
        serde_json::from_slice::<Option<RotateRequest>>(&body)
            .map_err(|e| AdminError::Validation(format!("invalid JSON body: {e}")))?
            .unwrap_or_default()
    };
    let grace = request.grace_seconds.unwrap_or(0);
    let revoke_tokens = request.revoke_tokens.unwrap_or(false);
    let rotated =
        credentials::rotate(&state, &caller, id.into_inner(), grace, revoke_tokens).await?;
    Ok(issued(&state, StatusCode::OK, rotated))
}

/// Replace the public keys of a `private_key_jwt` credential.
///
/// The new JWK Set replaces the old one at once, in one transaction; a key whose `kid` and key
/// material are unchanged keeps its `last_used_at`. Tokens already issued stay valid. 409 for a
/// credential of another method, or a deactivated one.
#[utoipa::path(
    put,
    path = "/admin/v1/credentials/{id}/jwks",
    tag = "credentials",
    params(("id" = String, Path, description = "The credential's id.")),
    request_body = JwksBody,
    responses(
        (status = 200, description = "The credential with its new keys.", body = CredentialView),
        InvalidRequest, Unauthorized, Forbidden, NotFound, Conflict, Unavailable,
    )
)]
pub(super) async fn replace_credential_keys(
    caller: Caller,
    state: web::Data<AppState>,
    id: Id,
    body: web::Json<JwksBody>,
) -> Reply {
    let keys = body.into_inner().keys;
    let credential = credentials::replace_keys(&state, &caller, id.into_inner(), keys).await?;
    Ok(HttpResponse::Ok().json(CredentialView::from(credential)))
}

/// Replace the trust rules of a `federated` credential.
///
/// The new list replaces the old one at once, in one transaction; a rule that is unchanged
/// keeps its `last_used_at` (a rule read back, with its `last_used_at`, can be sent again).
/// Tokens already issued stay valid. 409 for a credential of another method, or a deactivated
/// one.
#[utoipa::path(
    put,
    path = "/admin/v1/credentials/{id}/trust",
    tag = "credentials",
    params(("id" = String, Path, description = "The credential's id.")),
    request_body = TrustBody,
    responses(
        (status = 200, description = "The credential with its new trust rules.", body = CredentialView),
        InvalidRequest, Unauthorized, Forbidden, NotFound, Conflict, Unavailable,
    )
)]
pub(super) async fn replace_credential_trust(
    caller: Caller,
    state: web::Data<AppState>,
    id: Id,
    body: web::Json<TrustBody>,
) -> Reply {
    let trust = body.into_inner().0;
    let credential = credentials::replace_trust(&state, &caller, id.into_inner(), trust).await?;
    Ok(HttpResponse::Ok().json(CredentialView::from(credential)))
}

/// Try an external token against the trust rules of a `federated` credential (a dry run).
///
/// Says which rule the token would match now, or for each rule why not (a refusal of the token
/// as a whole, such as an expired token or a bad signature, appears in the reasons of the rules
/// it concerns). The issuer's keys are fetched as for a token request; nothing is recorded: no
/// `jti`, no last use, no audit event. 409 for a credential of another method.
#[utoipa::path(
    post,
    path = "/admin/v1/credentials/{id}/trust/test",
    tag = "credentials",
    params(("id" = String, Path, description = "The credential's id.")),
    request_body = TrustTestBody,
    responses(
        (status = 200, description = "Which rule matched, or why none did.", body = TrustTestView),
        InvalidRequest, Unauthorized, Forbidden, NotFound, Conflict, Unavailable,
    )
)]
pub(super) async fn test_credential_trust(
    caller: Caller,
    state: web::Data<AppState>,
    id: Id,
    body: web::Json<TrustTestBody>,
) -> Reply {
    let token = body.into_inner().token;
    let evaluation = credentials::test_trust(&state, &caller, id.into_inner(), &token).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(TrustTestView::from(evaluation)))
}

/// Deactivate a credential: permanent and idempotent.
#[utoipa::path(
    post,
    path = "/admin/v1/credentials/{id}/deactivate",
    tag = "credentials",
    params(("id" = String, Path, description = "The credential's id.")),
    responses(
        (status = 200, description = "The credential, deactivated.", body = CredentialView),
        Unauthorized, Forbidden, NotFound, Unavailable,
    )
)]
pub(super) async fn deactivate_credential(
    caller: Caller,
    state: web::Data<AppState>,
    id: Id,
) -> Reply {
    let credential = credentials::deactivate(&state, &caller, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(CredentialView::from(credential)))
}

/// Audit events, newest first.
///
/// A token scoped to an account sees only that account's events.
#[utoipa::path(
    get,
    path = "/admin/v1/audit",
    tag = "audit",
    params(AuditQuery, PageRequest),
    responses(
        (status = 200, description = "One page of audit events.", body = Page<AuditView>),
        InvalidRequest, Unauthorized, Forbidden, NotFound, Unavailable,
    )
)]
pub(super) async fn list_audit(
    caller: Caller,
    state: web::Data<AppState>,
    query: web::Query<AuditQuery>,
    page: web::Query<PageRequest>,
) -> Reply {
    let page = page.into_inner().try_into()?;
    let AuditQuery {
        account_id,
        credential_id,
    } = query.into_inner();
    let list = audit::list(&state, &caller, account_id, credential_id, page).await?;
    Ok(HttpResponse::Ok().json(Page::of(list, AuditView::from)))
}
