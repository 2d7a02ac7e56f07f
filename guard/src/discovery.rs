//! OpenID Connect discovery (`{issuer}/.well-known/openid-configuration` → `jwks_uri`), and the
//! rule every URL the guard fetches from an issuer named by configuration must follow.
//!
//! Security invariants:
//! - Only `https` URLs are fetched, or `http` ones whose host is a loopback address
//!   (`127.0.0.0/8`, `::1`, `localhost`): keys fetched in the clear from another host could be
//!   replaced on the way. No user-info, query or fragment.
//! - The discovery document must name exactly the issuer it was fetched for (OpenID Connect
//!   Discovery §4.3), and its `jwks_uri` must follow the same URL rule.
//! - Every fetch is bounded in size ([`MAX_DISCOVERY_BYTES`]) and in time (the client's timeout),
//!   and follows no redirect.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use serde::Deserialize;

use crate::error::{ConfigError, FetchError};
use crate::http;

/// The path OpenID Connect Discovery appends to an issuer.
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

/// Largest discovery document read (real ones are a few KiB).
pub const MAX_DISCOVERY_BYTES: usize = 64 * 1024;

/// Why a URL may not be fetched (see [`check_fetch_url`]).
///
/// ```
/// use tessera_guard::{check_fetch_url, UrlError};
/// assert_eq!(check_fetch_url("http://issuer.example"), Err(UrlError::InsecureScheme));
/// assert_eq!(
///     UrlError::InsecureScheme.to_string(),
///     "must use https (http only with a loopback host: 127.0.0.0/8, ::1 or localhost)"
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// Not `https://…` or `http://…` (lower case), or nothing after the scheme.
    #[error("must be an absolute https:// URL")]
    NotAbsolute,
    /// `http` with a host that is not a loopback address.
    #[error("must use https (http only with a loopback host: 127.0.0.0/8, ::1 or localhost)")]
    InsecureScheme,
    /// A `?query` or `#fragment`.
    #[error("must not have a query or a fragment")]
    QueryOrFragment,
    /// `user:password@` before the host.
    #[error("must not contain user information (user@host)")]
    UserInfo,
    /// An empty or malformed host, or a port that is not 1 to 65535.
    #[error("has no valid host and port")]
    BadHost,
    /// White space, a control character, a backslash or a character outside ASCII.
    #[error("must contain only printable ASCII characters, no spaces or backslashes")]
    BadCharacter,
}

/// Checks that `url` may be fetched for keys or discovery: an absolute `https://` URL, or
/// `http://` with a loopback host (`127.0.0.0/8`, `[::1]`, `localhost`); no user information,
/// query or fragment; printable ASCII only. Pure: nothing is resolved or fetched.
///
/// ```
/// use tessera_guard::{check_fetch_url, UrlError};
/// assert_eq!(check_fetch_url("https://token.actions.githubusercontent.com"), Ok(()));
/// assert_eq!(check_fetch_url("http://127.0.0.1:8080/jwks"), Ok(()));
/// assert_eq!(check_fetch_url("http://[::1]:9000"), Ok(()));
/// assert_eq!(check_fetch_url("http://localhost"), Ok(()));
/// assert_eq!(check_fetch_url("http://10.0.0.1"), Err(UrlError::InsecureScheme));
/// assert_eq!(check_fetch_url("https://a.example/?x=1"), Err(UrlError::QueryOrFragment));
/// assert_eq!(check_fetch_url("https://u:p@a.example"), Err(UrlError::UserInfo));
/// assert_eq!(check_fetch_url("ftp://a.example"), Err(UrlError::NotAbsolute));
/// ```
pub fn check_fetch_url(url: &str) -> Result<(), UrlError> {
    if !url.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') {
        return Err(UrlError::BadCharacter);
    }
    let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(UrlError::NotAbsolute);
    };
    if rest.is_empty() {
        return Err(UrlError::NotAbsolute);
    }
    if url.contains(['?', '#']) {
        return Err(UrlError::QueryOrFragment);
    }
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.contains('@') {
        return Err(UrlError::UserInfo);
    }
    let host = host_of(authority).ok_or(UrlError::BadHost)?;
    if !https && !is_loopback_host(host) {
        return Err(UrlError::InsecureScheme);
    }
    Ok(())
}

/// The host of an `authority` (`host`, `host:port`, `[v6]`, `[v6]:port`), if well formed.
fn host_of(authority: &str) -> Option<&str> {
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (v6, after) = bracketed.split_once(']')?;
        v6.parse::<Ipv6Addr>().ok()?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':')?),
        };
        (v6, port)
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let host_ok = !host.is_empty()
        && (authority.starts_with('[')
            || host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')));
    let port_ok = port.is_none_or(|p| {
        !p.is_empty()
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u16>().is_ok_and(|n| n > 0)
    });
    (host_ok && port_ok).then_some(host)
}

