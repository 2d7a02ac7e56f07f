//! Admin handlers: extract, call the service, wrap the view.

use actix_web::{web, HttpResponse};

use crate::service::admin::credentials::{
    CredentialPatch, CredentialQuery, NewCredential, Owner, RotateRequest,
};
use crate::service::admin::{
    accounts, audit, credentials, workspaces, AdminError, Caller, PageRequest,
};
use crate::state::AppState;

type Reply = Result<HttpResponse, AdminError>;
type Id = web::Path<String>;

pub(super) async fn create_account(
    caller: Caller,
    state: web::Data<AppState>,
    body: web::Json<accounts::NewAccount>,
) -> Reply {
    let view = accounts::create(&state, &caller, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(view))
}

pub(super) async fn list_accounts(
    caller: Caller,
    state: web::Data<AppState>,
    page: web::Query<PageRequest>,
) -> Reply {
    let page = page.validate()?;
    Ok(HttpResponse::Ok().json(accounts::list(&state, &caller, page).await?))
}

pub(super) async fn get_account(caller: Caller, state: web::Data<AppState>, id: Id) -> Reply {
    Ok(HttpResponse::Ok().json(accounts::get(&state, &caller, id.into_inner()).await?))
}

pub(super) async fn update_account(
    caller: Caller,
    state: web::Data<AppState>,
    id: Id,
    body: web::Json<accounts::AccountPatch>,
) -> Reply {
    let view = accounts::update(&state, &caller, id.into_inner(), body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(view))
}

pub(super) async fn account_usage(
    caller: Caller,
    state: web::Data<AppState>,
    id: Id,
    query: web::Query<accounts::UsageQuery>,
) -> Reply {
    let view = accounts::usage(&state, &caller, id.into_inner(), query.into_inner()).await?;
    Ok(HttpResponse::Ok().json(view))
}

pub(super) async fn create_workspace(
    caller: Caller,
    state: web::Data<AppState>,
    id: Id,
    body: web::Json<workspaces::NewWorkspace>,
) -> Reply {
    let view = workspaces::create(&state, &caller, id.into_inner(), body.into_inner()).await?;
    Ok(HttpResponse::Created().json(view))
}

pub(super) async fn list_workspaces(
    caller: Caller,
    state: web::Data<AppState>,
    id: Id,
    page: web::Query<PageRequest>,
) -> Reply {
    let page = page.validate()?;
    let list = workspaces::list(&state, &caller, id.into_inner(), page).await?;
    Ok(HttpResponse::Ok().json(list))
}

pub(super) async fn get_workspace(caller: Caller, state: web::Data<AppState>, id: Id) -> Reply {
    Ok(HttpResponse::Ok().json(workspaces::get(&state, &caller, id.into_inner()).await?))
}

pub(super) async fn update_workspace(
    caller: Caller,
    state: web::Data<AppState>,
    id: Id,
    body: web::Json<workspaces::WorkspacePatch>,
) -> Reply {
    let view = workspaces::update(&state, &caller, id.into_inner(), body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(view))
}

pub(super) async fn create_account_credential(
    caller: Caller,
    state: web::Data<AppState>,
    id: Id,
    body: web::Json<NewCredential>,
) -> Reply {
    let owner = Owner::Account(id.into_inner());
    let view = credentials::create(&state, &caller, owner, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(view))
}

pub(super) async fn create_workspace_credential(
    caller: Caller,
    state: web::Data<AppState>,
    id: Id,
    body: web::Json<NewCredential>,
) -> Reply {
    let owner = Owner::Workspace(id.into_inner());
    let view = credentials::create(&state, &caller, owner, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(view))
}

pub(super) async fn list_credentials(
    caller: Caller,
    state: web::Data<AppState>,
    query: web::Query<CredentialQuery>,
    page: web::Query<PageRequest>,
) -> Reply {
    let page = page.validate()?;
    let list = credentials::list(&state, &caller, query.into_inner(), page).await?;
    Ok(HttpResponse::Ok().json(list))
}

pub(super) async fn get_credential(caller: Caller, state: web::Data<AppState>, id: Id) -> Reply {
    Ok(HttpResponse::Ok().json(credentials::get(&state, &caller, id.into_inner()).await?))
}

pub(super) async fn update_credential(
    caller: Caller,
    state: web::Data<AppState>,
    id: Id,
    body: web::Json<CredentialPatch>,
) -> Reply {
    let view = credentials::update(&state, &caller, id.into_inner(), body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(view))
}

pub(super) async fn rotate_credential(
    caller: Caller,
    state: web::Data<AppState>,
    id: Id,
    body: web::Bytes,
) -> Reply {
    // The body is optional, but a body that is there must be valid.
    let request: RotateRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RotateRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| AdminError::Validation(format!("invalid JSON body: {e}")))?
    };
    let view = credentials::rotate(&state, &caller, id.into_inner(), request).await?;
    Ok(HttpResponse::Ok().json(view))
}

pub(super) async fn deactivate_credential(
    caller: Caller,
    state: web::Data<AppState>,
    id: Id,
) -> Reply {
    Ok(HttpResponse::Ok().json(credentials::deactivate(&state, &caller, id.into_inner()).await?))
}

pub(super) async fn list_audit(
    caller: Caller,
    state: web::Data<AppState>,
    query: web::Query<audit::AuditQuery>,
    page: web::Query<PageRequest>,
) -> Reply {
    let page = page.validate()?;
    let list = audit::list(&state, &caller, query.into_inner(), page).await?;
    Ok(HttpResponse::Ok().json(list))
}
