//! The public keys a `private_key_jwt` credential registers: a JWK Set checked once, when an
//! administrator submits it, and stored in one canonical form. The token endpoint only ever
//! reads keys that passed here.
//!
//! The JWK itself is read by the guard crate ([`PublicKey::from_jwk`]: RSA of 2048 bits or
//! more, EC points on P-256, Ed25519); the rules of registration — no private or symmetric key,
//! the algorithms a client may sign with, unique key ids, how many keys — are added here.

use serde_json::{Map, Value};
use tessera_guard::{ed25519_thumbprint, p256_thumbprint, rsa_thumbprint, PublicKey};

use super::credential::{truncate, RuleViolation};

/// The most keys one credential may register.
pub const MAX_KEYS: usize = 20;
/// The longest `kid` accepted.
const MAX_KID_CHARS: usize = 128;
/// Members that hold private or symmetric key material (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037
/// §2). Their presence means a secret was sent where only a public key belongs.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// A key type a client may register: its public members and the `alg` values it may state.
struct KeyType {
    kty: &'static str,
    crv: Option<&'static str>,
    members: &'static [&'static str],
    algorithms: &'static [&'static str],
}

const KEY_TYPES: [KeyType; 3] = [
    KeyType {
        kty: "RSA",
        crv: None,
        members: &["n", "e"],
        algorithms: &["RS256"],
    },
    KeyType {
        kty: "EC",
        crv: Some("P-256"),
        members: &["crv", "x", "y"],
        algorithms: &["ES256"],
    },
    KeyType {
        kty: "OKP",
        crv: Some("Ed25519"),
        members: &["crv", "x"],
        // `Ed25519` is the fully specified name (RFC 9864) of EdDSA with this curve.
        algorithms: &["EdDSA", "Ed25519"],
    },
];

/// One registered public key: its JWK as stored and the parsed key that verifies with it.
#[derive(Clone, Debug)]
pub struct ClientJwk {
    kid: String,
    jwk: Map<String, Value>,
    key: PublicKey,
}

impl ClientJwk {
    /// The key id (the RFC 7638 thumbprint when the submitted JWK had none).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public JWK as stored: `kty`, `kid`, `use` and `alg` if given, and the key's public
    /// members. Nothing else of the submitted JWK is kept.
    pub fn jwk(&self) -> &Map<String, Value> {
        &self.jwk
    }

    /// The key, for signature checks.
    pub fn key(&self) -> &PublicKey {
        &self.key
    }

    /// The RFC 7638 thumbprint of the key material: equal for two keys exactly when their
    /// public keys are the same, whatever their `kid`, `alg` or `use`.
    pub fn thumbprint(&self) -> String {
        if let Some((n, e)) = self.key.rsa_components() {
            rsa_thumbprint(n, e)
        } else if let Some((x, y)) = self.key.ec_coordinates() {
            p256_thumbprint(x, y)
        } else {
            ed25519_thumbprint(self.key.ed25519_x().unwrap_or_default())
        }
    }

    /// The stored JSON of the JWK.
    pub fn to_stored(&self) -> String {
        Value::Object(self.jwk.clone()).to_string()
    }

    /// A key as [`ClientJwks::parse`] stored it, read again; `Err` for text no version of it
    /// wrote (a hand-edited row).
    pub fn from_stored(stored: &str) -> Result<Self, String> {
        let jwk: Map<String, Value> = serde_json::from_str(stored).map_err(|e| e.to_string())?;
        let key = PublicKey::from_jwk(&Value::Object(jwk.clone())).map_err(|e| e.to_string())?;
        Ok(Self {
            kid: key.kid().to_owned(),
            jwk,
            key,
        })
    }
}

/// A validated JWK Set: 1 to [`MAX_KEYS`] public signing keys with distinct key ids.
#[derive(Clone, Debug)]
pub struct ClientJwks(Vec<ClientJwk>);

impl ClientJwks {
    /// Checks the `keys` of a submitted JWK Set. Every refusal names the key (`keys[i]`) and
    /// what to do instead.
    pub fn parse(keys: &[Value]) -> Result<Self, RuleViolation> {
        if keys.is_empty() {
            return Err(RuleViolation(
                "jwks.keys must hold at least one public key".into(),
            ));
        }
        if keys.len() > MAX_KEYS {
            return Err(RuleViolation(format!(
                "jwks.keys holds {} keys; at most {MAX_KEYS} are allowed",
                keys.len()
            )));
        }
        let mut parsed: Vec<ClientJwk> = Vec::with_capacity(keys.len());
        for (i, value) in keys.iter().enumerate() {
            let key =
                parse_key(value).map_err(|why| RuleViolation(format!("jwks.keys[{i}]: {why}")))?;
            if let Some(j) = parsed.iter().position(|k| k.kid == key.kid) {
                return Err(RuleViolation(format!(
                    "jwks.keys[{i}]: kid {:?} is already used by jwks.keys[{j}]; key ids must be unique",
                    truncate(&key.kid, 64)
                )));
            }
            parsed.push(key);
        }
        Ok(Self(parsed))
    }

