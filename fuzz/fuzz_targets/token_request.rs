//! The token-request parser (docs/api.md): any Content-Type, Authorization and body bytes end in a
//! request or in one of the RFC 6749 errors a malformed request may get, with its documented
//! status — never a panic.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use tessera::domain::grant::check_grant_type;
use tessera::domain::oauth_error::OAuthError;
use tessera::http::public::oauth_response;
use tessera::http::public::token_request::{is_basic, parse, MAX_BODY_BYTES};

#[derive(Arbitrary, Debug)]
enum ContentType {
    Form,
    Json,
    Other(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Request {
    content_type: Option<ContentType>,
    /// `Basic ` is put in front when `basic` is set, so the decoder is reached often.
    basic: bool,
    authorization: Option<Vec<u8>>,
    body: Vec<u8>,
}

fuzz_target!(|request: Request| {
    let content_type = request.content_type.map(|ct| match ct {
        ContentType::Form => b"application/x-www-form-urlencoded".to_vec(),
        ContentType::Json => b"application/json; charset=utf-8".to_vec(),
        ContentType::Other(bytes) => bytes,
    });
    let authorization = request.authorization.map(|value| {
        if request.basic {
            [b"Basic ".as_slice(), &value].concat()
        } else {
            value
        }
    });
    let outcome = parse(
        content_type.as_deref(),
        authorization.as_deref(),
        &request.body,
    )
    .and_then(|parsed| check_grant_type(&parsed.grant).map(|()| parsed));
    match outcome {
        Ok(_) => assert!(request.body.len() <= MAX_BODY_BYTES),
        Err(error) => {
            let expected = match &error {
                OAuthError::InvalidRequest(_) | OAuthError::UnsupportedGrantType => 400,
                OAuthError::InvalidClient(_) => 401,
                other => panic!("undocumented error for a malformed request: {other:?}"),
            };
            let basic = authorization.as_deref().is_some_and(is_basic);
            let response = oauth_response::error(&error, basic);
            assert_eq!(response.status().as_u16(), expected);
        }
    }
});
