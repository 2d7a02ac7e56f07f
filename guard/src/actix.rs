//! actix-web integration (cargo feature `actix`, on by default).
//!
//! - [`Authenticated`]: an extractor for handlers; reads the [`Guard`] from the app data
//!   (`App::app_data(guard)` or `web::Data<Guard>`), validates the `Authorization: Bearer` token.
//! - [`RequireAuth`]: middleware that guards a whole scope, optionally requiring roles, scopes or
//!   a key type; handlers behind it can still take [`Authenticated`] (validated once per request).
//! - [`Rejection`]: the error both produce; the one place a [`GuardError`] becomes an RFC 6750
//!   response (the realm comes from [`GuardConfig::realm`](crate::GuardConfig::realm)).
//!
//! Only the `Authorization` header is read (RFC 6750 §2.1); tokens in a query string or form body
//! are not accepted.

use std::fmt;
use std::future::{ready, Future, Ready};
use std::ops::Deref;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::EitherBody;
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};

use crate::claims::{Claims, KeyType};
use crate::error::GuardError;
use crate::guard::Guard;

/// The header an account-key caller (e.g. a portal) uses to name the human it acts for.
///
/// ```
/// assert_eq!(tessera_guard::ACTING_USER_HEADER, "x-user-id");
/// ```
pub const ACTING_USER_HEADER: &str = "x-user-id";
/// Realm used when no guard configuration is at hand.
///
/// ```
/// assert_eq!(tessera_guard::DEFAULT_REALM, "tessera");
/// ```
pub const DEFAULT_REALM: &str = "tessera";
/// Longest `X-User-Id` value honoured.
const MAX_ACTING_USER_LEN: usize = 256;

/// A request whose bearer token the guard accepted.
///
/// ```no_run
/// use actix_web::{get, web, App, HttpResponse, HttpServer};
/// use tessera_guard::{Authenticated, Guard, GuardConfig, Rejection};
///
/// #[get("/accounts/{account_id}/workspaces")]
/// async fn list(auth: Authenticated, path: web::Path<String>) -> Result<HttpResponse, Rejection> {
///     auth.require_account(&path)?; // an account key of this account, else 403
///     Ok(HttpResponse::Ok().json(serde_json::json!({
///         "workspaces": [],
///         "acting_user": auth.acting_user(),
///     })))
/// }
///
/// # #[actix_web::main] async fn main() -> std::io::Result<()> {
/// let guard = Guard::new(GuardConfig::new("http://127.0.0.1:8080", "https://api.example.test/")).unwrap();
/// HttpServer::new(move || App::new().app_data(guard.clone()).service(list))
///     .bind(("127.0.0.1", 9000))?
///     .run()
///     .await
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Authenticated {
    claims: Arc<Claims>,
    acting_user: Option<String>,
    realm: Arc<str>,
}

impl Authenticated {
    /// The token's claims (also reachable through `Deref`).
    ///
    /// ```
    /// # let auth = tessera_guard::Authenticated::example();
    /// assert_eq!(auth.claims().client_id, auth.client_id);
    /// ```
    pub fn claims(&self) -> &Claims {
        &self.claims
    }

    /// The acting user from `X-User-Id`, honoured only on account-key requests. It is for
    /// attribution (audit logs, "changed by") and grants nothing: authorise on the claims.
    ///
    /// ```
    /// # let auth = tessera_guard::Authenticated::example();
    /// assert_eq!(auth.acting_user(), None);
    /// ```
    pub fn acting_user(&self) -> Option<&str> {
        self.acting_user.as_deref()
    }

    /// A 403 `insufficient_scope` rejection with this description.
    ///
    /// ```
    /// # let auth = tessera_guard::Authenticated::example();
    /// let rejection = auth.forbidden("workspace belongs to another account");
    /// assert_eq!(rejection.error().status(), 403);
    /// ```
    pub fn forbidden(&self, description: impl Into<String>) -> Rejection {
        Rejection::new(GuardError::forbidden(description), self.realm.clone())
    }

    /// Requires the role `role`, else 403.
    ///
    /// ```
    /// # let auth = tessera_guard::Authenticated::example();
    /// assert!(auth.require_role("account_admin").is_ok());
    /// assert!(auth.require_role("workspace_admin").is_err());
    /// ```
    pub fn require_role(&self, role: &str) -> Result<(), Rejection> {
        if self.claims.has_role(role) {
            Ok(())
        } else {
            Err(self.forbidden(format!("requires the role {role}")))
        }
    }

