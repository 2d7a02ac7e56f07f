//! actix-web integration: RFC 6750 responses, helpers, X-User-Id, middleware.

use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::{test, web, App, HttpResponse};
use serde_json::{json, Value};

use super::support::*;
use crate::guard::unix_now;
use crate::{Authenticated, Guard, KeyType, Rejection, RequireAuth, RevocationFeed};

async fn whoami(auth: Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "client_id": auth.client_id,
        "key_type": auth.key_type,
        "acting_user": auth.acting_user(),
    }))
}

async fn admin_only(auth: Authenticated) -> Result<HttpResponse, Rejection> {
    auth.require_role("workspace_admin")?;
    Ok(HttpResponse::Ok().finish())
}

async fn needs_scope(auth: Authenticated) -> Result<HttpResponse, Rejection> {
    auth.require_scope("content:delete")?;
    Ok(HttpResponse::Ok().finish())
}

async fn account_route(
    auth: Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, Rejection> {
    auth.require_account(&path)?;
    Ok(HttpResponse::Ok().finish())
}

fn app(
    guard: Guard,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = ServiceResponse,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(guard)
        .route("/whoami", web::get().to(whoami))
        .route("/admin", web::get().to(admin_only))
        .route("/scoped", web::get().to(needs_scope))
        .route("/accounts/{id}", web::get().to(account_route))
}

fn www_authenticate(resp: &ServiceResponse) -> String {
    resp.headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

fn bearer(token: &str) -> (&'static str, String) {
    ("Authorization", format!("Bearer {token}"))
}

#[actix_web::test]
async fn no_token_gets_a_bare_bearer_challenge() {
    let app = test::init_service(app(guard())).await;
    let resp = test::call_service(&app, test::TestRequest::get().uri("/whoami").to_request()).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(www_authenticate(&resp), r#"Bearer realm="tessera""#);
    assert!(!www_authenticate(&resp).contains("error="));

    // Another scheme is "no bearer token" too (RFC 6750 §3.1: unsupported method, no error code).
    let req = test::TestRequest::get()
        .uri("/whoami")
        .insert_header(("Authorization", "Basic dXNlcjpwYXNz"))
        .to_request();
    let resp = test::call_service(&app, req).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(www_authenticate(&resp), r#"Bearer realm="tessera""#);
}

#[actix_web::test]
async fn the_realm_is_configurable() {
    let mut config = config();
    config.realm = "content-api".into();
    let app = test::init_service(app(guard_with(config))).await;
    let resp = test::call_service(&app, test::TestRequest::get().uri("/whoami").to_request()).await;
    assert_eq!(www_authenticate(&resp), r#"Bearer realm="content-api""#);
}

#[actix_web::test]
async fn an_invalid_token_gets_invalid_token() {
    let app = test::init_service(app(guard())).await;
    let expired = TokenBuilder::workspace(unix_now() - 2 * LIFETIME).sign();
    let forged = TokenBuilder::workspace(unix_now()).signed_by_key_b().sign();
    for token in [expired.as_str(), forged.as_str(), "garbage", "a.b.c"] {
        let req = test::TestRequest::get()
            .uri("/whoami")
            .insert_header(bearer(token))
            .to_request();
        let resp = test::call_service(&app, req).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{token}");
        let challenge = www_authenticate(&resp);
        assert!(
            challenge.starts_with(
                r#"Bearer realm="tessera", error="invalid_token", error_description=""#
            ),
            "{challenge}"
        );
        let body: Value = test::read_body_json(resp).await;
        assert_eq!(body["error"], "invalid_token");
        assert!(body["error_description"].is_string());
    }
    // An empty bearer token is malformed, not missing.
    let req = test::TestRequest::get()
        .uri("/whoami")
        .insert_header(("Authorization", "Bearer "))
        .to_request();
    let resp = test::call_service(&app, req).await;
    assert!(www_authenticate(&resp).contains(r#"error="invalid_token""#));
}

#[actix_web::test]
async fn a_revoked_token_gets_invalid_token_without_saying_why() {
    let guard = guard();
    let app = test::init_service(app(guard.clone())).await;
    let token = TokenBuilder::workspace(unix_now() - 10).sign();
    let req = test::TestRequest::get()
        .uri("/whoami")
        .insert_header(bearer(&token))
        .to_request();
    assert_eq!(test::call_service(&app, req).await.status(), StatusCode::OK);

    guard.apply_revocations(RevocationFeed::default().with_workspace("ws_1", unix_now()));
    let req = test::TestRequest::get()
        .uri("/whoami")
        .insert_header(bearer(&token))
        .to_request();
    let resp = test::call_service(&app, req).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        www_authenticate(&resp),
        r#"Bearer realm="tessera", error="invalid_token", error_description="the token has been revoked""#
    );
}

#[actix_web::test]
async fn a_valid_token_without_the_role_gets_insufficient_scope() {
    let app = test::init_service(app(guard())).await;
    let token = TokenBuilder::workspace(unix_now()).sign(); // content_manager
    let req = test::TestRequest::get()
        .uri("/admin")
        .insert_header(bearer(&token))
        .to_request();
    let resp = test::call_service(&app, req).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        www_authenticate(&resp),
        r#"Bearer realm="tessera", error="insufficient_scope", error_description="requires the role workspace_admin""#
    );
    let body: Value = test::read_body_json(resp).await;
    assert_eq!(body["error"], "insufficient_scope");

    let admin = TokenBuilder::workspace(unix_now())
        .claim("roles", json!(["workspace_admin"]))
        .sign();
    let req = test::TestRequest::get()
        .uri("/admin")
        .insert_header(bearer(&admin))
        .to_request();
    assert_eq!(test::call_service(&app, req).await.status(), StatusCode::OK);
}

#[actix_web::test]
async fn a_missing_scope_is_named_in_the_challenge() {
    let app = test::init_service(app(guard())).await;
    let token = TokenBuilder::workspace(unix_now()).sign();
    let req = test::TestRequest::get()
        .uri("/scoped")
        .insert_header(bearer(&token))
        .to_request();
    let resp = test::call_service(&app, req).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(www_authenticate(&resp).ends_with(r#", scope="content:delete""#));
}

#[actix_web::test]
async fn account_routes_need_an_account_key_of_that_account() {
    let app = test::init_service(app(guard())).await;
    let account = TokenBuilder::account(unix_now()).sign();
    let workspace = TokenBuilder::workspace(unix_now()).sign();
    for (token, uri, status) in [
        (&account, "/accounts/acc_1", StatusCode::OK),
        (&account, "/accounts/acc_2", StatusCode::FORBIDDEN),
        (&workspace, "/accounts/acc_1", StatusCode::FORBIDDEN),
    ] {
        let req = test::TestRequest::get()
            .uri(uri)
            .insert_header(bearer(token))
            .to_request();
        assert_eq!(
            test::call_service(&app, req).await.status(),
            status,
            "{uri}"
        );
    }
}

#[actix_web::test]
async fn x_user_id_is_honoured_only_for_account_tokens() {
    let app = test::init_service(app(guard())).await;
    let account = TokenBuilder::account(unix_now()).sign();
    let workspace = TokenBuilder::workspace(unix_now()).sign();

    let req = test::TestRequest::get()
        .uri("/whoami")
        .insert_header(bearer(&account))
        .insert_header(("X-User-Id", "user-42"))
        .to_request();
    let body: Value = test::call_and_read_body_json(&app, req).await;
    assert_eq!(body["acting_user"], "user-42");
    assert_eq!(body["key_type"], "account");

    let req = test::TestRequest::get()
        .uri("/whoami")
        .insert_header(bearer(&workspace))
        .insert_header(("X-User-Id", "user-42"))
        .to_request();
    let body: Value = test::call_and_read_body_json(&app, req).await;
    assert_eq!(body["acting_user"], Value::Null);
    assert_eq!(body["key_type"], "workspace");

    let req = test::TestRequest::get()
        .uri("/whoami")
        .insert_header(bearer(&account))
        .insert_header(("X-User-Id", "x".repeat(1000)))
        .to_request();
    let body: Value = test::call_and_read_body_json(&app, req).await;
    assert_eq!(
        body["acting_user"],
        Value::Null,
        "oversized values are ignored"
    );
}

#[actix_web::test]
async fn the_guard_may_be_registered_as_web_data() {
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(guard()))
            .route("/whoami", web::get().to(whoami)),
    )
    .await;
    let token = TokenBuilder::account(unix_now()).sign();
    let req = test::TestRequest::get()
        .uri("/whoami")
        .insert_header(bearer(&token))
        .to_request();
    assert_eq!(test::call_service(&app, req).await.status(), StatusCode::OK);
}

#[actix_web::test]
async fn a_missing_guard_is_a_server_error() {
    let app = test::init_service(App::new().route("/whoami", web::get().to(whoami))).await;
    let token = TokenBuilder::account(unix_now()).sign();
    let req = test::TestRequest::get()
        .uri("/whoami")
        .insert_header(bearer(&token))
        .to_request();
    let resp = test::call_service(&app, req).await;
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(resp.headers().get("www-authenticate").is_none());
}

#[actix_web::test]
async fn the_middleware_guards_a_whole_scope() {
    let app = test::init_service(
        App::new()
            .app_data(guard())
            .route("/open", web::get().to(HttpResponse::Ok))
            .service(
                web::scope("/content")
                    .wrap(
                        RequireAuth::new()
                            .key_type(KeyType::Workspace)
                            .any_role(["workspace_admin", "content_manager"])
                            .scope("content:read"),
                    )
                    .route("/items", web::get().to(whoami)),
            ),
    )
    .await;
    let req = test::TestRequest::get().uri("/open").to_request();
    assert_eq!(test::call_service(&app, req).await.status(), StatusCode::OK);

    let req = test::TestRequest::get().uri("/content/items").to_request();
    let resp = test::call_service(&app, req).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(www_authenticate(&resp), r#"Bearer realm="tessera""#);

    let workspace = TokenBuilder::workspace(unix_now()).sign();
    let req = test::TestRequest::get()
        .uri("/content/items")
        .insert_header(bearer(&workspace))
        .to_request();
    let body: Value = test::call_and_read_body_json(&app, req).await;
    assert_eq!(body["key_type"], "workspace");

    for token in [
        TokenBuilder::account(unix_now()).sign(),
        TokenBuilder::workspace(unix_now())
            .claim("roles", json!(["chat_user"]))
            .sign(),
        TokenBuilder::workspace(unix_now())
            .claim("scope", json!("content:write"))
            .sign(),
    ] {
        let req = test::TestRequest::get()
            .uri("/content/items")
            .insert_header(bearer(&token))
            .to_request();
        let resp = test::call_service(&app, req).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert!(www_authenticate(&resp).contains(r#"error="insufficient_scope""#));
    }

    let req = test::TestRequest::get()
        .uri("/content/items")
        .insert_header(bearer("garbage"))
        .to_request();
    let resp = test::call_service(&app, req).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(www_authenticate(&resp).contains(r#"error="invalid_token""#));
}

#[actix_web::test]
async fn an_optional_extractor_allows_anonymous_requests() {
    async fn maybe(auth: Option<Authenticated>) -> HttpResponse {
        HttpResponse::Ok().body(auth.map(|a| a.client_id.clone()).unwrap_or_default())
    }
    let app = test::init_service(
        App::new()
            .app_data(guard())
            .route("/", web::get().to(maybe)),
    )
    .await;
    let resp = test::call_service(&app, test::TestRequest::get().uri("/").to_request()).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

fn retry_after(resp: &ServiceResponse) -> Option<String> {
    resp.headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned())
}

/// An app with the extractor on `/whoami` and the middleware on `/content/items`.
fn extractor_and_middleware_app(
    guard: Guard,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = ServiceResponse,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(guard)
        .route("/whoami", web::get().to(whoami))
        .service(
            web::scope("/content")
                .wrap(RequireAuth::new())
                .route("/items", web::get().to(whoami)),
        )
}

#[actix_web::test]
async fn before_the_first_poll_a_valid_token_gets_503_with_retry_after() {
    let mut config = config();
    config.feed_poll_interval = std::time::Duration::from_secs(7);
    let guard = unfed_guard_with(config);
    let app = test::init_service(extractor_and_middleware_app(guard.clone())).await;
    let valid = TokenBuilder::workspace(unix_now() - 10).sign();
    let expired = TokenBuilder::workspace(unix_now() - 2 * LIFETIME).sign();

    for uri in ["/whoami", "/content/items"] {
        // No token: the plain challenge, as ever.
        let resp = test::call_service(&app, test::TestRequest::get().uri(uri).to_request()).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(
            www_authenticate(&resp),
            r#"Bearer realm="tessera""#,
            "{uri}"
        );

        // A bad token: 401 invalid_token, as ever.
        for token in ["garbage", expired.as_str()] {
            let req = test::TestRequest::get()
                .uri(uri)
                .insert_header(bearer(token))
                .to_request();
            let resp = test::call_service(&app, req).await;
            assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{uri}");
            assert!(www_authenticate(&resp).contains(r#"error="invalid_token""#));
        }

        // A valid token: 503, Retry-After, and no challenge (the token is not at fault).
        let req = test::TestRequest::get()
            .uri(uri)
            .insert_header(bearer(&valid))
            .to_request();
        let resp = test::call_service(&app, req).await;
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE, "{uri}");
        assert_eq!(retry_after(&resp).as_deref(), Some("7"), "{uri}");
        assert!(resp.headers().get("www-authenticate").is_none(), "{uri}");
        let body: Value = test::read_body_json(resp).await;
        assert_eq!(body["error"], "temporarily_unavailable", "{uri}");
    }

    // The first feed arrives: accepted.
    guard.apply_revocations(RevocationFeed::default());
    for uri in ["/whoami", "/content/items"] {
        let req = test::TestRequest::get()
            .uri(uri)
            .insert_header(bearer(&valid))
            .to_request();
        assert_eq!(
            test::call_service(&app, req).await.status(),
            StatusCode::OK,
            "{uri}"
        );
    }
}

#[actix_web::test]
async fn a_stale_list_gets_503_unless_fail_open_and_recovers_with_the_issuer() {
    use std::time::Duration;
    let issuer = FakeIssuer::start();
    let make = |fail_open: bool| {
        let mut config = config();
        config.revocation_feed_url = Some(format!("{}/oauth/revocations", issuer.url()));
        config.feed_poll_interval = Duration::from_millis(100);
        config.max_feed_age = Duration::from_millis(1000);
        config.fail_open = fail_open;
        unfed_guard_with(config)
    };
    let (closed, open) = (make(false), make(true));
    let closed_app = test::init_service(app(closed.clone())).await;
    let open_app = test::init_service(app(open.clone())).await;
    let token = TokenBuilder::workspace(unix_now() - 10).sign();
    let get = || {
        test::TestRequest::get()
            .uri("/whoami")
            .insert_header(bearer(&token))
            .to_request()
    };

    issuer.set_json("/oauth/revocations", r#"{"generated_at": 1}"#);
    closed.poll_revocations_now().await.unwrap();
    open.poll_revocations_now().await.unwrap();
    assert_eq!(
        test::call_service(&closed_app, get()).await.status(),
        StatusCode::OK
    );

    // The issuer goes down and the list gets older than max_feed_age.
    issuer.set("/oauth/revocations", Reply::Hangup);
    assert!(closed.poll_revocations_now().await.is_err());
    assert!(open.poll_revocations_now().await.is_err());
    actix_web::rt::time::sleep(Duration::from_millis(1100)).await;
    assert!(!closed.feed_is_fresh() && !open.feed_is_fresh());
    assert!(closed.feed_age().unwrap() >= Duration::from_secs(1));

    let resp = test::call_service(&closed_app, get()).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(retry_after(&resp).as_deref(), Some("1"));
    assert!(resp.headers().get("www-authenticate").is_none());
    // Only when configured does the guard fail open.
    assert_eq!(
        test::call_service(&open_app, get()).await.status(),
        StatusCode::OK
    );

    // The issuer answers again.
    issuer.set_json("/oauth/revocations", r#"{"generated_at": 2}"#);
    closed.poll_revocations_now().await.unwrap();
    assert!(closed.feed_is_fresh());
    assert_eq!(
        test::call_service(&closed_app, get()).await.status(),
        StatusCode::OK
    );
}
