//! Token validation: every rejection is a specific error, never a panic.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::json;

use super::support::*;
use crate::{ConfigError, Guard, GuardError, KeyType, StaticKeyStore};

#[tokio::test]
async fn a_valid_workspace_token_is_accepted_with_its_claims() {
    let token = TokenBuilder::workspace(NOW).sign();
    let claims = guard().validate_at(&token, NOW).await.unwrap();
    assert_eq!(claims.iss, ISSUER);
    assert_eq!(claims.aud, vec![AUDIENCE.to_owned()]);
    assert_eq!(claims.key_type, KeyType::Workspace);
    assert_eq!(claims.workspace_id.as_deref(), Some("ws_1"));
    assert_eq!(claims.account_id, "acc_1");
    assert_eq!(claims.exp, NOW + LIFETIME);
    assert!(claims.has_role("content_manager"));
    assert!(claims.has_scope("content:write"));
    assert!(!claims.has_scope("content"));
    assert!(claims.can_access_workspace("ws_1"));
    assert!(!claims.can_access_workspace("ws_2"));
    assert!(!claims.can_access_account("acc_1"));
}

#[tokio::test]
async fn a_valid_account_token_is_accepted() {
    let token = TokenBuilder::account(NOW).sign();
    let claims = guard().validate_at(&token, NOW).await.unwrap();
    assert!(claims.is_account_key());
    assert!(claims.can_access_account("acc_1"));
    assert_eq!(claims.workspace_id, None);
    assert_eq!(claims.scopes().count(), 0);
}

#[tokio::test]
async fn validate_uses_the_system_clock() {
    let now = crate::guard::unix_now();
    let token = TokenBuilder::workspace(now).sign();
    assert!(guard().validate(&token).await.is_ok());
    let old = TokenBuilder::workspace(now - 10 * LIFETIME).sign();
    assert_eq!(
        guard().validate(&old).await.unwrap_err(),
        GuardError::Expired
    );
}

#[tokio::test]
async fn alg_none_is_rejected() {
    let builder = TokenBuilder::workspace(NOW).header("alg", json!("none"));
    let unsigned = format!("{}.", builder.signing_input());
    assert_eq!(
        guard().validate_at(&unsigned, NOW).await.unwrap_err(),
        GuardError::AlgorithmNotAllowed
    );
    let with_fake_signature = format!("{}.AAAA", builder.signing_input());
    assert_eq!(
        guard()
            .validate_at(&with_fake_signature, NOW)
            .await
            .unwrap_err(),
        GuardError::AlgorithmNotAllowed
    );
    for variant in ["None", "NONE", ""] {
        let token = format!(
            "{}.",
            TokenBuilder::workspace(NOW)
                .header("alg", json!(variant))
                .signing_input()
        );
        assert_eq!(
            guard().validate_at(&token, NOW).await.unwrap_err(),
            GuardError::AlgorithmNotAllowed
        );
    }
    let no_alg = TokenBuilder::workspace(NOW).without_header("alg");
    let token = format!("{}.AAAA", no_alg.signing_input());
    assert_eq!(
        guard().validate_at(&token, NOW).await.unwrap_err(),
        GuardError::AlgorithmNotAllowed
    );
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_as_secret_is_rejected() {
    // The classic key-confusion attack: the public key is public, so an HMAC "signature" made
    // with it proves nothing.
    let secret = EncodingKey::from_secret(TEST_KEY_A_PUBLIC.as_bytes());
    for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        let name = format!("{alg:?}");
        let token = TokenBuilder::workspace(NOW)
            .header("alg", json!(name))
            .sign_with(&secret, alg);
        assert_eq!(
            guard().validate_at(&token, NOW).await.unwrap_err(),
            GuardError::AlgorithmNotAllowed
        );
    }
}

