//! Parsing a token (or introspection, revocation) request: the three accepted forms (docs/api.md)
//! into one shape. Pure: headers and
//! body in, request or [`OAuthError`] out, so every odd input can be tested without a server.

use base64::alphabet::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use serde::Deserialize;

use crate::domain::client_assertion::ASSERTION_TYPE;
use crate::domain::grant::RequestedGrant;
use crate::domain::oauth_error::{OAuthError, CLIENT_AUTH_FAILED};
use crate::service::token::PresentedClient;

/// Documented format (docs/api.md): larger bodies are refused.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Accepts `Basic` credentials with or without base64 padding.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A parsed request to the token, introspection or revocation endpoint.
#[derive(Debug)]
pub struct TokenRequest {
    /// The presented client credentials.
    pub client: PresentedClient,
    /// The grant parameters (token endpoint).
    pub grant: RequestedGrant,
    /// `token` (introspection and revocation endpoints).
    pub token: Option<String>,
}

/// Whether an `Authorization` value uses the Basic scheme.
pub fn is_basic(authorization: &[u8]) -> bool {
    authorization.len() >= 6 && authorization[..6].eq_ignore_ascii_case(b"basic ")
}

fn invalid_request(why: &str) -> OAuthError {
    OAuthError::InvalidRequest(why.to_owned())
}

/// The OpenAPI description of a token request body ([`parse`] reads it, form or JSON).
/// The client authenticates in one way per request: `client_id` and `client_secret` here
/// (`client_secret_post`) or in HTTP Basic (`client_secret_basic`), or a client assertion
/// (`private_key_jwt`, RFC 7523).
#[derive(utoipa::ToSchema)]
pub struct TokenParams {
    /// Always `client_credentials`.
    #[schema(schema_with = grant_type_schema)]
    pub grant_type: String,
    /// The client id (`client_secret_post`). With a client assertion it may be left out; if
    /// given, it must be the assertion's `iss`.
    pub client_id: Option<String>,
    /// The client secret (`client_secret_post`).
    pub client_secret: Option<String>,
    /// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`, with `client_assertion`.
    #[schema(schema_with = assertion_type_schema)]
    pub client_assertion_type: Option<String>,
    /// A JWT the client signed with one of its registered keys (`private_key_jwt`).
    pub client_assertion: Option<String>,
    /// Must equal the credential's audience when given.
    pub audience: Option<String>,
    /// RFC 8707 alias of `audience`.
    pub resource: Option<String>,
    /// A space-separated subset of the credential's scopes; all of them when omitted.
    pub scope: Option<String>,
}

fn grant_type_schema() -> utoipa::openapi::Object {
    crate::http::openapi::string_enum(&["client_credentials"])
}

fn assertion_type_schema() -> utoipa::openapi::Object {
    crate::http::openapi::string_enum(&[ASSERTION_TYPE])
}

/// The OpenAPI description of an introspection (RFC 7662) or revocation (RFC 7009) request
/// body. The caller authenticates as for the token endpoint (or, to introspect, with an admin
/// token).
#[derive(utoipa::ToSchema)]
pub struct TokenParam {
    /// The access token.
    pub token: Option<String>,
    /// Ignored: Tessera has only access tokens.
    pub token_type_hint: Option<String>,
    /// The client id (`client_secret_post`).
    pub client_id: Option<String>,
    /// The client secret (`client_secret_post`).
    pub client_secret: Option<String>,
    /// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`, with `client_assertion`.
    #[schema(schema_with = assertion_type_schema)]
    pub client_assertion_type: Option<String>,
    /// A client assertion (`private_key_jwt`).
    pub client_assertion: Option<String>,
}

/// The parameters of either body format; every one optional, each at most once.
#[derive(Default, Deserialize)]
struct Params {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
    audience: Option<String>,
    resource: Option<String>,
    scope: Option<String>,
    token: Option<String>,
    token_type_hint: Option<String>,
}

