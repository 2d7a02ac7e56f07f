//! Just enough DER to read which algorithm a PKCS#8 private key is for, so a key file is parsed
//! as what it says it is.

/// DER content of the PKCS#8 AlgorithmIdentifier OIDs we accept (RFC 8017, RFC 5480, RFC 8410).
pub(super) const OID_RSA_ENCRYPTION: &[u8] =
    &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
pub(super) const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
pub(super) const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// Splits one DER element with the given tag off `input`: its content and what follows.
fn der_element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&first, rest) = input.split_first()?;
    if first != tag {
        return None;
    }
    let (&len0, rest) = rest.split_first()?;
    let (len, rest) = if len0 < 0x80 {
        (usize::from(len0), rest)
    } else {
        let count = usize::from(len0 & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[count..])
    };
    (rest.len() >= len).then(|| rest.split_at(len))
}

/// The algorithm OID of a PKCS#8 `PrivateKeyInfo` (RFC 5208 §5): `SEQUENCE { INTEGER version,
/// SEQUENCE { OID, parameters }, … }`. Lets a file be parsed as what it says it is, with an
/// error that names the problem, instead of trying every key type in turn.
pub(super) fn pkcs8_algorithm(der: &[u8]) -> Option<&[u8]> {
    let (info, _) = der_element(der, 0x30)?;
    let (_version, rest) = der_element(info, 0x02)?;
    let (algorithm, _) = der_element(rest, 0x30)?;
    let (oid, _) = der_element(algorithm, 0x06)?;
    Some(oid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::keys::files::new_private_key;
    use crate::crypto::keys::test_support::pem_file;
    use crate::crypto::keys::{KeyAlgorithm, KeySet};

    #[test]
    fn truncated_or_garbled_der_is_an_error_not_a_panic() {
        let good = new_private_key(KeyAlgorithm::Es256).unwrap();
        let dir = tempfile::tempdir().unwrap();
        for cut in 0..good.len() {
            pem_file(dir.path(), "cut.pem", "PRIVATE KEY", &good[..cut]);
            assert!(KeySet::load(dir.path()).is_err(), "cut at {cut}");
        }
        // Long-form lengths that claim more than is there.
        for der in [
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff][..],
            &[0x30, 0x80],
            &[0x30, 0x85, 1, 1, 1, 1, 1],
        ] {
            assert_eq!(pkcs8_algorithm(der), None);
        }
    }
}
