//! The federation engine against a local OpenID Connect issuer (`testing::OidcIssuer`).

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use chrono::Utc;
use serde_json::{json, Value};

use super::*;
use crate::testing::{OidcIssuer, OidcReply};

const AUDIENCE: &str = "https://tessera.example";
const SUBJECT: &str = "repo:acme/deploy:ref:refs/heads/main";

fn leeway() -> chrono::Duration {
    chrono::Duration::seconds(60)
}

fn federation() -> Federation {
    federation_with(Duration::from_secs(30))
}

fn federation_with(refetch: Duration) -> Federation {
    Federation::new(FederationConfig {
        jwks_refetch_interval: refetch,
        fetch_timeout: Duration::from_secs(2),
        max_sources: DEFAULT_MAX_SOURCES,
    })
}

fn rule(issuer: &OidcIssuer, subject: &str) -> Value {
    json!({"issuer": issuer.issuer(), "subject": subject, "audience": AUDIENCE})
}

fn rules(values: Value) -> Vec<TrustRule> {
    TrustRule::parse_list(&values).unwrap()
}

fn one_rule(issuer: &OidcIssuer) -> Vec<TrustRule> {
    rules(json!([rule(issuer, SUBJECT)]))
}

fn claims(issuer: &OidcIssuer) -> Value {
    issuer.claims(SUBJECT, AUDIENCE)
}

fn unsigned(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}.",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    )
}

async fn verify(
    federation: &Federation,
    token: &str,
    rules: &[TrustRule],
) -> Result<Verified, FederationError> {
    federation.verify(token, rules, Utc::now(), leeway()).await
}

#[tokio::test]
async fn a_token_of_the_trusted_issuer_is_verified_by_discovery() {
    let issuer = OidcIssuer::start().await;
    let federation = federation();
    let claims = claims(&issuer);
    let token = issuer.issue(&claims);
    let verified = verify(&federation, &token, &one_rule(&issuer))
        .await
        .unwrap();
    assert_eq!(verified.rule, 0);
    assert_eq!(verified.evaluation.matched, Some(0));
    assert_eq!(verified.jti.as_deref(), claims["jti"].as_str());
    assert_eq!(verified.exp.timestamp(), claims["exp"].as_i64().unwrap());
    assert_eq!(verified.claims["sub"], SUBJECT);
    assert_eq!(issuer.discovery_requests(), 1);
    assert_eq!(issuer.jwks_requests(), 1);

    // Cached: more tokens, ES256 too, fetch nothing more.
    for _ in 0..3 {
        verify(
            &federation,
            &issuer.issue(&issuer.claims(SUBJECT, AUDIENCE)),
            &one_rule(&issuer),
        )
        .await
        .unwrap();
    }
    let es256 = issuer.issue_es256(&issuer.claims(SUBJECT, AUDIENCE));
    verify(&federation, &es256, &one_rule(&issuer))
        .await
        .unwrap();
    assert_eq!(
        (issuer.discovery_requests(), issuer.jwks_requests()),
        (1, 1)
    );
    assert_eq!(federation.source_count(), 1);
}