impl Params {
    /// RFC 6749 §3.2: a parameter sent without a value is treated as omitted.
    fn drop_empty(mut self) -> Self {
        for field in [
            &mut self.grant_type,
            &mut self.client_id,
            &mut self.client_secret,
            &mut self.client_assertion_type,
            &mut self.client_assertion,
            &mut self.audience,
            &mut self.resource,
            &mut self.scope,
            &mut self.token,
            &mut self.token_type_hint,
        ] {
            if field.as_deref() == Some("") {
                *field = None;
            }
        }
        self
    }
}

fn parse_form(body: &[u8]) -> Result<Params, OAuthError> {
    let mut params = Params::default();
    for (key, value) in form_urlencoded::parse(body) {
        let slot = match key.as_ref() {
            "grant_type" => &mut params.grant_type,
            "client_id" => &mut params.client_id,
            "client_secret" => &mut params.client_secret,
            "client_assertion_type" => &mut params.client_assertion_type,
            "client_assertion" => &mut params.client_assertion,
            "audience" => &mut params.audience,
            "resource" => &mut params.resource,
            "scope" => &mut params.scope,
            "token" => &mut params.token,
            "token_type_hint" => &mut params.token_type_hint,
            // RFC 6749 §3.2: unrecognized parameters are ignored.
            _ => continue,
        };
        if slot.is_some() {
            return Err(OAuthError::InvalidRequest(format!(
                "parameter {key} is repeated"
            )));
        }
        *slot = Some(value.into_owned());
    }
    Ok(params)
}

fn parse_json(body: &[u8]) -> Result<Params, OAuthError> {
    // serde's derive refuses a repeated field and a non-string value; unknown fields are ignored.
    serde_json::from_slice::<Params>(body).map_err(|e| {
        if e.to_string().starts_with("duplicate field") {
            invalid_request("a parameter is repeated")
        } else {
            invalid_request("the JSON body must be an object whose parameters are strings")
        }
    })
}

/// `client_secret_basic` (RFC 6749 §2.3.1): base64 of `id:secret`, each form-urlencoded.
fn parse_basic(authorization: &[u8]) -> Result<(String, String), OAuthError> {
    let refuse = || OAuthError::InvalidClient(CLIENT_AUTH_FAILED);
    let encoded = authorization.get(6..).ok_or_else(refuse)?;
    let decoded = BASE64.decode(encoded.trim_ascii()).map_err(|_| refuse())?;
    let text = String::from_utf8(decoded).map_err(|_| refuse())?;
    let (id, secret) = text.split_once(':').ok_or_else(refuse)?;
    Ok((form_decode(id), form_decode(secret)))
}

fn form_decode(value: &str) -> String {
    let spaced = value.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// The client assertion of a request (RFC 7521 §4.2): `client_assertion` and
/// `client_assertion_type` come together. A missing half is a malformed request; a type other
/// than JWT bearer names a client authentication method Tessera does not support, which RFC 6749
/// §5.2 answers with `invalid_client`.
fn client_assertion(
    assertion_type: Option<String>,
    assertion: Option<String>,
) -> Result<Option<String>, OAuthError> {
    match (assertion_type, assertion) {
        (None, None) => Ok(None),
        (Some(t), Some(assertion)) if t == ASSERTION_TYPE => Ok(Some(assertion)),
        (Some(_), Some(_)) => Err(OAuthError::InvalidClient(CLIENT_AUTH_FAILED)),
        (None, Some(_)) => Err(invalid_request(
            "client_assertion_type is required with client_assertion",
        )),
        (Some(_), None) => Err(invalid_request(
            "client_assertion is required with client_assertion_type",
        )),
    }
}

/// Parses headers and body into a request.
pub fn parse(
    content_type: Option<&[u8]>,
    authorization: Option<&[u8]>,
    body: &[u8],
) -> Result<TokenRequest, OAuthError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(invalid_request("the request body exceeds 16 KiB"));
    }
    let essence = content_type
        .and_then(|ct| std::str::from_utf8(ct).ok())
        .and_then(|ct| ct.split(';').next())
        .map(|ct| ct.trim().to_ascii_lowercase());
    let mut params = match essence.as_deref() {
        Some("application/x-www-form-urlencoded") => parse_form(body)?,
        Some("application/json") => parse_json(body)?,
        _ => {
            return Err(invalid_request(
                "Content-Type must be application/x-www-form-urlencoded or application/json",
            ))
        }
    }
    .drop_empty();

    let with_assertion =
        params.client_assertion.is_some() || params.client_assertion_type.is_some();
    // RFC 6749 §2.3: one authentication method per request.
    if with_assertion && (params.client_secret.is_some() || authorization.is_some_and(is_basic)) {
        return Err(invalid_request(
            "a client assertion was sent together with a client secret: use one client \
             authentication method per request",
        ));
    }
    let client_assertion = client_assertion(
        params.client_assertion_type.take(),
        params.client_assertion.take(),
    )?;
    let client = match authorization {
        None => PresentedClient {
            client_id: params.client_id,
            client_secret: params.client_secret,
            client_assertion,
        },
        Some(value) if is_basic(value) => {
            let (id, secret) = parse_basic(value)?;
            // RFC 6749 §2.3: one authentication method per request.
            if params.client_secret.is_some() || params.client_id.as_ref().is_some_and(|b| *b != id)
            {
                return Err(invalid_request(
                    "client credentials were sent both in the Authorization header and in the body",
                ));
            }
            PresentedClient {
                client_id: Some(id),
                client_secret: Some(secret),
                client_assertion: None,
            }
        }
        // Another scheme (Bearer, Digest…) is not a client authentication method we support.
        Some(_) => return Err(OAuthError::InvalidClient(CLIENT_AUTH_FAILED)),
    };
    Ok(TokenRequest {
        client,
        grant: RequestedGrant {
            grant_type: params.grant_type,
            audience: params.audience,
            resource: params.resource,
            scope: params.scope,
        },
        token: params.token,
    })
}

