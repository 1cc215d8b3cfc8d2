//! The little DER reading the security code needs: the common name of a certificate subject
//! (already verified by webpki) and the key inside a SubjectPublicKeyInfo. Never panics on any
//! input; anything unexpected is `None`.

const TAG_SEQUENCE: u8 = 0x30;
const TAG_SET: u8 = 0x31;
const TAG_OID: u8 = 0x06;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_UTF8: u8 = 0x0c;
const TAG_PRINTABLE: u8 = 0x13;
const TAG_IA5: u8 = 0x16;

/// id-at-commonName (2.5.4.3).
const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
/// rsaEncryption (1.2.840.113549.1.1.1).
pub const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// id-ecPublicKey (1.2.840.10045.2.1).
pub const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// prime256v1 (1.2.840.10045.3.1.7).
pub const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// One TLV: (tag, content, rest).
fn read(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The first common name in a Name's content (the RDNSequence without its outer SEQUENCE, as
/// webpki's `subject()` returns it).
pub fn common_name(mut name: &[u8]) -> Option<String> {
    while !name.is_empty() {
        let (tag, set, rest) = read(name)?;
        name = rest;
        if tag != TAG_SET {
            return None;
        }
        let mut attrs = set;
        while !attrs.is_empty() {
            let (tag, attr, rest) = read(attrs)?;
            attrs = rest;
            if tag != TAG_SEQUENCE {
                return None;
            }
            let (tag, oid, value) = read(attr)?;
            if tag != TAG_OID || oid != OID_COMMON_NAME {
                continue;
            }
            let (tag, text, _) = read(value)?;
            if matches!(tag, TAG_UTF8 | TAG_PRINTABLE | TAG_IA5) {
                return std::str::from_utf8(text).ok().map(str::to_owned);
            }
        }
    }
    None
}

/// A SubjectPublicKeyInfo's parts: algorithm OID, its parameter when that is an OID (the curve),
/// and the key bytes.
pub struct Spki<'a> {
    pub algorithm: &'a [u8],
    pub parameter: Option<&'a [u8]>,
    pub key: &'a [u8],
}

/// Reads a SubjectPublicKeyInfo.
pub fn spki(der: &[u8]) -> Option<Spki<'_>> {
    let (tag, content, _) = read(der)?;
    if tag != TAG_SEQUENCE {
        return None;
    }
    let (tag, alg, rest) = read(content)?;
    if tag != TAG_SEQUENCE {
        return None;
    }
    let (tag, oid, params) = read(alg)?;
    if tag != TAG_OID {
        return None;
    }
    let param = match read(params) {
        Some((TAG_OID, p, _)) => Some(p),
        _ => None,
    };
    let (tag, bits, _) = read(rest)?;
    if tag != TAG_BIT_STRING {
        return None;
    }
    let (&unused, key) = bits.split_first()?;
    (unused == 0).then_some(Spki {
        algorithm: oid,
        parameter: param,
        key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_common_name_and_survives_garbage() {
        // SET { SEQ { OID 2.5.4.6, PrintableString "CN" } }, SET { SEQ { OID 2.5.4.3, UTF8 "abc" } }
        let name = [
            0x31, 0x0b, 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x06, 0x13, 0x02, b'C', b'N', 0x31, 0x0c, 0x30, 0x0a, 0x06,
            0x03, 0x55, 0x04, 0x03, 0x0c, 0x03, b'a', b'b', b'c',
        ];
        assert_eq!(common_name(&name).as_deref(), Some("abc"));
        for cut in 0..name.len() {
            let _ = common_name(&name[..cut]);
        }
        assert_eq!(common_name(&[0x31, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        assert!(spki(&[0x30, 0x81]).is_none());
    }
}
