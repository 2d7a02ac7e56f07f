//! Micro-benchmarks of the token endpoint's hot path: what one request costs beside the network.
//! Run: `cargo bench --bench hot_path`. Figures go to BENCHMARKS.md; nothing here is a test.

// `criterion_group!` defines an undocumented `pub fn`; nothing else here is public.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use tessera::config::SecretSettings;
use tessera::crypto::keys::{self, KeyAlgorithm, KeySet};
use tessera::crypto::secret_hash::SecretHasher;
use tessera::crypto::verified::VerifiedSecrets;
use tessera::domain::claims::{AccessTokenClaims, TokenSubject};
use tessera::domain::credential::CredentialKind;
use tessera::domain::scope::Scopes;
use tessera::domain::secret::ClientSecret;
use tessera::http::public::token_request;

fn claims() -> AccessTokenClaims {
    AccessTokenClaims::build(
        "https://auth.example.test",
        &TokenSubject {
            client_id: "wk_0123456789012345678901",
            kind: CredentialKind::Workspace,
            account_id: "01a2023f-2e67-724e-82b1-01139ccf1ffe",
            workspace_id: Some("01a2023f-2e67-724e-82b1-01139ccf1fff"),
            role: "content_manager",
        },
        "https://api.example.test/",
        &Scopes::parse_request("read").unwrap_or_default(),
        1_795_334_025,
        86_400,
    )
}

fn signing(c: &mut Criterion) {
    let claims = claims();
    // One key of each algorithm, parsed once as the server holds them.
    for alg in KeyAlgorithm::ALL {
        let dir = tempfile::tempdir().unwrap();
        keys::generate(dir.path(), alg, 1).unwrap();
        let set = KeySet::load(dir.path()).unwrap();
        let key = set.signer().unwrap();
        c.bench_function(&format!("sign {alg}, key parsed once (tessera)"), |b| {
            b.iter(|| key.sign(black_box(&claims)).unwrap())
        });
    }
    let dir = tempfile::tempdir().unwrap();
    let path = keys::generate(dir.path(), KeyAlgorithm::Rs256, 1).unwrap();
    let pem = std::fs::read(path).unwrap();
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    c.bench_function(
        "sign RS256, jsonwebtoken::encode parsing the PEM each call",
        |b| {
            b.iter(|| {
                let k = jsonwebtoken::EncodingKey::from_rsa_pem(&pem).unwrap();
                jsonwebtoken::encode(&header, black_box(&claims), &k).unwrap()
            })
        },
    );
}

/// Introspection's signature check (`KeySet::verify`), per algorithm.
fn verifying(c: &mut Criterion) {
    let claims = claims();
    let audiences = ["https://api.example.test/".to_owned()];
    for alg in KeyAlgorithm::ALL {
        let dir = tempfile::tempdir().unwrap();
        keys::generate(dir.path(), alg, 1).unwrap();
        let set = KeySet::load(dir.path()).unwrap();
        let token = set.signer().unwrap().sign(&claims).unwrap();
        let now = 1_795_334_026;
        assert!(set
            .verify::<serde_json::Value>(
                &token,
                "https://auth.example.test",
                &audiences,
                now,
                86_400,
                300
            )
            .is_some());
        c.bench_function(
            &format!("verify {alg} (introspection, KeySet::verify)"),
            |b| {
                b.iter(|| {
                    set.verify::<serde_json::Value>(
                        black_box(&token),
                        "https://auth.example.test",
                        &audiences,
                        now,
                        86_400,
                        300,
                    )
                    .unwrap()
                })
            },
        );
    }
}

fn secrets(c: &mut Criterion) {
    let hasher = SecretHasher::new(&SecretSettings {
        argon2_memory_kib: 4096,
        argon2_iterations: 1,
        argon2_parallelism: 1,
        hash_workers: 1,
        verified_cache_size: 0,
    })
    .unwrap();
    let secret = ClientSecret::generate();
    let hash = hasher.hash(&secret).unwrap();
    let hashes = vec![hash.clone()];
    c.bench_function("argon2id verify (m=4096, t=1)", |b| {
        b.iter(|| hasher.verify_any_blocking(black_box(&secret), &hashes))
    });
    let verified = VerifiedSecrets::new(10_000).unwrap();
    verified.remember("secret-id", &hash, &secret);
    let candidates = [("secret-id", hash.as_str())];
    c.bench_function("verified-secret map hit (HMAC-SHA256)", |b| {
        b.iter(|| verified.lookup(black_box(&candidates), &secret))
    });
    let text = secret.expose().to_owned();
    c.bench_function("secret format and checksum check", |b| {
        b.iter(|| ClientSecret::parse(black_box(&text)).is_ok())
    });
}

fn parsing(c: &mut Criterion) {
    let auth = b"Basic d2tfMDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTp0c3NfQ05xUlUzVnU1cVdHQ29nYUNMOUxrVjh4bjRRaWlyTnRXS25yQnZiVnBpNzJjbE5TNQ==";
    let body = b"grant_type=client_credentials&resource=https%3A%2F%2Fapi.example.test%2F&audience=https%3A%2F%2Fapi.example.test%2F&scope=read";
    c.bench_function("parse a Basic + form token request", |b| {
        b.iter(|| {
            token_request::parse(
                Some(b"application/x-www-form-urlencoded"),
                Some(black_box(&auth[..])),
                black_box(&body[..]),
            )
            .is_ok()
        })
    });
}

criterion_group!(benches, signing, verifying, secrets, parsing);
criterion_main!(benches);