#[test]
fn hmac_and_unsupported_algorithms_cannot_be_configured() {
    // ES256 and EdDSA may be (see tests/algorithms.rs); HMAC never, nor ES384 (no P-384 keys).
    for alg in [
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
        Algorithm::ES384,
    ] {
        let mut config = config();
        config.algorithms = vec![Algorithm::RS256, alg];
        let keys = StaticKeyStore::default();
        assert!(matches!(
            Guard::with_key_store(config, keys),
            Err(ConfigError::AlgorithmNotAllowed(_))
        ));
    }
    let mut config = config();
    config.algorithms.clear();
    assert!(matches!(
        Guard::new(config),
        Err(ConfigError::Invalid {
            field: "algorithms",
            ..
        })
    ));
    assert!(matches!(
        Guard::new(crate::GuardConfig::new("", AUDIENCE)),
        Err(ConfigError::Invalid {
            field: "issuer",
            ..
        })
    ));
}

#[tokio::test]
async fn an_rsa_algorithm_other_than_the_configured_one_is_rejected() {
    let token = TokenBuilder::workspace(NOW)
        .header("alg", json!("PS256"))
        .sign();
    assert_eq!(
        guard().validate_at(&token, NOW).await.unwrap_err(),
        GuardError::AlgorithmNotAllowed
    );

    // Configured, but the JWK says the key is for RS256 only.
    let mut config = config();
    config.algorithms = vec![Algorithm::RS256, Algorithm::PS256];
    assert_eq!(
        guard_with(config)
            .validate_at(&token, NOW)
            .await
            .unwrap_err(),
        GuardError::AlgorithmNotAllowed
    );
}

#[tokio::test]
async fn another_configured_rsa_algorithm_is_accepted_for_a_key_without_alg() {
    let mut config = config();
    config.algorithms = vec![Algorithm::PS256];
    let keys = StaticKeyStore::new([public_key_a()]); // from PEM: no `alg`
    let guard = fed(Guard::with_key_store(config, keys).unwrap());
    let token = TokenBuilder::workspace(NOW)
        .header("alg", json!("PS256"))
        .sign();
    assert!(guard.validate_at(&token, NOW).await.is_ok());
    let rs256 = TokenBuilder::workspace(NOW).sign();
    assert_eq!(
        guard.validate_at(&rs256, NOW).await.unwrap_err(),
        GuardError::AlgorithmNotAllowed
    );
}

#[tokio::test]
async fn an_unknown_kid_is_rejected() {
    let token = TokenBuilder::workspace(NOW)
        .header("kid", json!("not-a-published-kid"))
        .sign();
    assert_eq!(
        guard().validate_at(&token, NOW).await.unwrap_err(),
        GuardError::UnknownKeyId
    );
}

#[tokio::test]
async fn a_missing_or_empty_kid_is_rejected() {
    let token = TokenBuilder::workspace(NOW).without_header("kid").sign();
    assert_eq!(
        guard().validate_at(&token, NOW).await.unwrap_err(),
        GuardError::MissingKeyId
    );
    let token = TokenBuilder::workspace(NOW).header("kid", json!("")).sign();
    assert_eq!(
        guard().validate_at(&token, NOW).await.unwrap_err(),
        GuardError::MissingKeyId
    );
    let token = TokenBuilder::workspace(NOW).header("kid", json!(42)).sign();
    assert!(matches!(
        guard().validate_at(&token, NOW).await.unwrap_err(),
        GuardError::Malformed(_)
    ));
}

#[tokio::test]
async fn a_flipped_signature_bit_is_rejected() {
    let token = TokenBuilder::workspace(NOW).sign();
    let (input, signature) = token.rsplit_once('.').unwrap();
    let mut raw = URL_SAFE_NO_PAD.decode(signature).unwrap();
    raw[17] ^= 0x01;
    let tampered = format!("{input}.{}", URL_SAFE_NO_PAD.encode(&raw));
    assert_eq!(
        guard().validate_at(&tampered, NOW).await.unwrap_err(),
        GuardError::InvalidSignature
    );
}

#[tokio::test]
async fn a_tampered_payload_is_rejected() {
    let token = TokenBuilder::workspace(NOW).sign();
    let signature = token.rsplit('.').next().unwrap();
    let forged = TokenBuilder::workspace(NOW).claim("roles", json!(["workspace_admin"]));
    let forged = format!("{}.{signature}", forged.signing_input());
    assert_eq!(
        guard().validate_at(&forged, NOW).await.unwrap_err(),
        GuardError::InvalidSignature
    );
}

