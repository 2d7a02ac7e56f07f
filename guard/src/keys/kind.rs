//! [`KeyKind`]: the three kinds of signing key the guard knows, and the algorithms each allows.

use jsonwebtoken::{Algorithm, AlgorithmFamily};

/// What kind of key a [`PublicKey`] is, which fixes the algorithms it can verify.
///
/// ```
/// use tessera_guard::{Algorithm, KeyKind};
/// assert!(KeyKind::Rsa.accepts(Algorithm::RS256));
/// assert!(KeyKind::EcP256.accepts(Algorithm::ES256));
/// assert!(!KeyKind::EcP256.accepts(Algorithm::RS256));
/// assert!(!KeyKind::Ed25519.accepts(Algorithm::ES256));
/// assert_eq!(KeyKind::Ed25519.kty(), "OKP");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyKind {
    /// An RSA key (`kty: RSA`), 2048 bits or more: RS256/384/512 and PS256/384/512.
    Rsa,
    /// An EC key on P-256 (`kty: EC`, `crv: P-256`): ES256 only.
    EcP256,
    /// An Ed25519 key (`kty: OKP`, `crv: Ed25519`): EdDSA only.
    Ed25519,
}

impl KeyKind {
    /// The JWK `kty`.
    ///
    /// ```
    /// assert_eq!(tessera_guard::KeyKind::EcP256.kty(), "EC");
    /// ```
    pub fn kty(self) -> &'static str {
        match self {
            Self::Rsa => "RSA",
            Self::EcP256 => "EC",
            Self::Ed25519 => "OKP",
        }
    }

    /// Whether a signature of `algorithm` can be made with a key of this kind. Security
    /// invariant: this, not the token, decides how a signature is checked, so a token cannot
    /// have an RSA key's bytes read as an EC key, an HMAC secret, or anything else.
    ///
    /// ```
    /// use tessera_guard::{Algorithm, KeyKind};
    /// assert!(KeyKind::Rsa.accepts(Algorithm::PS256));
    /// assert!(!KeyKind::Rsa.accepts(Algorithm::HS256));
    /// assert!(KeyKind::Ed25519.accepts(Algorithm::EdDSA));
    /// ```
    pub fn accepts(self, algorithm: Algorithm) -> bool {
        match self {
            Self::Rsa => algorithm.family() == AlgorithmFamily::Rsa,
            Self::EcP256 => algorithm == Algorithm::ES256,
            Self::Ed25519 => algorithm == Algorithm::EdDSA,
        }
    }
}
