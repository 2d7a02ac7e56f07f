//! The OpenAPI documents: each listener serves one, it lists exactly the routes the listener
//! registers, and what the real server answers conforms to it (status, headers, content type
//! and body schema).

use std::collections::BTreeSet;

use reqwest::{header, Method, Response};
use serde_json::{json, Value};

use crate::helpers::TestApp;

/// One fetched document, and the checks of a real response against it.
struct Document {
    doc: Value,
}

/// A response as read: what the checks need of it.
struct Seen {
    status: u16,
    headers: header::HeaderMap,
    body: Vec<u8>,
}

impl Seen {
    async fn read(response: Response) -> Self {
        Self {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.bytes().await.unwrap().to_vec(),
        }
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

impl Document {
    async fn fetch(app: &TestApp, base: &str) -> Self {
        // No Authorization header: neither document needs one.
        let response = app
            .client
            .get(format!("{base}/openapi.json"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/json",
            "{base}"
        );
        Self {
            doc: response.json().await.unwrap(),
        }
    }

    /// Every `(METHOD, path)` the document lists.
    fn operations(&self) -> BTreeSet<(String, String)> {
        let methods = [
            "get", "put", "post", "delete", "patch", "head", "options", "trace",
        ];
        self.doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, item)| {
                methods
                    .iter()
                    .filter(|m| item.get(**m).is_some())
                    .map(move |m| (m.to_uppercase(), path.clone()))
            })
            .collect()
    }

    fn operation(&self, method: &str, path: &str) -> &Value {
        let op = &self.doc["paths"][path][method.to_lowercase()];
        assert!(op.is_object(), "{method} {path} is not documented");
        op
    }

    /// Why `instance` does not match `schema` (`$ref`s resolved into this document).
    fn schema_errors(&self, schema: &Value, instance: &Value) -> Vec<String> {
        let root = json!({"allOf": [schema], "components": self.doc["components"]});
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&root)
            .unwrap_or_else(|e| panic!("the documented schema does not compile: {e}"));
        validator
            .iter_errors(instance)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect()
    }

    fn validate(&self, schema: &Value, instance: &Value, what: &str) {
        let errors = self.schema_errors(schema, instance);
        assert!(
            errors.is_empty(),
            "{what}: the response does not match its schema: {errors:?}\n{instance}"
        );
    }

    /// Asserts that `seen`, the answer to `method path`, is documented: its status, every
    /// header documented as required, its content type and its body's schema.
    fn assert_conforms(&self, method: &str, path: &str, seen: &Seen) {
        let what = format!("{method} {path} -> {}", seen.status);
        let response = &self.operation(method, path)["responses"][seen.status.to_string()];
        assert!(response.is_object(), "{what}: status not documented");
        for (name, header) in response["headers"].as_object().into_iter().flatten() {
            if header["required"] == true {
                assert!(
                    seen.headers.contains_key(name.as_str()),
                    "{what}: required header {name} missing"
                );
            }
        }
        match response["content"].as_object() {
            None => assert!(seen.body.is_empty(), "{what}: undocumented body"),
            Some(content) => {
                let content_type = seen.headers[header::CONTENT_TYPE].to_str().unwrap();
                let essence = content_type.split(';').next().unwrap().trim();
                let media = content
                    .get(essence)
                    .unwrap_or_else(|| panic!("{what}: content type {essence} not documented"));
                self.validate(&media["schema"], &seen.json(), &what);
            }
        }
    }
}

fn listed(routes: tessera::http::routes::RouteTable) -> BTreeSet<(String, String)> {
    routes
        .list()
        .into_iter()
        .map(|(method, path)| (method.to_string(), path.to_owned()))
        .collect()
}

