//! Cryptography: secret hashing (argon2id), signing keys (RSA, JWKS), token digests.

pub mod keys;
pub mod secret_hash;
pub mod verified;

use aws_lc_rs::digest;

/// Lower-case hex SHA-256 of `value`. Admin tokens are stored this way: they carry 256 random
/// bits, so a fast unsalted digest is enough and lets a request look its token up by index.
pub fn sha256_hex(value: &str) -> String {
    let d = digest::digest(&digest::SHA256, value.as_bytes());
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn sha256_hex_matches_the_known_vector() {
        assert_eq!(
            super::sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
