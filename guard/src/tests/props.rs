//! Property tests of token parsing: arbitrary text, arbitrary three-part base64url strings and
//! real tokens with one thing changed are always refused with a [`GuardError`] that becomes a
//! 401 `invalid_token` (RFC 6750 §3.1) — never accepted, never a panic.
//!
//! Case counts are fixed ([`CASES`]); a failing case is saved under
//! `guard/proptest-regressions/` (mirroring `src/`) and replayed first on every later run:
//! commit it.

use std::sync::OnceLock;

#[cfg(feature = "actix")]
use actix_web::{FromRequest, ResponseError};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey};
use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::{json, Value};

use super::support::*;
#[cfg(feature = "actix")]
use crate::Authenticated;
use crate::{Guard, GuardConfig, GuardError};

/// Cases per property.
pub(crate) const CASES: u32 = 512;

const BASE64URL: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(CASES)
}

/// One guard (key A) for every case; building it per case would only measure reqwest.
fn shared_guard() -> &'static Guard {
    static GUARD: OnceLock<Guard> = OnceLock::new();
    GUARD.get_or_init(guard)
}

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
}

fn validate(token: &str) -> Result<(), GuardError> {
    RUNTIME.with(|rt| {
        rt.block_on(shared_guard().validate_at(token, NOW))
            .map(|_| ())
    })
}

/// The outcome every malformed or tampered token must get.
fn assert_invalid_token(token: &str) -> Result<(), TestCaseError> {
    match validate(token) {
        Ok(()) => Err(TestCaseError::fail(format!("accepted {token:?}"))),
        Err(error) => {
            prop_assert_eq!(error.status(), 401, "{:?} for {:?}", error, token);
            prop_assert_eq!(error.error_code(), Some("invalid_token"), "{:?}", error);
            let challenge = error.www_authenticate("api").unwrap_or_default();
            prop_assert!(
                challenge.contains("error=\"invalid_token\""),
                "{}",
                challenge
            );
            Ok(())
        }
    }
}

/// A real token, valid at [`NOW`] (checked once, so the mutations start from something good).
fn real_token(account: bool) -> String {
    static TOKENS: OnceLock<[String; 2]> = OnceLock::new();
    let tokens = TOKENS.get_or_init(|| {
        let tokens = [
            TokenBuilder::workspace(NOW).sign(),
            TokenBuilder::account(NOW).sign(),
        ];
        for token in &tokens {
            validate(token).expect("the unmutated token is valid");
        }
        tokens
    });
    tokens[usize::from(account)].clone()
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        vec(any::<u8>(), 0..300).prop_map(|b| URL_SAFE_NO_PAD.encode(b)),
        header().prop_map(|h| URL_SAFE_NO_PAD.encode(h.to_string())),
        claims().prop_map(|c| URL_SAFE_NO_PAD.encode(c.to_string())),
        "[A-Za-z0-9_=+/-]{0,80}",
    ]
}

/// Headers from the plausible to the hostile: every algorithm name (`none` in any case, HMAC),
/// right and wrong `typ`, known and unknown `kid`, `crit`, and keys carried in the token.
fn header() -> impl Strategy<Value = Value> {
    let alg = prop_oneof![
        proptest::sample::select(vec![
            "RS256", "RS384", "PS256", "none", "None", "NONE", "HS256", "HS512", "ES256", "EdDSA",
            "",
        ])
        .prop_map(|a| json!(a)),
        any::<String>().prop_map(|a| json!(a)),
        Just(json!(256)),
    ];
    let typ = proptest::option::of(prop_oneof![
        proptest::sample::select(vec!["at+jwt", "AT+JWT", "application/at+jwt", "JWT", ""])
            .prop_map(|t| json!(t)),
        any::<String>().prop_map(|t| json!(t)),
    ]);
    let kid = proptest::option::of(prop_oneof![
        Just(json!(kid_a())),
        Just(json!(kid_b())),
        Just(json!("")),
        any::<String>().prop_map(|k| json!(k)),
    ]);
    let extra = proptest::option::of(proptest::sample::select(vec![
        ("crit", json!(["exp"])),
        ("jku", json!("https://attacker.test/jwks.json")),
        ("jwk", json!({"kty": "oct", "k": "c2VjcmV0"})),
    ]));
    (alg, typ, kid, extra).prop_map(|(alg, typ, kid, extra)| {
        let mut header = json!({ "alg": alg });
        if let Some(typ) = typ {
            header["typ"] = typ;
        }
        if let Some(kid) = kid {
            header["kid"] = kid;
        }
        if let Some((name, value)) = extra {
            header[name] = value;
        }
        header
    })
}

