//! `/healthz` (the process runs) and `/readyz` (it can serve tokens).

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::state::AppState;
use crate::storage::{self, StorageError};

/// 200 while the process runs.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// 200 only when the database answers and a signing key is loaded.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let database = state
        .db(storage::ping)
        .await
        .map_err(|e: StorageError| e.to_string());
    let keys = state.keys.current().signer().is_some();
    let body = json!({
        "status": if database.is_ok() && keys { "ready" } else { "unavailable" },
        "database": database.as_ref().map_or("unavailable", |_| "ok"),
        "signing_key": if keys { "ok" } else { "missing" },
    });
    if database.is_ok() && keys {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "5"))
            .json(body)
    }
}