#[tokio::test]
async fn a_token_without_jti_is_verified_and_says_so() {
    let issuer = OidcIssuer::start().await;
    let mut claims = claims(&issuer);
    claims.as_object_mut().unwrap().remove("jti");
    let verified = verify(&federation(), &issuer.issue(&claims), &one_rule(&issuer))
        .await
        .unwrap();
    assert_eq!(verified.jti, None);
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_by_one_refetch_per_interval() {
    let issuer = OidcIssuer::start().await;
    let interval = Duration::from_secs(1);
    let federation = federation_with(interval);
    let rules = one_rule(&issuer);
    verify(&federation, &issuer.issue(&claims(&issuer)), &rules)
        .await
        .unwrap();
    assert_eq!(issuer.jwks_requests(), 1);

    // After the interval, a token with the new kid refetches once and passes.
    issuer.rotate();
    tokio::time::sleep(interval + Duration::from_millis(100)).await;
    verify(&federation, &issuer.issue(&claims(&issuer)), &rules)
        .await
        .unwrap();
    let refetched = std::time::Instant::now();
    assert_eq!(issuer.jwks_requests(), 2);

    // Within the interval, another unknown kid causes no fetch.
    let made_up = issuer.issue_with_header(
        &json!({"alg": "RS256", "kid": "not-yet-published"}),
        &claims(&issuer),
    );
    assert_eq!(
        verify(&federation, &made_up, &rules).await.unwrap_err(),
        FederationError::UnknownKeyId
    );
    issuer.rotate();
    let token = issuer.issue(&claims(&issuer));
    let refused = verify(&federation, &token, &rules).await;
    if refetched.elapsed() < interval {
        // Key generation is usually far quicker than the interval; then the rotated key is not
        // seen yet either.
        assert_eq!(refused.unwrap_err(), FederationError::UnknownKeyId);
        assert_eq!(issuer.jwks_requests(), 2);
    }
    assert_eq!(issuer.discovery_requests(), 1);

    // Once it has passed, one more fetch, and the token is good.
    tokio::time::sleep(interval + Duration::from_millis(100)).await;
    let jwks_before = issuer.jwks_requests();
    verify(&federation, &token, &rules).await.unwrap();
    assert_eq!(issuer.jwks_requests(), jwks_before + 1);
}

#[tokio::test]
async fn made_up_key_ids_refetch_at_most_once_per_interval() {
    let issuer = OidcIssuer::start().await;
    let federation = federation();
    let rules = one_rule(&issuer);
    verify(&federation, &issuer.issue(&claims(&issuer)), &rules)
        .await
        .unwrap();
    for i in 0..5 {
        let token = issuer.issue_with_header(
            &json!({"alg": "RS256", "kid": format!("made-up-{i}")}),
            &claims(&issuer),
        );
        assert_eq!(
            verify(&federation, &token, &rules).await.unwrap_err(),
            FederationError::UnknownKeyId
        );
    }
    assert_eq!(issuer.jwks_requests(), 1);
}

#[tokio::test]
async fn a_discovery_document_naming_another_issuer_is_refused() {
    let issuer = OidcIssuer::start().await;
    issuer.set_discovery_issuer(Some("https://impostor.example"));
    let federation = federation();
    let token = issuer.issue(&claims(&issuer));
    let err = verify(&federation, &token, &one_rule(&issuer))
        .await
        .unwrap_err();
    let FederationError::KeysUnavailable(why) = &err else {
        panic!("{err:?}");
    };
    assert!(why.contains("impostor.example"), "{why}");
    assert_eq!(
        issuer.jwks_requests(),
        0,
        "no key is fetched from the document"
    );
    // A failed discovery is not retried at once.
    let err = verify(&federation, &token, &one_rule(&issuer))
        .await
        .unwrap_err();
    assert!(
        matches!(err, FederationError::KeysUnavailable(_)),
        "{err:?}"
    );
    assert_eq!(issuer.discovery_requests(), 1);
}

#[tokio::test]
async fn a_failed_discovery_is_retried_after_the_interval() {
    let issuer = OidcIssuer::start().await;
    issuer.set_reply(
        OIDC_DISCOVERY,
        OidcReply::Json {
            status: 503,
            body: "{}".into(),
        },
    );
    let interval = Duration::from_secs(1);
    let federation = federation_with(interval);
    let rules = one_rule(&issuer);
    let token = issuer.issue(&claims(&issuer));
    assert!(matches!(
        verify(&federation, &token, &rules).await,
        Err(FederationError::KeysUnavailable(_))
    ));
    issuer.clear_reply(OIDC_DISCOVERY);
    assert!(verify(&federation, &token, &rules).await.is_err());
    assert_eq!(issuer.discovery_requests(), 1);
    tokio::time::sleep(interval + Duration::from_millis(100)).await;
    verify(&federation, &token, &rules).await.unwrap();
    assert_eq!(issuer.discovery_requests(), 2);
}

const OIDC_DISCOVERY: &str = crate::testing::oidc::OIDC_DISCOVERY_PATH;
const OIDC_JWKS: &str = crate::testing::oidc::OIDC_JWKS_PATH;

#[tokio::test]
async fn a_token_of_another_issuer_is_refused_without_any_fetch() {
    let trusted = OidcIssuer::start().await;
    let other = OidcIssuer::start().await;
    let federation = federation();
    // The other issuer's token, even pointing at keys by URL (`jku`), is never fetched for.
    let token = other.issue_with_header(
        &json!({"alg": "RS256", "kid": other.kid(), "jku": other.jwks_uri(), "x5u": other.jwks_uri()}),
        &other.claims(SUBJECT, AUDIENCE),
    );
    let err = verify(&federation, &token, &one_rule(&trusted))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        FederationError::NoRuleForIssuer(format!("\"{}\"", other.issuer()))
    );
    for issuer in [&trusted, &other] {
        assert_eq!(
            (issuer.discovery_requests(), issuer.jwks_requests()),
            (0, 0)
        );
    }
    assert_eq!(federation.source_count(), 0);

    // Claiming the trusted issuer does not help a token signed by the other one's key.
    let mut forged = other.claims(SUBJECT, AUDIENCE);
    forged["iss"] = json!(trusted.issuer());
    let token = other.issue_with_header(&json!({"alg": "RS256", "kid": trusted.kid()}), &forged);
    assert_eq!(
        verify(&federation, &token, &one_rule(&trusted))
            .await
            .unwrap_err(),
        FederationError::BadSignature
    );
    assert_eq!(other.discovery_requests() + other.jwks_requests(), 0);
}

