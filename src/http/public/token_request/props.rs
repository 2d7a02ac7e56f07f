//! Property tests of the token-request parser: whatever a client sends, [`parse`] (followed by the
//! grant-type check every token request gets) ends in a request or in one of the RFC 6749 errors
//! the token endpoint documents for a malformed request, and a well-formed request reads back what was put in.
//!
//! Case counts are fixed ([`CASES`]) so `cargo test` stays bounded; a failing case is saved under
//! `proptest-regressions/` (mirroring `src/`) and replayed first on every later run: commit it.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine as _;
use proptest::collection::vec;
use proptest::prelude::*;

use super::{parse, MAX_BODY_BYTES};
use crate::domain::client_assertion::ASSERTION_TYPE;
use crate::domain::grant::check_grant_type;
use crate::domain::oauth_error::OAuthError;
use crate::http::public::oauth_response;

/// Cases per property.
pub(crate) const CASES: u32 = 1024;

const FORM: &[u8] = b"application/x-www-form-urlencoded";
const JSON: &[u8] = b"application/json";
/// The parameters the parser knows; every other one is ignored.
const KNOWN: [&str; 10] = [
    "grant_type",
    "client_id",
    "client_secret",
    "client_assertion_type",
    "client_assertion",
    "audience",
    "resource",
    "scope",
    "token",
    "token_type_hint",
];

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(CASES)
}

/// Content types: the two accepted (in odd spellings), near misses, and arbitrary bytes.
fn content_type() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        Just(None),
        Just(Some(FORM.to_vec())),
        Just(Some(JSON.to_vec())),
        Just(Some(
            b"Application/X-WWW-Form-URLEncoded ; charset=UTF-8".to_vec()
        )),
        Just(Some(b"application/json;charset=utf-8".to_vec())),
        Just(Some(b"application/jsonx".to_vec())),
        Just(Some(b"text/plain".to_vec())),
        vec(any::<u8>(), 0..64).prop_map(Some),
    ]
}

/// Authorization values: none, Basic with garbage or with base64 of arbitrary bytes, other
/// schemes, arbitrary bytes.
fn authorization() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        2 => Just(None),
        1 => vec(any::<u8>(), 0..64).prop_map(|b| Some([b"Basic ".as_slice(), &b].concat())),
        1 => vec(any::<u8>(), 0..48)
            .prop_map(|b| Some(format!("basic {}", STANDARD.encode(b)).into_bytes())),
        1 => "[A-Za-z]{0,8} [ -~]{0,40}".prop_map(|s| Some(s.into_bytes())),
        1 => vec(any::<u8>(), 0..64).prop_map(Some),
    ]
}

/// Bodies: arbitrary bytes, form-looking and JSON-looking text, and sizes around the limit.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let form_piece = prop_oneof![
        proptest::sample::select(KNOWN.to_vec()).prop_map(str::to_owned),
        Just("=".to_owned()),
        Just("&".to_owned()),
        Just("client_credentials".to_owned()),
        Just(ASSERTION_TYPE.to_owned()),
        "%[0-9A-Fa-f]{0,2}",
        "[ -~]{0,6}",
    ];
    prop_oneof![
        3 => vec(any::<u8>(), 0..256),
        3 => vec(form_piece, 0..24).prop_map(|p| p.concat().into_bytes()),
        2 => "[{}\\[\\]\":, a-z0-9_\\\\]{0,80}".prop_map(String::into_bytes),
        1 => (MAX_BODY_BYTES - 2..MAX_BODY_BYTES + 64).prop_map(|n| vec![b'a'; n]),
    ]
}

/// The essence of a content type as the token endpoint reads it, or `None` when it is not text.
fn essence(content_type: Option<&[u8]>) -> Option<String> {
    let text = std::str::from_utf8(content_type?).ok()?;
    Some(text.split(';').next()?.trim().to_ascii_lowercase())
}

/// What the parser must make of a body with no repeated parameter whose (non-empty) client
/// authentication parameters are these: `None` for a parsed request, else the error code. An
/// assertion goes with its type and with no secret (RFC 7521 §4.2, RFC 6749 §2.3); a type other
/// than JWT bearer is an unsupported client authentication method.
fn client_auth_verdict(
    secret: Option<&str>,
    assertion_type: Option<&str>,
    assertion: Option<&str>,
) -> Option<&'static str> {
    match (assertion_type, assertion) {
        (None, None) => None,
        _ if secret.is_some() => Some("invalid_request"),
        (Some(t), Some(_)) if t == ASSERTION_TYPE => None,
        (Some(_), Some(_)) => Some("invalid_client"),
        _ => Some("invalid_request"),
    }
}

