//! The guard's token parsing (docs/api.md): anything that is not a token signed by a trusted key is a
//! `GuardError` answered with 401 `invalid_token` — never accepted, never a panic.
//!
//! An input starting with `M` is read as patches to a real signed token (pairs of position and
//! byte), so the fuzzer reaches the signature and claims checks instead of stopping at base64;
//! any other input is the token itself.
#![no_main]

use std::sync::OnceLock;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use libfuzzer_sys::fuzz_target;
use serde_json::json;
use tessera_guard::{Guard, GuardConfig, PublicKey, StaticKeyStore};

// The guard's TEST-ONLY key pair (guard/src/test_keys/), never used outside tests.
const PRIVATE_PEM: &[u8] = include_bytes!("../../guard/src/test_keys/test_key_a_private.pem");
const PUBLIC_PEM: &[u8] = include_bytes!("../../guard/src/test_keys/test_key_a_public.pem");
const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "https://api.test/";
const NOW: i64 = 1_763_800_000;

struct Setup {
    guard: Guard,
    runtime: tokio::runtime::Runtime,
    token: String,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let public = PublicKey::from_rsa_pem(PUBLIC_PEM).expect("public test key");
        let kid = public.kid().to_owned();
        let keys = StaticKeyStore::new([public]);
        let mut config = GuardConfig::new(ISSUER, AUDIENCE);
        // Every input is verified afresh: a cache hit would skip the code under test.
        config.cache_capacity = 0;
        let guard = Guard::with_key_store(config, keys).expect("guard");
        let mut header = Header::new(Algorithm::RS256);
        header.typ = Some("at+jwt".into());
        header.kid = Some(kid);
        let claims = json!({
            "iss": ISSUER, "sub": "wk_0123456789abcdefghijkl", "client_id": "wk_0123456789abcdefghijkl",
            "aud": AUDIENCE, "iat": NOW, "nbf": NOW, "exp": NOW + 3600, "jti": "fuzz",
            "roles": ["content_manager"], "key_type": "workspace", "account_id": "acc_1",
            "workspace_id": "ws_1", "scope": "content:read",
        });
        let key = EncodingKey::from_rsa_pem(PRIVATE_PEM).expect("private test key");
        let token = jsonwebtoken::encode(&header, &claims, &key).expect("sign");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let setup = Setup { guard, runtime, token };
        assert!(setup.validate(&setup.token).is_ok(), "the seed token is valid");
        setup
    })
}

impl Setup {
    fn validate(&self, token: &str) -> Result<(), tessera_guard::GuardError> {
        self.runtime
            .block_on(self.guard.validate_at(token, NOW))
            .map(|_| ())
    }
}

fuzz_target!(|data: &[u8]| {
    let setup = setup();
    let token = match data.split_first() {
        Some((b'M', patches)) => {
            let mut bytes = setup.token.clone().into_bytes();
            for pair in patches.chunks_exact(2) {
                let at = usize::from(pair[0]) * bytes.len() / 256;
                bytes[at] = pair[1];
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }
        _ => String::from_utf8_lossy(data).into_owned(),
    };
    if token.is_empty() || token == setup.token {
        return;
    }
    match setup.validate(&token) {
        Ok(()) => panic!("accepted a token that is not the signed one: {token:?}"),
        Err(error) => {
            assert_eq!(error.status(), 401, "{error:?}");
            assert_eq!(error.error_code(), Some("invalid_token"), "{error:?}");
        }
    }
});
