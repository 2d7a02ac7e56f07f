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
    let mut response = client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|err| FetchError::Http(err.to_string()))?;
    let status = response.status();
    if status != reqwest::StatusCode::OK {
        return Err(FetchError::Status(status.as_u16()));
    }
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
