//! RFC 7523 client assertions (`private_key_jwt`): reading one, and the rules its claims must
//! meet. Pure: the assertion and the time in, a verdict out. The signature is checked with the
//! guard crate's `verify_jws` by the service, which also picks the key and records the `jti`.
//!
//! Nothing in an assertion is trusted before its signature is: [`Assertion::parse`] only reads
//! what is needed to find the client and its key, and every field it reads is typed loosely
//! (a claim of the wrong type is a refusal, never an error further on).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{Map, Value};
use tessera_guard::{asymmetric_algorithm, Algorithm};

/// The only `client_assertion_type` accepted (RFC 7523 §2.2).
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// How far ahead an assertion's `exp` may be (plus the leeway): an assertion is a one-off
/// proof, not a credential to keep.
pub const MAX_LIFETIME_SECONDS: i64 = 3600;
/// The longest `jti` accepted; it is stored until the assertion expires.
pub const MAX_JTI_CHARS: usize = 256;
/// The `alg` values a client may sign with: RS256, ES256, and EdDSA under both of its names
/// (`Ed25519` is the fully specified one, RFC 9864). Never `none`, never HMAC.
pub const SIGNING_ALGORITHMS: [&str; 4] = ["RS256", "ES256", "EdDSA", "Ed25519"];

/// Why an assertion was refused. For the server's debug log only: the client gets the same
/// answer whatever the cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not a compact JWS with a JSON header and a JSON object as payload, or a claim of the
    /// wrong type.
    Malformed,
    /// `alg` is not one of [`SIGNING_ALGORITHMS`].
    Algorithm,
    /// The request's `client_id` is not the assertion's `iss`.
    ClientIdMismatch,
    /// `iss` or `sub` is not the client id.
    Issuer,
    /// `aud` names neither the token endpoint nor the issuer.
    Audience,
    /// No `exp`.
    MissingExpiry,
    /// `exp` more than [`MAX_LIFETIME_SECONDS`] (plus the leeway) ahead.
    TooLong,
    /// `exp` has passed (beyond the leeway).
    Expired,
    /// `iat` or `nbf` in the future (beyond the leeway).
    NotYetValid,
    /// No usable `jti`.
    MissingJti,
    /// No registered key fits the `kid` and `alg`.
    UnknownKey,
    /// The signature does not verify.
    Signature,
    /// The `jti` was used before and has not expired.
    Replayed,
    /// The credential does not authenticate with `private_key_jwt`, or is unknown.
    NotThisMethod,
}

impl Refusal {
    /// A short phrase for the log.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Malformed => "malformed assertion",
            Self::Algorithm => "algorithm not accepted",
            Self::ClientIdMismatch => "client_id is not the assertion's iss",
            Self::Issuer => "iss or sub is not the client id",
            Self::Audience => "aud names neither the token endpoint nor the issuer",
            Self::MissingExpiry => "no exp",
            Self::TooLong => "exp too far ahead",
            Self::Expired => "expired",
            Self::NotYetValid => "iat or nbf in the future",
            Self::MissingJti => "no usable jti",
            Self::UnknownKey => "no registered key fits kid and alg",
            Self::Signature => "bad signature",
            Self::Replayed => "jti already used",
            Self::NotThisMethod => "unknown client or not a private_key_jwt credential",
        }
    }
}

/// The claims an assertion carries, read but not yet checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssertionClaims {
    /// `iss`.
    pub iss: Option<String>,
    /// `sub`.
    pub sub: Option<String>,
    /// `aud`: a string or an array of strings in the JWT, a list here.
    pub aud: Vec<String>,
    /// `exp`, Unix seconds.
    pub exp: Option<i64>,
    /// `iat`, Unix seconds.
    pub iat: Option<i64>,
    /// `nbf`, Unix seconds.
    pub nbf: Option<i64>,
    /// `jti`.
    pub jti: Option<String>,
}

/// A compact JWS client assertion, split, with its header and claims read. Nothing in it is
/// trusted yet.
pub struct Assertion<'a> {
    /// The algorithm its header names (`Ed25519` is read as EdDSA).
    pub algorithm: Algorithm,
    /// The header's `kid`, if any.
    pub kid: Option<String>,
    /// The compact JWS, for the signature check.
    pub token: &'a str,
    /// The payload's claims.
    pub claims: AssertionClaims,
}

