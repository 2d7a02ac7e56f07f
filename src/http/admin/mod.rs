//! The admin listener: `/admin/v1/…`, authenticated with admin bearer tokens, the OpenAPI
//! document of it at `/openapi.json`, and Prometheus metrics at `/metrics`.

pub mod auth;
pub mod console;
pub mod error;
pub mod handlers;
pub mod metrics;
pub mod openapi;
pub mod requests;
pub mod views;

use actix_web::http::Method;
use actix_web::{web, HttpResponse};

use super::routes::RouteTable;
use crate::service::admin::AdminError;

/// Largest admin request body.
pub const MAX_JSON_BYTES: usize = 64 * 1024;

/// The admin routes.
pub fn routes() -> RouteTable {
    use handlers::*;
    RouteTable::new()
        .add(Method::POST, "/admin/v1/accounts", create_account)
        .add(Method::GET, "/admin/v1/accounts", list_accounts)
        .add(Method::GET, "/admin/v1/accounts/{id}", get_account)
        .add(Method::PATCH, "/admin/v1/accounts/{id}", update_account)
        .add(Method::GET, "/admin/v1/accounts/{id}/usage", account_usage)
        .add(
            Method::POST,
            "/admin/v1/accounts/{id}/workspaces",
            create_workspace,
        )
        .add(
            Method::GET,
            "/admin/v1/accounts/{id}/workspaces",
            list_workspaces,
        )
        .add(
            Method::POST,
            "/admin/v1/accounts/{id}/credentials",
            create_account_credential,
        )
        .add(Method::GET, "/admin/v1/workspaces/{id}", get_workspace)
        .add(Method::PATCH, "/admin/v1/workspaces/{id}", update_workspace)
        .add(
            Method::POST,
            "/admin/v1/workspaces/{id}/credentials",
            create_workspace_credential,
        )
        .add(Method::GET, "/admin/v1/credentials", list_credentials)
        .add(Method::GET, "/admin/v1/credentials/{id}", get_credential)
        .add(
            Method::PATCH,
            "/admin/v1/credentials/{id}",
            update_credential,
        )
        .add(
            Method::POST,
            "/admin/v1/credentials/{id}/rotate",
            rotate_credential,
        )
        .add(
            Method::PUT,
            "/admin/v1/credentials/{id}/jwks",
            replace_credential_keys,
        )
        .add(
            Method::PUT,
            "/admin/v1/credentials/{id}/trust",
            replace_credential_trust,
        )
        .add(
            Method::POST,
            "/admin/v1/credentials/{id}/trust/test",
            test_credential_trust,
        )
        .add(
            Method::POST,
            "/admin/v1/credentials/{id}/deactivate",
            deactivate_credential,
        )
        .add(Method::GET, "/admin/v1/audit", list_audit)
        .add(Method::GET, "/openapi.json", openapi::document)
        .add(Method::GET, metrics::PATH, metrics::metrics)
        .add(Method::GET, console::PAGE_PATH, console::page)
        .add(Method::GET, console::SCRIPT_PATH, console::script)
        .add(Method::GET, console::STYLE_PATH, console::style)
}

/// Registers the admin routes, and makes body, query and path errors answer in the admin
/// error format.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(MAX_JSON_BYTES)
            .error_handler(|e, _| error::json_error(e).into()),
    )
    .app_data(
        web::QueryConfig::default()
            .error_handler(|e, _| AdminError::Validation(format!("invalid query: {e}")).into()),
    )
    // A path segment that does not decode (say, percent-encoded bytes that are not UTF-8)
    // names nothing of ours: a 404 in the admin format, like any other unknown id.
    .app_data(
        web::PathConfig::default().error_handler(|_, _| AdminError::NotFound("resource").into()),
    );
    routes().register(cfg, method_not_allowed);
    cfg.default_service(web::to(not_found));
}

fn method_not_allowed() -> HttpResponse {
    error::body(
        actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this path",
    )
}

async fn not_found() -> HttpResponse {
    error::body(
        actix_web::http::StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint",
    )
}
