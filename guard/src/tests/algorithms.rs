//! ES256 and EdDSA beside RS256: configuration, key parsing, validation, and every way of
//! presenting one key type's token as another's (algorithm confusion) — always a 401, never a
//! panic.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::json;

use super::support::*;
use crate::{ConfigError, Guard, GuardConfig, GuardError, KeyKind, PublicKey, StaticKeyStore};

const ALL: [Algorithm; 3] = [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];

/// A guard accepting `algorithms`, with the RSA key A, the EC key and the Ed25519 key, from a
/// JWK Set as the issuer publishes it during a switch-over.
fn guard_for(algorithms: &[Algorithm]) -> Guard {
    let mut config = config();
    config.algorithms = algorithms.to_vec();
    let keys =
        StaticKeyStore::from_jwks_json(&jwks(&[public_key_a(), public_key_ec(), public_key_ed()]))
            .unwrap();
    assert_eq!(keys.len(), 3);
    fed(Guard::with_key_store(config, keys).unwrap())
}

fn token_for(alg: Algorithm) -> TokenBuilder {
    let builder = TokenBuilder::workspace(NOW);
    match alg {
        Algorithm::ES256 => builder.es256(),
        Algorithm::EdDSA => builder.eddsa(),
        _ => builder,
    }
}

#[test]
fn es256_and_eddsa_can_be_configured_and_hmac_still_cannot() {
    for algorithms in [vec![Algorithm::ES256], vec![Algorithm::EdDSA], ALL.to_vec()] {
        let mut config = config();
        config.algorithms = algorithms;
        assert!(Guard::with_key_store(config, StaticKeyStore::default()).is_ok());
    }
    for bad in [
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
        Algorithm::ES384,
    ] {
        let mut config = config();
        config.algorithms = vec![Algorithm::ES256, Algorithm::EdDSA, bad];
        let err = Guard::with_key_store(config, StaticKeyStore::default()).unwrap_err();
        assert!(matches!(err, ConfigError::AlgorithmNotAllowed(_)), "{err}");
    }
}

#[tokio::test]
async fn es256_and_eddsa_tokens_validate_when_configured() {
    for alg in [Algorithm::ES256, Algorithm::EdDSA] {
        let token = token_for(alg).sign();
        let claims = guard_for(&[alg]).validate_at(&token, NOW).await.unwrap();
        assert_eq!(claims.workspace_id.as_deref(), Some("ws_1"), "{alg:?}");
        assert!(claims.has_role("content_manager"));
        // From PEM public keys too, with thumbprint kids as the issuer assigns them.
        let mut config = config();
        config.algorithms = vec![alg];
        let store = StaticKeyStore::from_pems([
            TEST_KEY_EC_PUBLIC.as_bytes(),
            TEST_KEY_ED_PUBLIC.as_bytes(),
        ])
        .unwrap();
        let guard = fed(Guard::with_key_store(config, store).unwrap());
        guard.validate_at(&token, NOW).await.unwrap();
    }
}

#[tokio::test]
async fn a_switch_over_guard_accepts_every_configured_algorithm_and_only_those() {
    let guard = guard_for(&ALL);
    for alg in ALL {
        guard
            .validate_at(&token_for(alg).sign(), NOW)
            .await
            .unwrap_or_else(|err| panic!("{alg:?}: {err}"));
    }
    // Not configured: refused even though the key is published and the signature is good.
    for alg in ALL {
        let only_others: Vec<Algorithm> = ALL.into_iter().filter(|a| *a != alg).collect();
        let err = guard_for(&only_others)
            .validate_at(&token_for(alg).sign(), NOW)
            .await
            .unwrap_err();
        assert_eq!(err, GuardError::AlgorithmNotAllowed, "{alg:?}");
    }
    // The default configuration is RS256 only.
    let keys = StaticKeyStore::new([public_key_ec(), public_key_ed()]);
    let default = fed(Guard::with_key_store(config(), keys).unwrap());
    for alg in [Algorithm::ES256, Algorithm::EdDSA] {
        assert_eq!(
            default
                .validate_at(&token_for(alg).sign(), NOW)
                .await
                .unwrap_err(),
            GuardError::AlgorithmNotAllowed
        );
    }
}