#[tokio::test]
async fn none_and_hmac_algorithms_are_refused_before_any_fetch() {
    let issuer = OidcIssuer::start().await;
    let federation = federation();
    let claims = claims(&issuer);
    let none = unsigned(&json!({"alg": "none", "kid": issuer.kid()}), &claims);
    let none_upper = unsigned(&json!({"alg": "NONE", "kid": issuer.kid()}), &claims);
    let no_alg = unsigned(&json!({"kid": issuer.kid()}), &claims);
    // HS256 keyed with the public JWK Set's bytes: the classic algorithm confusion.
    let input = format!(
        "{}.{}",
        B64.encode(json!({"alg": "HS256", "kid": issuer.kid()}).to_string()),
        B64.encode(claims.to_string())
    );
    let secret = issuer.jwks_uri();
    let signature = jsonwebtoken::crypto::sign(
        input.as_bytes(),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        jsonwebtoken::Algorithm::HS256,
    )
    .unwrap();
    let hs256 = format!("{input}.{signature}");
    for token in [none, none_upper, no_alg, hs256] {
        assert_eq!(
            verify(&federation, &token, &one_rule(&issuer))
                .await
                .unwrap_err(),
            FederationError::AlgorithmNotAllowed
        );
    }
    assert_eq!(issuer.discovery_requests() + issuer.jwks_requests(), 0);
}

#[tokio::test]
async fn an_algorithm_the_key_cannot_have_is_a_bad_signature() {
    let issuer = OidcIssuer::start().await;
    // The RSA key's kid with ES256, and PS256 where the JWK states RS256.
    for alg in ["ES256", "PS256", "EdDSA"] {
        let token =
            issuer.issue_with_header(&json!({"alg": alg, "kid": issuer.kid()}), &claims(&issuer));
        assert_eq!(
            verify(&federation(), &token, &one_rule(&issuer))
                .await
                .unwrap_err(),
            FederationError::BadSignature,
            "{alg}"
        );
    }
}

#[tokio::test]
async fn expiry_and_not_before_are_checked_with_the_leeway() {
    let issuer = OidcIssuer::start().await;
    let federation = federation();
    let rules = one_rule(&issuer);
    let now = Utc::now().timestamp();
    let with = |name: &str, value: Value| {
        let mut claims = claims(&issuer);
        claims[name] = value;
        issuer.issue(&claims)
    };
    assert_eq!(
        verify(&federation, &with("exp", json!(now - 61)), &rules)
            .await
            .unwrap_err(),
        FederationError::Expired
    );
    assert_eq!(
        verify(&federation, &with("nbf", json!(now + 120)), &rules)
            .await
            .unwrap_err(),
        FederationError::NotYetValid
    );
    assert_eq!(
        verify(&federation, &with("iat", json!(now + 120)), &rules)
            .await
            .unwrap_err(),
        FederationError::NotYetValid
    );
    assert_eq!(issuer.jwks_requests(), 0, "refused before any fetch");
    // Within the leeway; a fractional NumericDate.
    verify(&federation, &with("exp", json!(now - 30)), &rules)
        .await
        .unwrap();
    verify(&federation, &with("nbf", json!(now as f64 + 30.5)), &rules)
        .await
        .unwrap();
    // Without exp, or with a string one: malformed.
    let mut no_exp = claims(&issuer);
    no_exp.as_object_mut().unwrap().remove("exp");
    for token in [issuer.issue(&no_exp), with("exp", json!("tomorrow"))] {
        assert!(matches!(
            verify(&federation, &token, &rules).await,
            Err(FederationError::Malformed(_))
        ));
    }
}

