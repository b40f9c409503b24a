//! Compressed streams: gzip, zlib (joblib), bzip2, xz and zstd, inspected
//! decompressed within a budget.

use super::*;

#[derive(Debug, Clone, Copy)]
pub(super) enum Compression {
    Gzip,
    Zlib,
    Bzip2,
    Xz,
    Zstd,
}

/// The compression `head` starts with, if it really decompresses: a magic
/// number alone could be the first bytes of a pickle.
pub(super) fn compression_of(head: &[u8]) -> Option<Compression> {
    let kind = claimed_compression(head)?;
    let mut out = [0u8; 64];
    match decoder(head, kind)?.read(&mut out) {
        Ok(n) if n > 0 => Some(kind),
        _ => None,
    }
}

/// A reader of `r` decompressed as `kind` (None when its frame header is bad).
pub(super) fn decoder<'a, R: Read + 'a>(r: R, kind: Compression) -> Option<Box<dyn Read + 'a>> {
    Some(match kind {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(r)),
        Compression::Zlib => Box::new(flate2::read::ZlibDecoder::new(r)),
        Compression::Bzip2 => Box::new(bzip2::read::BzDecoder::new(r)),
        Compression::Xz => Box::new(lzma_rust2::XzReader::new(r, true)),
        Compression::Zstd => Box::new(ruzstd::decoding::StreamingDecoder::new(r).ok()?),
    })
}

pub(super) fn claimed_compression(head: &[u8]) -> Option<Compression> {
    if head.starts_with(&[0x1f, 0x8b]) {
        Some(Compression::Gzip)
    } else if head.len() >= 2
        && head[0] & 0x0f == 8
        && head[0] >> 4 <= 7
        && (u16::from(head[0]) << 8 | u16::from(head[1])) % 31 == 0
    {
        Some(Compression::Zlib)
    } else if head.starts_with(b"BZh") && head.get(3).is_some_and(|c| (b'1'..=b'9').contains(c)) {
        Some(Compression::Bzip2)
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Some(Compression::Xz)
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some(Compression::Zstd)
    } else {
        None
    }
}

pub(super) fn inspect_compressed<R: Read>(
    r: R,
    kind: Compression,
    depth: u32,
) -> io::Result<Finding> {
    let what = format!("{kind:?} stream").to_lowercase();
    let Some(inner) = decoder(r, kind) else {
        return Ok(Finding::unknown());
    };
    // A stream that fails to decompress is not that format after all.
    match inspect_stream(inner.take(STREAM_BUDGET), depth + 1) {
        Ok(found) => Ok(found.within(&what)),
        Err(_) => Ok(Finding::unknown()),
    }
}
