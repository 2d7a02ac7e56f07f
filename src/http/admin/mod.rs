//! The admin listener: `/admin/v1/…`, authenticated with admin bearer tokens.

pub mod auth;
pub mod error;
pub mod handlers;

use actix_web::{web, HttpResponse};

use crate::service::admin::AdminError;

/// Largest admin request body.
const MAX_JSON_BYTES: usize = 64 * 1024;

/// Registers the admin routes, and makes body, query and path errors answer in the admin
/// error format.
pub fn configure(cfg: &mut web::ServiceConfig) {
    use handlers::*;
    cfg.app_data(
        web::JsonConfig::default()
            .limit(MAX_JSON_BYTES)
            .error_handler(|e, _| error::json_error(e).into()),
    )
    .app_data(
        web::QueryConfig::default()
            .error_handler(|e, _| AdminError::Validation(format!("invalid query: {e}")).into()),
    )
    .service(
        web::scope("/admin/v1")
            .service(
                web::resource("/accounts")
                    .route(web::post().to(create_account))
                    .route(web::get().to(list_accounts))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/accounts/{id}")
                    .route(web::get().to(get_account))
                    .route(web::patch().to(update_account))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/accounts/{id}/usage")
                    .route(web::get().to(account_usage))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/accounts/{id}/workspaces")
                    .route(web::post().to(create_workspace))
                    .route(web::get().to(list_workspaces))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/accounts/{id}/credentials")
                    .route(web::post().to(create_account_credential))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/workspaces/{id}")
                    .route(web::get().to(get_workspace))
                    .route(web::patch().to(update_workspace))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/workspaces/{id}/credentials")
                    .route(web::post().to(create_workspace_credential))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/credentials")
                    .route(web::get().to(list_credentials))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/credentials/{id}")
                    .route(web::get().to(get_credential))
                    .route(web::patch().to(update_credential))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/credentials/{id}/rotate")
                    .route(web::post().to(rotate_credential))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/credentials/{id}/deactivate")
                    .route(web::post().to(deactivate_credential))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/audit")
                    .route(web::get().to(list_audit))
                    .default_service(web::to(method_not_allowed)),
            ),
    )
    .default_service(web::to(not_found));
}

async fn method_not_allowed() -> HttpResponse {
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