/// The documented status of each error code (the documented error table), and whether the parser may
/// produce it at all.
fn documented_status(code: &str) -> Option<u16> {
    match code {
        "invalid_request" | "unsupported_grant_type" => Some(400),
        "invalid_client" => Some(401),
        _ => None,
    }
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary headers and bytes never panic, and every refusal is one of the documented errors
    /// with its documented status and headers. The checks that come before any parsing (size,
    /// content type) decide the error on their own.
    #[test]
    fn arbitrary_requests_map_to_documented_errors(
        content_type in content_type(),
        authorization in authorization(),
        body in body(),
    ) {
        let outcome = parse(content_type.as_deref(), authorization.as_deref(), &body)
            .and_then(|request| check_grant_type(&request.grant).map(|()| request));
        let Err(error) = outcome else {
            // Accepted: the body was one of the two formats and fitted.
            prop_assert!(body.len() <= MAX_BODY_BYTES);
            return Ok(());
        };
        let code = error.to_string();
        let status = documented_status(&code);
        prop_assert!(status.is_some(), "undocumented error {code} for a malformed request");
        let basic = authorization.as_deref().is_some_and(super::is_basic);
        let response = oauth_response::error(&error, basic);
        prop_assert_eq!(Some(response.status().as_u16()), status);
        prop_assert_eq!(
            response.headers().contains_key("www-authenticate"),
            code == "invalid_client" && basic
        );
        if body.len() > MAX_BODY_BYTES {
            prop_assert!(matches!(error, OAuthError::InvalidRequest(_)), "{error:?}");
        }
        match essence(content_type.as_deref()).as_deref() {
            Some("application/x-www-form-urlencoded" | "application/json") => {}
            _ => prop_assert!(matches!(error, OAuthError::InvalidRequest(_)), "{error:?}"),
        }
    }

    /// A form body fails only when a known parameter is repeated (RFC 6749 §3.2); otherwise each
    /// parameter reads back its decoded value, an empty one as omitted.
    #[test]
    fn form_bodies_fail_only_on_a_repeated_parameter(body in body()) {
        prop_assume!(body.len() <= MAX_BODY_BYTES);
        let pairs: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
        let repeated = KNOWN
            .iter()
            .any(|k| pairs.iter().filter(|(key, _)| key == k).count() > 1);
        let value = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        };
        let auth_verdict = client_auth_verdict(
            value("client_secret").as_deref(),
            value("client_assertion_type").as_deref(),
            value("client_assertion").as_deref(),
        );
        match parse(Some(FORM), None, &body) {
            Err(OAuthError::InvalidRequest(why)) => {
                prop_assert!(
                    repeated || auth_verdict == Some("invalid_request"),
                    "refused without a repeat: {why}"
                );
            }
            Err(OAuthError::InvalidClient(_)) => {
                prop_assert!(!repeated && auth_verdict == Some("invalid_client"));
            }
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
            Ok(request) => {
                prop_assert!(!repeated && auth_verdict.is_none());
                prop_assert_eq!(request.client.client_assertion, value("client_assertion"));
                prop_assert_eq!(request.grant.grant_type, value("grant_type"));
                prop_assert_eq!(request.client.client_id, value("client_id"));
                prop_assert_eq!(request.client.client_secret, value("client_secret"));
                prop_assert_eq!(request.grant.audience, value("audience"));
                prop_assert_eq!(request.grant.resource, value("resource"));
                prop_assert_eq!(request.grant.scope, value("scope"));
                prop_assert_eq!(request.token, value("token"));
            }
        }
    }

    /// A JSON object is accepted iff no known parameter is repeated and each known parameter is a
    /// string or null; unknown members of any type are ignored. Anything but an object is refused.
    #[test]
    fn json_bodies_accept_exactly_objects_of_string_parameters(
        members in vec((json_key(), json_value()), 0..10),
        wrap in prop_oneof![
            4 => Just(None),
            1 => json_value().prop_filter("not an object", |v| !v.is_object()).prop_map(Some),
        ],
    ) {
        let text = match &wrap {
            None => object_text(&members),
            Some(not_an_object) => not_an_object.to_string(),
        };
        let known = |k: &str| KNOWN.contains(&k);
        let repeated = members
            .iter()
            .enumerate()
            .any(|(i, (k, _))| known(k) && members[..i].iter().any(|(other, _)| other == k));
        let mistyped = members
            .iter()
            .any(|(k, v)| known(k) && !(v.is_string() || v.is_null()));
        let value = |name: &str| {
            members
                .iter()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| v.as_str().map(str::to_owned))
                .filter(|v| !v.is_empty())
        };
        let auth_verdict = client_auth_verdict(
            value("client_secret").as_deref(),
            value("client_assertion_type").as_deref(),
            value("client_assertion").as_deref(),
        );
        let result = parse(Some(JSON), None, text.as_bytes());
        if wrap.is_some() || repeated || mistyped {
            prop_assert!(matches!(result, Err(OAuthError::InvalidRequest(_))), "{result:?} for {text}");
        } else if let Some(code) = auth_verdict {
            let got = result.as_ref().err().map(ToString::to_string);
            prop_assert_eq!(got.as_deref(), Some(code), "for {}", text);
        } else {
            let request = result.map_err(|e| TestCaseError::fail(format!("{e:?} for {text}")))?;
            prop_assert_eq!(request.client.client_assertion, value("client_assertion"));
            prop_assert_eq!(request.client.client_id, value("client_id"));
            prop_assert_eq!(request.client.client_secret, value("client_secret"));
            prop_assert_eq!(request.grant.grant_type, value("grant_type"));
            prop_assert_eq!(request.grant.audience, value("audience"));
            prop_assert_eq!(request.grant.scope, value("scope"));
        }
    }

    /// A well-formed request in any of the three forms (docs/api.md) parses to exactly what was put
    /// in, with the id and secret of HTTP Basic form-urlencoded first (RFC 6749 §2.3.1).
    #[test]
    fn well_formed_requests_parse_to_what_was_put_in(request in well_formed_request()) {
        let (content_type, authorization, body) = request.encode();
        let parsed = parse(Some(content_type.as_bytes()), authorization.as_deref(), &body)
            .map_err(|e| TestCaseError::fail(format!("{e:?} for {request:?}")))?;
        let body_value = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
        let (id, secret, assertion) = match &request.form {
            Form::Basic { .. } => (Some(request.client_id.clone()), Some(request.client_secret.clone()), None),
            Form::Assertion { id_in_body, .. } => (
                body_value(&Some(request.client_id.clone())).filter(|_| *id_in_body),
                None,
                Some(request.client_secret.clone()),
            ),
            _ => (body_value(&Some(request.client_id.clone())), body_value(&Some(request.client_secret.clone())), None),
        };
        prop_assert_eq!(parsed.client.client_id, id);
        prop_assert_eq!(parsed.client.client_secret, secret);
        prop_assert_eq!(parsed.client.client_assertion, assertion);
        prop_assert_eq!(parsed.grant.grant_type, body_value(&request.grant_type));
        prop_assert_eq!(parsed.grant.audience, body_value(&request.audience));
        prop_assert_eq!(parsed.grant.resource, body_value(&request.resource));
        prop_assert_eq!(parsed.grant.scope, body_value(&request.scope));
        prop_assert_eq!(parsed.token, body_value(&request.token));
    }

    /// Credentials both in the Basic header and in the body are an invalid request (RFC 6749
    /// §2.3), whatever they are; the same client_id in both is tolerated.
    #[test]
    fn credentials_in_header_and_body_are_invalid_requests(
        id in any::<String>(),
        secret in any::<String>(),
        body_secret in ".+",
        other_id in ".+",
    ) {
        let header = basic_header("Basic", &id, &secret, true);
        let with_secret = form_body(&[("grant_type", "client_credentials"), ("client_secret", &body_secret)]);
        prop_assert!(matches!(
            parse(Some(FORM), Some(header.as_bytes()), &with_secret),
            Err(OAuthError::InvalidRequest(_))
        ));
        let with_id = form_body(&[("client_id", &other_id)]);
        let result = parse(Some(FORM), Some(header.as_bytes()), &with_id);
        if other_id == id {
            prop_assert!(result.is_ok(), "{result:?}");
        } else {
            prop_assert!(matches!(result, Err(OAuthError::InvalidRequest(_))), "{result:?}");
        }
    }

    /// A client assertion beside a secret, in the body or in Basic, is an invalid request (one
    /// authentication method per request, RFC 6749 §2.3), whatever the values.
    #[test]
    fn an_assertion_beside_a_secret_is_an_invalid_request(
        id in any::<String>(),
        secret in ".+",
        assertion in ".+",
        assertion_type in prop_oneof![Just(ASSERTION_TYPE.to_owned()), ".+"],
        json in any::<bool>(),
    ) {
        let pairs = [
            ("client_assertion_type", assertion_type.as_str()),
            ("client_assertion", assertion.as_str()),
        ];
        let header = basic_header("Basic", &id, &secret, true);
        prop_assert!(matches!(
            parse(Some(FORM), Some(header.as_bytes()), &form_body(&pairs)),
            Err(OAuthError::InvalidRequest(_))
        ));
        let with_secret = [pairs[0], pairs[1], ("client_secret", secret.as_str())];
        let (content_type, body) = if json {
            let members: Vec<(String, serde_json::Value)> = with_secret
                .iter()
                .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v)))
                .collect();
            (JSON, object_text(&members).into_bytes())
        } else {
            (FORM, form_body(&with_secret))
        };
        prop_assert!(matches!(
            parse(Some(content_type), None, &body),
            Err(OAuthError::InvalidRequest(_))
        ));
    }

    /// An Authorization header that is not usable Basic — another scheme, a value that is not
    /// base64, base64 of bytes without a colon or of non-UTF-8 — is `invalid_client` (401).
    #[test]
    fn unusable_authorization_headers_are_invalid_client(bad in unusable_authorization()) {
        let result = parse(Some(FORM), Some(&bad), b"grant_type=client_credentials");
        prop_assert!(matches!(result, Err(OAuthError::InvalidClient(_))), "{result:?} for {bad:?}");
    }
}

