//! The little HTTP the guard does: GET a JSON document from the issuer, bounded in size and time.

use std::time::Duration;

use crate::error::{ConfigError, FetchError};

/// An HTTP client for talking to the issuer.
///
/// Connection pooling is off: the guard makes one request every few seconds at most, and a
/// pooled connection could be tied to the runtime of the worker thread that opened it (actix-web
/// runs one runtime per worker), which breaks when that runtime is shut down.
pub(crate) fn client(timeout: Duration) -> Result<reqwest::Client, ConfigError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .pool_max_idle_per_host(0)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("tessera-guard/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|err| ConfigError::HttpClient(err.to_string()))
}

/// GETs `url` and returns the body, refusing non-200 answers and bodies over `limit` bytes.
pub(crate) async fn get_bounded(
    client: &reqwest::Client,
    url: &str,
    limit: usize,
) -> Result<Vec<u8>, FetchError> {
    let response = client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|err| FetchError::Http(err.to_string()))?;
    let status = response.status();
    if status != reqwest::StatusCode::OK {
        return Err(FetchError::Status(status.as_u16()));
    }
    read_bounded(response, limit).await
}

/// The answer to a conditional GET.
pub(crate) enum Conditional {
    /// 304: what the client has is current.
    NotModified,
    /// 200, with the response's `ETag` if it had one.
    Modified { body: Vec<u8>, etag: Option<String> },
}

/// GETs `url` with `?since=<since>` (percent-encoded) and `If-None-Match: <etag>` when given.
/// A 304 is only accepted when an `ETag` was sent.
pub(crate) async fn get_conditional(
    client: &reqwest::Client,
    url: &str,
    since: Option<&str>,
    etag: Option<&str>,
    limit: usize,
) -> Result<Conditional, FetchError> {
    let url = match since {
        Some(since) => {
            let separator = if url.contains('?') { '&' } else { '?' };
            format!("{url}{separator}since={}", percent_encode(since))
        }
        None => url.to_owned(),
    };
    let mut request = client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json");
    if let Some(etag) = etag {
        request = request.header(reqwest::header::IF_NONE_MATCH, etag);
    }
    let response = request
        .send()
        .await
        .map_err(|err| FetchError::Http(err.to_string()))?;
    match response.status() {
        reqwest::StatusCode::NOT_MODIFIED if etag.is_some() => Ok(Conditional::NotModified),
        reqwest::StatusCode::OK => {
            let etag = response
                .headers()
                .get(reqwest::header::ETAG)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned);
            let body = read_bounded(response, limit).await?;
            Ok(Conditional::Modified { body, etag })
        }
        status => Err(FetchError::Status(status.as_u16())),
    }
}

/// Reads a response body, giving up as soon as it exceeds `limit` bytes.
async fn read_bounded(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, FetchError> {
    if response
        .content_length()
        .is_some_and(|len| len > limit as u64)
    {
        return Err(FetchError::TooLarge(limit));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|err| FetchError::Http(err.to_string()))?
    {
        if body.len() + chunk.len() > limit {
            return Err(FetchError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Percent-encodes everything but the RFC 3986 unreserved characters.
pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
