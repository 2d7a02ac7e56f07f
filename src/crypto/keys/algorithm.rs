//! [`KeyAlgorithm`]: the signature algorithm a key's type fixes, with its JOSE and jsonwebtoken
//! names and the `keys.algorithm` setting's parsing.

use std::fmt;
use std::str::FromStr;

/// The signature algorithm of a key, and so of the tokens it signs (`keys.algorithm` picks the
/// one new keys get).
///
/// ```
/// use tessera::crypto::keys::KeyAlgorithm;
/// assert_eq!("es256".parse::<KeyAlgorithm>(), Ok(KeyAlgorithm::Es256));
/// assert_eq!(KeyAlgorithm::EdDsa.to_string(), "EdDSA");
/// assert!("HS256".parse::<KeyAlgorithm>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum KeyAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256 over an RSA-2048 (or larger) key. The default.
    #[default]
    Rs256,
    /// ECDSA over P-256 with SHA-256; the signature is the fixed 64-byte `r || s` (RFC 7518 §3.4).
    Es256,
    /// Ed25519 (RFC 8037).
    EdDsa,
}

impl KeyAlgorithm {
    /// Every algorithm, in the order the documentation lists them.
    pub const ALL: [Self; 3] = [Self::Rs256, Self::Es256, Self::EdDsa];

    /// The JOSE `alg` name (RFC 7518 §3.1, RFC 8037 §3.1).
    pub fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
        }
    }

    /// The same algorithm as jsonwebtoken names it.
    pub fn jose(self) -> jsonwebtoken::Algorithm {
        match self {
            Self::Rs256 => jsonwebtoken::Algorithm::RS256,
            Self::Es256 => jsonwebtoken::Algorithm::ES256,
            Self::EdDsa => jsonwebtoken::Algorithm::EdDSA,
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A value of `keys.algorithm` that names no supported algorithm.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown algorithm {0:?}: use RS256, ES256 or EdDSA")]
pub struct UnknownAlgorithm(String);

impl FromStr for KeyAlgorithm {
    type Err = UnknownAlgorithm;

    /// The JOSE names, compared without regard to case (`es256` in an environment variable is
    /// as clear as `ES256`).
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|alg| alg.name().eq_ignore_ascii_case(value.trim()))
            .ok_or_else(|| {
                UnknownAlgorithm(crate::domain::credential::truncate(value, 32).to_owned())
            })
    }
}

impl<'de> serde::Deserialize<'de> for KeyAlgorithm {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        value.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::Algorithm;

    #[test]
    fn algorithm_names_parse_case_insensitively_and_nothing_else_does() {
        for alg in KeyAlgorithm::ALL {
            assert_eq!(alg.name().parse::<KeyAlgorithm>(), Ok(alg));
            assert_eq!(alg.name().to_lowercase().parse::<KeyAlgorithm>(), Ok(alg));
            assert_eq!(alg.jose(), alg.name().parse::<Algorithm>().unwrap());
        }
        for bad in ["", "none", "HS256", "RS512", "ES384", "Ed25519", "PS256"] {
            let err = bad.parse::<KeyAlgorithm>().unwrap_err().to_string();
            assert!(err.contains("use RS256, ES256 or EdDSA"), "{err}");
        }
        assert_eq!(KeyAlgorithm::default(), KeyAlgorithm::Rs256);
    }
}
