//! An example resource server protected by `tessera-guard`.
//!
//! ```text
//! ISSUER_URL=http://127.0.0.1:8080 AUDIENCE=https://api.example.test/ PORT=8090 \
//!     cargo run -p tessera-guard --example resource_server
//! ```
//!
//! Environment: `ISSUER_URL` (default `http://127.0.0.1:8080`, must equal the tokens' `iss`),
//! `AUDIENCE` (default `https://api.example.test/`), `PORT` (default 8090; 0 picks a free port),
//! `FEED_POLL_SECONDS` (default 30), `MAX_FEED_AGE_SECONDS` (default 900: how old the last
//! successful revocation-feed poll may get before tokens are answered 503; must be more than
//! `FEED_POLL_SECONDS`), `FEED_FAIL_OPEN` (`1` to accept tokens on an unknown or out-of-date
//! revocation list; default off), `ALGORITHMS` (default `RS256`; comma-separated, e.g.
//! `RS256,ES256` while the issuer switches to ES256), optional `WORKSPACE_OWNERS`
//! (`ws_id=account_id,…`, see below), `RUST_LOG` (default `info`). The bound address is printed
//! as `listening on http://…`.
//!
//! Until the revocation feed has been polled successfully (and whenever the last successful poll
//! is older than `MAX_FEED_AGE_SECONDS`), a request with a valid token is answered 503 with
//! `Retry-After`: the guard cannot tell whether the token was revoked. A request without a
//! token, or with an invalid one, still gets 401.
//!
//! Routes:
//! - `GET /health` — 200, no token needed (liveness).
//! - `GET /readyz` — 200 when the revocation list is known and fresh, else 503 (readiness: take
//!   the instance out of a load balancer while it would refuse tokens).
//! - `GET /accounts/{account_id}/workspaces` — 200 for an account token of that account; 403 for
//!   a workspace token or another account's token; 401 without a valid token.
//! - `GET /workspaces/{workspace_id}/content` — 200 for a workspace token of that workspace with
//!   the role `workspace_admin` or `content_manager`, or for an account token of the account that
//!   owns the workspace; 403 otherwise (including when the owner is not known); 401 without a
//!   valid token.
//!
//! Workspace ownership: a real server looks up which account owns a workspace in its own
//! database. This example has no database, so it keeps a small directory: seeded from
//! `WORKSPACE_OWNERS`, and learned from validated workspace tokens (a signed workspace token says
//! which account its workspace belongs to). An account token is let through only when the
//! directory says its account owns the workspace: another owner, or no known owner, is 403
//! (`insufficient_scope`). When in doubt, refuse.
//!
//! `X-User-Id` (the human a portal acts for) is echoed as `acting_user` for account tokens and
//! ignored for workspace tokens.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use actix_web::{get, web, App, HttpResponse, HttpServer};
use serde_json::json;
use tessera_guard::{Algorithm, Authenticated, Guard, GuardConfig, Rejection};

/// Workspace roles allowed to read content.
const CONTENT_ROLES: &[&str] = &["workspace_admin", "content_manager"];

struct Settings {
    issuer: String,
    audience: String,
    port: u16,
    feed_poll: Duration,
    max_feed_age: Duration,
    fail_open: bool,
    algorithms: Vec<Algorithm>,
    owners: HashMap<String, String>,
}