    /// Requires at least one of `roles`, else 403.
    ///
    /// ```
    /// # let auth = tessera_guard::Authenticated::example();
    /// assert!(auth.require_any_role(&["workspace_admin", "account_admin"]).is_ok());
    /// ```
    pub fn require_any_role(&self, roles: &[&str]) -> Result<(), Rejection> {
        if self.claims.has_any_role(roles) {
            Ok(())
        } else {
            Err(self.forbidden(format!("requires one of the roles {}", roles.join(", "))))
        }
    }

    /// Requires the scope `scope`, else 403 with `scope="…"` in the challenge.
    ///
    /// ```
    /// # let auth = tessera_guard::Authenticated::example();
    /// assert!(auth.require_scope("content:read").is_ok());
    /// assert!(auth.require_scope("content:write").is_err());
    /// ```
    pub fn require_scope(&self, scope: &str) -> Result<(), Rejection> {
        if self.claims.has_scope(scope) {
            Ok(())
        } else {
            Err(Rejection::new(
                GuardError::InsufficientScope {
                    description: format!("requires the scope {scope}"),
                    scope: Some(scope.to_owned()),
                },
                self.realm.clone(),
            ))
        }
    }

    /// Requires an account key of `account_id`, else 403. Workspace keys never pass.
    ///
    /// ```
    /// # let auth = tessera_guard::Authenticated::example();
    /// assert!(auth.require_account("acc_1").is_ok());
    /// assert!(auth.require_account("acc_2").is_err());
    /// ```
    pub fn require_account(&self, account_id: &str) -> Result<(), Rejection> {
        if !self.claims.is_account_key() {
            Err(self.forbidden("requires an account key"))
        } else if self.claims.account_id != account_id {
            Err(self.forbidden("the token belongs to another account"))
        } else {
            Ok(())
        }
    }

    /// Requires a workspace key of `workspace_id`, else 403. (Whether an *account* key may act
    /// on a workspace depends on which account owns it, which only the resource server knows.)
    ///
    /// ```
    /// # let auth = tessera_guard::Authenticated::example();
    /// assert!(auth.require_workspace("ws_1").is_err()); // an account key
    /// ```
    pub fn require_workspace(&self, workspace_id: &str) -> Result<(), Rejection> {
        if !self.claims.is_workspace_key() {
            Err(self.forbidden("requires a workspace key"))
        } else if self.claims.workspace_id.as_deref() != Some(workspace_id) {
            Err(self.forbidden("the token belongs to another workspace"))
        } else {
            Ok(())
        }
    }

    #[doc(hidden)]
    /// An account-key request, for documentation examples.
    pub fn example() -> Self {
        Self {
            claims: Arc::new(Claims::example_account()),
            acting_user: None,
            realm: Arc::from(DEFAULT_REALM),
        }
    }
}

impl Deref for Authenticated {
    type Target = Claims;

    fn deref(&self) -> &Claims {
        &self.claims
    }
}

impl FromRequest for Authenticated {
    type Error = Rejection;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Rejection>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(&req).await })
    }
}

fn find_guard(req: &HttpRequest) -> Option<Guard> {
    req.app_data::<Guard>().cloned().or_else(|| {
        req.app_data::<web::Data<Guard>>()
            .map(|data| data.get_ref().clone())
    })
}

/// Validates the request's token once; the result is kept in the request extensions so the
/// middleware and any number of extractors share one validation.
async fn authenticate(req: &HttpRequest) -> Result<Authenticated, Rejection> {
    if let Some(done) = req.extensions().get::<Authenticated>() {
        return Ok(done.clone());
    }
    let Some(guard) = find_guard(req) else {
        log::error!("tessera-guard: no Guard in the app data; register one with App::app_data");
        return Err(Rejection::new(GuardError::NotConfigured, DEFAULT_REALM));
    };
    let realm = guard.realm();
    let token = match bearer_token(req) {
        Ok(token) => token,
        Err(error) => return Err(Rejection::new(error, realm)),
    };
    let claims = match guard.validate_shared(token).await {
        Ok(claims) => claims,
        Err(error) => {
            log::debug!("tessera-guard: token rejected: {error}");
            return Err(Rejection::new(error, realm));
        }
    };
    // Attribution only, and only for account keys: a workspace key is a single
    // integration, not a portal acting for people, so its X-User-Id is ignored.
    let acting_user = if claims.key_type == KeyType::Account {
        acting_user(req)
    } else {
        None
    };
    let authenticated = Authenticated {
        claims,
        acting_user,
        realm,
    };
    req.extensions_mut().insert(authenticated.clone());
    Ok(authenticated)
}

