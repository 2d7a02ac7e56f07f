//! Secret formats: client secrets (`tss_`) and admin tokens (`tsa_`).
//!
//! Both are a prefix, 43 random base62 characters (≥ 256 bits from the OS CSPRNG) and a
//! 6-character base62 CRC-32 of those characters. The checksum lets us — and secret scanners —
//! reject a mistyped or made-up value without touching the database or argon2.
//!
//! The plaintext lives only inside these types, whose `Debug` is redacted and which have no
//! `Display`; reading it takes an explicit `expose()`.

use std::fmt;

use subtle::ConstantTimeEq;

use super::{is_base62, random_base62, BASE62};

const RANDOM_LEN: usize = 43;
const CHECKSUM_LEN: usize = 6;

/// The base62 CRC-32 (IEEE) of `random`, most significant digit first, left-padded with `0`.
fn checksum(random: &str) -> String {
    let mut value = u64::from(crc32fast::hash(random.as_bytes()));
    let mut digits = [b'0'; CHECKSUM_LEN];
    for slot in digits.iter_mut().rev() {
        // value % 62 < 62, so the index is always in range.
        *slot = BASE62[(value % 62) as usize];
        value /= 62;
    }
    digits.iter().map(|&b| char::from(b)).collect()
}

fn generate(prefix: &str) -> String {
    let random = random_base62(RANDOM_LEN);
    let check = checksum(&random);
    format!("{prefix}{random}{check}")
}

/// Shape and checksum check; comparing the checksum in constant time keeps a probing client
/// from learning it digit by digit.
fn well_formed(prefix: &str, value: &str) -> bool {
    let Some(rest) = value.strip_prefix(prefix) else {
        return false;
    };
    if rest.len() != RANDOM_LEN + CHECKSUM_LEN || !is_base62(rest) {
        return false;
    }
    let (random, check) = rest.split_at(RANDOM_LEN);
    bool::from(checksum(random).as_bytes().ct_eq(check.as_bytes()))
}

/// The value was not produced by Tessera (wrong prefix, length, alphabet or checksum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed secret")]
pub struct MalformedSecret;

macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            /// The literal prefix of every value of this type.
            pub const PREFIX: &'static str = $prefix;
            /// Length of a well-formed value.
            pub const LEN: usize = $prefix.len() + RANDOM_LEN + CHECKSUM_LEN;

            /// A new random value.
            pub fn generate() -> Self {
                Self(generate(Self::PREFIX))
            }

            /// Accepts only a well-formed value with a valid checksum.
            pub fn parse(value: &str) -> Result<Self, MalformedSecret> {
                if well_formed(Self::PREFIX, value) {
                    Ok(Self(value.to_owned()))
                } else {
                    Err(MalformedSecret)
                }
            }

            /// The plaintext. Call only to hash it or to show it once to its owner.
            pub fn expose(&self) -> &str {
                &self.0
            }

            /// The last four characters, stored and shown to tell secrets apart.
            pub fn last4(&self) -> String {
                self.0[self.0.len() - 4..].to_owned()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }
    };
}

secret_type!(
    /// A client secret (`tss_…`), 53 characters.
    ClientSecret,
    "tss_"
);
secret_type!(
    /// An admin API bearer token (`tsa_…`), 53 characters.
    AdminToken,
    "tsa_"
);

#[cfg(test)]
mod props;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_have_the_documented_shape() {
        let s = ClientSecret::generate();
        assert_eq!(s.expose().len(), 53);
        assert_eq!(ClientSecret::LEN, 53);
        assert!(s.expose().starts_with("tss_"));
        assert!(ClientSecret::parse(s.expose()).is_ok());
        assert_eq!(s.last4(), s.expose()[49..]);
    }

    #[test]
    fn checksum_is_base62_crc32_msb_first_zero_padded() {
        // CRC-32 of "a" is 0xE8B7BE43 = 3904355907; in base62 that is 4GEHKN, already 6 digits.
        assert_eq!(checksum("a"), "4GEHKN");
        // CRC-32 of "" is 0, which pads to six zeros.
        assert_eq!(checksum(""), "000000");
        let random = "0".repeat(43);
        let value = format!("tss_{random}{}", checksum(&random));
        assert!(ClientSecret::parse(&value).is_ok());
    }

    #[test]
    fn a_flipped_character_fails_the_checksum() {
        let s = ClientSecret::generate();
        let mut bytes = s.expose().as_bytes().to_vec();
        bytes[10] = if bytes[10] == b'x' { b'y' } else { b'x' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert_eq!(ClientSecret::parse(&tampered), Err(MalformedSecret));
    }

    #[test]
    fn wrong_shapes_are_malformed() {
        let good = ClientSecret::generate();
        let cases = [
            String::new(),
            good.expose()[4..].to_owned(),
            good.expose().replacen("tss_", "tsa_", 1),
            format!("{}0", good.expose()),
            good.expose()[..52].to_owned(),
            good.expose().replacen('A', "-", 1).replacen('a', "\0", 1),
            format!("tss_{}", "é".repeat(24)),
        ];
        for case in cases {
            if case != good.expose() {
                assert!(ClientSecret::parse(&case).is_err(), "{case:?} accepted");
            }
        }
        // An admin token is not a client secret, and the other way round.
        let admin = AdminToken::generate();
        assert!(ClientSecret::parse(admin.expose()).is_err());
        assert!(AdminToken::parse(admin.expose()).is_ok());
    }

    #[test]
    fn debug_never_prints_the_plaintext() {
        let s = ClientSecret::generate();
        let printed = format!("{s:?} {:?}", AdminToken::generate());
        assert!(!printed.contains(&s.expose()[4..]));
        assert_eq!(printed, "ClientSecret(<redacted>) AdminToken(<redacted>)");
    }

    #[test]
    fn secrets_are_distinct() {
        let a = ClientSecret::generate();
        let b = ClientSecret::generate();
        assert_ne!(a, b);
    }
}