#[cfg(test)]
mod props;

#[cfg(test)]
mod tests {
    use super::*;

    const FORM: Option<&[u8]> = Some(b"application/x-www-form-urlencoded");
    const JSON: Option<&[u8]> = Some(b"application/json; charset=utf-8");

    fn basic(id: &str, secret: &str) -> Vec<u8> {
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                enc(id),
                enc(secret)
            ))
        )
        .into_bytes()
    }

    #[test]
    fn form_post_credentials() {
        let r = parse(
            FORM,
            None,
            b"grant_type=client_credentials&client_id=ak_x&client_secret=s%2B1&scope=a+b",
        )
        .unwrap();
        assert_eq!(r.client.client_id.as_deref(), Some("ak_x"));
        assert_eq!(r.client.client_secret.as_deref(), Some("s+1"));
        assert_eq!(r.grant.scope.as_deref(), Some("a b"));
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let auth = basic("ak_x", "a b+c:d");
        let r = parse(FORM, Some(&auth), b"grant_type=client_credentials").unwrap();
        assert_eq!(r.client.client_id.as_deref(), Some("ak_x"));
        assert_eq!(r.client.client_secret.as_deref(), Some("a b+c:d"));
    }

    #[test]
    fn json_body() {
        let r = parse(
            JSON,
            None,
            br#"{"grant_type":"client_credentials","client_id":"ak_x","client_secret":"s","audience":"a","extra":5}"#,
        )
        .unwrap();
        assert_eq!(r.grant.audience.as_deref(), Some("a"));
    }

    #[test]
    fn repeated_parameters_are_invalid_requests() {
        for (ct, body) in [
            (FORM, &b"grant_type=client_credentials&scope=a&scope=b"[..]),
            (JSON, &br#"{"scope":"a","scope":"b"}"#[..]),
        ] {
            assert!(matches!(
                parse(ct, None, body),
                Err(OAuthError::InvalidRequest(_))
            ));
        }
        // Unknown parameters may repeat: they are ignored.
        assert!(parse(FORM, None, b"x=1&x=2").is_ok());
    }

    #[test]
    fn credentials_in_header_and_body_are_refused() {
        let auth = basic("ak_x", "s");
        assert!(matches!(
            parse(FORM, Some(&auth), b"client_secret=s"),
            Err(OAuthError::InvalidRequest(_))
        ));
        assert!(matches!(
            parse(FORM, Some(&auth), b"client_id=ak_other"),
            Err(OAuthError::InvalidRequest(_))
        ));
        assert!(parse(FORM, Some(&auth), b"client_id=ak_x").is_ok());
    }

    #[test]
    fn malformed_inputs_map_to_documented_errors() {
        assert!(matches!(
            parse(None, None, b"a=b"),
            Err(OAuthError::InvalidRequest(_))
        ));
        assert!(matches!(
            parse(Some(b"text/plain"), None, b"a=b"),
            Err(OAuthError::InvalidRequest(_))
        ));
        assert!(matches!(
            parse(JSON, None, b"[1,2]"),
            Err(OAuthError::InvalidRequest(_))
        ));
        assert!(matches!(
            parse(JSON, None, br#"{"client_id":5}"#),
            Err(OAuthError::InvalidRequest(_))
        ));
        assert!(matches!(
            parse(JSON, None, b"\xff\xfe"),
            Err(OAuthError::InvalidRequest(_))
        ));
        assert!(matches!(
            parse(FORM, Some(b"Basic !!!"), b""),
            Err(OAuthError::InvalidClient(_))
        ));
        assert!(matches!(
            parse(FORM, Some(b"Bearer abc"), b""),
            Err(OAuthError::InvalidClient(_))
        ));
        let big = vec![b'a'; MAX_BODY_BYTES + 1];
        assert!(matches!(
            parse(FORM, None, &big),
            Err(OAuthError::InvalidRequest(_))
        ));
    }

    const ASSERTION_FORM: &[u8] = b"grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=eyJ.e30.c2ln";

    #[test]
    fn client_assertions_in_form_and_json() {
        let r = parse(FORM, None, ASSERTION_FORM).unwrap();
        assert_eq!(r.client.client_assertion.as_deref(), Some("eyJ.e30.c2ln"));
        assert!(r.client.client_id.is_none() && r.client.client_secret.is_none());
        let r = parse(
            JSON,
            None,
            format!(
                r#"{{"grant_type":"client_credentials","client_id":"ak_x","client_assertion_type":"{ASSERTION_TYPE}","client_assertion":"a.b.c"}}"#
            )
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(r.client.client_id.as_deref(), Some("ak_x"));
        assert_eq!(r.client.client_assertion.as_deref(), Some("a.b.c"));
        // The assertion never shows in Debug output.
        assert!(!format!("{:?}", r.client).contains("a.b.c"));
    }

    #[test]
    fn an_assertion_goes_with_its_type_and_without_a_secret() {
        assert!(matches!(
            parse(FORM, None, b"client_assertion=a.b.c"),
            Err(OAuthError::InvalidRequest(_))
        ));
        assert!(matches!(
            parse(
                FORM,
                None,
                format!("client_assertion_type={ASSERTION_TYPE}").as_bytes()
            ),
            Err(OAuthError::InvalidRequest(_))
        ));
        // Another assertion type: an authentication method Tessera does not support.
        assert!(matches!(
            parse(
                FORM,
                None,
                b"client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Asaml2-bearer&client_assertion=x"
            ),
            Err(OAuthError::InvalidClient(_))
        ));
        let with_secret = [ASSERTION_FORM, b"&client_secret=s"].concat();
        assert!(matches!(
            parse(FORM, None, &with_secret),
            Err(OAuthError::InvalidRequest(_))
        ));
        let auth = basic("ak_x", "s");
        assert!(matches!(
            parse(FORM, Some(&auth), ASSERTION_FORM),
            Err(OAuthError::InvalidRequest(_))
        ));
        assert!(matches!(
            parse(
                FORM,
                None,
                &[ASSERTION_FORM, b"&client_assertion=again"].concat()
            ),
            Err(OAuthError::InvalidRequest(_))
        ));
    }

    #[test]
    fn empty_values_count_as_omitted() {
        let r = parse(FORM, None, b"grant_type=&client_id=").unwrap();
        assert!(r.grant.grant_type.is_none() && r.client.client_id.is_none());
    }

    #[test]
    fn nul_and_invalid_utf8_never_panic() {
        let r = parse(FORM, None, b"client_id=%00%FF&grant_type=%E2%82").unwrap();
        assert!(r.client.client_id.unwrap().contains('\0'));
    }
}