async fn each_listener_documents_exactly_the_routes_it_registers(app: TestApp) {
    let public = Document::fetch(&app, &app.public).await;
    let admin = Document::fetch(&app, &app.admin).await;
    // The console (a web page, not the API) is registered on the admin listener and left out
    // of its document on purpose; every other admin route is documented.
    let mut admin_routes = listed(tessera::http::admin::routes());
    for path in tessera::http::admin::console::PATHS {
        let route = ("GET".to_owned(), path.to_owned());
        assert!(
            admin_routes.remove(&route),
            "console route {path} not registered"
        );
    }
    for (doc, registered) in [
        (&public, listed(tessera::http::public::routes())),
        (&admin, admin_routes),
    ] {
        let version = doc.doc["openapi"].as_str().unwrap();
        assert!(version.starts_with("3.1."), "{version}");
        assert!(registered.contains(&("GET".into(), "/openapi.json".into())));
        assert_eq!(doc.operations(), registered);
        // Every operation has responses, and every 503 says when to retry.
        for (method, path) in &registered {
            let responses = doc.operation(method, path)["responses"]
                .as_object()
                .unwrap();
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{method} {path}"
            );
            if let Some(unavailable) = responses.get("503") {
                assert_eq!(unavailable["headers"]["Retry-After"]["required"], true);
            }
        }
    }
    // The checks below can fail: bodies of the wrong shape do not validate.
    let view = json!({"$ref": "#/components/schemas/CredentialView"});
    assert!(!admin.schema_errors(&view, &json!({"id": "x"})).is_empty());
    let error = json!({"$ref": "#/components/schemas/OAuthErrorBody"});
    assert!(!public
        .schema_errors(&error, &json!({"error": 5}))
        .is_empty());
    let introspection = json!({"$ref": "#/components/schemas/Introspection"});
    assert!(!public
        .schema_errors(&introspection, &json!({"active": true}))
        .is_empty());
    assert!(public
        .schema_errors(&introspection, &json!({"active": false}))
        .is_empty());

    // The live listeners agree: a method a path does not serve is a 405 whose Allow header
    // lists exactly the documented methods (RFC 9110 §15.5.6).
    for (doc, base) in [(&public, &app.public), (&admin, &app.admin)] {
        for path in doc.doc["paths"].as_object().unwrap().keys() {
            let documented: BTreeSet<String> = doc
                .operations()
                .into_iter()
                .filter(|(_, p)| p == path)
                .map(|(m, _)| m)
                .collect();
            let url = format!(
                "{base}{}",
                path.replace("{id}", "0190aaaa-0000-7000-8000-000000000000")
            );
            // No path serves DELETE.
            let response = app
                .client
                .request(Method::DELETE, &url)
                .bearer_auth(&app.admin_token)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 405, "DELETE {path}");
            let allow: BTreeSet<String> = response.headers()[header::ALLOW]
                .to_str()
                .unwrap()
                .split(", ")
                .map(str::to_owned)
                .collect();
            assert_eq!(allow, documented, "{path}");
        }
    }

    let admin_paths: Vec<&String> = admin.doc["paths"].as_object().unwrap().keys().collect();
    assert!(admin_paths
        .iter()
        .all(|p| p.starts_with("/admin/v1/") || *p == "/openapi.json" || *p == "/metrics"));
    // The metrics answer in the Prometheus text format, with or without an admin token.
    let metrics = admin.operation("GET", "/metrics");
    assert!(metrics["responses"]["200"]["content"]["text/plain"].is_object());
    assert_eq!(metrics["security"], json!([{}, {"admin_token": []}]));

    // The security schemes the spec promises: Basic for clients, a bearer admin token.
    let schemes = &public.doc["components"]["securitySchemes"];
    assert_eq!(schemes["client_secret_basic"]["scheme"], "basic");
    assert_eq!(admin.doc["security"], json!([{"admin_token": []}]));
    assert_eq!(
        admin.doc["components"]["securitySchemes"]["admin_token"]["scheme"],
        "bearer"
    );
    let token = public.operation("POST", "/oauth/token");
    let content = token["requestBody"]["content"].as_object().unwrap();
    assert!(content.contains_key("application/x-www-form-urlencoded"));
    assert!(content.contains_key("application/json"));
    for status in ["400", "401", "402", "429", "503"] {
        assert_eq!(
            token["responses"][status]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/OAuthErrorBody",
            "{status}"
        );
    }
    assert_eq!(
        token["responses"]["429"]["headers"]["Retry-After"]["required"],
        true
    );
    // The challenge comes only with Basic, so it is documented as optional.
    assert_eq!(
        token["responses"]["401"]["headers"]["WWW-Authenticate"]["required"],
        false
    );
    let admin_401 = &admin.operation("GET", "/admin/v1/credentials/{id}")["responses"]["401"];
    assert_eq!(admin_401["headers"]["WWW-Authenticate"]["required"], true);
}