#[tokio::test]
async fn a_token_whose_alg_does_not_suit_its_keys_type_is_rejected() {
    // Every algorithm is configured: only the key's type stands between the token and its
    // acceptance. Each token is signed correctly for the algorithm its header names, by a key
    // that really has that algorithm, but its kid names a key of another type.
    let guard = guard_for(&ALL);
    let rsa = encoding_key(TEST_KEY_A_PRIVATE);
    let ec = encoding_key(TEST_KEY_EC_PRIVATE);
    let ed = encoding_key(TEST_KEY_ED_PRIVATE);
    let cases: [(Algorithm, &EncodingKey, String, &str); 6] = [
        (
            Algorithm::ES256,
            &ec,
            kid_a(),
            "an ES256 token naming the RSA key",
        ),
        (
            Algorithm::RS256,
            &rsa,
            kid_ec(),
            "an RS256 token naming the EC key",
        ),
        (
            Algorithm::EdDSA,
            &ed,
            kid_ec(),
            "an EdDSA token naming the EC key",
        ),
        (
            Algorithm::ES256,
            &ec,
            kid_ed(),
            "an ES256 token naming the Ed25519 key",
        ),
        (
            Algorithm::RS256,
            &rsa,
            kid_ed(),
            "an RS256 token naming the Ed25519 key",
        ),
        (
            Algorithm::EdDSA,
            &ed,
            kid_a(),
            "an EdDSA token naming the RSA key",
        ),
    ];
    for (alg, key, kid, what) in cases {
        let token = TokenBuilder::workspace(NOW)
            .header("alg", json!(format!("{alg:?}")))
            .header("kid", json!(kid))
            .sign_with(key, alg);
        let err = guard.validate_at(&token, NOW).await.unwrap_err();
        assert_eq!(err, GuardError::AlgorithmNotAllowed, "{what}");
        assert_eq!(err.status(), 401, "{what}");
    }

    // PS256 is an RSA algorithm: configured, it still cannot use the EC key.
    let mut config = config();
    config.algorithms = vec![Algorithm::PS256, Algorithm::ES256];
    let guard_ps =
        fed(Guard::with_key_store(config, StaticKeyStore::new([public_key_ec()])).unwrap());
    let token = TokenBuilder::workspace(NOW)
        .header("alg", json!("PS256"))
        .header("kid", json!(kid_ec()))
        .sign();
    assert_eq!(
        guard_ps.validate_at(&token, NOW).await.unwrap_err(),
        GuardError::AlgorithmNotAllowed
    );

    // A genuine token relabelled: signature untouched, header alg changed.
    for (from, to) in [
        (Algorithm::ES256, "EdDSA"),
        (Algorithm::EdDSA, "ES256"),
        (Algorithm::ES256, "RS256"),
        (Algorithm::RS256, "ES256"),
    ] {
        let token = token_for(from).sign();
        let builder = token_for(from).header("alg", json!(to));
        let signature = token.rsplit('.').next().unwrap();
        let relabelled = format!("{}.{signature}", builder.signing_input());
        assert_eq!(
            guard.validate_at(&relabelled, NOW).await.unwrap_err(),
            GuardError::AlgorithmNotAllowed,
            "{from:?} relabelled {to}"
        );
    }
}

#[tokio::test]
async fn hmac_with_a_published_ec_or_okp_key_as_the_secret_is_rejected() {
    let guard = guard_for(&ALL);
    for (public, kid) in [(public_key_ec(), kid_ec()), (public_key_ed(), kid_ed())] {
        let published = jwk(&public).to_string();
        for secret in [published.as_bytes(), TEST_KEY_EC_PUBLIC.as_bytes()] {
            let token = TokenBuilder::workspace(NOW)
                .header("alg", json!("HS256"))
                .header("kid", json!(kid))
                .sign_with(&EncodingKey::from_secret(secret), Algorithm::HS256);
            assert_eq!(
                guard.validate_at(&token, NOW).await.unwrap_err(),
                GuardError::AlgorithmNotAllowed
            );
        }
    }
}