#[tokio::test]
async fn a_token_signed_by_another_key_with_a_published_kid_is_rejected() {
    let token = TokenBuilder::workspace(NOW).signed_by_key_b().sign(); // kid is key A's
    assert_eq!(
        guard().validate_at(&token, NOW).await.unwrap_err(),
        GuardError::InvalidSignature
    );
}

#[tokio::test]
async fn an_empty_signature_is_rejected() {
    let token = format!("{}.", TokenBuilder::workspace(NOW).signing_input());
    assert_eq!(
        guard().validate_at(&token, NOW).await.unwrap_err(),
        GuardError::InvalidSignature
    );
}

#[tokio::test]
async fn jku_x5u_and_jwk_headers_are_ignored_and_never_fetched() {
    let attacker = FakeIssuer::start();
    attacker.set_json("/jwks.json", &jwks(&[public_key_b()]));
    let jwk_b = jwk(&public_key_b());

    // Signed by the attacker's key B, pointing at it three ways: still unknown to us.
    let token = TokenBuilder::workspace(NOW)
        .signed_by_key_b()
        .header("kid", json!(kid_b()))
        .header("jku", json!(format!("{}/jwks.json", attacker.url())))
        .header("x5u", json!(format!("{}/cert.pem", attacker.url())))
        .header("jwk", jwk_b.clone())
        .sign();
    assert_eq!(
        guard().validate_at(&token, NOW).await.unwrap_err(),
        GuardError::UnknownKeyId
    );

    // Same, but claiming our kid: verified against our key A, so the signature fails.
    let token = TokenBuilder::workspace(NOW)
        .signed_by_key_b()
        .header("jku", json!(format!("{}/jwks.json", attacker.url())))
        .header("jwk", jwk_b)
        .sign();
    assert_eq!(
        guard().validate_at(&token, NOW).await.unwrap_err(),
        GuardError::InvalidSignature
    );

    // A genuine token carrying those headers is validated normally against our keys.
    let token = TokenBuilder::workspace(NOW)
        .header("jku", json!(format!("{}/jwks.json", attacker.url())))
        .header("x5u", json!(format!("{}/cert.pem", attacker.url())))
        .sign();
    assert!(guard().validate_at(&token, NOW).await.is_ok());

    assert_eq!(attacker.hits("/jwks.json"), 0);
    assert_eq!(attacker.hits("/cert.pem"), 0);
}

#[tokio::test]
async fn an_expired_token_is_rejected_and_the_leeway_is_honoured() {
    let token = TokenBuilder::workspace(NOW).sign();
    let exp = NOW + LIFETIME;
    let guard = guard();
    // Default leeway 60 s: valid until exp + 60 (exclusive).
    assert!(guard.validate_at(&token, exp).await.is_ok());
    assert!(guard.validate_at(&token, exp + 59).await.is_ok());
    assert_eq!(
        guard.validate_at(&token, exp + 60).await.unwrap_err(),
        GuardError::Expired
    );

    let mut strict = config();
    strict.leeway = Duration::ZERO;
    let strict = guard_with(strict);
    assert!(strict.validate_at(&token, exp - 1).await.is_ok());
    assert_eq!(
        strict.validate_at(&token, exp).await.unwrap_err(),
        GuardError::Expired
    );
}

#[tokio::test]
async fn a_token_not_valid_yet_is_rejected_and_the_leeway_is_honoured() {
    let token = TokenBuilder::workspace(NOW)
        .claim("nbf", json!(NOW + 600))
        .sign();
    let guard = guard();
    assert_eq!(
        guard.validate_at(&token, NOW).await.unwrap_err(),
        GuardError::NotYetValid
    );
    assert_eq!(
        guard.validate_at(&token, NOW + 539).await.unwrap_err(),
        GuardError::NotYetValid
    );
    assert!(guard.validate_at(&token, NOW + 540).await.is_ok());

    // Issuer clock 30 s ahead: within the leeway.
    let skewed = TokenBuilder::workspace(NOW + 30).sign();
    assert!(guard.validate_at(&skewed, NOW).await.is_ok());
}