async fn public_responses_conform_to_the_public_document(app: TestApp) {
    let doc = Document::fetch(&app, &app.public).await;
    let (_, cred) = app.account_with_key().await;
    let form = "application/x-www-form-urlencoded";
    let token_url = app.token_url();
    let send = |request: reqwest::RequestBuilder| async move {
        Seen::read(request.send().await.unwrap()).await
    };

    // Success with HTTP Basic and a form, and with JSON.
    let ok = send(
        app.client
            .post(&token_url)
            .basic_auth(&cred.client_id, Some(&cred.secret))
            .header(header::CONTENT_TYPE, form)
            .body("grant_type=client_credentials"),
    )
    .await;
    assert_eq!(ok.status, 200);
    doc.assert_conforms("POST", "/oauth/token", &ok);
    let access_token = ok.json()["access_token"].as_str().unwrap().to_owned();
    let ok_json = Seen::read(
        app.token_json(&cred.client_id, &cred.secret, json!({}))
            .await,
    )
    .await;
    assert_eq!(ok_json.status, 200);
    doc.assert_conforms("POST", "/oauth/token", &ok_json);

    // Errors: a wrong secret over Basic (401 with a challenge), a wrong grant type, a wrong
    // Content-Type, an unknown audience.
    let wrong = send(
        app.client
            .post(&token_url)
            .basic_auth(&cred.client_id, Some("tss_wrong"))
            .header(header::CONTENT_TYPE, form)
            .body("grant_type=client_credentials"),
    )
    .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.headers.contains_key(header::WWW_AUTHENTICATE));
    doc.assert_conforms("POST", "/oauth/token", &wrong);
    for (extra, status, code) in [
        (
            json!({"grant_type": "password"}),
            400,
            "unsupported_grant_type",
        ),
        (
            json!({"audience": "https://other.test/"}),
            400,
            "invalid_target",
        ),
        (json!({"client_secret": "nope"}), 401, "invalid_client"),
    ] {
        let seen = Seen::read(app.token_json(&cred.client_id, &cred.secret, extra).await).await;
        assert_eq!(
            (seen.status, seen.json()["error"].clone()),
            (status, json!(code))
        );
        doc.assert_conforms("POST", "/oauth/token", &seen);
    }
    let text = send(
        app.client
            .post(&token_url)
            .header(header::CONTENT_TYPE, "text/plain")
            .body("grant_type=client_credentials"),
    )
    .await;
    assert_eq!(text.status, 400);
    doc.assert_conforms("POST", "/oauth/token", &text);

    // Introspection (active and inactive), revocation, the feed, discovery, health.
    let introspect = |token: String| {
        app.client
            .post(format!("{}/oauth/introspect", app.public))
            .basic_auth(&cred.client_id, Some(&cred.secret))
            .form(&[("token", token)])
    };
    let active = send(introspect(access_token.clone())).await;
    assert_eq!(active.json()["active"], true);
    doc.assert_conforms("POST", "/oauth/introspect", &active);
    let inactive = send(introspect("garbage".into())).await;
    assert_eq!(inactive.json(), json!({"active": false}));
    doc.assert_conforms("POST", "/oauth/introspect", &inactive);
    let unauthenticated = send(
        app.client
            .post(format!("{}/oauth/introspect", app.public))
            .form(&[("token", "x")]),
    )
    .await;
    assert_eq!(unauthenticated.status, 401);
    doc.assert_conforms("POST", "/oauth/introspect", &unauthenticated);
    let revoked = send(
        app.client
            .post(format!("{}/oauth/revoke", app.public))
            .basic_auth(&cred.client_id, Some(&cred.secret))
            .form(&[("token", access_token)]),
    )
    .await;
    assert_eq!(revoked.status, 200);
    doc.assert_conforms("POST", "/oauth/revoke", &revoked);
    for path in [
        "/oauth/revocations",
        "/.well-known/jwks.json",
        "/.well-known/oauth-authorization-server",
        "/healthz",
        "/readyz",
        "/openapi.json",
    ] {
        let seen = send(app.client.get(format!("{}{path}", app.public))).await;
        assert_eq!(seen.status, 200, "{path}");
        doc.assert_conforms("GET", path, &seen);
    }
    let feed = send(app.client.get(format!("{}/oauth/revocations", app.public))).await;
    assert_eq!(feed.json()["tokens"].as_array().unwrap().len(), 1);
}