    /// The keys, in the order given.
    pub fn keys(&self) -> &[ClientJwk] {
        &self.0
    }
}

/// One submitted JWK, or why it is refused.
fn parse_key(value: &Value) -> Result<ClientJwk, String> {
    let submitted = value
        .as_object()
        .ok_or("must be a JWK: a JSON object with kty and the public key's members")?;
    if let Some(member) = PRIVATE_MEMBERS.iter().find(|m| submitted.contains_key(**m)) {
        return Err(format!(
            "holds the private key member {member:?}; register only the public key (the private \
             key never leaves the client)"
        ));
    }
    let kty = submitted.get("kty").and_then(Value::as_str).unwrap_or("");
    let key_type = KEY_TYPES.iter().find(|t| t.kty == kty).ok_or_else(|| {
        if kty == "oct" {
            "is a symmetric key (kty \"oct\"); register the public key of an RSA, EC P-256 or \
             Ed25519 key pair"
                .to_owned()
        } else {
            format!(
                "kty {:?} is not supported: use RSA (2048 bits or more), EC (crv P-256) or OKP \
                 (crv Ed25519)",
                truncate(kty, 20)
            )
        }
    })?;
    if let Some(crv) = key_type.crv {
        let given = submitted.get("crv").and_then(Value::as_str);
        if given != Some(crv) {
            return Err(format!(
                "a {kty} key must have crv {crv:?}; other curves are not supported"
            ));
        }
    }
    let text = |name: &str| -> Result<Option<&str>, String> {
        match submitted.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(format!("{name} must be a string")),
        }
    };
    let alg = text("alg")?;
    if let Some(alg) = alg {
        if !key_type.algorithms.contains(&alg) {
            return Err(format!(
                "alg {:?} does not fit a {kty} key: leave it out or use {}",
                truncate(alg, 20),
                key_type.algorithms.join(" or ")
            ));
        }
    }
    let use_ = text("use")?;
    if use_.is_some_and(|u| u != "sig") {
        return Err("use must be \"sig\": the key verifies client assertions".into());
    }
    let kid = text("kid")?;
    if let Some(kid) = kid {
        if kid.is_empty()
            || kid.chars().count() > MAX_KID_CHARS
            || kid.chars().any(char::is_control)
        {
            return Err(format!(
                "kid must be 1 to {MAX_KID_CHARS} characters without control characters"
            ));
        }
    }

    // The canonical form: the members below, in this order, and nothing else.
    let mut jwk = Map::new();
    jwk.insert("kty".into(), kty.into());
    if let Some(kid) = kid {
        jwk.insert("kid".into(), kid.into());
    }
    if let Some(use_) = use_ {
        jwk.insert("use".into(), use_.into());
    }
    if let Some(alg) = alg {
        jwk.insert("alg".into(), alg.into());
    }
    for member in key_type.members {
        let value = text(member)?.ok_or_else(|| format!("{member} is required"))?;
        jwk.insert((*member).into(), value.into());
    }
    let key = PublicKey::from_jwk(&Value::Object(jwk.clone())).map_err(|e| e.to_string())?;
    if kid.is_none() {
        // Not inserted at the front: the JWK's member order carries no meaning.
        jwk.insert("kid".into(), key.kid().into());
    }
    Ok(ClientJwk {
        kid: key.kid().to_owned(),
        jwk,
        key,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    // RFC 8037 appendix A.2 (Ed25519) and RFC 9449's example P-256 key.
    const ED_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
    const EC_X: &str = "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs";
    const EC_Y: &str = "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA";

    fn ed(extra: Value) -> Value {
        let mut jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": ED_X});
        jwk.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        jwk
    }

    fn ec() -> Value {
        json!({"kty": "EC", "crv": "P-256", "x": EC_X, "y": EC_Y, "kid": "ec-1"})
    }

    fn rsa(bits: usize) -> Value {
        use base64::Engine as _;
        // The modulus only has to be of the right length for these checks; it is never used.
        let mut n = vec![0xc5_u8; bits / 8];
        n[bits / 8 - 1] = 0x01;
        let n = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(n);
        json!({"kty": "RSA", "n": n, "e": "AQAB", "kid": format!("rsa-{bits}")})
    }

    fn refusal(keys: Vec<Value>) -> String {
        ClientJwks::parse(&keys).unwrap_err().0
    }

    #[test]
    fn the_three_key_types_are_accepted() {
        let set = ClientJwks::parse(&[rsa(2048), ec(), ed(json!({"alg": "Ed25519"}))]).unwrap();
        let kids: Vec<&str> = set.keys().iter().map(ClientJwk::kid).collect();
        assert_eq!(kids[..2], ["rsa-2048", "ec-1"]);
        // No kid: the RFC 7638 thumbprint (RFC 8037 A.3).
        assert_eq!(kids[2], "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
        assert_eq!(set.keys()[2].thumbprint(), kids[2]);
        assert_eq!(set.keys()[1].thumbprint(), p256_thumbprint(EC_X, EC_Y));
    }

    #[test]
    fn only_the_public_members_are_stored() {
        let set =
            ClientJwks::parse(&[ed(json!({"use": "sig", "x5c": ["MIIB"], "ext": true}))]).unwrap();
        let stored = set.keys()[0].to_stored();
        let read: Value = serde_json::from_str(&stored).unwrap();
        assert_eq!(
            read,
            json!({"kty": "OKP", "crv": "Ed25519", "x": ED_X, "use": "sig",
                   "kid": "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"})
        );
        let again = ClientJwk::from_stored(&stored).unwrap();
        assert_eq!(again.kid(), set.keys()[0].kid());
        assert_eq!(again.thumbprint(), set.keys()[0].thumbprint());
    }

    #[test]
    fn private_and_symmetric_keys_are_refused() {
        for member in PRIVATE_MEMBERS {
            let why = refusal(vec![ed(json!({ member: "AAAA" }))]);
            assert!(
                why.contains(&format!("private key member \"{member}\"")),
                "{why}"
            );
            assert!(why.starts_with("jwks.keys[0]: "), "{why}");
        }
        let why = refusal(vec![json!({"kty": "oct", "kid": "h"})]);
        assert!(why.contains("symmetric"), "{why}");
    }

    #[test]
    fn weak_or_foreign_keys_are_refused() {
        assert!(refusal(vec![rsa(1024)]).contains("2048"));
        let p384 = json!({"kty": "EC", "crv": "P-384", "x": EC_X, "y": EC_Y});
        assert!(refusal(vec![p384]).contains("P-256"));
        let x25519 = json!({"kty": "OKP", "crv": "X25519", "x": ED_X});
        assert!(refusal(vec![x25519]).contains("Ed25519"));
        assert!(refusal(vec![json!({"kty": "DSA"})]).contains("not supported"));
        assert!(refusal(vec![json!("a string")]).contains("JSON object"));
        let off_curve = json!({"kty": "EC", "crv": "P-256", "x": EC_X, "y": EC_X});
        assert!(refusal(vec![off_curve]).contains("P-256"));
        assert!(refusal(vec![json!({"kty": "RSA", "e": "AQAB"})]).contains("n is required"));
        assert!(refusal(vec![json!({"kty": "RSA", "n": 5, "e": "AQAB"})]).contains("string"));
    }

    #[test]
    fn alg_and_use_must_fit_the_key() {
        assert!(ClientJwks::parse(&[ed(json!({"alg": "EdDSA"}))]).is_ok());
        let mut es = ec();
        es["alg"] = json!("ES256");
        assert!(ClientJwks::parse(&[es]).is_ok());
        for alg in ["RS256", "HS256", "none", "ES384"] {
            let why = refusal(vec![ed(json!({ "alg": alg }))]);
            assert!(why.contains("does not fit"), "{alg}: {why}");
        }
        let mut ps = rsa(2048);
        ps["alg"] = json!("PS256");
        assert!(refusal(vec![ps]).contains("RS256"));
        assert!(refusal(vec![ed(json!({"use": "enc"}))]).contains("sig"));
    }

    #[test]
    fn the_set_has_one_to_twenty_keys_with_unique_ids() {
        assert!(refusal(vec![]).contains("at least one"));
        let twenty_one: Vec<Value> = (0..21)
            .map(|i| ed(json!({ "kid": format!("k{i}") })))
            .collect();
        assert!(refusal(twenty_one.clone()).contains("at most 20"));
        assert!(ClientJwks::parse(&twenty_one[..20]).is_ok());
        let why = refusal(vec![ed(json!({"kid": "a"})), ec(), ed(json!({"kid": "a"}))]);
        assert!(
            why.contains("jwks.keys[2]") && why.contains("jwks.keys[0]"),
            "{why}"
        );
        // The same key twice without kids: the same thumbprint, so the same kid.
        assert!(refusal(vec![ed(json!({})), ed(json!({}))]).contains("unique"));
        assert!(refusal(vec![ed(json!({"kid": ""}))]).contains("kid"));
        assert!(refusal(vec![ed(json!({"kid": "a\nb"}))]).contains("kid"));
    }
}