/// Never the token itself: an assertion stays out of logs.
impl std::fmt::Debug for Assertion<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assertion")
            .field("algorithm", &self.algorithm)
            .field("kid", &self.kid)
            .field("claims", &self.claims)
            .finish_non_exhaustive()
    }
}

/// What the claims are checked against.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The client the assertion must be from (`iss` and `sub`).
    pub client_id: &'a str,
    /// `{issuer}/oauth/token`: one `aud` value accepted.
    pub token_url: &'a str,
    /// The issuer: the other `aud` value accepted.
    pub issuer: &'a str,
    /// Now, Unix seconds.
    pub now: i64,
    /// The clock-skew allowance, seconds.
    pub leeway: i64,
}

/// An assertion whose claims passed: the `jti` to record, and until when (Unix seconds) it must
/// be refused if seen again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The assertion's `jti`.
    pub jti: String,
    /// `exp` plus the leeway: until then the assertion would be accepted again.
    pub remember_until: i64,
}

/// Maps a header `alg` to the algorithm that verifies it; `None` for anything not accepted. The
/// guard's reading of `alg` (never `none` or HMAC; `Ed25519` is EdDSA), narrowed to the three
/// algorithms a client may sign with.
pub fn signing_algorithm(alg: &str) -> Option<Algorithm> {
    asymmetric_algorithm(alg)
        .filter(|a| matches!(a, Algorithm::RS256 | Algorithm::ES256 | Algorithm::EdDSA))
}

fn decode_object(b64: &str) -> Result<Map<String, Value>, Refusal> {
    let bytes = URL_SAFE_NO_PAD
        .decode(b64)
        .map_err(|_| Refusal::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| Refusal::Malformed)
}

fn string(object: &Map<String, Value>, name: &str) -> Result<Option<String>, Refusal> {
    match object.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Refusal::Malformed),
    }
}

/// A NumericDate (RFC 7519 §2): a JSON number of seconds, possibly with a fraction.
fn seconds(object: &Map<String, Value>, name: &str) -> Result<Option<i64>, Refusal> {
    match object.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite())
                    // Saturating: a date beyond i64 is just far away.
                    .map(|f| f.floor() as i64)
            })
            .map(Some)
            .ok_or(Refusal::Malformed),
        Some(_) => Err(Refusal::Malformed),
    }
}

impl AssertionClaims {
    /// Reads the claims of a JSON payload; a registered claim of the wrong type (`exp: "x"`,
    /// `aud: 5`) is [`Refusal::Malformed`].
    pub fn from_object(claims: &Map<String, Value>) -> Result<Self, Refusal> {
        let aud = match claims.get("aud") {
            None => Vec::new(),
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned).ok_or(Refusal::Malformed))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(Refusal::Malformed),
        };
        Ok(Self {
            iss: string(claims, "iss")?,
            sub: string(claims, "sub")?,
            aud,
            exp: seconds(claims, "exp")?,
            iat: seconds(claims, "iat")?,
            nbf: seconds(claims, "nbf")?,
            jti: string(claims, "jti")?,
        })
    }

    /// The rules of RFC 7523 §3 as Tessera applies them: `iss` = `sub` = the client id; `aud`
    /// names the token endpoint or the issuer; `exp` present, not passed and at most
    /// [`MAX_LIFETIME_SECONDS`] ahead; `iat` and `nbf`, if present, not in the future; a `jti`.
    /// Each time comparison allows `leeway` seconds of clock skew.
    pub fn check(&self, expected: &Expected<'_>) -> Result<Accepted, Refusal> {
        let client = Some(expected.client_id);
        if self.iss.as_deref() != client || self.sub.as_deref() != client {
            return Err(Refusal::Issuer);
        }
        if !self
            .aud
            .iter()
            .any(|a| a == expected.token_url || a == expected.issuer)
        {
            return Err(Refusal::Audience);
        }
        let (now, leeway) = (expected.now, expected.leeway);
        let exp = self.exp.ok_or(Refusal::MissingExpiry)?;
        if exp
            > now
                .saturating_add(MAX_LIFETIME_SECONDS)
                .saturating_add(leeway)
        {
            return Err(Refusal::TooLong);
        }
        let remember_until = exp.saturating_add(leeway);
        if now >= remember_until {
            return Err(Refusal::Expired);
        }
        let future = |t: Option<i64>| t.is_some_and(|t| t > now.saturating_add(leeway));
        if future(self.iat) || future(self.nbf) {
            return Err(Refusal::NotYetValid);
        }
        let jti = self
            .jti
            .as_deref()
            .filter(|j| !j.is_empty() && j.chars().count() <= MAX_JTI_CHARS)
            .ok_or(Refusal::MissingJti)?;
        Ok(Accepted {
            jti: jti.to_owned(),
            remember_until,
        })
    }
}