async fn admin_responses_conform_to_the_admin_document(app: TestApp) {
    let doc = Document::fetch(&app, &app.admin).await;
    let account = app.create_account("Acme").await;
    let workspace = app.create_workspace(&account, "Docs").await;

    // Creation (the secret shown once) and reads.
    let created = Seen::read(
        app.admin_post(
            &format!("/workspaces/{workspace}/credentials"),
            json!({"name": "Editor", "role": "content_manager", "scopes": ["read"],
                   "expires_at": "2099-01-01T00:00:00Z"}),
        )
        .await,
    )
    .await;
    assert_eq!(created.status, 201);
    assert_eq!(created.headers[header::CACHE_CONTROL], "no-store");
    doc.assert_conforms("POST", "/admin/v1/workspaces/{id}/credentials", &created);
    let credential = created.json()["id"].as_str().unwrap().to_owned();
    let account_key = Seen::read(
        app.admin_post(
            &format!("/accounts/{account}/credentials"),
            json!({"name": "Bot"}),
        )
        .await,
    )
    .await;
    doc.assert_conforms("POST", "/admin/v1/accounts/{id}/credentials", &account_key);
    let account_key = account_key.json()["id"].as_str().unwrap().to_owned();

    let read = Seen::read(app.admin_get(&format!("/credentials/{credential}")).await).await;
    assert_eq!(read.status, 200);
    assert!(read.json().get("client_secret").is_none());
    doc.assert_conforms("GET", "/admin/v1/credentials/{id}", &read);
    let rotated = Seen::read(
        app.admin_post(
            &format!("/credentials/{credential}/rotate"),
            json!({"grace_seconds": 60}),
        )
        .await,
    )
    .await;
    assert_eq!(rotated.status, 200);
    doc.assert_conforms("POST", "/admin/v1/credentials/{id}/rotate", &rotated);
    let read = Seen::read(app.admin_get(&format!("/credentials/{credential}")).await).await;
    assert_eq!(read.json()["secrets"].as_array().unwrap().len(), 2);
    doc.assert_conforms("GET", "/admin/v1/credentials/{id}", &read);

    // A private_key_jwt credential: created without a secret, read with its keys, its keys
    // replaced; rotating it and replacing a secret credential's keys are conflicts.
    use crate::private_key_jwt::ClientKey;
    let signed = Seen::read(
        app.admin_post(
            &format!("/accounts/{account}/credentials"),
            json!({"name": "Signer", "auth_method": "private_key_jwt",
                   "jwks": {"keys": [ClientKey::ed("k1").jwk, ClientKey::ec("k2").jwk]}}),
        )
        .await,
    )
    .await;
    assert_eq!(signed.status, 201);
    assert!(signed.json().get("client_secret").is_none());
    doc.assert_conforms("POST", "/admin/v1/accounts/{id}/credentials", &signed);
    let signer = signed.json()["id"].as_str().unwrap().to_owned();
    let read = Seen::read(app.admin_get(&format!("/credentials/{signer}")).await).await;
    assert_eq!(read.json()["jwks"]["keys"].as_array().unwrap().len(), 2);
    doc.assert_conforms("GET", "/admin/v1/credentials/{id}", &read);
    let jwks = |id: &str, keys: Value| {
        app.client
            .put(app.admin_url(&format!("/credentials/{id}/jwks")))
            .bearer_auth(&app.admin_token)
            .json(&json!({ "keys": keys }))
            .send()
    };
    let replaced = Seen::read(
        jwks(&signer, json!([ClientKey::rsa("k3").jwk]))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(replaced.status, 200);
    doc.assert_conforms("PUT", "/admin/v1/credentials/{id}/jwks", &replaced);
    let private = Seen::read(
        jwks(&signer, json!([{"kty": "oct", "k": "c2VjcmV0"}]))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(private.status, 400);
    doc.assert_conforms("PUT", "/admin/v1/credentials/{id}/jwks", &private);
    let not_keys = Seen::read(
        jwks(&credential, json!([ClientKey::ed("k4").jwk]))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(not_keys.status, 409);
    doc.assert_conforms("PUT", "/admin/v1/credentials/{id}/jwks", &not_keys);
    let no_secret = Seen::read(
        app.admin_post(&format!("/credentials/{signer}/rotate"), json!({}))
            .await,
    )
    .await;
    assert_eq!(no_secret.status, 409);
    doc.assert_conforms("POST", "/admin/v1/credentials/{id}/rotate", &no_secret);

    // A federated credential: created with trust rules, read with them, its rules replaced, a
    // dry run; a dry run of a secret credential is a conflict, a missing token a 400.
    let oidc = tessera::testing::OidcIssuer::start().await;
    let rule =
        |subject: &str| json!({"issuer": oidc.issuer(), "subject": subject, "audience": "tessera"});
    let federated = Seen::read(
        app.admin_post(
            &format!("/accounts/{account}/credentials"),
            json!({"name": "Workload", "auth_method": "federated", "trust": [rule("a")]}),
        )
        .await,
    )
    .await;
    assert_eq!(federated.status, 201);
    assert!(federated.json().get("client_secret").is_none());
    doc.assert_conforms("POST", "/admin/v1/accounts/{id}/credentials", &federated);
    let workload = federated.json()["id"].as_str().unwrap().to_owned();
    let read = Seen::read(app.admin_get(&format!("/credentials/{workload}")).await).await;
    assert_eq!(read.json()["trust"].as_array().unwrap().len(), 1);
    doc.assert_conforms("GET", "/admin/v1/credentials/{id}", &read);
    let trust_path = format!("/credentials/{workload}/trust");
    let replaced = Seen::read(
        app.admin_send(Method::PUT, &trust_path, json!([rule("b"), rule("c")]))
            .await,
    )
    .await;
    assert_eq!(replaced.status, 200);
    doc.assert_conforms("PUT", "/admin/v1/credentials/{id}/trust", &replaced);
    let bad = Seen::read(app.admin_send(Method::PUT, &trust_path, json!([])).await).await;
    assert_eq!(bad.status, 400);
    doc.assert_conforms("PUT", "/admin/v1/credentials/{id}/trust", &bad);
    let token = oidc.issue(&oidc.claims("c", "tessera"));
    let tried = Seen::read(
        app.admin_post(&format!("{trust_path}/test"), json!({ "token": token }))
            .await,
    )
    .await;
    assert_eq!(tried.status, 200);
    assert_eq!(tried.json()["matched"], 1);
    doc.assert_conforms("POST", "/admin/v1/credentials/{id}/trust/test", &tried);
    let not_federated = Seen::read(
        app.admin_post(
            &format!("/credentials/{credential}/trust/test"),
            json!({ "token": token }),
        )
        .await,
    )
    .await;
    assert_eq!(not_federated.status, 409);
    doc.assert_conforms(
        "POST",
        "/admin/v1/credentials/{id}/trust/test",
        &not_federated,
    );
    let no_token = Seen::read(
        app.admin_post(&format!("{trust_path}/test"), json!({}))
            .await,
    )
    .await;
    assert_eq!(no_token.status, 400);
    doc.assert_conforms("POST", "/admin/v1/credentials/{id}/trust/test", &no_token);

    for (path, template) in [
        ("/accounts".to_owned(), "/admin/v1/accounts"),
        (format!("/accounts/{account}"), "/admin/v1/accounts/{id}"),
        (
            format!("/accounts/{account}/workspaces"),
            "/admin/v1/accounts/{id}/workspaces",
        ),
        (
            format!("/workspaces/{workspace}"),
            "/admin/v1/workspaces/{id}",
        ),
        (
            format!("/credentials?account_id={account}&status=active"),
            "/admin/v1/credentials",
        ),
        (format!("/audit?account_id={account}"), "/admin/v1/audit"),
    ] {
        let seen = Seen::read(app.admin_get(&path).await).await;
        assert_eq!(seen.status, 200, "{path}");
        doc.assert_conforms("GET", template, &seen);
    }
    let deactivated = Seen::read(
        app.admin_post(&format!("/credentials/{credential}/deactivate"), json!({}))
            .await,
    )
    .await;
    assert_eq!(deactivated.json()["status"], "deactivated");
    doc.assert_conforms(
        "POST",
        "/admin/v1/credentials/{id}/deactivate",
        &deactivated,
    );

    // Errors: 401 (no token), 404 (unknown id), 400 (bad body, bad query), 409 (re-role an
    // account key; rotate a deactivated one).
    let unauthorized = Seen::read(
        app.client
            .get(app.admin_url(&format!("/credentials/{credential}")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(unauthorized.status, 401);
    doc.assert_conforms("GET", "/admin/v1/credentials/{id}", &unauthorized);
    let missing = Seen::read(
        app.admin_get("/credentials/0190aaaa-0000-7000-8000-000000000000")
            .await,
    )
    .await;
    assert_eq!(missing.status, 404);
    doc.assert_conforms("GET", "/admin/v1/credentials/{id}", &missing);
    let undecodable = Seen::read(app.admin_get("/credentials/%FF").await).await;
    assert_eq!(undecodable.status, 404);
    doc.assert_conforms("GET", "/admin/v1/credentials/{id}", &undecodable);
    let bad_body = Seen::read(app.admin_post("/accounts", json!({"name": 5})).await).await;
    assert_eq!(bad_body.status, 400);
    doc.assert_conforms("POST", "/admin/v1/accounts", &bad_body);
    let bad_query = Seen::read(app.admin_get("/accounts?limit=0").await).await;
    assert_eq!(bad_query.status, 400);
    doc.assert_conforms("GET", "/admin/v1/accounts", &bad_query);
    let rerole = Seen::read(
        app.admin_patch(
            &format!("/credentials/{account_key}"),
            json!({"role": "chat_user"}),
        )
        .await,
    )
    .await;
    assert_eq!(rerole.status, 409);
    doc.assert_conforms("PATCH", "/admin/v1/credentials/{id}", &rerole);
    let rotate_dead = Seen::read(
        app.client
            .post(app.admin_url(&format!("/credentials/{credential}/rotate")))
            .bearer_auth(&app.admin_token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(rotate_dead.status, 409);
    doc.assert_conforms("POST", "/admin/v1/credentials/{id}/rotate", &rotate_dead);
    let seen = Seen::read(
        app.client
            .request(Method::GET, format!("{}/openapi.json", app.admin))
            .send()
            .await
            .unwrap(),
    )
    .await;
    doc.assert_conforms("GET", "/openapi.json", &seen);
}

backend_tests!(
    each_listener_documents_exactly_the_routes_it_registers,
    public_responses_conform_to_the_public_document,
    admin_responses_conform_to_the_admin_document,
);