fn json_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(KNOWN.to_vec()).prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        4 => any::<String>().prop_map(Value::String),
        1 => Just(Value::String(String::new())),
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<f64>().prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            vec((any::<String>(), inner), 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An object written member by member, so a repeated key stays repeated (a `Map` would merge it).
fn object_text(members: &[(String, serde_json::Value)]) -> String {
    let members: Vec<String> = members
        .iter()
        .map(|(k, v)| format!("{}:{v}", serde_json::Value::from(k.as_str())))
        .collect();
    format!("{{{}}}", members.join(","))
}

fn form_body(pairs: &[(&str, &str)]) -> Vec<u8> {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
        .into_bytes()
}

/// `client_secret_basic`: base64 of the form-urlencoded id, a colon, the form-urlencoded secret.
fn basic_header(scheme: &str, id: &str, secret: &str, padded: bool) -> String {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let plain = format!("{}:{}", enc(id), enc(secret));
    let encoded = if padded {
        STANDARD.encode(plain)
    } else {
        STANDARD_NO_PAD.encode(plain)
    };
    format!("{scheme} {encoded}")
}

#[derive(Debug, Clone)]
enum Form {
    /// `client_secret_basic`, optionally repeating the client_id in the body (allowed).
    Basic {
        scheme: String,
        padded: bool,
        id_in_body: bool,
    },
    /// `client_secret_post`.
    Post,
    /// A JSON body.
    Json,
    /// `private_key_jwt`: `client_secret` is sent as the assertion, `client_id` only if
    /// `id_in_body`; a form or a JSON body.
    Assertion { id_in_body: bool, json: bool },
}

#[derive(Debug, Clone)]
struct WellFormed {
    form: Form,
    grant_type: Option<String>,
    client_id: String,
    client_secret: String,
    audience: Option<String>,
    resource: Option<String>,
    scope: Option<String>,
    token: Option<String>,
    /// Parameters the parser must ignore.
    extra: Vec<(String, String)>,
}

impl WellFormed {
    /// Content type, Authorization header and body, as a correct client would send them.
    fn encode(&self) -> (String, Option<Vec<u8>>, Vec<u8>) {
        let mut params: Vec<(&str, &str)> = Vec::new();
        let optional = [
            ("grant_type", &self.grant_type),
            ("audience", &self.audience),
            ("resource", &self.resource),
            ("scope", &self.scope),
            ("token", &self.token),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                params.push((name, value));
            }
        }
        let mut authorization = None;
        match &self.form {
            Form::Basic {
                scheme,
                padded,
                id_in_body,
            } => {
                authorization = Some(
                    basic_header(scheme, &self.client_id, &self.client_secret, *padded)
                        .into_bytes(),
                );
                if *id_in_body {
                    params.push(("client_id", &self.client_id));
                }
            }
            Form::Post | Form::Json => {
                params.push(("client_id", &self.client_id));
                params.push(("client_secret", &self.client_secret));
            }
            Form::Assertion { id_in_body, .. } => {
                if *id_in_body {
                    params.push(("client_id", &self.client_id));
                }
                params.push(("client_assertion_type", ASSERTION_TYPE));
                params.push(("client_assertion", &self.client_secret));
            }
        }
        for (k, v) in &self.extra {
            params.push((k, v));
        }
        match self.form {
            Form::Json | Form::Assertion { json: true, .. } => {
                let members: Vec<(String, serde_json::Value)> = params
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v)))
                    .collect();
                (
                    "application/json; charset=utf-8".to_owned(),
                    None,
                    object_text(&members).into_bytes(),
                )
            }
            _ => (
                "application/x-www-form-urlencoded".to_owned(),
                authorization,
                form_body(&params),
            ),
        }
    }
}