#[tokio::test]
async fn bad_ec_and_eddsa_signatures_are_invalid_signatures_not_panics() {
    let guard = guard_for(&ALL);
    for alg in [Algorithm::ES256, Algorithm::EdDSA] {
        let token = token_for(alg).sign();
        let (input, signature) = token.rsplit_once('.').unwrap();
        let raw = URL_SAFE_NO_PAD.decode(signature).unwrap();
        assert_eq!(raw.len(), 64, "{alg:?}: r || s, or an Ed25519 signature");
        let mut flipped = raw.clone();
        flipped[5] ^= 1;
        // DER-encoded ECDSA, as a confused signer might send: JWS wants the fixed form.
        let mut der = vec![0x30, 0x44, 0x02, 0x20];
        der.extend_from_slice(&raw[..32]);
        der.extend_from_slice(&[0x02, 0x20]);
        der.extend_from_slice(&raw[32..]);
        for bad in [
            URL_SAFE_NO_PAD.encode(&flipped),
            URL_SAFE_NO_PAD.encode(&raw[..63]),
            URL_SAFE_NO_PAD.encode([raw.as_slice(), &[0]].concat()),
            URL_SAFE_NO_PAD.encode(der),
            URL_SAFE_NO_PAD.encode([0u8; 64]),
            "!!not base64!!".to_owned(),
            "A".to_owned(),
        ] {
            let token = format!("{input}.{bad}");
            assert_eq!(
                guard.validate_at(&token, NOW).await.unwrap_err(),
                GuardError::InvalidSignature,
                "{alg:?} {bad:.20}"
            );
        }
    }
    // Signed by another key of the same type than the one its kid names.
    let other = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &aws_lc_rs::rand::SystemRandom::new(),
    )
    .unwrap();
    let token = TokenBuilder::workspace(NOW)
        .es256()
        .sign_with(&EncodingKey::from_ec_der(other.as_ref()), Algorithm::ES256);
    assert_eq!(
        guard.validate_at(&token, NOW).await.unwrap_err(),
        GuardError::InvalidSignature
    );
}

#[test]
fn ec_and_okp_jwks_entries_are_parsed_and_unusable_ones_skipped() {
    let ec = public_key_ec();
    let (x, y) = ec.ec_coordinates().unwrap();
    let ed_x = public_key_ed().ed25519_x().unwrap().to_owned();
    let doc = json!({"keys": [
        {"kty": "EC", "kid": "p384", "crv": "P-384", "x": x, "y": y},
        {"kty": "EC", "kid": "no-crv", "x": x, "y": y},
        {"kty": "EC", "kid": "rs-alg", "crv": "P-256", "alg": "RS256", "x": x, "y": y},
        {"kty": "EC", "kid": "es384-alg", "crv": "P-256", "alg": "ES384", "x": x, "y": y},
        {"kty": "EC", "kid": "no-y", "crv": "P-256", "x": x},
        {"kty": "EC", "kid": "short-x", "crv": "P-256", "x": "AQAB", "y": y},
        {"kty": "EC", "kid": "off-curve", "crv": "P-256", "x": x, "y": x},
        {"kty": "EC", "kid": "enc", "crv": "P-256", "use": "enc", "x": x, "y": y},
        {"kty": "OKP", "kid": "x25519", "crv": "X25519", "x": ed_x},
        {"kty": "OKP", "kid": "okp-es", "crv": "Ed25519", "alg": "ES256", "x": ed_x},
        {"kty": "OKP", "kid": "okp-short", "crv": "Ed25519", "x": "AQAB"},
        {"kty": "OKP", "kid": "okp-no-x", "crv": "Ed25519"},
        {"kty": "RSA", "kid": "rsa-es", "alg": "ES256", "n": "AQAB", "e": "AQAB"},
        {"kty": "EC", "kid": "good-ec", "crv": "P-256", "use": "sig", "alg": "ES256", "x": x, "y": y},
        {"kty": "EC", "kid": "good-ec-no-alg", "crv": "P-256", "x": x, "y": y},
        {"kty": "OKP", "kid": "good-ed", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "x": ed_x},
    ]});
    let keys = crate::keys::parse_jwks(doc.to_string().as_bytes()).unwrap();
    assert_eq!(
        keys.iter().map(PublicKey::kid).collect::<Vec<_>>(),
        vec!["good-ec", "good-ec-no-alg", "good-ed"]
    );
    assert_eq!(keys[0].kind(), KeyKind::EcP256);
    assert_eq!(keys[0].algorithm(), Some(Algorithm::ES256));
    assert_eq!(keys[1].algorithm(), None);
    assert_eq!(keys[2].kind(), KeyKind::Ed25519);
    // Without a stated alg, an EC key still only takes ES256.
    assert!(keys[1].accepts(Algorithm::ES256));
    assert!(!keys[1].accepts(Algorithm::ES384) && !keys[1].accepts(Algorithm::RS256));
}

