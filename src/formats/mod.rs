//! File formats, recognised by reading their structure, never their names.
//!
//! Pickle-based formats run code when they are loaded, so promotion refuses them
//! unless the namespace allows them; detection must find them whatever their
//! disguise. It reads structure rather than guessing from a prefix:
//!
//! - a pickle is found by walking its opcodes (any protocol, with or without a
//!   `PROTO` header) up to an opcode that imports or calls (`GLOBAL`,
//!   `STACK_GLOBAL`, `INST`, `OBJ`, `REDUCE`, `NEWOBJ`, `NEWOBJ_EX`, `BUILD`,
//!   `EXT1/2/4`);
//! - a zip archive is read through its central directory wherever it sits (zip64
//!   too, with data before it or after it), and every entry is inspected, nested
//!   archives included down to [`MAX_DEPTH`];
//! - gzip, zlib, bzip2, xz and zstd streams are inspected decompressed (joblib's
//!   compressed pickles among them);
//! - a numpy `.npy` array of Python objects loads through pickle;
//! - a safetensors file is safe only when its header is valid and its tensors
//!   cover the data exactly, with nothing after them.
//!
//! Nothing here unpickles, decompresses to disk unbounded, or trusts a name. What
//! cannot be inspected within the bounds is reported as such, and counts as unsafe.

use std::io::{self, Read, Seek, SeekFrom};

use crate::kinds::FileFormat;

mod archives;
mod compressed;
mod numpy;
mod pickle;
mod safetensors;

use archives::*;
use compressed::*;
use numpy::*;
use pickle::*;
pub use pickle::{PickleWalk, Walkable, walk_pickle};
pub use safetensors::safetensors_layout;
use safetensors::*;

/// Deepest nesting of archives and compressed streams inspected.
pub const MAX_DEPTH: u32 = 4;
/// Most entries of one archive inspected.
pub const MAX_ENTRIES: usize = 100_000;
/// Decompressed bytes one stream may be read for before it counts as
/// uninspectable (a compression bomb stops here).
pub const STREAM_BUDGET: u64 = 256 << 20;
/// Largest archive nested in another that is inspected: it is read into memory
/// to be opened through its central directory, so this bounds that memory.
pub const NESTED_ARCHIVE_MAX: u64 = 64 << 20;
/// Largest safetensors header accepted (the format's own readers cap it at 100 MB;
/// real headers are far smaller).
pub const MAX_SAFETENSORS_HEADER: u64 = 16 << 20;
/// How far from the end of a file its zip central directory is looked for.
const EOCD_SEARCH: u64 = 4 << 20;

/// What a file is, and why Signet thinks so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub format: FileFormat,
    pub reason: String,
}

impl Finding {
    fn new(format: FileFormat, reason: impl Into<String>) -> Self {
        Self {
            format,
            reason: reason.into(),
        }
    }

    fn unknown() -> Self {
        Self::new(FileFormat::Unknown, "no known format")
    }

    fn is_unsafe(&self) -> bool {
        self.format.is_unsafe()
    }

    /// This finding, seen from inside `what` (an archive entry, a stream).
    fn within(self, what: &str) -> Self {
        Self {
            format: self.format,
            reason: format!("{what}: {}", self.reason),
        }
    }
}

/// Inspects a whole file of `size` bytes with random access to it.
pub fn inspect<R: Read + Seek>(r: &mut R, size: u64) -> io::Result<Finding> {
    inspect_at(r, size, 0)
}

fn inspect_at<R: Read + Seek>(r: &mut R, size: u64, depth: u32) -> io::Result<Finding> {
    let head = read_at(r, 0, size.min(64 * 1024))?;
    // A zip archive may sit behind or before other bytes (a polyglot with a
    // safetensors header, say): its central directory decides, wherever it is.
    if let Some(found) = inspect_zip(r, size, depth)? {
        if found.is_unsafe() {
            return Ok(found);
        }
        let head_says = inspect_seekable_head(r, &head, size, depth)?;
        return Ok(if head_says.format == FileFormat::Unknown {
            found
        } else {
            head_says
        });
    }
    inspect_seekable_head(r, &head, size, depth)
}

/// What the head of a seekable file says.
fn inspect_seekable_head<R: Read + Seek>(
    r: &mut R,
    head: &[u8],
    size: u64,
    depth: u32,
) -> io::Result<Finding> {
    if let Some(found) = safetensors(r, head, size)? {
        return Ok(found);
    }
    if let Some(found) = fixed_magic(head) {
        return Ok(found);
    }
    if let Some(found) = numpy(head) {
        return Ok(found);
    }
    if let Some(kind) = compression_of(head) {
        r.seek(SeekFrom::Start(0))?;
        return inspect_compressed(&mut *r, kind, depth);
    }
    // Not a known container: walk it as pickle opcodes (a pickle needs no
    // header, and protocols 0 and 1 have none).
    r.seek(SeekFrom::Start(0))?;
    let found = from_pickle_walk(walk_pickle(&mut Seekable(r), u64::MAX)?);
    // Only what is nothing else may be JSON: a document that parses whole.
    // (No pickle can: `{`, `[` and whitespace are not pickle opcodes.)
    if found.format == FileFormat::Unknown && json_document(r, head, size)? {
        return Ok(Finding::new(FileFormat::Json, "a JSON document"));
    }
    Ok(found)
}

