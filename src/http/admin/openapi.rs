//! The admin listener's OpenAPI 3.1 document, served at `GET /openapi.json`.
//!
//! Reading it needs no admin token: it describes only the shape of the API (the same document
//! anyone can generate from the source), holds no data, and the admin listener is meant for a
//! private network. Portals and API clients can fetch it without first being handed a token.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ObjectBuilder, Required, Type};
use utoipa::OpenApi;

use super::error::AdminErrorBody;
use super::handlers;
use crate::http::openapi::{finish, serve, TransportLimits};

/// The admin API's document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tessera admin API",
        description = "Accounts, workspaces, credentials and the audit log. JSON in and out; every \
                       call needs `Authorization: Bearer <admin token>` (from `tessera admin-token \
                       create`). Calls that change something record an audit event whose actor is \
                       the `X-Actor` header if given, else the admin token's name."
    ),
    paths(
        handlers::create_account,
        handlers::list_accounts,
        handlers::get_account,
        handlers::update_account,
        handlers::account_usage,
        handlers::create_workspace,
        handlers::list_workspaces,
        handlers::get_workspace,
        handlers::update_workspace,
        handlers::create_account_credential,
        handlers::create_workspace_credential,
        handlers::list_credentials,
        handlers::get_credential,
        handlers::update_credential,
        handlers::rotate_credential,
        handlers::replace_credential_keys,
        handlers::replace_credential_trust,
        handlers::test_credential_trust,
        handlers::deactivate_credential,
        handlers::list_audit,
        document,
        super::metrics::metrics,
    ),
    components(schemas(AdminErrorBody)),
    security(("admin_token" = [])),
    modifiers(&AdminSecurity, &ActorHeader, &TransportLimits),
    tags(
        (name = "accounts", description = "Customer organisations."),
        (name = "workspaces", description = "Workspaces of an account."),
        (name = "credentials", description = "Account and workspace API keys."),
        (name = "audit", description = "Who changed what, newest first."),
        (name = "meta", description = "This document, and the metrics."),
    )
)]
pub struct AdminApi;

struct AdminSecurity;

impl utoipa::Modify for AdminSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An admin token from `tessera admin-token create`. A token created with \
                         `--account` acts on that account only.",
                    ))
                    .build(),
            ),
        );
    }
}

/// Every change (each `POST`, `PUT` and `PATCH`) records an audit event whose actor is the `X-Actor`
/// header when given: the human on whose behalf a portal acts.
struct ActorHeader;

impl utoipa::Modify for ActorHeader {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let actor = ParameterBuilder::new()
            .name("X-Actor")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "The human on whose behalf the call is made, recorded as the audit event's \
                 actor (else the admin token's name). At most 200 characters are kept; control \
                 characters are dropped.",
            ))
            .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
            .build();
        for item in openapi.paths.paths.values_mut() {
            for op in [item.post.as_mut(), item.put.as_mut(), item.patch.as_mut()]
                .into_iter()
                .flatten()
            {
                op.parameters
                    .get_or_insert_with(Vec::new)
                    .push(actor.clone());
            }
        }
    }
}

/// The finished document, generated once.
pub fn document_bytes() -> &'static [u8] {
    static DOCUMENT: OnceLock<Vec<u8>> = OnceLock::new();
    DOCUMENT.get_or_init(|| finish(AdminApi::openapi()))
}

/// This OpenAPI document.
///
/// Needs no admin token.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document of the admin API.",
        body = Object, content_type = "application/json"))
)]
pub async fn document() -> HttpResponse {
    serve(document_bytes())
}
