//! The file layout shared by training checkpoints and saved predictors: an 8-byte magic, a
//! little-endian u32 format version, length-prefixed (u64) sections, and the sha256 of
//! everything before it. A truncated or altered file is refused, never half-read.

use sha2::{Digest, Sha256};

/// Packs `sections` behind `magic` and `format`, closed by a sha256.
pub(crate) fn pack(magic: &[u8; 8], format: u32, sections: &[&[u8]]) -> Vec<u8> {
    let len: usize = sections.iter().map(|s| s.len() + 8).sum();
    let mut out = Vec::with_capacity(12 + len + 32);
    out.extend_from_slice(magic);
    out.extend_from_slice(&format.to_le_bytes());
    for section in sections {
        out.extend_from_slice(&(section.len() as u64).to_le_bytes());
        out.extend_from_slice(section);
    }
    let digest = Sha256::digest(&out);
    out.extend_from_slice(&digest);
    out
}

/// The sections named `names` of a packed file, or why the file is refused.
pub(crate) fn unpack(
    bytes: &[u8],
    magic: &[u8; 8],
    format: u32,
    names: &[&str],
) -> Result<Vec<Vec<u8>>, String> {
    if bytes.len() < 12 + 32 || &bytes[..8] != magic {
        return Err(format!(
            "expected the {:?} header, found {} bytes without it",
            String::from_utf8_lossy(magic),
            bytes.len()
        ));
    }
    let (body, digest) = bytes.split_at(bytes.len() - 32);
    if Sha256::digest(body)[..] != digest[..] {
        return Err("checksum mismatch (the file is truncated or altered)".into());
    }
    let found = u32::from_le_bytes(body[8..12].try_into().expect("4 bytes"));
    if found != format {
        return Err(format!(
            "format {found}; this version reads format {format}"
        ));
    }
    let mut sections = Vec::with_capacity(names.len());
    let mut at = 12usize;
    for name in names {
        let section = body
            .get(at..at + 8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
            .and_then(|len| usize::try_from(len).ok())
            .and_then(|len| body.get(at + 8..(at + 8).checked_add(len)?));
        let Some(section) = section else {
            return Err(format!("the {name} section at byte {at} is cut short"));
        };
        at += 8 + section.len();
        sections.push(section.to_vec());
    }
    if at != body.len() {
        return Err(format!(
            "{} unexpected bytes after the last section",
            body.len() - at
        ));
    }
    Ok(sections)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let packed = pack(b"TESTFILE", 3, &[b"abc", b"", b"0123456789"]);
        let names = ["a", "b", "c"];
        let got = unpack(&packed, b"TESTFILE", 3, &names).unwrap();
        assert_eq!(got, vec![b"abc".to_vec(), vec![], b"0123456789".to_vec()]);
        assert!(
            unpack(&packed, b"OTHERONE", 3, &names)
                .unwrap_err()
                .contains("header")
        );
        assert!(
            unpack(&packed, b"TESTFILE", 4, &names)
                .unwrap_err()
                .contains("format 3")
        );
        assert!(unpack(&packed[..packed.len() - 1], b"TESTFILE", 3, &names).is_err());
        let mut flipped = packed.clone();
        flipped[14] ^= 1;
        assert!(
            unpack(&flipped, b"TESTFILE", 3, &names)
                .unwrap_err()
                .contains("checksum")
        );
        // A valid file with fewer sections than asked for.
        assert!(
            unpack(&packed, b"TESTFILE", 3, &["a", "b", "c", "d"])
                .unwrap_err()
                .contains("cut short")
        );
        assert!(
            unpack(&packed, b"TESTFILE", 3, &["a", "b"])
                .unwrap_err()
                .contains("unexpected bytes")
        );
    }
}
