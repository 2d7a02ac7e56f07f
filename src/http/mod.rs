//! HTTP: thin handlers that parse, call a service and map its result. Errors become wire bodies
//! in exactly two places: [`public::oauth_response`] (RFC 6749 §5.2) and [`admin::error`].

pub mod access;
pub mod admin;
pub mod client_addr;
pub mod limits;
pub mod openapi;
pub mod public;
pub mod routes;

pub use client_addr::client_ip;

/// The token of `Authorization: Bearer <token>` (RFC 6750 §2.1), by the rules the guard applies:
/// exactly one `Authorization` header, visible ASCII, the scheme in any case, surrounding space
/// trimmed, never empty. Anything else is no bearer token.
pub fn bearer_token(req: &actix_web::HttpRequest) -> Option<String> {
    let mut values = req
        .headers()
        .get_all(actix_web::http::header::AUTHORIZATION);
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let value = std::str::from_utf8(value.as_bytes())
        .ok()
        .filter(|v| v.is_ascii())?
        .trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

/// `Retry-After` (seconds) of a 503 for a database or dependency that is not answering: long
/// enough not to hammer it, short enough to notice its return.
pub const UNAVAILABLE_RETRY_AFTER: &str = "5";

/// Why a request body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Over the limit, declared or sent.
    TooLarge,
    /// The connection failed mid-body.
    Unreadable,
}

/// Reads a request body of at most `limit` bytes: a larger declared `Content-Length` is refused
/// before a byte is read, and a body that grows past it while streaming is cut off there.
pub async fn read_body(
    req: &actix_web::HttpRequest,
    mut payload: actix_web::web::Payload,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    use futures_util::StreamExt;
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::with_capacity(declared.map_or(1024, |l| l as usize));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| BodyError::Unreadable)?;
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::bearer_token;

    #[test]
    fn a_bearer_token_is_read_by_the_guards_rules() {
        let with = |values: &[&str]| {
            let mut req = TestRequest::default();
            for v in values {
                req = req.append_header(("authorization", *v));
            }
            bearer_token(&req.to_http_request())
        };
        assert_eq!(with(&["Bearer abc"]).as_deref(), Some("abc"));
        assert_eq!(with(&["bEaReR   abc  "]).as_deref(), Some("abc"));
        assert_eq!(with(&[]), None);
        assert_eq!(with(&["Basic abc"]), None);
        assert_eq!(with(&["Bearer "]), None);
        assert_eq!(with(&["Bearer a", "Bearer b"]), None);
    }
}
