//! Zip archives, read through their central directory wherever it sits; every
//! entry inspected, nested archives too.

use super::*;

/// Inspects the zip archive whose central directory ends within the last
/// [`EOCD_SEARCH`] bytes, if there is one.
pub(super) fn inspect_zip<R: Read + Seek>(
    r: &mut R,
    size: u64,
    depth: u32,
) -> io::Result<Option<Finding>> {
    let from = size.saturating_sub(EOCD_SEARCH);
    let tail = read_at(r, from, size - from)?;
    // End-of-central-directory records, last first: the archive's is the last one
    // that parses. Give the reader a view ending right after it, so bytes
    // appended after the archive do not hide it.
    let mut candidates: Vec<u64> = tail
        .windows(4)
        .enumerate()
        .filter(|(_, w)| *w == b"PK\x05\x06")
        .map(|(i, _)| from + i as u64)
        .collect();
    candidates.reverse();
    for eocd in candidates.into_iter().take(16) {
        let rel = (eocd - from) as usize;
        let Some(comment_len) = tail.get(rel + 20..rel + 22) else {
            continue;
        };
        let end = eocd + 22 + u64::from(u16::from_le_bytes([comment_len[0], comment_len[1]]));
        if end > size {
            continue;
        }
        let mut view = Window::new(&mut *r, 0, end)?;
        if let Ok(archive) = zip::ZipArchive::new(&mut view) {
            return inspect_archive(archive, depth).map(Some);
        }
    }
    Ok(None)
}

pub(super) fn inspect_archive<R: Read + Seek>(
    mut archive: zip::ZipArchive<R>,
    depth: u32,
) -> io::Result<Finding> {
    if depth >= MAX_DEPTH {
        return Ok(Finding::new(
            FileFormat::Uninspectable,
            "an archive nested deeper than Signet inspects",
        ));
    }
    if archive.len() > MAX_ENTRIES {
        return Ok(Finding::new(
            FileFormat::Uninspectable,
            format!("an archive of more than {MAX_ENTRIES} entries"),
        ));
    }
    let mut numpy_only = !archive.is_empty();
    for i in 0..archive.len() {
        let entry = match archive.by_index(i) {
            Ok(e) => e,
            Err(e) => {
                return Ok(Finding::new(
                    FileFormat::Uninspectable,
                    format!("entry {i} cannot be read: {e}"),
                ));
            }
        };
        if entry.is_dir() {
            continue;
        }
        let name = entry.name().map(|n| n.into_owned()).unwrap_or_default();
        // An entry that cannot be read to its end (bad checksum, corrupt
        // compression) cannot be judged: it counts as unsafe.
        let found = match inspect_stream(entry, depth + 1) {
            Ok(found) => found,
            Err(e) => Finding::new(FileFormat::Uninspectable, format!("cannot be read: {e}")),
        }
        .within(&format!("entry {name:?}"));
        if found.is_unsafe() {
            return Ok(found);
        }
        numpy_only &= found.format == FileFormat::Numpy;
    }
    Ok(if numpy_only {
        Finding::new(FileFormat::Numpy, "npz archive of numeric arrays")
    } else {
        Finding::new(
            FileFormat::Unknown,
            "zip archive with no code-executing entry",
        )
    })
}

/// An archive inside an archive: read into memory (up to
/// [`NESTED_ARCHIVE_MAX`]), then inspected through its central directory like
/// any other.
pub(super) fn inspect_nested_archive<R: Read>(r: R, depth: u32) -> io::Result<Finding> {
    let mut bytes = Vec::new();
    r.take(NESTED_ARCHIVE_MAX + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > NESTED_ARCHIVE_MAX {
        return Ok(Finding::new(
            FileFormat::Uninspectable,
            "a nested archive larger than Signet inspects",
        ));
    }
    let size = bytes.len() as u64;
    let mut cursor = io::Cursor::new(bytes);
    Ok(match inspect_zip(&mut cursor, size, depth)? {
        Some(found) => found,
        None => Finding::new(
            FileFormat::Uninspectable,
            "a zip entry header without an archive",
        ),
    })
}
