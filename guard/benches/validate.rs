//! How many tokens one thread validates per second, per signature algorithm.
//!
//! ```text
//! cargo bench -p tessera-guard --bench validate -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! For each of RS256, ES256 and EdDSA:
//! - `guard/distinct_tokens/ALG`: every validation sees a token it has not seen (cache miss):
//!   size check, SHA-256 of the token, header checks, signature verification, claims, cache
//!   insert, revocation check.
//! - `guard/cache_disabled/ALG`: the same token with `cache_capacity = 0` (a full verification
//!   each time, without the cache's hashing and bookkeeping).
//! - `raw/jsonwebtoken_decode/ALG`: `jsonwebtoken::decode` with `iss`/`aud`/`exp` checks, as a
//!   baseline for the signature verification itself.
//!
//! And `guard/same_token` (RS256): the same token again and again (cache hit: hash, lookup,
//! expiry and revocation checks; no signature verification — the same for every algorithm).
//!
//! Keys are the guard's committed test keys (`src/test_keys/`), held by a `StaticKeyStore`:
//! nothing touches the network. `validate_at` runs on the benchmark thread, polled directly
//! (with a static key store it never waits), so the numbers are single-core throughput.

// `criterion_group!` defines an undocumented `pub fn`; nothing else here is public.
#![allow(missing_docs)]

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{json, Value};
use tessera_guard::{Guard, GuardConfig, PublicKey, RevocationFeed, StaticKeyStore};

// TEST-ONLY key pairs, committed with the guard's tests: (algorithm, private, public).
const KEYS: [(Algorithm, &str, &str); 3] = [
    (
        Algorithm::RS256,
        include_str!("../src/test_keys/test_key_a_private.pem"),
        include_str!("../src/test_keys/test_key_a_public.pem"),
    ),
    (
        Algorithm::ES256,
        include_str!("../src/test_keys/test_key_ec_private.pem"),
        include_str!("../src/test_keys/test_key_ec_public.pem"),
    ),
    (
        Algorithm::EdDSA,
        include_str!("../src/test_keys/test_key_ed25519_private.pem"),
        include_str!("../src/test_keys/test_key_ed25519_public.pem"),
    ),
];

const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "https://api.test/";

/// Distinct tokens signed up front for the cache-miss case (RSA signing costs about a
/// millisecond each, so not one per iteration); cycled through with the cache emptied at each
/// wrap-around, so every validation is a miss.
const DISTINCT_TOKENS: usize = 1024;

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Runs a future that never waits (validation with a static key store) to completion.
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("validation with a static key store waited"),
    }
}

/// A workspace token like the issuer's, issued at `now`, unique by `jti`.
fn token(alg: Algorithm, key: &EncodingKey, kid: &str, now: i64, n: usize) -> String {
    let mut header = Header::new(alg);
    header.typ = Some("at+jwt".into());
    header.kid = Some(kid.into());
    let claims = json!({
        "iss": ISSUER,
        "sub": "wk_0123456789abcdefghijkl",
        "client_id": "wk_0123456789abcdefghijkl",
        "aud": AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + 86_400,
        "jti": format!("019a0000-0000-7000-8000-{n:012}"),
        "roles": ["content_manager"],
        "key_type": "workspace",
        "account_id": "019a0000-0000-7000-8000-00000000000a",
        "workspace_id": "019a0000-0000-7000-8000-00000000000b",
        "scope": "content:read content:write",
    });
    jsonwebtoken::encode(&header, &claims, key).expect("signing a test token")
}

fn encoding_key(pem: &str) -> EncodingKey {
    EncodingKey::from_rsa_pem(pem.as_bytes())
        .or_else(|_| EncodingKey::from_ec_pem(pem.as_bytes()))
        .or_else(|_| EncodingKey::from_ed_pem(pem.as_bytes()))
        .expect("a test private key")
}

fn decoding_key(pem: &str) -> DecodingKey {
    DecodingKey::from_rsa_pem(pem.as_bytes())
        .or_else(|_| DecodingKey::from_ec_pem(pem.as_bytes()))
        .or_else(|_| DecodingKey::from_ed_pem(pem.as_bytes()))
        .expect("a test public key")
}

fn guard(alg: Algorithm, public_pem: &str, cache_capacity: usize) -> Guard {
    let keys = StaticKeyStore::from_pems([public_pem.as_bytes()]).expect("the test public key");
    let mut config = GuardConfig::new(ISSUER, AUDIENCE);
    config.algorithms = vec![alg];
    config.cache_capacity = cache_capacity;
    let guard = Guard::with_key_store(config, keys).expect("a guard");
    // A known, empty revocation list: without one every token would be answered 503.
    guard.apply_revocations(RevocationFeed::default());
    guard
}

fn bench(c: &mut Criterion) {
    let now = unix_now();
    for (alg, private_pem, public_pem) in KEYS {
        let name = format!("{alg:?}");
        let signing = encoding_key(private_pem);
        let kid = PublicKey::from_pem(public_pem.as_bytes())
            .expect("the test public key")
            .kid()
            .to_owned();
        let tokens: Vec<String> = (0..DISTINCT_TOKENS)
            .map(|n| token(alg, &signing, &kid, now, n))
            .collect();
        let one = &tokens[0];

        let mut group = c.benchmark_group("guard");
        group.throughput(Throughput::Elements(1));

        let cached = guard(alg, public_pem, DISTINCT_TOKENS * 2);
        let mut next = 0;
        group.bench_function(format!("distinct_tokens/{name}"), |b| {
            b.iter(|| {
                if next == tokens.len() {
                    next = 0;
                    cached.clear_cache();
                }
                let token = &tokens[next];
                next += 1;
                ready(cached.validate_at(black_box(token), now)).expect("a valid token")
            })
        });

        let uncached = guard(alg, public_pem, 0);
        group.bench_function(format!("cache_disabled/{name}"), |b| {
            b.iter(|| ready(uncached.validate_at(black_box(one), now)).expect("a valid token"))
        });

        if alg == Algorithm::RS256 {
            let hits = guard(alg, public_pem, 16);
            ready(hits.validate_at(one, now)).expect("a valid token");
            group.bench_function("same_token", |b| {
                b.iter(|| ready(hits.validate_at(black_box(one), now)).expect("a valid token"))
            });
        }
        group.finish();

        let mut group = c.benchmark_group("raw");
        group.throughput(Throughput::Elements(1));
        let decoding = decoding_key(public_pem);
        let mut validation = Validation::new(alg);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        group.bench_function(format!("jsonwebtoken_decode/{name}"), |b| {
            b.iter(|| {
                jsonwebtoken::decode::<Value>(black_box(one), &decoding, &validation)
                    .expect("a valid token")
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