impl Settings {
    fn from_env() -> Result<Self, String> {
        let var =
            |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
        let port = var("PORT", "8090")
            .parse::<u16>()
            .map_err(|_| "PORT must be a port number".to_owned())?;
        let feed_seconds = var("FEED_POLL_SECONDS", "30")
            .parse::<u64>()
            .ok()
            .filter(|s| *s > 0)
            .ok_or_else(|| "FEED_POLL_SECONDS must be a positive integer".to_owned())?;
        let max_feed_age_seconds = var("MAX_FEED_AGE_SECONDS", "900")
            .parse::<u64>()
            .ok()
            .filter(|s| *s > feed_seconds)
            .ok_or_else(|| {
                "MAX_FEED_AGE_SECONDS must be an integer greater than FEED_POLL_SECONDS".to_owned()
            })?;
        let fail_open = match var("FEED_FAIL_OPEN", "0").trim() {
            "1" | "true" => true,
            "0" | "false" | "" => false,
            _ => return Err("FEED_FAIL_OPEN must be 1 or 0".to_owned()),
        };
        let algorithms = var("ALGORITHMS", "RS256")
            .split(',')
            .map(|name| {
                name.trim()
                    .parse::<Algorithm>()
                    .map_err(|_| format!("ALGORITHMS: unknown algorithm {name:?}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut owners = HashMap::new();
        for pair in var("WORKSPACE_OWNERS", "")
            .split(',')
            .filter(|p| !p.trim().is_empty())
        {
            let (workspace, account) = pair.split_once('=').ok_or_else(|| {
                format!("WORKSPACE_OWNERS: expected ws_id=account_id, got {pair:?}")
            })?;
            owners.insert(workspace.trim().to_owned(), account.trim().to_owned());
        }
        Ok(Self {
            issuer: var("ISSUER_URL", "http://127.0.0.1:8080"),
            audience: var("AUDIENCE", "https://api.example.test/"),
            port,
            feed_poll: Duration::from_secs(feed_seconds),
            max_feed_age: Duration::from_secs(max_feed_age_seconds),
            fail_open,
            algorithms,
            owners,
        })
    }
}

/// Which account owns which workspace, as far as this example knows (see the module docs).
struct WorkspaceDirectory {
    owners: RwLock<HashMap<String, String>>,
}

impl WorkspaceDirectory {
    fn owner(&self, workspace_id: &str) -> Option<String> {
        self.owners.read().ok()?.get(workspace_id).cloned()
    }

    fn workspaces_of(&self, account_id: &str) -> Vec<String> {
        let Ok(owners) = self.owners.read() else {
            return Vec::new();
        };
        let mut list: Vec<String> = owners
            .iter()
            .filter(|(_, owner)| *owner == account_id)
            .map(|(ws, _)| ws.clone())
            .collect();
        list.sort();
        list
    }

    /// Records what a validated workspace token says about its workspace's account.
    fn learn(&self, auth: &Authenticated) {
        if let (Some(workspace_id), Ok(mut owners)) =
            (auth.workspace_id.as_ref(), self.owners.write())
        {
            owners
                .entry(workspace_id.clone())
                .or_insert_with(|| auth.account_id.clone());
        }
    }
}

#[get("/health")]
async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Ready when the guard's revocation list is known and fresh, i.e. when a valid token would
/// not be answered 503.
#[get("/readyz")]
async fn readyz(guard: web::Data<Guard>) -> HttpResponse {
    let age = guard.feed_age().map(|age| age.as_secs());
    if guard.feed_is_fresh() {
        HttpResponse::Ok().json(json!({"status": "ready", "feed_age_seconds": age}))
    } else {
        let retry_after = guard.config().feed_poll_interval.as_secs().max(1);
        HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", retry_after.to_string()))
            .json(json!({
                "status": "revocation list unknown or out of date",
                "feed_age_seconds": age,
            }))
    }
}

#[get("/accounts/{account_id}/workspaces")]
async fn account_workspaces(
    auth: Authenticated,
    path: web::Path<String>,
    directory: web::Data<WorkspaceDirectory>,
) -> Result<HttpResponse, Rejection> {
    let account_id = path.into_inner();
    // Account keys only, and only their own account: a workspace key is refused even within
    // its own account.
    auth.require_account(&account_id)?;
    Ok(HttpResponse::Ok().json(json!({
        "account_id": account_id,
        "workspaces": directory.workspaces_of(&account_id),
        "client_id": auth.client_id,
        "acting_user": auth.acting_user(),
    })))
}

#[get("/workspaces/{workspace_id}/content")]
async fn workspace_content(
    auth: Authenticated,
    path: web::Path<String>,
    directory: web::Data<WorkspaceDirectory>,
) -> Result<HttpResponse, Rejection> {
    let workspace_id = path.into_inner();
    if auth.is_workspace_key() {
        auth.require_workspace(&workspace_id)?;
        auth.require_any_role(CONTENT_ROLES)?;
        directory.learn(&auth);
    } else {
        match directory.owner(&workspace_id) {
            Some(owner) if owner == auth.account_id => {}
            Some(_) => return Err(auth.forbidden("the workspace belongs to another account")),
            // Not known to belong to the token's account: refuse, never guess.
            None => {
                return Err(auth.forbidden("the workspace is not known to belong to the account"))
            }
        }
    }
    Ok(HttpResponse::Ok().json(json!({
        "workspace_id": workspace_id,
        "items": [{"id": "welcome", "title": "Welcome"}],
        "client_id": auth.client_id,
        "key_type": auth.key_type,
        "acting_user": auth.acting_user(),
        // Always true now: an unverified owner is refused above.
        "ownership_verified": true,
    })))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(problem) => {
            eprintln!("resource_server: {problem}");
            std::process::exit(2);
        }
    };

    let mut config = GuardConfig::new(settings.issuer, settings.audience);
    config.feed_poll_interval = settings.feed_poll;
    config.max_feed_age = settings.max_feed_age;
    config.fail_open = settings.fail_open;
    // Guard::new refuses HMAC and anything else it cannot verify safely.
    config.algorithms = settings.algorithms;
    let guard = match Guard::new(config) {
        Ok(guard) => guard,
        Err(problem) => {
            eprintln!("resource_server: {problem}");
            std::process::exit(2);
        }
    };
    // Start from a current revocation list when the issuer is up. If it is not, the refresh
    // task keeps trying (and, until it succeeds, requests with valid tokens get 503 and
    // /readyz says not ready); keys are fetched on the first request.
    if let Err(err) = guard.poll_revocations_now().await {
        log::warn!("revocation feed not available yet, answering 503 until it is: {err}");
    }
    let _refresh = guard.spawn_refresh_task();

    let directory = web::Data::new(WorkspaceDirectory {
        owners: RwLock::new(settings.owners),
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(guard.clone())
            .app_data(web::Data::new(guard.clone()))
            .app_data(directory.clone())
            .service(health)
            .service(readyz)
            .service(account_workspaces)
            .service(workspace_content)
    })
    .bind(("127.0.0.1", settings.port))?;
    for addr in server.addrs() {
        println!("listening on http://{addr}");
    }
    server.run().await
}
