//! The public half of a key as the JWKS publishes it (RFC 7517; members of RFC 7518 §6 and
//! RFC 8037 §2), with its OpenAPI schema, and its RFC 7638 thumbprint: the `kid`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde::Serialize;

/// One public key in RFC 7517 form.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Jwk {
    /// `RSA`, `EC` or `OKP`.
    pub kty: &'static str,
    /// RFC 7638 thumbprint.
    pub kid: String,
    /// Always `sig`.
    #[serde(rename = "use")]
    pub use_: &'static str,
    /// `RS256`, `ES256` or `EdDSA`: the one algorithm this key verifies.
    pub alg: &'static str,
    /// The key material, by type.
    #[serde(flatten)]
    pub params: JwkParams,
}

/// The public key material of a [`Jwk`], with the members RFC 7518 §6 / RFC 8037 §2 define.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(untagged)]
pub enum JwkParams {
    /// `kty: RSA`.
    Rsa {
        /// Modulus, base64url.
        n: String,
        /// Exponent, base64url.
        e: String,
    },
    /// `kty: EC`, `crv: P-256`.
    Ec {
        /// Always `P-256`.
        crv: &'static str,
        /// x coordinate, base64url of 32 bytes.
        x: String,
        /// y coordinate, base64url of 32 bytes.
        y: String,
    },
    /// `kty: OKP`, `crv: Ed25519`.
    Okp {
        /// Always `Ed25519`.
        crv: &'static str,
        /// The public key, base64url of 32 bytes.
        x: String,
    },
}

impl JwkParams {
    /// The JWK `kty`.
    pub fn kty(&self) -> &'static str {
        match self {
            Self::Rsa { .. } => "RSA",
            Self::Ec { .. } => "EC",
            Self::Okp { .. } => "OKP",
        }
    }

    /// The RFC 7638 SHA-256 thumbprint (base64url): the `kid` Tessera gives the key.
    ///
    /// ```
    /// use tessera::crypto::keys::JwkParams;
    /// // RFC 8037 appendix A.3.
    /// let key = JwkParams::Okp { crv: "Ed25519", x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo".into() };
    /// assert_eq!(key.thumbprint(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    /// ```
    pub fn thumbprint(&self) -> String {
        // RFC 7638 §3.2: the required members only, in lexicographic order, no whitespace. The
        // values are base64url or fixed names, so nothing needs JSON escaping.
        let canonical = match self {
            Self::Rsa { n, e } => format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#),
            // RFC 7638 §3.2: crv, kty, x, y.
            Self::Ec { crv, x, y } => {
                format!(r#"{{"crv":"{crv}","kty":"EC","x":"{x}","y":"{y}"}}"#)
            }
            // RFC 8037 §2: crv, kty, x.
            Self::Okp { crv, x } => format!(r#"{{"crv":"{crv}","kty":"OKP","x":"{x}"}}"#),
        };
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
        B64.encode(digest.as_ref())
    }
}

/// An RFC 7517 JWK Set.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct JwkSet {
    /// The keys, newest first.
    pub keys: Vec<Jwk>,
}

/// RFC 7638 §3 thumbprint of an RSA key from its base64url `n` and `e` (see
/// [`JwkParams::thumbprint`] for every key type).
pub fn thumbprint(n_b64: &str, e_b64: &str) -> String {
    JwkParams::Rsa {
        n: n_b64.to_owned(),
        e: e_b64.to_owned(),
    }
    .thumbprint()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::keys::test_support::RFC8037_X;

    #[test]
    fn rfc7638_thumbprint_of_the_rfc_example_key() {
        // The example key of RFC 7638 §3.1 and its published thumbprint.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        assert_eq!(
            thumbprint(n, "AQAB"),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn rfc8037_thumbprint_of_the_rfc_ed25519_key() {
        // RFC 8037 appendix A.3.
        let key = JwkParams::Okp {
            crv: "Ed25519",
            x: RFC8037_X.into(),
        };
        assert_eq!(
            key.thumbprint(),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn ec_thumbprint_of_the_rfc9449_example_key() {
        // RFC 9449 (DPoP) figures 2 and 9: an ES256 JWK and its published `jkt` thumbprint.
        let key = JwkParams::Ec {
            crv: "P-256",
            x: "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs".into(),
            y: "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA".into(),
        };
        assert_eq!(
            key.thumbprint(),
            "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
        );
    }
}
