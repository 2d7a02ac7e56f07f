//! `/healthz` (the process runs) and `/readyz` (it can serve tokens).

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::openapi::string_enum;
use crate::state::AppState;
use crate::storage::{self, StorageError};

/// `/healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    #[schema(schema_with = ok_schema)]
    pub status: &'static str,
}

fn ok_schema() -> utoipa::openapi::Object {
    string_enum(&["ok"])
}

/// `/readyz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `unavailable`.
    #[schema(schema_with = readiness_schema)]
    pub status: &'static str,
    /// `ok` or `unavailable`.
    #[schema(schema_with = database_schema)]
    pub database: &'static str,
    /// `ok` or `missing`.
    #[schema(schema_with = signing_key_schema)]
    pub signing_key: &'static str,
}

fn readiness_schema() -> utoipa::openapi::Object {
    string_enum(&["ready", "unavailable"])
}

fn database_schema() -> utoipa::openapi::Object {
    string_enum(&["ok", "unavailable"])
}

fn signing_key_schema() -> utoipa::openapi::Object {
    string_enum(&["ok", "missing"])
}

/// Liveness: 200 while the process runs.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    operation_id = "healthz",
    responses((status = 200, description = "The process runs.", body = Health))
)]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// Readiness: 200 only when the database answers and a signing key is loaded.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    operation_id = "readyz",
    responses(
        (status = 200, description = "Ready to issue tokens.", body = Readiness),
        (status = 503, description = "The database does not answer or no signing key is loaded.",
            body = Readiness,
            headers(("Retry-After" = u32, description = "Seconds to wait before retrying."))),
    )
)]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let database = state
        .db(storage::ping)
        .await
        .map_err(|e: StorageError| e.to_string());
    let keys = state.keys.current().signer().is_some();
    let ready = database.is_ok() && keys;
    let body = Readiness {
        status: if ready { "ready" } else { "unavailable" },
        database: if database.is_ok() {
            "ok"
        } else {
            "unavailable"
        },
        signing_key: if keys { "ok" } else { "missing" },
    };
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", crate::http::UNAVAILABLE_RETRY_AFTER))
            .json(body)
    }
}