#[test]
fn ec_and_okp_kids_are_rfc7638_thumbprints_as_jsonwebtoken_computes_them() {
    for key in [public_key_ec(), public_key_ed()] {
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk(&key)).unwrap();
        assert_eq!(
            key.kid(),
            jwk.thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
                .unwrap()
        );
    }
    assert_eq!(public_key_ec().kind(), KeyKind::EcP256);
    assert_eq!(public_key_ed().kind(), KeyKind::Ed25519);
    assert_ne!(kid_ec(), kid_ed());
    // Private keys are not public keys; an RSA-only reader refuses the others.
    assert!(PublicKey::from_pem(TEST_KEY_EC_PRIVATE.as_bytes()).is_err());
    assert!(PublicKey::from_rsa_pem(TEST_KEY_EC_PUBLIC.as_bytes()).is_err());
    // A kind's constructor refuses another kind's algorithm.
    let (x, y) = public_key_ec()
        .ec_coordinates()
        .map(|(x, y)| (x.to_owned(), y.to_owned()))
        .unwrap();
    assert!(matches!(
        PublicKey::from_ec_components("k", &x, &y, Some(Algorithm::RS256)),
        Err(ConfigError::AlgorithmNotAllowed(_))
    ));
    assert!(matches!(
        PublicKey::from_ed25519_components("k", &x, Some(Algorithm::ES256)),
        Err(ConfigError::AlgorithmNotAllowed(_))
    ));
    assert!(PublicKey::from_ec_components("", &x, &y, None).is_err());
}

#[tokio::test]
async fn a_changed_ec_key_under_the_same_kid_invalidates_cached_tokens() {
    let issuer = FakeIssuer::start();
    let path = "/.well-known/jwks.json";
    issuer.set_json(path, &jwks(&[public_key_ec()]));
    let mut config: GuardConfig = config();
    config.algorithms = vec![Algorithm::ES256];
    config.jwks_url = Some(format!("{}{path}", issuer.url()));
    config.http_timeout = std::time::Duration::from_secs(2);
    let guard = fed(Guard::new(config).unwrap());
    let token = TokenBuilder::workspace(NOW).es256().sign();
    guard.validate_at(&token, NOW).await.unwrap();
    assert_eq!(guard.cached_tokens(), 1);
    // The same kid now carries other coordinates (a compromised key replaced in place).
    let other = aws_lc_rs::signature::EcdsaKeyPair::generate(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
    )
    .unwrap();
    use aws_lc_rs::signature::KeyPair as _;
    let point = other.public_key().as_ref().to_vec();
    let replaced = json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": kid_ec(), "alg": "ES256",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..])}]});
    issuer.set_json(path, &replaced.to_string());
    guard.refresh_keys().await.unwrap();
    assert_eq!(
        guard.validate_at(&token, NOW).await.unwrap_err(),
        GuardError::InvalidSignature
    );
}
