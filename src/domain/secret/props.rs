//! Property tests of the secret and client-id formats (docs/api.md), checked against the documented
//! definition written out here independently of the implementation: `tss_`/`tsa_`, 43 base62
//! characters, then the CRC-32 (IEEE) of those 43 in base62, most significant digit first,
//! left-padded to 6 with `0`.
//!
//! Case counts are fixed ([`CASES`]); a failing case is saved under `proptest-regressions/`
//! (mirroring `src/`) and replayed first on every later run: commit it.

use proptest::collection::vec;
use proptest::prelude::*;

use super::{AdminToken, ClientSecret};
use crate::domain::credential::CredentialKind;
use crate::domain::ids::ClientId;

/// Cases per property.
pub(crate) const CASES: u32 = 1024;

const ALPHABET: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(CASES)
}

/// The documented checksum, computed the long way.
fn spec_checksum(random: &str) -> String {
    let mut n = crc32fast::hash(random.as_bytes());
    let mut digits = Vec::new();
    while n > 0 {
        digits.push(ALPHABET.as_bytes()[(n % 62) as usize] as char);
        n /= 62;
    }
    let digits: String = digits.iter().rev().collect();
    format!("{digits:0>6}")
}

/// Whether `value` is a well-formed secret with `prefix` by the documented definition.
fn spec_well_formed(prefix: &str, value: &str) -> bool {
    let Some(rest) = value.strip_prefix(prefix) else {
        return false;
    };
    rest.len() == 49
        && rest.chars().all(|c| ALPHABET.contains(c))
        && spec_checksum(&rest[..43]) == rest[43..]
}

fn base62(len: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = String> {
    vec(
        proptest::sample::select(ALPHABET.chars().collect::<Vec<_>>()),
        len,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

/// Strings that are, or are close to, secrets: arbitrary text, the right prefix before
/// arbitrary text, the right shape with arbitrary base62.
fn secret_like() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        (
            proptest::sample::select(vec!["tss_", "tsa_", "TSS_", "tss", ""]),
            any::<String>()
        )
            .prop_map(|(p, s)| format!("{p}{s}")),
        (
            proptest::sample::select(vec!["tss_", "tsa_"]),
            base62(47..=51)
        )
            .prop_map(|(p, s)| format!("{p}{s}")),
        (
            proptest::sample::select(vec!["tss_", "tsa_"]),
            base62(43..=43)
        )
            .prop_map(|(p, r)| format!("{p}{r}{}", spec_checksum(&r))),
    ]
}

proptest! {
    #![proptest_config(config())]

    /// Any string: parsing never panics, and a value is accepted exactly when the documented
    /// definition says it is well formed (prefix, length, alphabet, checksum).
    #[test]
    fn parsing_accepts_exactly_the_spec_format(value in secret_like()) {
        let client = ClientSecret::parse(&value);
        let admin = AdminToken::parse(&value);
        prop_assert_eq!(client.is_ok(), spec_well_formed("tss_", &value), "client secret {:?}", value);
        prop_assert_eq!(admin.is_ok(), spec_well_formed("tsa_", &value), "admin token {:?}", value);
        if let Ok(secret) = client {
            prop_assert_eq!(secret.expose(), value.as_str());
            prop_assert_eq!(secret.last4(), value[49..].to_owned());
            prop_assert_eq!(format!("{secret:?}"), "ClientSecret(<redacted>)");
        }
    }

    /// A secret built by the documented recipe from any 43 base62 characters parses, as its own type
    /// only.
    #[test]
    fn secrets_built_by_the_spec_recipe_parse(random in base62(43..=43)) {
        let check = spec_checksum(&random);
        let client = format!("tss_{random}{check}");
        let admin = format!("tsa_{random}{check}");
        prop_assert_eq!(client.len(), ClientSecret::LEN);
        prop_assert!(ClientSecret::parse(&client).is_ok());
        prop_assert!(AdminToken::parse(&admin).is_ok());
        prop_assert!(ClientSecret::parse(&admin).is_err());
        prop_assert!(AdminToken::parse(&client).is_err());
    }

    /// A generated secret (OS CSPRNG) meets the documented format, and changing any one of its characters to
    /// anything else makes it malformed: CRC-32 catches every change of one character of the
    /// random part, and the checksum and prefix are compared whole.
    #[test]
    fn a_generated_secret_with_any_one_character_changed_is_rejected(
        position in 0usize..ClientSecret::LEN,
        replacement in prop_oneof![
            3 => proptest::sample::select(ALPHABET.chars().collect::<Vec<_>>()),
            1 => any::<char>(),
        ],
        admin in any::<bool>(),
    ) {
        let (value, prefix) = if admin {
            (AdminToken::generate().expose().to_owned(), "tsa_")
        } else {
            (ClientSecret::generate().expose().to_owned(), "tss_")
        };
        prop_assert!(spec_well_formed(prefix, &value), "generated {:?}", value);
        let parses = |v: &str| if admin { AdminToken::parse(v).is_ok() } else { ClientSecret::parse(v).is_ok() };
        prop_assert!(parses(&value));
        let mut chars: Vec<char> = value.chars().collect();
        prop_assume!(chars[position] != replacement);
        chars[position] = replacement;
        let changed: String = chars.into_iter().collect();
        prop_assert!(!parses(&changed), "{:?} accepted after changing position {}", changed, position);
    }

    /// Right shape, wrong checksum: rejected.
    #[test]
    fn a_wrong_checksum_is_rejected(random in base62(43..=43), check in base62(6..=6)) {
        prop_assume!(check != spec_checksum(&random));
        let client = format!("tss_{random}{check}");
        let admin = format!("tsa_{random}{check}");
        prop_assert!(ClientSecret::parse(&client).is_err());
        prop_assert!(AdminToken::parse(&admin).is_err());
    }

    /// Client ids: `ak_`/`wk_` and 22 to 64 base62 characters are accepted with their kind;
    /// whatever else is accepted has that shape too.
    #[test]
    fn client_ids_accept_exactly_their_shape(
        prefix in proptest::sample::select(vec!["ak_", "wk_", "xk_", "AK_", ""]),
        rest in prop_oneof![base62(0..=70), any::<String>()],
    ) {
        let value = format!("{prefix}{rest}");
        let shaped = matches!(prefix, "ak_" | "wk_")
            && (22..=64).contains(&rest.len())
            && rest.chars().all(|c| ALPHABET.contains(c));
        let parsed = ClientId::parse(&value);
        prop_assert_eq!(parsed.is_some(), shaped, "{:?}", value);
        if let Some(id) = parsed {
            let kind = if prefix == "ak_" { CredentialKind::Account } else { CredentialKind::Workspace };
            prop_assert_eq!(id.kind(), kind);
            prop_assert_eq!(id.as_str(), value.as_str());
        }
    }
}