/// The claims of a real token, or that with one claim removed, retyped or set to an odd value.
fn claims() -> impl Strategy<Value = Value> {
    let names = vec![
        "iss",
        "sub",
        "client_id",
        "aud",
        "iat",
        "nbf",
        "exp",
        "jti",
        "roles",
        "key_type",
        "account_id",
    ];
    let odd = prop_oneof![
        Just(Value::Null),
        Just(json!(i64::MAX)),
        Just(json!(-1)),
        Just(json!(1e300)),
        Just(json!([])),
        Just(json!({})),
        any::<String>().prop_map(Value::String),
    ];
    (
        any::<bool>(),
        proptest::sample::select(names),
        proptest::option::of(odd),
    )
        .prop_map(|(account, name, value)| {
            let builder = if account {
                TokenBuilder::account(NOW)
            } else {
                TokenBuilder::workspace(NOW)
            };
            let mut claims = builder.claims;
            match value {
                Some(value) => claims[name] = value,
                None => {
                    claims.as_object_mut().unwrap().remove(name);
                }
            }
            claims
        })
}

/// One change to a real token.
#[derive(Debug, Clone)]
enum Mutation {
    Replace(usize, char),
    Delete(usize),
    Insert(usize, char),
    Truncate(usize),
    SwapSegments(usize, usize),
    DropSignature,
    ExtraSegment(String),
    /// The signature of another real token (same key, other claims).
    ForeignSignature,
    /// The header's `alg` set to another name and re-signed, with HMAC keyed by the public key
    /// where the name is HMAC (the classic algorithm-confusion attack).
    Realg(&'static str),
    /// Claims replaced, original signature kept.
    NewClaims(Value),
    /// Signed by key B under key A's `kid`.
    WrongKey,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let any_char = prop_oneof![
        4 => proptest::sample::select(BASE64URL.chars().collect::<Vec<_>>()),
        1 => proptest::sample::select(vec!['.', '=', '+', '/', ' ', '\0', 'é']),
        1 => any::<char>(),
    ];
    let index = any::<proptest::sample::Index>();
    prop_oneof![
        4 => (index.clone(), any_char.clone()).prop_map(|(i, c)| Mutation::Replace(i.index(usize::MAX), c)),
        2 => index.clone().prop_map(|i| Mutation::Delete(i.index(usize::MAX))),
        2 => (index.clone(), any_char).prop_map(|(i, c)| Mutation::Insert(i.index(usize::MAX), c)),
        1 => index.prop_map(|i| Mutation::Truncate(i.index(usize::MAX))),
        1 => (0usize..3, 0usize..3).prop_filter("two segments", |(a, b)| a != b)
            .prop_map(|(a, b)| Mutation::SwapSegments(a, b)),
        1 => Just(Mutation::DropSignature),
        1 => "[A-Za-z0-9_-]{0,20}".prop_map(Mutation::ExtraSegment),
        1 => Just(Mutation::ForeignSignature),
        1 => proptest::sample::select(vec!["HS256", "HS384", "HS512", "none", "RS384", "RS512", "PS256"])
            .prop_map(Mutation::Realg),
        1 => claims().prop_map(Mutation::NewClaims),
        1 => Just(Mutation::WrongKey),
    ]
}

fn apply(token: &str, account: bool, mutation: &Mutation) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    let at = |i: usize, len: usize| i % len.max(1);
    let parts: Vec<&str> = token.split('.').collect();
    match mutation {
        Mutation::Replace(i, c) => {
            let i = at(*i, chars.len());
            chars[i] = *c;
            chars.into_iter().collect()
        }
        Mutation::Delete(i) => {
            chars.remove(at(*i, chars.len()));
            chars.into_iter().collect()
        }
        Mutation::Insert(i, c) => {
            chars.insert(at(*i, chars.len() + 1), *c);
            chars.into_iter().collect()
        }
        Mutation::Truncate(i) => chars[..at(*i, chars.len())].iter().collect(),
        Mutation::SwapSegments(a, b) => {
            let mut parts = parts.clone();
            parts.swap(*a, *b);
            parts.join(".")
        }
        Mutation::DropSignature => format!("{}.{}.", parts[0], parts[1]),
        Mutation::ExtraSegment(s) => format!("{token}.{s}"),
        Mutation::ForeignSignature => {
            let other = real_token(!account);
            let signature = other.rsplit('.').next().unwrap();
            format!("{}.{}.{signature}", parts[0], parts[1])
        }
        Mutation::Realg(alg) => {
            let builder = if account {
                TokenBuilder::account(NOW)
            } else {
                TokenBuilder::workspace(NOW)
            }
            .header("alg", json!(alg));
            match *alg {
                "none" => format!("{}.", builder.signing_input()),
                hmac if hmac.starts_with("HS") => {
                    let key = EncodingKey::from_secret(TEST_KEY_A_PUBLIC.as_bytes());
                    builder.sign_with(&key, hmac.parse::<Algorithm>().unwrap())
                }
                _ => builder.sign(),
            }
        }
        Mutation::NewClaims(claims) => {
            format!("{}.{}.{}", parts[0], b64(claims), parts[2])
        }
        Mutation::WrongKey => {
            let builder = if account {
                TokenBuilder::account(NOW)
            } else {
                TokenBuilder::workspace(NOW)
            };
            builder.signed_by_key_b().sign()
        }
    }
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary text, and arbitrary bytes read as text the way an HTTP layer would, is refused
    /// as an invalid token (the empty token is "no token", a different answer, so it is left out).
    #[test]
    fn arbitrary_text_is_an_invalid_token(
        text in prop_oneof![
            any::<String>(),
            vec(any::<u8>(), 0..512).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
            (0usize..3).prop_map(|n| "a".repeat(GuardConfig::DEFAULT_MAX_TOKEN_BYTES + n)),
        ]
    ) {
        prop_assume!(!text.is_empty());
        assert_invalid_token(&text)?;
    }

