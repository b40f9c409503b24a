//! File formats, recognised by their bytes, never by their names. Pickle-based
//! formats (raw pickle, PyTorch zip archives, joblib) execute code when loaded, so
//! promotion refuses them unless the namespace allows it. Nothing here unpickles
//! anything: detection reads a few bytes and, for zip archives, file names.

use std::io::Read;

/// How many bytes of a file's head detection reads.
pub const HEAD: u64 = 64 * 1024;
/// How many bytes of a zip archive's tail (its central directory) detection reads.
pub const TAIL: u64 = 1 << 20;
/// Largest safetensors header accepted (the format's own readers cap it at 100 MB;
/// real headers are far smaller).
pub const MAX_SAFETENSORS_HEADER: u64 = 16 << 20;

pub use crate::kinds::FileFormat as Format;

/// What the head of a file says, before any further read.
pub enum Sniff {
    Known(Format),
    /// A zip archive: its central directory (the tail) decides.
    Zip,
    /// Looks like safetensors with a header of this many bytes (after the 8-byte
    /// length); the header decides.
    SafetensorsHeader(u64),
}

/// Pickle opcodes at offset 0: PROTO 2–5, or a protocol 0/1 GLOBAL (`c` module
/// newline name newline), which is how hand-made malicious pickles start.
pub fn is_pickle(b: &[u8]) -> bool {
    if b.len() >= 2 && b[0] == 0x80 && (2..=5).contains(&b[1]) {
        return true;
    }
    if b.first() == Some(&b'c') {
        let mut lines = b[1..].splitn(3, |&c| c == b'\n');
        let ident = |s: &[u8]| {
            !s.is_empty()
                && s.len() < 256
                && s.iter()
                    .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'.')
        };
        if let (Some(module), Some(name), Some(_)) = (lines.next(), lines.next(), lines.next()) {
            return ident(module) && ident(name);
        }
    }
    false
}

/// joblib compresses its pickles with zlib or gzip by default: inflate the head
/// and look again.
fn is_compressed_pickle(head: &[u8]) -> bool {
    let mut out = [0u8; 16];
    let n = if head.starts_with(&[0x1f, 0x8b]) {
        flate2::read::GzDecoder::new(head).read(&mut out)
    } else if head.len() >= 2
        && head[0] == 0x78
        && (u16::from(head[0]) << 8 | u16::from(head[1])) % 31 == 0
    {
        flate2::read::ZlibDecoder::new(head).read(&mut out)
    } else {
        return false;
    };
    n.is_ok_and(|n| is_pickle(&out[..n]))
}

/// Reads the head of a file of `size` bytes.
pub fn sniff(head: &[u8], size: u64) -> Sniff {
    if is_pickle(head) || is_compressed_pickle(head) {
        return Sniff::Known(Format::Pickle);
    }
    if head.starts_with(b"PK\x03\x04") {
        return Sniff::Zip;
    }
    if head.starts_with(b"GGUF") {
        return Sniff::Known(Format::Gguf);
    }
    if head.len() >= 9 {
        let n = u64::from_le_bytes(head[..8].try_into().expect("8 bytes"));
        if head[8] == b'{' && n >= 2 && n <= size.saturating_sub(8) {
            return Sniff::SafetensorsHeader(n);
        }
    }
    if looks_like_onnx(head) {
        return Sniff::Known(Format::Onnx);
    }
    Sniff::Known(Format::Unknown)
}

/// An ONNX ModelProto starts with `ir_version` (field 1, varint) followed by
/// another known field tag.
fn looks_like_onnx(b: &[u8]) -> bool {
    if b.len() < 4 || b[0] != 0x08 || b[1] == 0 || b[1] > 20 {
        return false;
    }
    matches!(b[2], 0x12 | 0x1a | 0x22 | 0x28 | 0x32 | 0x3a | 0x42)
}

/// Whether a safetensors header (the JSON after the 8-byte length) is well formed
/// for a file of `size` bytes: every tensor has a dtype, a shape and data offsets
/// inside the data section.
pub fn safetensors_header_ok(header: &[u8], size: u64) -> bool {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(header)
    else {
        return false;
    };
    let data_len = size.saturating_sub(8 + header.len() as u64);
    map.iter().filter(|(k, _)| k.as_str() != "__metadata__").all(|(_, t)| {
        let offsets = t["data_offsets"].as_array();
        t["dtype"].is_string()
            && t["shape"].as_array().is_some_and(|s| s.iter().all(|d| d.is_u64()))
            && matches!(offsets, Some(o) if o.len() == 2
                && matches!((o[0].as_u64(), o[1].as_u64()), (Some(a), Some(b)) if a <= b && b <= data_len))
    })
}

/// Whether a zip archive's tail names a pickle (PyTorch keeps `data.pkl` in its
/// archives). Reads the central directory entries present in the tail.
pub fn zip_holds_pickle(tail: &[u8]) -> bool {
    // Central directory file headers: signature, then the name at offset 46.
    let mut i = 0;
    while i + 46 <= tail.len() {
        if &tail[i..i + 4] == b"PK\x01\x02" {
            let name_len = usize::from(u16::from_le_bytes([tail[i + 28], tail[i + 29]]));
            if let Some(name) = tail.get(i + 46..i + 46 + name_len)
                && (name.ends_with(b".pkl") || name.ends_with(b".pickle"))
            {
                return true;
            }
            i += 46;
        } else {
            i += 1;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pickles_are_recognised_by_their_opcodes() {
        assert!(is_pickle(b"\x80\x04\x95\x10\x00"));
        assert!(is_pickle(b"cos\nsystem\n(S'id'\ntR."));
        assert!(!is_pickle(b"\x80\x09"));
        assert!(!is_pickle(b"config: true\n"));
        assert!(!is_pickle(b"cat\n"));
    }

    #[test]
    fn gzip_and_zlib_compressed_pickles_are_pickles() {
        use std::io::Write;
        let pickle = b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00K\x01.";
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(pickle).unwrap();
        let gz = gz.finish().unwrap();
        assert!(matches!(
            sniff(&gz, gz.len() as u64),
            Sniff::Known(Format::Pickle)
        ));
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(pickle).unwrap();
        let z = z.finish().unwrap();
        assert!(matches!(
            sniff(&z, z.len() as u64),
            Sniff::Known(Format::Pickle)
        ));
    }

    #[test]
    fn safetensors_headers_are_checked() {
        let header = br#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
        let size = 8 + header.len() as u64 + 8;
        assert!(safetensors_header_ok(header, size));
        assert!(
            !safetensors_header_ok(header, size - 1),
            "offsets beyond the data"
        );
        assert!(!safetensors_header_ok(br#"{"w":{"shape":[2]}}"#, size));
        assert!(!safetensors_header_ok(b"{not json", size));
    }

    #[test]
    fn gguf_and_onnx_heads() {
        assert!(matches!(
            sniff(b"GGUF\x03\x00\x00\x00", 100),
            Sniff::Known(Format::Gguf)
        ));
        assert!(matches!(
            sniff(b"\x08\x07\x12\x07pytorch", 100),
            Sniff::Known(Format::Onnx)
        ));
        assert!(matches!(
            sniff(b"hello world", 11),
            Sniff::Known(Format::Unknown)
        ));
    }
}