#[tokio::test]
async fn malformed_tokens_are_refused() {
    let issuer = OidcIssuer::start().await;
    let federation = federation();
    let rules = one_rule(&issuer);
    let claims = claims(&issuer);
    let mut no_iss = claims.clone();
    no_iss.as_object_mut().unwrap().remove("iss");
    let mut numeric_jti = claims.clone();
    numeric_jti["jti"] = json!(7);
    for token in [
        String::new(),
        "a.b".into(),
        "a.b.c.d".into(),
        "!!.e30.e30".into(),
        format!(
            "{}.{}.c2ln",
            B64.encode("[1]"),
            B64.encode(claims.to_string())
        ),
        issuer.issue_with_header(&json!({"alg": "RS256"}), &claims),
        issuer.issue_with_header(&json!({"alg": "RS256", "kid": ""}), &claims),
        issuer.issue_with_header(
            &json!({"alg": "RS256", "kid": issuer.kid(), "crit": ["exp"]}),
            &claims,
        ),
        issuer.issue(&no_iss),
        issuer.issue(&numeric_jti),
        format!("{}x", "a".repeat(MAX_TOKEN_BYTES)),
    ] {
        let err = verify(&federation, &token, &rules).await.unwrap_err();
        assert!(
            matches!(err, FederationError::Malformed(_)),
            "{err:?} for {token:.40}"
        );
    }
    assert_eq!(issuer.discovery_requests() + issuer.jwks_requests(), 0);
}

#[tokio::test]
async fn claims_that_do_not_match_are_refused_with_reasons_and_no_fetch() {
    let issuer = OidcIssuer::start().await;
    let federation = federation();
    let rules = rules(json!([
        {"issuer": issuer.issuer(), "subject": "repo:acme/*:ref:refs/heads/main", "audience": AUDIENCE,
         "claims": {"repository_owner": "acme"}},
        {"issuer": issuer.issuer(), "subject": "system:serviceaccount:ci:*", "audience": AUDIENCE},
    ]));
    let cases = [
        // Wrong audience.
        (
            json!({"sub": "repo:acme/deploy:ref:refs/heads/main", "aud": "https://elsewhere.example", "repository_owner": "acme"}),
            r#"audience "https://tessera.example" is not in the token's aud "https://elsewhere.example""#,
        ),
        // A claim that differs, one missing.
        (
            json!({"sub": "repo:acme/deploy:ref:refs/heads/main", "aud": AUDIENCE, "repository_owner": "evil"}),
            r#"claim repository_owner is "evil", the rule wants "acme""#,
        ),
        (
            json!({"sub": "repo:acme/deploy:ref:refs/heads/main", "aud": AUDIENCE}),
            r#"the token has no claim repository_owner; the rule wants "acme""#,
        ),
        // `*` does not cross `/`.
        (
            json!({"sub": "repo:acme/x/y:ref:refs/heads/main", "aud": [AUDIENCE], "repository_owner": "acme"}),
            r#"the token's subject "repo:acme/x/y:ref:refs/heads/main" does not match the pattern "repo:acme/*:ref:refs/heads/main""#,
        ),
        // Nor `:`.
        (
            json!({"sub": "repo:acme/x:y:ref:refs/heads/main", "aud": AUDIENCE, "repository_owner": "acme"}),
            r#"the token's subject "repo:acme/x:y:ref:refs/heads/main" does not match the pattern "repo:acme/*:ref:refs/heads/main""#,
        ),
    ];
    for (overrides, reason) in cases {
        let mut claims = claims(&issuer);
        for (name, value) in overrides.as_object().unwrap() {
            claims[name] = value.clone();
        }
        if overrides.get("repository_owner").is_none() {
            claims.as_object_mut().unwrap().remove("repository_owner");
        }
        let err = verify(&federation, &issuer.issue(&claims), &rules)
            .await
            .unwrap_err();
        let FederationError::NoRuleMatched(evaluation) = err else {
            panic!("{err:?}");
        };
        assert_eq!(evaluation.matched, None);
        assert!(
            evaluation.rules[0].reasons.iter().any(|r| r == reason),
            "{:?}",
            evaluation.rules[0].reasons
        );
        assert!(!evaluation.rules[1].reasons.is_empty());
    }
    // The service-account pattern does not cross `:` either.
    let token = issuer.issue(&issuer.claims("system:serviceaccount:ci:a:b", AUDIENCE));
    assert!(matches!(
        verify(&federation, &token, &rules).await,
        Err(FederationError::NoRuleMatched(_))
    ));
    assert_eq!(issuer.discovery_requests() + issuer.jwks_requests(), 0);
    // While the matching one passes.
    let token = issuer.issue(&issuer.claims("system:serviceaccount:ci:deployer", AUDIENCE));
    assert_eq!(verify(&federation, &token, &rules).await.unwrap().rule, 1);
}

