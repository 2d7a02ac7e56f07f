//! Secret and client-id formats (docs/api.md): any string parses without a panic, and whatever is
//! accepted has the documented shape and checksum (checked here independently).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera::domain::ids::ClientId;
use tessera::domain::secret::{AdminToken, ClientSecret};

const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Documented format (docs/api.md): CRC-32 (IEEE) of the 43 random characters, base62, most significant digit first,
/// left-padded with `0` to 6 characters.
fn spec_checksum(random: &str) -> String {
    let mut n = crc32fast::hash(random.as_bytes());
    let mut digits = Vec::new();
    while n > 0 {
        digits.push(ALPHABET[(n % 62) as usize] as char);
        n /= 62;
    }
    let digits: String = digits.iter().rev().collect();
    format!("{digits:0>6}")
}

fn assert_spec_shape(prefix: &str, value: &str) {
    let rest = value
        .strip_prefix(prefix)
        .expect("accepted without its prefix");
    assert_eq!(rest.len(), 49, "accepted with the wrong length: {value:?}");
    assert!(rest.bytes().all(|b| ALPHABET.contains(&b)), "{value:?}");
    assert_eq!(
        spec_checksum(&rest[..43]),
        rest[43..],
        "accepted a bad checksum: {value:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // Also with the prefixes in front, so the checksum code is reached.
    for candidate in [
        text.to_string(),
        format!("tss_{text}"),
        format!("tsa_{text}"),
    ] {
        if let Ok(secret) = ClientSecret::parse(&candidate) {
            assert_eq!(secret.expose(), candidate);
            assert_spec_shape("tss_", &candidate);
            assert_eq!(secret.last4().len(), 4);
        }
        if AdminToken::parse(&candidate).is_ok() {
            assert_spec_shape("tsa_", &candidate);
        }
        if let Some(id) = ClientId::parse(&candidate) {
            let rest = &id.as_str()[3..];
            assert!(candidate.starts_with("ak_") || candidate.starts_with("wk_"));
            assert!((22..=64).contains(&rest.len()), "{candidate:?}");
            assert!(rest.bytes().all(|b| ALPHABET.contains(&b)), "{candidate:?}");
        }
    }
});