/// The token from `Authorization: Bearer <token>` (RFC 6750 §2.1).
///
/// No header, or a different scheme (e.g. `Basic`), counts as "no token": RFC 6750 §3.1 wants a
/// bare challenge then. A `Bearer` header that is empty, repeated or not ASCII is a malformed
/// token.
fn bearer_token(req: &HttpRequest) -> Result<&str, GuardError> {
    let mut values = req.headers().get_all(header::AUTHORIZATION);
    let Some(value) = values.next() else {
        return Err(GuardError::MissingToken);
    };
    if values.next().is_some() {
        return Err(GuardError::Malformed("more than one Authorization header"));
    }
    // Checked as ASCII in one vectorised pass; `to_str` tests byte by byte, and a token is
    // hundreds of bytes on every request.
    let value = std::str::from_utf8(value.as_bytes())
        .ok()
        .filter(|v| v.is_ascii())
        .ok_or(GuardError::Malformed(
            "the Authorization header is not visible ASCII",
        ))?
        .trim();
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(GuardError::MissingToken);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(GuardError::Malformed("the bearer token is empty"));
    }
    Ok(token)
}

fn acting_user(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(ACTING_USER_HEADER)?.to_str().ok()?.trim();
    if value.is_empty() || value.len() > MAX_ACTING_USER_LEN {
        log::debug!("tessera-guard: ignoring an empty or oversized {ACTING_USER_HEADER} header");
        return None;
    }
    Some(value.to_owned())
}

/// A refused request, ready to become an RFC 6750 response.
///
/// ```
/// use actix_web::ResponseError;
/// use tessera_guard::{GuardError, Rejection};
///
/// let response = Rejection::new(GuardError::MissingToken, "api").error_response();
/// assert_eq!(response.status(), 401);
/// assert_eq!(response.headers().get("www-authenticate").unwrap(), r#"Bearer realm="api""#);
/// ```
#[derive(Debug, Clone)]
pub struct Rejection {
    error: GuardError,
    realm: Arc<str>,
}

impl Rejection {
    /// A rejection for `error`, challenging with `realm`.
    ///
    /// ```
    /// let r = tessera_guard::Rejection::new(tessera_guard::GuardError::Expired, "api");
    /// assert_eq!(r.error(), &tessera_guard::GuardError::Expired);
    /// ```
    pub fn new(error: GuardError, realm: impl Into<Arc<str>>) -> Self {
        Self {
            error,
            realm: realm.into(),
        }
    }

    /// Why the request was refused.
    ///
    /// ```
    /// let r = tessera_guard::Rejection::new(tessera_guard::GuardError::MissingToken, "api");
    /// assert_eq!(r.error().status(), 401);
    /// ```
    pub fn error(&self) -> &GuardError {
        &self.error
    }