#[tokio::test]
async fn a_wrong_issuer_is_rejected() {
    for iss in [
        "https://evil.test",
        "https://issuer.test/",
        "HTTPS://ISSUER.TEST",
    ] {
        let token = TokenBuilder::workspace(NOW).claim("iss", json!(iss)).sign();
        assert_eq!(
            guard().validate_at(&token, NOW).await.unwrap_err(),
            GuardError::InvalidIssuer,
            "{iss}"
        );
    }
}

#[tokio::test]
async fn a_wrong_audience_is_rejected_and_an_array_containing_ours_is_accepted() {
    let token = TokenBuilder::workspace(NOW)
        .claim("aud", json!("https://other-api.test/"))
        .sign();
    assert_eq!(
        guard().validate_at(&token, NOW).await.unwrap_err(),
        GuardError::InvalidAudience
    );
    let token = TokenBuilder::workspace(NOW)
        .claim("aud", json!(["https://other-api.test/"]))
        .sign();
    assert_eq!(
        guard().validate_at(&token, NOW).await.unwrap_err(),
        GuardError::InvalidAudience
    );
    let token = TokenBuilder::workspace(NOW).claim("aud", json!([])).sign();
    assert_eq!(
        guard().validate_at(&token, NOW).await.unwrap_err(),
        GuardError::InvalidAudience
    );
    let token = TokenBuilder::workspace(NOW)
        .claim("aud", json!(["https://other-api.test/", AUDIENCE]))
        .sign();
    assert!(guard().validate_at(&token, NOW).await.is_ok());
}

#[tokio::test]
async fn typ_must_be_at_jwt() {
    for typ in [
        json!("JWT"),
        json!("jwt"),
        json!("at+jwt+x"),
        json!(""),
        json!(1),
    ] {
        let token = TokenBuilder::workspace(NOW)
            .header("typ", typ.clone())
            .sign();
        let err = guard().validate_at(&token, NOW).await.unwrap_err();
        assert!(
            matches!(err, GuardError::InvalidType | GuardError::Malformed(_)),
            "{typ}: {err:?}"
        );
    }
    let token = TokenBuilder::workspace(NOW)
        .header("typ", json!("JWT"))
        .sign();
    assert_eq!(
        guard().validate_at(&token, NOW).await.unwrap_err(),
        GuardError::InvalidType
    );
    let token = TokenBuilder::workspace(NOW).without_header("typ").sign();
    assert_eq!(
        guard().validate_at(&token, NOW).await.unwrap_err(),
        GuardError::InvalidType
    );
    for typ in [
        "at+jwt",
        "AT+JWT",
        "application/at+jwt",
        "Application/AT+JWT",
    ] {
        let token = TokenBuilder::workspace(NOW)
            .header("typ", json!(typ))
            .sign();
        assert!(guard().validate_at(&token, NOW).await.is_ok(), "{typ}");
    }
}

#[tokio::test]
async fn a_crit_header_is_rejected() {
    let token = TokenBuilder::workspace(NOW)
        .header("crit", json!(["exp"]))
        .sign();
    assert!(matches!(
        guard().validate_at(&token, NOW).await.unwrap_err(),
        GuardError::Malformed(_)
    ));
}

#[tokio::test]
async fn each_required_claim_is_required() {
    for claim in [
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "jti",
        "client_id",
        "key_type",
        "account_id",
    ] {
        let token = TokenBuilder::workspace(NOW).without_claim(claim).sign();
        assert_eq!(
            guard().validate_at(&token, NOW).await.unwrap_err(),
            GuardError::MissingClaim(claim)
        );
    }
    let token = TokenBuilder::workspace(NOW)
        .without_claim("workspace_id")
        .sign();
    assert_eq!(
        guard().validate_at(&token, NOW).await.unwrap_err(),
        GuardError::MissingClaim("workspace_id")
    );
    // Optional claims.
    for claim in ["nbf", "roles", "scope"] {
        let token = TokenBuilder::workspace(NOW).without_claim(claim).sign();
        assert!(guard().validate_at(&token, NOW).await.is_ok(), "{claim}");
    }
}