#[tokio::test]
async fn the_first_matching_rule_wins() {
    let issuer = OidcIssuer::start().await;
    let federation = federation();
    let rules = rules(json!([
        rule(&issuer, "repo:acme/other:ref:refs/heads/main"),
        rule(&issuer, "repo:acme/*:ref:refs/heads/main"),
        rule(&issuer, SUBJECT),
    ]));
    let verified = verify(&federation, &issuer.issue(&claims(&issuer)), &rules)
        .await
        .unwrap();
    assert_eq!(verified.rule, 1);
    assert_eq!(verified.evaluation.matched, Some(1));
    assert!(!verified.evaluation.rules[0].matched);
    assert!(verified.evaluation.rules[2].matched);
}

#[tokio::test]
async fn a_jwks_uri_in_the_rule_bypasses_discovery() {
    let issuer = OidcIssuer::start().await;
    issuer.set_discovery_issuer(Some("https://impostor.example"));
    let mut rule = rule(&issuer, SUBJECT);
    rule["jwks_uri"] = json!(issuer.jwks_uri());
    let rules = rules(json!([rule]));
    verify(&federation(), &issuer.issue(&claims(&issuer)), &rules)
        .await
        .unwrap();
    assert_eq!(issuer.discovery_requests(), 0);
    assert_eq!(issuer.jwks_requests(), 1);
}

#[tokio::test]
async fn each_rule_is_checked_with_its_own_keys() {
    let issuer = OidcIssuer::start().await;
    let elsewhere = OidcIssuer::start().await;
    // Rule 0 names another key set for the same issuer; rule 1 discovers the issuer's own.
    let mut pinned = rule(&issuer, SUBJECT);
    pinned["jwks_uri"] = json!(elsewhere.jwks_uri());
    let rules = rules(json!([pinned, rule(&issuer, SUBJECT)]));
    let verified = verify(&federation(), &issuer.issue(&claims(&issuer)), &rules)
        .await
        .unwrap();
    assert_eq!(verified.rule, 1);
    let reasons = &verified.evaluation.rules[0].reasons;
    assert_eq!(reasons.len(), 1);
    assert!(
        reasons[0].starts_with(&format!(
            "the keys at {} include no key with the token's kid",
            elsewhere.jwks_uri()
        )),
        "{reasons:?}"
    );
    assert_eq!(elsewhere.jwks_requests(), 1);
}

#[test]
fn an_http_issuer_off_loopback_is_refused_when_the_rule_is_made() {
    let err =
        TrustRule::parse(&json!({"issuer": "http://ci.example", "subject": "s", "audience": "a"}))
            .unwrap_err();
    assert_eq!(err.field, "issuer");
    let err = TrustRule::parse(
        &json!({"issuer": "https://ci.example", "subject": "s", "audience": "a", "jwks_uri": "http://keys.example/jwks"}),
    )
    .unwrap_err();
    assert_eq!(err.field, "jwks_uri");
}