/// Largest file parsed to tell whether it is one JSON document.
pub const MAX_JSON: u64 = 512 << 20;

/// Whether the whole file is one JSON object or array, read as a stream:
/// nothing is kept, and nesting costs no recursion.
fn json_document<R: Read + Seek>(r: &mut R, head: &[u8], size: u64) -> io::Result<bool> {
    let first = head.iter().find(|b| !b.is_ascii_whitespace());
    if !matches!(first, Some(b'{' | b'[')) || size > MAX_JSON {
        return Ok(false);
    }
    r.seek(SeekFrom::Start(0))?;
    let reader = io::BufReader::new(&mut *r).take(size);
    Ok(serde_json::from_reader::<_, serde::de::IgnoredAny>(reader).is_ok())
}

/// Inspects a stream that cannot seek (an archive entry, a decompressed stream).
fn inspect_stream<R: Read>(mut r: R, depth: u32) -> io::Result<Finding> {
    if depth > MAX_DEPTH {
        return Ok(Finding::new(
            FileFormat::Uninspectable,
            "nested deeper than Signet inspects",
        ));
    }
    let mut head = Vec::with_capacity(64 * 1024);
    (&mut r).take(64 * 1024).read_to_end(&mut head)?;
    let rest = io::Cursor::new(head.clone()).chain(r);
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return inspect_nested_archive(rest, depth);
    }
    if let Some(found) = fixed_magic(&head) {
        return Ok(found);
    }
    if let Some(found) = numpy(&head) {
        return Ok(found);
    }
    if let Some(kind) = compression_of(&head) {
        return inspect_compressed(rest, kind, depth);
    }
    if head.len() >= 9 && head[8] == b'{' {
        // A safetensors file inside an archive: a structure, not code.
        return Ok(Finding::new(FileFormat::Safetensors, "safetensors header"));
    }
    Ok(from_pickle_walk(walk_pickle(
        &mut Streamed {
            inner: rest,
            budget: STREAM_BUDGET,
        },
        STREAM_BUDGET,
    )?))
}

/// Formats told by their first bytes alone.
fn fixed_magic(head: &[u8]) -> Option<Finding> {
    if head.starts_with(b"GGUF") {
        return Some(Finding::new(FileFormat::Gguf, "GGUF magic"));
    }
    if looks_like_onnx(head) {
        return Some(Finding::new(FileFormat::Onnx, "ONNX ModelProto fields"));
    }
    None
}

/// An ONNX ModelProto starts with `ir_version` (field 1, varint) followed by
/// another known field tag.
fn looks_like_onnx(b: &[u8]) -> bool {
    if b.len() < 4 || b[0] != 0x08 || b[1] == 0 || b[1] > 20 {
        return false;
    }
    matches!(b[2], 0x12 | 0x1a | 0x22 | 0x28 | 0x32 | 0x3a | 0x42)
}

pub(super) fn read_at<R: Read + Seek>(r: &mut R, at: u64, len: u64) -> io::Result<Vec<u8>> {
    r.seek(SeekFrom::Start(at))?;
    let mut buf = Vec::with_capacity(len as usize);
    (&mut *r).take(len).read_to_end(&mut buf)?;
    Ok(buf)
}

/// The bytes `start..end` of a seekable reader, as a reader of their own.
pub(super) struct Window<'a, R> {
    inner: &'a mut R,
    start: u64,
    end: u64,
    pos: u64,
}

impl<'a, R: Read + Seek> Window<'a, R> {
    fn new(inner: &'a mut R, start: u64, end: u64) -> io::Result<Self> {
        inner.seek(SeekFrom::Start(start))?;
        Ok(Self {
            inner,
            start,
            end,
            pos: start,
        })
    }
}

impl<R: Read + Seek> Read for Window<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.end.saturating_sub(self.pos) as usize;
        if left == 0 {
            return Ok(0);
        }
        let n = buf.len().min(left);
        let got = self.inner.read(&mut buf[..n])?;
        self.pos += got as u64;
        Ok(got)
    }
}

impl<R: Read + Seek> Seek for Window<'_, R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let len = self.end - self.start;
        let rel = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => len.checked_add_signed(d),
            SeekFrom::Current(d) => (self.pos - self.start).checked_add_signed(d),
        }
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        self.pos = self.start + rel.min(len);
        self.inner.seek(SeekFrom::Start(self.pos))?;
        Ok(self.pos - self.start)
    }
}

#[cfg(test)]
mod tests;