#[tokio::test]
async fn claims_with_wrong_types_or_values_are_rejected() {
    let cases = [
        ("exp", json!("tomorrow")),
        ("iat", json!(1.5)),
        ("roles", json!("account_admin")),
        ("key_type", json!("admin")),
        ("aud", json!(42)),
        ("sub", json!(null)),
    ];
    for (claim, value) in cases {
        let token = TokenBuilder::workspace(NOW)
            .claim(claim, value.clone())
            .sign();
        let err = guard().validate_at(&token, NOW).await.unwrap_err();
        assert!(
            matches!(err, GuardError::Malformed(_) | GuardError::MissingClaim(_)),
            "{claim}={value}: {err:?}"
        );
    }
    let token = TokenBuilder::workspace(NOW).claim("jti", json!("")).sign();
    assert_eq!(
        guard().validate_at(&token, NOW).await.unwrap_err(),
        GuardError::InvalidClaim("jti")
    );
    let token = TokenBuilder::account(NOW)
        .claim("workspace_id", json!("ws_1"))
        .sign();
    assert_eq!(
        guard().validate_at(&token, NOW).await.unwrap_err(),
        GuardError::InvalidClaim("workspace_id")
    );
}

#[tokio::test]
async fn a_100_kb_token_is_rejected_before_parsing() {
    let token = "a".repeat(100 * 1024);
    assert_eq!(
        guard().validate_at(&token, NOW).await.unwrap_err(),
        GuardError::TokenTooLarge
    );
    // Even a genuinely signed one, if padded with claims past the limit.
    let big = TokenBuilder::workspace(NOW)
        .claim("padding", json!("x".repeat(10 * 1024)))
        .sign();
    assert_eq!(
        guard().validate_at(&big, NOW).await.unwrap_err(),
        GuardError::TokenTooLarge
    );
    let mut roomy = config();
    roomy.max_token_bytes = 64 * 1024;
    assert!(guard_with(roomy).validate_at(&big, NOW).await.is_ok());
}

#[tokio::test]
async fn garbage_is_rejected_without_panicking() {
    let garbage = [
        "garbage",
        "a.b",
        "a.b.c",
        "a.b.c.d",
        "..",
        "...",
        "!!!.???.***",
        "eyJ.eyJ.sig",
        "====.====.====",
        "\u{0}\u{1}.\u{2}.\u{3}",
        "ü.ö.ä",
        "e30.e30.e30",    // {} . {} . {}
        "W10.W10.W10",    // [] . [] . []
        "bnVsbA.bnVsbA.", // null . null .
        " ",
    ];
    let guard = guard();
    for token in garbage {
        let err = guard.validate_at(token, NOW).await.unwrap_err();
        assert!(
            err.is_invalid_token() || err == GuardError::MissingToken,
            "{token:?}: {err:?}"
        );
    }
    assert_eq!(
        guard.validate_at("", NOW).await.unwrap_err(),
        GuardError::MissingToken
    );
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","alg":"none","typ":"at+jwt","kid":"x"}"#);
    let token = format!("{header}.e30.AAAA");
    assert!(matches!(
        guard.validate_at(&token, NOW).await.unwrap_err(),
        GuardError::Malformed(_)
    ));
}

#[tokio::test]
async fn every_truncation_and_single_character_change_is_rejected_without_panicking() {
    let mut config = config();
    config.cache_capacity = 0;
    let guard = guard_with(config);
    let token = TokenBuilder::workspace(NOW).sign();
    assert!(guard.validate_at(&token, NOW).await.is_ok());
    for len in 0..token.len() {
        assert!(
            guard.validate_at(&token[..len], NOW).await.is_err(),
            "prefix {len}"
        );
    }
    // Change one character at a time in the header and payload (the signature is covered by the
    // flipped-bit test); every change must be caught.
    let payload_end = token.rfind('.').unwrap();
    for i in (0..payload_end).step_by(7) {
        let mut bytes = token.clone().into_bytes();
        bytes[i] = match bytes[i] {
            b'A' => b'B',
            b'.' => b'-',
            _ => b'A',
        };
        let mutated = String::from_utf8(bytes).unwrap();
        assert!(
            guard.validate_at(&mutated, NOW).await.is_err(),
            "change at {i}"
        );
    }
}