    /// Three base64url segments of anything — random bytes, hostile headers, tampered claims —
    /// never pass without a signature made by a trusted key.
    #[test]
    fn three_base64url_segments_are_an_invalid_token(
        header in segment(),
        payload in segment(),
        signature in segment(),
    ) {
        assert_invalid_token(&format!("{header}.{payload}.{signature}"))?;
    }

    /// A real token with one thing changed is refused.
    #[test]
    fn a_mutated_real_token_is_an_invalid_token(account in any::<bool>(), mutation in mutation()) {
        let token = real_token(account);
        let mutated = apply(&token, account, &mutation);
        prop_assume!(mutated != token && !mutated.is_empty());
        assert_invalid_token(&mutated)?;
    }

    /// Through the actix-web extractor, any Authorization header a client can send ends in a 401
    /// with a Bearer challenge: `invalid_token` for a Bearer value that is not a valid token,
    /// a bare challenge for no token or another scheme (RFC 6750 §3.1).
    #[cfg(feature = "actix")]
    #[test]
    fn any_authorization_header_is_a_401_bearer_challenge(
        value in prop_oneof![
            vec(any::<u8>(), 0..128),
            "(Bearer|bearer|BEARER|Basic|Token)? ?[ -~]{0,80}".prop_map(String::into_bytes),
            (any::<bool>(), mutation()).prop_map(|(account, m)| {
                format!("Bearer {}", apply(&real_token(account), account, &m)).into_bytes()
            }),
        ]
    ) {
        let Ok(header) = actix_web::http::header::HeaderValue::from_bytes(&value) else {
            // Not a value HTTP can carry (a line break, say): no client can send it.
            return Ok(());
        };
        // How bearer_token must read it: not visible ASCII is a malformed token; another scheme
        // is no token at all; a Bearer value goes to validation.
        let text = header.to_str().ok().map(|t| t.trim().to_owned());
        let text = text.as_deref();
        let scheme_and_token = text.map(|t| t.split_once(' ').unwrap_or((t, "")));
        let bearer = scheme_and_token.is_none_or(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"));
        let request = actix_web::test::TestRequest::default()
            .app_data(shared_guard().clone())
            .insert_header((actix_web::http::header::AUTHORIZATION, header))
            .to_http_request();
        let outcome = RUNTIME.with(|rt| {
            rt.block_on(Authenticated::from_request(&request, &mut actix_web::dev::Payload::None))
        });
        let Err(rejection) = outcome else {
            // Only a real, unmutated token may pass (a mutation that changed nothing).
            let token = scheme_and_token.map(|(_, t)| t.trim()).unwrap_or_default();
            prop_assert!(token == real_token(false) || token == real_token(true), "accepted {:?}", value);
            return Ok(());
        };
        let response = rejection.error_response();
        prop_assert_eq!(response.status().as_u16(), 401, "{:?}", rejection.error());
        let challenge = response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        prop_assert!(challenge.starts_with("Bearer realm="), "{}", challenge);
        prop_assert_eq!(challenge.contains("error=\"invalid_token\""), bearer, "{}", challenge);
        if !bearer {
            prop_assert!(!challenge.contains("error="), "{}", challenge);
        }
    }
}