    /// The error, by value.
    ///
    /// ```
    /// let r = tessera_guard::Rejection::new(tessera_guard::GuardError::MissingToken, "api");
    /// assert_eq!(r.into_error(), tessera_guard::GuardError::MissingToken);
    /// ```
    pub fn into_error(self) -> GuardError {
        self.error
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl std::error::Error for Rejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl ResponseError for Rejection {
    fn status_code(&self) -> StatusCode {
        status_of(&self.error)
    }

    fn error_response(&self) -> HttpResponse {
        rfc6750_response(&self.error, &self.realm)
    }
}

/// Uses [`DEFAULT_REALM`]; prefer [`Rejection`] (what the extractor and the helpers return),
/// which carries the configured realm.
impl ResponseError for GuardError {
    fn status_code(&self) -> StatusCode {
        status_of(self)
    }

    fn error_response(&self) -> HttpResponse {
        rfc6750_response(self, DEFAULT_REALM)
    }
}

fn status_of(error: &GuardError) -> StatusCode {
    StatusCode::from_u16(error.status()).unwrap_or(StatusCode::UNAUTHORIZED)
}

/// The one mapping from [`GuardError`] to an HTTP response: status, `WWW-Authenticate`
/// challenge, and a JSON body `{"error", "error_description"}`.
fn rfc6750_response(error: &GuardError, realm: &str) -> HttpResponse {
    let mut response = HttpResponse::build(status_of(error));
    if let Some(challenge) = error.www_authenticate(realm) {
        // The challenge is built from filtered, printable ASCII only, so this cannot fail;
        // should it, the status still tells the client what happened.
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response.insert_header((header::WWW_AUTHENTICATE, value));
        }
    }
    if let Some(retry_after) = error.retry_after() {
        // Whole seconds, rounded up, at least 1 (RFC 9110 §10.2.3).
        let seconds = retry_after
            .as_secs()
            .saturating_add(u64::from(retry_after.subsec_nanos() > 0))
            .max(1);
        response.insert_header((header::RETRY_AFTER, seconds.to_string()));
    }
    let code = error.error_code().unwrap_or(match error {
        GuardError::NotConfigured => "server_error",
        _ => "unauthorized",
    });
    response.insert_header((header::CACHE_CONTROL, "no-store"));
    response.json(serde_json::json!({
        "error": code,
        "error_description": error.description(),
    }))
}

/// What [`RequireAuth`] checks beyond a valid token.
#[derive(Debug, Default)]
struct Rules {
    any_role: Vec<String>,
    scopes: Vec<String>,
    key_type: Option<KeyType>,
}

impl Rules {
    fn check(&self, auth: &Authenticated) -> Result<(), Rejection> {
        if let Some(key_type) = self.key_type {
            if auth.key_type != key_type {
                return Err(auth.forbidden(format!("requires a {} key", key_type.as_str())));
            }
        }
        if !self.any_role.is_empty() {
            let roles: Vec<&str> = self.any_role.iter().map(String::as_str).collect();
            auth.require_any_role(&roles)?;
        }
        for scope in &self.scopes {
            auth.require_scope(scope)?;
        }
        Ok(())
    }
}

/// Middleware: every request in the wrapped scope needs a valid token, and optionally a role,
/// scopes or a key type. Refusals are RFC 6750 responses, as with [`Authenticated`].
///
/// ```no_run
/// use actix_web::{web, App, HttpResponse};
/// use tessera_guard::{Authenticated, Guard, GuardConfig, KeyType, RequireAuth};
///
/// # fn build(guard: Guard) {
/// let app = App::new().app_data(guard).service(
///     web::scope("/content")
///         .wrap(RequireAuth::new().any_role(["workspace_admin", "content_manager"]).scope("content:write"))
///         .route("", web::post().to(|auth: Authenticated| async move {
///             HttpResponse::Created().body(auth.client_id.clone())
///         })),
/// );
/// # let _ = app; }
/// ```
#[derive(Debug, Clone, Default)]
pub struct RequireAuth {
    rules: Arc<Rules>,
}

impl RequireAuth {
    /// Requires a valid token and nothing more.
    ///
    /// ```
    /// let _ = tessera_guard::RequireAuth::new();
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Also requires at least one of `roles`.
    ///
    /// ```
    /// let _ = tessera_guard::RequireAuth::new().any_role(["workspace_admin"]);
    /// ```
    pub fn any_role<I, S>(self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut rules = self.take_rules();
        rules.any_role.extend(roles.into_iter().map(Into::into));
        Self {
            rules: Arc::new(rules),
        }
    }

    /// Also requires the scope `scope` (may be called several times: all are required).
    ///
    /// ```
    /// let _ = tessera_guard::RequireAuth::new().scope("content:read");
    /// ```
    pub fn scope(self, scope: impl Into<String>) -> Self {
        let mut rules = self.take_rules();
        rules.scopes.push(scope.into());
        Self {
            rules: Arc::new(rules),
        }
    }

    /// Also requires the given key type.
    ///
    /// ```
    /// let _ = tessera_guard::RequireAuth::new().key_type(tessera_guard::KeyType::Account);
    /// ```
    pub fn key_type(self, key_type: KeyType) -> Self {
        let mut rules = self.take_rules();
        rules.key_type = Some(key_type);
        Self {
            rules: Arc::new(rules),
        }
    }

    fn take_rules(self) -> Rules {
        Arc::try_unwrap(self.rules).unwrap_or_else(|shared| Rules {
            any_role: shared.any_role.clone(),
            scopes: shared.scopes.clone(),
            key_type: shared.key_type,
        })
    }
}

impl<S, B> Transform<S, ServiceRequest> for RequireAuth
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = RequireAuthMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequireAuthMiddleware {
            service: Rc::new(service),
            rules: self.rules.clone(),
        }))
    }
}

/// The service produced by [`RequireAuth`].
///
/// ```
/// // Built by `App::wrap(RequireAuth::new())`, not by hand.
/// fn _is_middleware<S>(_: tessera_guard::RequireAuthMiddleware<S>) {}
/// ```
pub struct RequireAuthMiddleware<S> {
    service: Rc<S>,
    rules: Arc<Rules>,
}

impl<S> fmt::Debug for RequireAuthMiddleware<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireAuthMiddleware")
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

impl<S, B> Service<ServiceRequest> for RequireAuthMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>>>>;

    actix_web::dev::forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let rules = Arc::clone(&self.rules);
        Box::pin(async move {
            let outcome = {
                let http_req = req.request().clone();
                match authenticate(&http_req).await {
                    Ok(auth) => rules.check(&auth),
                    Err(rejection) => Err(rejection),
                }
            };
            match outcome {
                Ok(()) => service
                    .call(req)
                    .await
                    .map(ServiceResponse::map_into_left_body),
                Err(rejection) => Ok(req
                    .into_response(rejection.error_response())
                    .map_into_right_body()),
            }
        })
    }
}