fn well_formed_request() -> impl Strategy<Value = WellFormed> {
    let form = prop_oneof![
        (
            proptest::sample::select(vec!["Basic", "basic", "BASIC"]),
            any::<bool>(),
            any::<bool>()
        )
            .prop_map(|(scheme, padded, id_in_body)| Form::Basic {
                scheme: scheme.to_owned(),
                padded,
                id_in_body,
            }),
        Just(Form::Post),
        Just(Form::Json),
        (any::<bool>(), any::<bool>())
            .prop_map(|(id_in_body, json)| Form::Assertion { id_in_body, json }),
    ];
    // Values with the characters form-urlencoding and Basic must survive: ':', '+', '%', '&',
    // '=', spaces and non-ASCII.
    let value = || {
        prop_oneof![
            any::<String>(),
            "[a-zA-Z0-9:+%&= _.~/-]{0,40}",
            Just("tss_".to_owned() + &"A".repeat(49)),
        ]
    };
    let unknown_key =
        "[a-z_]{1,12}".prop_filter("an unknown parameter", |k| !KNOWN.contains(&k.as_str()));
    (
        form,
        proptest::option::of(prop_oneof![Just("client_credentials".to_owned()), value()]),
        value(),
        value(),
        proptest::option::of(value()),
        proptest::option::of(value()),
        proptest::option::of(value()),
        proptest::option::of(value()),
        vec((unknown_key, value()), 0..3),
    )
        .prop_map(
            |(
                form,
                grant_type,
                client_id,
                client_secret,
                audience,
                resource,
                scope,
                token,
                extra,
            )| {
                // An empty assertion counts as absent: a well-formed one has a value.
                let client_secret = match form {
                    Form::Assertion { .. } if client_secret.is_empty() => "eyJ.e30.c2ln".to_owned(),
                    _ => client_secret,
                };
                WellFormed {
                    form,
                    grant_type,
                    client_id,
                    client_secret,
                    audience,
                    resource,
                    scope,
                    token,
                    extra,
                }
            },
        )
}