#[tokio::test]
async fn documents_over_the_size_limit_are_refused() {
    let issuer = OidcIssuer::start().await;
    let federation = federation();
    let token = issuer.issue(&claims(&issuer));
    let big = |limit: usize| OidcReply::Json {
        status: 200,
        body: json!({"keys": [], "padding": "x".repeat(limit)}).to_string(),
    };
    issuer.set_reply(OIDC_JWKS, big(tessera_guard::MAX_JWKS_BYTES));
    let err = verify(&federation, &token, &one_rule(&issuer))
        .await
        .unwrap_err();
    let FederationError::KeysUnavailable(why) = &err else {
        panic!("{err:?}");
    };
    assert!(why.contains("larger than"), "{why}");

    let other = OidcIssuer::start().await;
    other.set_reply(OIDC_DISCOVERY, big(tessera_guard::MAX_DISCOVERY_BYTES));
    let err = verify(
        &federation,
        &other.issue(&other.claims(SUBJECT, AUDIENCE)),
        &one_rule(&other),
    )
    .await
    .unwrap_err();
    let FederationError::KeysUnavailable(why) = &err else {
        panic!("{err:?}");
    };
    assert!(why.contains("larger than"), "{why}");
    assert_eq!(other.jwks_requests(), 0);
}

#[tokio::test]
async fn a_fetch_that_never_answers_is_bounded_by_the_timeout() {
    let issuer = OidcIssuer::start().await;
    let federation = Federation::new(FederationConfig {
        fetch_timeout: Duration::from_millis(300),
        ..FederationConfig::default()
    });
    let token = issuer.issue(&claims(&issuer));
    for path in [OIDC_DISCOVERY, OIDC_JWKS] {
        let issuer_rules = if path == OIDC_JWKS {
            let mut rule = rule(&issuer, SUBJECT);
            rule["jwks_uri"] = json!(issuer.jwks_uri());
            rules(json!([rule]))
        } else {
            one_rule(&issuer)
        };
        issuer.set_reply(path, OidcReply::Hang);
        let started = std::time::Instant::now();
        let err = verify(&federation, &token, &issuer_rules)
            .await
            .unwrap_err();
        assert!(
            matches!(err, FederationError::KeysUnavailable(_)),
            "{err:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{path}: {:?}",
            started.elapsed()
        );
        assert_eq!(issuer.requests(path), 1);
    }
}

#[tokio::test]
async fn key_sources_are_bounded() {
    let issuers = [
        OidcIssuer::start().await,
        OidcIssuer::start().await,
        OidcIssuer::start().await,
    ];
    let federation = Federation::new(FederationConfig {
        max_sources: 2,
        ..FederationConfig::default()
    });
    for issuer in &issuers {
        verify(
            &federation,
            &issuer.issue(&claims(issuer)),
            &one_rule(issuer),
        )
        .await
        .unwrap();
        assert!(federation.source_count() <= 2);
    }
    // The first issuer's source was dropped: its keys are discovered again.
    verify(
        &federation,
        &issuers[0].issue(&claims(&issuers[0])),
        &one_rule(&issuers[0]),
    )
    .await
    .unwrap();
    assert_eq!(issuers[0].discovery_requests(), 2);
}