impl<'a> Assertion<'a> {
    /// Splits a compact JWS and reads its header and claims. The header must name an accepted
    /// algorithm ([`SIGNING_ALGORITHMS`]) and have no `crit` (RFC 7515 §4.1.11: none is
    /// understood here); `jku`, `x5u`, `jwk` and `x5c` are ignored, as keys come only from the
    /// credential.
    pub fn parse(token: &'a str) -> Result<Self, Refusal> {
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Refusal::Malformed);
        };
        let header = decode_object(header_b64)?;
        let algorithm = header
            .get("alg")
            .and_then(Value::as_str)
            .and_then(signing_algorithm)
            .ok_or(Refusal::Algorithm)?;
        if header.contains_key("crit") {
            return Err(Refusal::Malformed);
        }
        let kid = string(&header, "kid")?;
        if signature.is_empty() {
            return Err(Refusal::Signature);
        }
        let claims = AssertionClaims::from_object(&decode_object(payload_b64)?)?;
        Ok(Self {
            algorithm,
            kid,
            token,
            claims,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const CLIENT: &str = "ak_0123456789abcdefghijklmn";
    const ISSUER: &str = "https://issuer.test";
    const TOKEN_URL: &str = "https://issuer.test/oauth/token";
    const NOW: i64 = 1_800_000_000;
    const LEEWAY: i64 = 60;

    fn expected() -> Expected<'static> {
        Expected {
            client_id: CLIENT,
            token_url: TOKEN_URL,
            issuer: ISSUER,
            now: NOW,
            leeway: LEEWAY,
        }
    }

    fn good() -> Value {
        json!({"iss": CLIENT, "sub": CLIENT, "aud": TOKEN_URL, "exp": NOW + 300,
               "iat": NOW, "jti": "j-1"})
    }

    fn with(changes: Value) -> Value {
        let mut claims = good();
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                claims.as_object_mut().unwrap().remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        claims
    }

    fn check(claims: Value) -> Result<Accepted, Refusal> {
        AssertionClaims::from_object(claims.as_object().unwrap())?.check(&expected())
    }

    fn jws(header: Value, claims: Value, signature: &str) -> String {
        let b64 = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
        format!("{}.{}.{signature}", b64(header), b64(claims))
    }

    #[test]
    fn a_good_assertion_is_remembered_until_exp_plus_leeway() {
        assert_eq!(
            check(good()),
            Ok(Accepted {
                jti: "j-1".into(),
                remember_until: NOW + 300 + LEEWAY
            })
        );
        // aud as an array naming the issuer; a fractional exp.
        assert!(check(with(
            json!({"aud": ["other", ISSUER], "exp": NOW as f64 + 10.5})
        ))
        .is_ok());
    }

    #[test]
    fn iss_and_sub_must_both_be_the_client() {
        for changes in [
            json!({"iss": "ak_other"}),
            json!({"sub": "ak_other"}),
            json!({"iss": null}),
            json!({"sub": null}),
        ] {
            assert_eq!(
                check(with(changes.clone())),
                Err(Refusal::Issuer),
                "{changes}"
            );
        }
    }

    #[test]
    fn aud_must_name_the_token_endpoint_or_the_issuer() {
        for aud in [
            json!("https://issuer.test/oauth/introspect"),
            json!([]),
            json!(null),
            json!("https://issuer.test/"),
        ] {
            assert_eq!(
                check(with(json!({ "aud": aud }))),
                Err(Refusal::Audience),
                "{aud}"
            );
        }
    }

    #[test]
    fn exp_is_required_short_and_unexpired() {
        assert_eq!(
            check(with(json!({"exp": null}))),
            Err(Refusal::MissingExpiry)
        );
        let longest = NOW + MAX_LIFETIME_SECONDS + LEEWAY;
        assert!(check(with(json!({ "exp": longest }))).is_ok());
        assert_eq!(
            check(with(json!({"exp": longest + 1}))),
            Err(Refusal::TooLong)
        );
        assert_eq!(check(with(json!({"exp": i64::MAX}))), Err(Refusal::TooLong));
        assert!(check(with(json!({"exp": NOW - LEEWAY + 1, "iat": NOW - 100}))).is_ok());
        assert_eq!(
            check(with(json!({"exp": NOW - LEEWAY}))),
            Err(Refusal::Expired)
        );
        assert_eq!(check(with(json!({"exp": i64::MIN}))), Err(Refusal::Expired));
    }

    #[test]
    fn iat_and_nbf_may_not_be_in_the_future() {
        assert!(check(with(json!({"iat": NOW + LEEWAY, "nbf": NOW + LEEWAY}))).is_ok());
        assert!(check(with(json!({"iat": null}))).is_ok());
        assert_eq!(
            check(with(json!({"iat": NOW + LEEWAY + 1}))),
            Err(Refusal::NotYetValid)
        );
        assert_eq!(
            check(with(json!({"nbf": NOW + LEEWAY + 1}))),
            Err(Refusal::NotYetValid)
        );
    }

    #[test]
    fn a_usable_jti_is_required() {
        for jti in [json!(null), json!(""), json!("x".repeat(MAX_JTI_CHARS + 1))] {
            assert_eq!(check(with(json!({ "jti": jti }))), Err(Refusal::MissingJti));
        }
        assert!(check(with(json!({"jti": "x".repeat(MAX_JTI_CHARS)}))).is_ok());
    }

    #[test]
    fn claims_of_the_wrong_type_are_malformed() {
        for changes in [
            json!({"exp": "x"}),
            json!({"aud": 5}),
            json!({"aud": ["ok", 5]}),
            json!({"iss": 1}),
            json!({"jti": {"a": 1}}),
            json!({"iat": true}),
            json!({"nbf": []}),
        ] {
            assert_eq!(
                check(with(changes.clone())),
                Err(Refusal::Malformed),
                "{changes}"
            );
        }
    }

    #[test]
    fn parse_reads_alg_kid_and_claims() {
        let token = jws(json!({"alg": "Ed25519", "kid": "k1"}), good(), "c2ln");
        let a = Assertion::parse(&token).unwrap();
        assert_eq!(a.algorithm, Algorithm::EdDSA);
        assert_eq!(a.kid.as_deref(), Some("k1"));
        assert_eq!(a.token, token);
        assert!(!format!("{a:?}").contains("c2ln"), "no token in Debug");
        assert_eq!(a.claims.jti.as_deref(), Some("j-1"));
        for (alg, expected) in [
            ("RS256", Algorithm::RS256),
            ("ES256", Algorithm::ES256),
            ("EdDSA", Algorithm::EdDSA),
        ] {
            let token = jws(json!({ "alg": alg }), good(), "c2ln");
            assert_eq!(Assertion::parse(&token).unwrap().algorithm, expected);
        }
    }

    #[test]
    fn only_the_accepted_algorithms_parse() {
        for alg in [
            json!("none"),
            json!("None"),
            json!("HS256"),
            json!("RS384"),
            json!("PS256"),
            json!("ES384"),
            json!(5),
            json!(null),
        ] {
            let token = jws(json!({ "alg": alg }), good(), "c2ln");
            assert_eq!(
                Assertion::parse(&token).unwrap_err(),
                Refusal::Algorithm,
                "{alg}"
            );
        }
    }

    #[test]
    fn malformed_assertions_are_refused_without_panicking() {
        let unsigned = jws(json!({"alg": "RS256"}), good(), "");
        assert_eq!(Assertion::parse(&unsigned).unwrap_err(), Refusal::Signature);
        let crit = jws(json!({"alg": "RS256", "crit": ["exp"]}), good(), "c2ln");
        assert_eq!(Assertion::parse(&crit).unwrap_err(), Refusal::Malformed);
        let kid = jws(json!({"alg": "RS256", "kid": 7}), good(), "c2ln");
        assert_eq!(Assertion::parse(&kid).unwrap_err(), Refusal::Malformed);
        let array = jws(json!({"alg": "RS256"}), json!([1, 2]), "c2ln");
        assert_eq!(Assertion::parse(&array).unwrap_err(), Refusal::Malformed);
        for garbage in [
            "",
            ".",
            "..",
            "a.b.c.d",
            "!!!.???.***",
            "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln",
            "\u{0}.\u{ff}.x",
        ] {
            assert!(Assertion::parse(garbage).is_err(), "{garbage:?}");
        }
    }
}