/// Authorization values that cannot authenticate a client.
fn unusable_authorization() -> impl Strategy<Value = Vec<u8>> {
    let not_basic = vec(any::<u8>(), 0..48).prop_filter("not the Basic scheme", |v| {
        !(v.len() >= 6 && v[..6].eq_ignore_ascii_case(b"basic "))
    });
    // A character outside the standard base64 alphabet inside the value (`-` and `_` are the
    // URL-safe alphabet, which Basic does not use).
    let not_base64 = (
        "[A-Za-z0-9+/]{0,20}",
        proptest::sample::select(vec!['-', '_', '!', '*', '.', '~', 'é', '\u{7f}', '\0']),
        "[A-Za-z0-9+/]{0,20}",
    )
        .prop_map(|(a, bad, b)| format!("Basic {a}{bad}{b}").into_bytes());
    let no_colon = "[^:]{0,40}".prop_map(|s| format!("Basic {}", STANDARD.encode(s)).into_bytes());
    let not_utf8 = (vec(any::<u8>(), 0..8), vec(any::<u8>(), 0..8)).prop_map(|(a, b)| {
        let bytes = [a.as_slice(), b":\xff\xfe", b.as_slice()].concat();
        format!("Basic {}", STANDARD.encode(bytes)).into_bytes()
    });
    prop_oneof![not_basic, not_base64, no_colon, not_utf8]
}