/// Whether `host` (as written in a URL, IPv6 without brackets) is a loopback address.
fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
        || host.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// The discovery document's URL for `issuer`: the issuer without one trailing `/`, then
/// [`DISCOVERY_PATH`] (OpenID Connect Discovery §4).
///
/// ```
/// assert_eq!(
///     tessera_guard::discovery_url("https://issuer.example/tenant/"),
///     "https://issuer.example/tenant/.well-known/openid-configuration"
/// );
/// ```
pub fn discovery_url(issuer: &str) -> String {
    let base = issuer.strip_suffix('/').unwrap_or(issuer);
    format!("{base}{DISCOVERY_PATH}")
}

/// Why OpenID Connect discovery failed.
///
/// ```
/// let err = tessera_guard::DiscoveryError::IssuerMismatch {
///     expected: "https://a.example".into(),
///     found: "https://b.example".into(),
/// };
/// assert_eq!(
///     err.to_string(),
///     "the discovery document names the issuer \"https://b.example\", not \"https://a.example\""
/// );
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// The issuer URL may not be fetched (see [`check_fetch_url`]).
    #[error("the issuer URL {0}")]
    InsecureIssuer(UrlError),
    /// The document's `jwks_uri` may not be fetched (see [`check_fetch_url`]).
    #[error("the discovery document's jwks_uri {0}")]
    InsecureJwksUri(UrlError),
    /// The HTTP client could not be built.
    #[error(transparent)]
    Client(#[from] ConfigError),
    /// The document could not be fetched (connection, timeout, status, size).
    #[error("fetching the discovery document failed: {0}")]
    Fetch(#[from] FetchError),
    /// The document is not JSON with string members `issuer` and `jwks_uri`.
    #[error("the discovery document is not valid: {0}")]
    InvalidDocument(String),
    /// The document names another issuer than the one it was fetched for.
    #[error("the discovery document names the issuer {found:?}, not {expected:?}")]
    IssuerMismatch {
        /// The issuer discovery was asked for.
        expected: String,
        /// The `issuer` the document states.
        found: String,
    },
}

/// The members of a discovery document the guard reads.
#[derive(Deserialize)]
struct DiscoveryDocument {
    issuer: String,
    jwks_uri: String,
}

/// Finds `issuer`'s JWKS URL by OpenID Connect discovery: GETs [`discovery_url`] with `client`
/// (at most [`MAX_DISCOVERY_BYTES`], no redirect when the client is [`http_client`]), requires
/// the document's `issuer` to equal `issuer` exactly and its `jwks_uri` to pass
/// [`check_fetch_url`], and returns that `jwks_uri`. `issuer` itself must pass
/// [`check_fetch_url`]; nothing is fetched otherwise.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let client = tessera_guard::http_client(std::time::Duration::from_secs(5))?;
/// let jwks_uri =
///     tessera_guard::discover_jwks_uri(&client, "https://token.actions.githubusercontent.com").await?;
/// # let _ = jwks_uri; Ok(()) }
/// ```
pub async fn discover_jwks_uri(
    client: &reqwest::Client,
    issuer: &str,
) -> Result<String, DiscoveryError> {
    check_fetch_url(issuer).map_err(DiscoveryError::InsecureIssuer)?;
    let body = http::get_bounded(client, &discovery_url(issuer), MAX_DISCOVERY_BYTES).await?;
    let document: DiscoveryDocument = serde_json::from_slice(&body)
        .map_err(|err| DiscoveryError::InvalidDocument(err.to_string()))?;
    if document.issuer != issuer {
        return Err(DiscoveryError::IssuerMismatch {
            expected: issuer.to_owned(),
            found: document.issuer.chars().take(256).collect(),
        });
    }
    check_fetch_url(&document.jwks_uri).map_err(DiscoveryError::InsecureJwksUri)?;
    Ok(document.jwks_uri)
}

/// The HTTP client the guard uses to talk to an issuer: `timeout` on connecting and on the
/// whole request, no redirects, no connection pool (a pooled connection could outlive the
/// runtime of the actix-web worker that opened it).
///
/// ```
/// let client = tessera_guard::http_client(std::time::Duration::from_secs(5)).unwrap();
/// # let _ = client;
/// ```
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, ConfigError> {
    http::client(timeout)
}