#[tokio::test]
async fn the_dry_run_gives_every_rules_reasons_even_when_the_signature_fails() {
    let issuer = OidcIssuer::start().await;
    let other = OidcIssuer::start().await;
    let federation = federation();
    let rules = rules(json!([
        rule(&issuer, "repo:acme/other:*"),
        rule(&issuer, SUBJECT),
    ]));

    // A good token: the second rule, no error.
    let good = federation
        .dry_run(
            &issuer.issue(&claims(&issuer)),
            &rules,
            Utc::now(),
            leeway(),
        )
        .await;
    assert_eq!(good.error, None);
    assert_eq!(good.evaluation.matched, Some(1));
    assert_eq!(
        serde_json::to_value(&good.evaluation).unwrap()["rules"][1],
        json!({"index": 1, "matched": true, "reasons": []})
    );

    // Signed by someone else's key under the issuer's kid: the rule that matched the claims
    // says the signature failed; the other keeps its claim reason.
    let forged = other.issue_with_header(
        &json!({"alg": "RS256", "kid": issuer.kid()}),
        &claims(&issuer),
    );
    let dry = federation
        .dry_run(&forged, &rules, Utc::now(), leeway())
        .await;
    assert_eq!(dry.error, Some(FederationError::BadSignature));
    assert_eq!(dry.evaluation.matched, None);
    assert_eq!(dry.evaluation.rules[0].reasons.len(), 1);
    assert!(dry.evaluation.rules[1].reasons[0].contains("signature does not verify"));

    // Expired and of the wrong subject: both reasons.
    let mut expired = issuer.claims("repo:acme/x/y:ref:refs/heads/main", AUDIENCE);
    expired["exp"] = json!(Utc::now().timestamp() - 3600);
    let dry = federation
        .dry_run(&issuer.issue(&expired), &rules, Utc::now(), leeway())
        .await;
    assert_eq!(dry.error, Some(FederationError::Expired));
    let reasons = &dry.evaluation.rules[1].reasons;
    assert!(
        reasons[0].contains("does not match") || reasons[0].starts_with("subject is"),
        "{reasons:?}"
    );
    assert_eq!(reasons.last().unwrap(), "the token has expired");

    // `alg: none`: claims still evaluated, and the refusal on every rule.
    let none = unsigned(&json!({"alg": "none"}), &claims(&issuer));
    let dry = federation
        .dry_run(&none, &rules, Utc::now(), leeway())
        .await;
    assert_eq!(dry.error, Some(FederationError::AlgorithmNotAllowed));
    assert!(dry
        .evaluation
        .rules
        .iter()
        .all(|r| !r.matched && r.reasons.last().unwrap().contains("algorithm")));

    // Not a JWT at all: each rule says so.
    let dry = federation
        .dry_run("garbage", &rules, Utc::now(), leeway())
        .await;
    assert!(matches!(dry.error, Some(FederationError::Malformed(_))));
    assert_eq!(dry.evaluation.rules.len(), 2);
    assert!(dry.evaluation.rules[0].reasons[0].starts_with("the token is malformed"));

    // Another issuer: each rule's reason names both issuers; nothing fetched for it.
    let dry = federation
        .dry_run(
            &other.issue(&other.claims(SUBJECT, AUDIENCE)),
            &rules,
            Utc::now(),
            leeway(),
        )
        .await;
    assert!(matches!(
        dry.error,
        Some(FederationError::NoRuleForIssuer(_))
    ));
    assert!(dry.evaluation.rules[1].reasons[0].starts_with("issuer is"));
    assert_eq!(other.discovery_requests() + other.jwks_requests(), 0);
}

#[tokio::test]
async fn errors_and_reasons_never_contain_the_token() {
    let issuer = OidcIssuer::start().await;
    let federation = federation();
    let rules = one_rule(&issuer);
    let mut claims = claims(&issuer);
    claims["exp"] = json!(0);
    let token = issuer.issue(&claims);
    let signature = token.rsplit('.').next().unwrap().to_owned();
    let dry = federation
        .dry_run(&token, &rules, Utc::now(), leeway())
        .await;
    let shown = format!(
        "{:?} {}",
        dry.error,
        serde_json::to_string(&dry.evaluation).unwrap()
    );
    assert!(!shown.contains(&signature));
    assert!(!shown.contains(&token));
}

#[test]
fn the_engine_is_shared_across_threads_and_its_futures_are_send() {
    fn shared<T: Send + Sync>() {}
    fn send<T: Send>(_: &T) {}
    shared::<Federation>();
    shared::<std::sync::Arc<Federation>>();
    let federation = federation();
    let rules = Vec::new();
    send(&federation.verify("", &rules, Utc::now(), leeway()));
    send(&federation.dry_run("", &rules, Utc::now(), leeway()));
}

#[tokio::test]
async fn both_keys_verify_while_the_issuer_publishes_both() {
    let issuer = OidcIssuer::start().await;
    let rules = one_rule(&issuer);
    let old = issuer.issue(&claims(&issuer));
    let new_kid = issuer.rotate_keeping_previous();
    let new = issuer.issue(&claims(&issuer));
    assert_ne!(old, new);
    let federation = federation();
    verify(&federation, &old, &rules).await.unwrap();
    verify(&federation, &new, &rules).await.unwrap();
    assert_eq!(issuer.kid(), new_kid);
    assert_eq!(issuer.jwks_requests(), 1);
}
