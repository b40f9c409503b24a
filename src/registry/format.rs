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
    Ok(from_pickle_walk(walk_pickle(&mut Seekable(r), u64::MAX)?))
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

// ---------------------------------------------------------------------------
// Compressed streams

#[derive(Debug, Clone, Copy)]
enum Compression {
    Gzip,
    Zlib,
    Bzip2,
    Xz,
    Zstd,
}

/// The compression `head` starts with, if it really decompresses: a magic
/// number alone could be the first bytes of a pickle.
fn compression_of(head: &[u8]) -> Option<Compression> {
    let kind = claimed_compression(head)?;
    let mut out = [0u8; 64];
    match decoder(head, kind)?.read(&mut out) {
        Ok(n) if n > 0 => Some(kind),
        _ => None,
    }
}

/// A reader of `r` decompressed as `kind` (None when its frame header is bad).
fn decoder<'a, R: Read + 'a>(r: R, kind: Compression) -> Option<Box<dyn Read + 'a>> {
    Some(match kind {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(r)),
        Compression::Zlib => Box::new(flate2::read::ZlibDecoder::new(r)),
        Compression::Bzip2 => Box::new(bzip2::read::BzDecoder::new(r)),
        Compression::Xz => Box::new(lzma_rust2::XzReader::new(r, true)),
        Compression::Zstd => Box::new(ruzstd::decoding::StreamingDecoder::new(r).ok()?),
    })
}

fn claimed_compression(head: &[u8]) -> Option<Compression> {
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

fn inspect_compressed<R: Read>(r: R, kind: Compression, depth: u32) -> io::Result<Finding> {
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

// ---------------------------------------------------------------------------
// Zip archives

/// Inspects the zip archive whose central directory ends within the last
/// [`EOCD_SEARCH`] bytes, if there is one.
fn inspect_zip<R: Read + Seek>(r: &mut R, size: u64, depth: u32) -> io::Result<Option<Finding>> {
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

fn inspect_archive<R: Read + Seek>(
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
fn inspect_nested_archive<R: Read>(r: R, depth: u32) -> io::Result<Finding> {
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

// ---------------------------------------------------------------------------
// numpy

/// A `.npy` array: safe numbers, unless its dtype holds Python objects (which
/// numpy loads through pickle).
fn numpy(head: &[u8]) -> Option<Finding> {
    let rest = head.strip_prefix(b"\x93NUMPY")?;
    let (major, rest) = rest.split_first()?;
    let (_, rest) = rest.split_first()?;
    let (len, rest) = match major {
        1 => (
            usize::from(u16::from_le_bytes([*rest.first()?, *rest.get(1)?])),
            &rest[2..],
        ),
        2 | 3 => (
            u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize,
            &rest[4..],
        ),
        _ => return None,
    };
    let header = String::from_utf8_lossy(rest.get(..len.min(rest.len()))?);
    let descr = header.split("'descr':").nth(1)?;
    let descr = descr.split("'fortran_order'").next().unwrap_or(descr);
    // Every quoted typestr of the dtype: `|O`, `<f4`, or the fields of a record.
    let objects = descr
        .split('\'')
        .skip(1)
        .step_by(2)
        .any(|t| t.trim_start_matches(['<', '>', '|', '=']).starts_with('O'));
    Some(if objects {
        Finding::new(
            FileFormat::Pickle,
            "numpy array of Python objects (loads through pickle)",
        )
    } else {
        Finding::new(FileFormat::Numpy, "numpy array")
    })
}

// ---------------------------------------------------------------------------
// safetensors

/// A safetensors file, judged whole: a valid header whose tensors cover the data
/// section exactly, in order, each as long as its dtype and shape say, with
/// nothing after the last. `None` when the head does not even claim to be one.
fn safetensors<R: Read + Seek>(r: &mut R, head: &[u8], size: u64) -> io::Result<Option<Finding>> {
    if head.len() < 9 || head[8] != b'{' {
        return Ok(None);
    }
    let n = u64::from_le_bytes(head[..8].try_into().expect("8 bytes"));
    if n < 2 || n > size.saturating_sub(8) {
        return Ok(None);
    }
    if n > MAX_SAFETENSORS_HEADER {
        return Ok(Some(Finding::new(
            FileFormat::Unknown,
            "a safetensors header larger than 16 MiB",
        )));
    }
    let header = if 8 + n <= head.len() as u64 {
        head[8..8 + n as usize].to_vec()
    } else {
        read_at(r, 8, n)?
    };
    Ok(Some(match safetensors_layout(&header, size - 8 - n) {
        Ok(()) => Finding::new(
            FileFormat::Safetensors,
            "safetensors header covers the data exactly",
        ),
        Err(why) => Finding::new(FileFormat::Unknown, format!("not valid safetensors: {why}")),
    }))
}

/// Checks a safetensors header against a data section of `data_len` bytes.
pub fn safetensors_layout(header: &[u8], data_len: u64) -> Result<(), String> {
    let map = match serde_json::from_slice::<serde_json::Value>(header) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => return Err("the header is not a JSON object".into()),
    };
    let mut spans = Vec::new();
    for (name, t) in map.iter().filter(|(k, _)| k.as_str() != "__metadata__") {
        let width = t["dtype"]
            .as_str()
            .and_then(dtype_bits)
            .ok_or_else(|| format!("tensor {name:?} has no known dtype"))?;
        let shape = t["shape"]
            .as_array()
            .and_then(|s| s.iter().map(|d| d.as_u64()).collect::<Option<Vec<u64>>>())
            .ok_or_else(|| format!("tensor {name:?} has no shape"))?;
        let (a, b) = match t["data_offsets"].as_array().map(Vec::as_slice) {
            Some([a, b]) => (a.as_u64(), b.as_u64()),
            _ => (None, None),
        };
        let (Some(a), Some(b)) = (a, b) else {
            return Err(format!("tensor {name:?} has no data offsets"));
        };
        let elements = shape
            .iter()
            .try_fold(1u64, |acc, d| acc.checked_mul(*d))
            .ok_or_else(|| format!("tensor {name:?} is too large"))?;
        let bytes = elements
            .checked_mul(width)
            .map(|bits| bits.div_ceil(8))
            .ok_or_else(|| format!("tensor {name:?} is too large"))?;
        if b < a || b - a != bytes {
            return Err(format!(
                "tensor {name:?} spans {} bytes, its shape needs {bytes}",
                b.saturating_sub(a)
            ));
        }
        spans.push((a, b));
    }
    spans.sort_unstable();
    let mut at = 0;
    for (a, b) in spans {
        if a != at {
            return Err(format!("the tensors leave a gap or overlap at byte {at}"));
        }
        at = b;
    }
    if at != data_len {
        return Err(format!(
            "the tensors cover {at} bytes of a {data_len}-byte data section"
        ));
    }
    Ok(())
}

/// Bits per element of a safetensors dtype.
fn dtype_bits(dtype: &str) -> Option<u64> {
    Some(match dtype {
        "F4" => 4,
        "F6_E2M3" | "F6_E3M2" => 6,
        "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" | "F8_E8M0" => 8,
        "I16" | "U16" | "F16" | "BF16" => 16,
        "I32" | "U32" | "F32" => 32,
        "I64" | "U64" | "F64" | "C64" => 64,
        _ => return None,
    })
}

// ---------------------------------------------------------------------------
// Pickle

/// What walking a byte stream as pickle opcodes found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PickleWalk {
    /// A valid opcode stream up to an opcode that imports or calls.
    Executes { opcode: &'static str, offset: u64 },
    /// A complete pickle (`STOP`) that only builds data.
    DataOnly,
    /// Valid so far, but too long to walk to its end.
    TooLong,
    /// Not a pickle.
    NotPickle,
}

fn from_pickle_walk(walk: PickleWalk) -> Finding {
    match walk {
        PickleWalk::Executes { opcode, offset } => Finding::new(
            FileFormat::Pickle,
            format!("pickle opcode {opcode} (imports or calls) at byte {offset}"),
        ),
        PickleWalk::TooLong => Finding::new(
            FileFormat::Uninspectable,
            "a pickle stream longer than Signet inspects",
        ),
        PickleWalk::DataOnly => Finding::new(
            FileFormat::Unknown,
            "a pickle that only builds data (no imports or calls)",
        ),
        PickleWalk::NotPickle => Finding::unknown(),
    }
}

/// A byte source for the walker: reads, and skips large arguments.
pub trait Walkable {
    fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()>;
    /// Skips `n` bytes; false when the source ends first or its budget is spent.
    fn skip(&mut self, n: u64) -> io::Result<bool>;
}

/// A seekable file: long arguments are skipped by seeking.
struct Seekable<'a, R>(&'a mut R);

impl<R: Read + Seek> Walkable for Seekable<'_, R> {
    fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.0.read_exact(buf)
    }

    fn skip(&mut self, n: u64) -> io::Result<bool> {
        let at = self.0.stream_position()?;
        let end = self.0.seek(SeekFrom::End(0))?;
        if at.checked_add(n).is_none_or(|t| t > end) {
            return Ok(false);
        }
        self.0.seek(SeekFrom::Start(at + n))?;
        Ok(true)
    }
}

/// A stream: long arguments are read and dropped, within a budget.
struct Streamed<R> {
    inner: R,
    budget: u64,
}

impl<R: Read> Walkable for Streamed<R> {
    fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.inner.read_exact(buf)
    }

    fn skip(&mut self, n: u64) -> io::Result<bool> {
        if n > self.budget {
            return Ok(false);
        }
        self.budget -= n;
        Ok(io::copy(&mut (&mut self.inner).take(n), &mut io::sink())? == n)
    }
}

/// The pickle machine, as far as detection needs it: how many items are on the
/// stack above each mark, and which memo slots are filled. An opcode that the
/// real machine would refuse (popping an empty stack, reading an empty memo slot,
/// a mark that is not there) means the bytes are not a pickle; text and random
/// data fail this within a few bytes.
#[derive(Default)]
struct Machine {
    /// Items above the innermost mark, then above each mark further down.
    frames: Vec<u64>,
    top: u64,
    memo: std::collections::HashSet<u64>,
}

impl Machine {
    fn push(&mut self, n: u64) {
        self.top += n;
    }

    /// Pops `n` items of the current frame; false when there are fewer.
    fn pop(&mut self, n: u64) -> bool {
        if self.top < n {
            return false;
        }
        self.top -= n;
        true
    }

    fn mark(&mut self) {
        self.frames.push(self.top);
        self.top = 0;
    }

    /// Drops everything above the innermost mark and the mark; false without one.
    fn pop_mark(&mut self) -> bool {
        match self.frames.pop() {
            Some(below) => {
                self.top = below;
                true
            }
            None => false,
        }
    }

    fn memo_put(&mut self, slot: u64) -> bool {
        self.memo.insert(slot);
        self.top >= 1
    }
}

/// Walks pickle opcodes (protocols 0 to 5) from the start of `src`, running
/// the pickle machine's stack and memo rules, until an opcode imports or calls,
/// the pickle stops, the bytes stop being a valid pickle, or `max_opcodes`-many
/// steps pass.
pub fn walk_pickle<W: Walkable>(src: &mut W, max_opcodes: u64) -> io::Result<PickleWalk> {
    match walk(src, max_opcodes) {
        // Bytes that end inside an opcode's argument are not a pickle.
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(PickleWalk::NotPickle),
        other => other,
    }
}

fn walk<W: Walkable>(src: &mut W, max_opcodes: u64) -> io::Result<PickleWalk> {
    let mut m = Machine::default();
    let mut offset = 0u64;
    let mut steps = 0u64;
    let not = Ok(PickleWalk::NotPickle);
    loop {
        if steps >= max_opcodes.min(50_000_000) {
            return Ok(PickleWalk::TooLong);
        }
        steps += 1;
        let mut op = [0u8; 1];
        if src.read_exact(&mut op).is_err() {
            // Ran out of bytes before STOP: not a (complete) pickle.
            return not;
        }
        let at = offset;
        offset += 1;
        let executes = |opcode| Ok(PickleWalk::Executes { opcode, offset: at });
        let ok = match op[0] {
            // Imports and calls: reached with the stack they need, they run code.
            b'c' => {
                return if line_is_name(src, &mut offset)? && line_is_name(src, &mut offset)? {
                    executes("GLOBAL")
                } else {
                    not
                };
            }
            b'i' => {
                let names = line_is_name(src, &mut offset)? && line_is_name(src, &mut offset)?;
                return if names && !m.frames.is_empty() {
                    executes("INST")
                } else {
                    not
                };
            }
            0x93 => {
                return if m.pop(2) {
                    executes("STACK_GLOBAL")
                } else {
                    not
                };
            }
            b'o' => {
                return if !m.frames.is_empty() && m.top >= 1 {
                    executes("OBJ")
                } else {
                    not
                };
            }
            b'R' => return if m.pop(2) { executes("REDUCE") } else { not },
            0x81 => return if m.pop(2) { executes("NEWOBJ") } else { not },
            0x92 => return if m.pop(3) { executes("NEWOBJ_EX") } else { not },
            b'b' => return if m.pop(2) { executes("BUILD") } else { not },
            0x82..=0x84 => {
                let width = match op[0] {
                    0x82 => 1,
                    0x83 => 2,
                    _ => 4,
                };
                fixed(src, &mut offset, width)?;
                return executes("EXT");
            }
            b'.' => {
                return Ok(if m.top >= 1 && m.frames.is_empty() {
                    PickleWalk::DataOnly
                } else {
                    PickleWalk::NotPickle
                });
            }
            // Stack shape.
            b'(' => {
                m.mark();
                true
            }
            b'0' => m.pop(1),
            b'1' => m.pop_mark(),
            b'2' => {
                m.top >= 1 && {
                    m.push(1);
                    true
                }
            }
            // Pushes.
            b'N' | b'}' | b']' | b')' | 0x88 | 0x89 | 0x8f | 0x97 => {
                m.push(1);
                true
            }
            b'Q' | 0x98 => m.top >= 1,
            // Containers built from the stack.
            b'a' => m.top >= 2 && m.pop(1),
            b's' => m.top >= 3 && m.pop(2),
            b'e' | b'u' | 0x90 => {
                let below = m.frames.last().copied().unwrap_or(0);
                m.pop_mark() && below >= 1
            }
            b'd' | b'l' | b't' | 0x91 => {
                m.pop_mark() && {
                    m.push(1);
                    true
                }
            }
            0x85 => m.top >= 1,
            0x86 => m.top >= 2 && m.pop(1),
            0x87 => m.top >= 3 && m.pop(2),
            // Memo.
            0x94 => {
                let slot = m.memo.len() as u64;
                m.memo_put(slot)
            }
            b'p' => match read_line(src, &mut offset)?.and_then(|l| parse_int(&l)) {
                Some(slot) => m.memo_put(slot),
                None => false,
            },
            b'q' | b'r' => {
                let slot = uint(src, &mut offset, if op[0] == b'q' { 1 } else { 4 })?;
                m.memo_put(slot)
            }
            b'g' => match read_line(src, &mut offset)?.and_then(|l| parse_int(&l)) {
                Some(slot) if m.memo.contains(&slot) => {
                    m.push(1);
                    true
                }
                _ => false,
            },
            b'h' | b'j' => {
                let slot = uint(src, &mut offset, if op[0] == b'h' { 1 } else { 4 })?;
                m.memo.contains(&slot) && {
                    m.push(1);
                    true
                }
            }
            // Values with an argument.
            b'I' | b'L' | b'S' | b'V' | b'F' | b'P' => {
                line_is_text(src, &mut offset)? && {
                    m.push(1);
                    true
                }
            }
            b'K' | b'M' | b'J' | b'G' => {
                let width = match op[0] {
                    b'K' => 1,
                    b'M' => 2,
                    b'J' => 4,
                    _ => 8,
                };
                fixed(src, &mut offset, width)?;
                m.push(1);
                true
            }
            0x80 => uint(src, &mut offset, 1)? <= 5,
            0x95 => {
                fixed(src, &mut offset, 8)?;
                true
            }
            b'U' | b'C' | 0x8c | 0x8a => {
                counted(src, &mut offset, 1)? && {
                    m.push(1);
                    true
                }
            }
            b'T' | b'X' | b'B' | 0x8b => {
                counted(src, &mut offset, 4)? && {
                    m.push(1);
                    true
                }
            }
            0x8d | 0x8e | 0x96 => {
                counted(src, &mut offset, 8)? && {
                    m.push(1);
                    true
                }
            }
            _ => false,
        };
        if !ok {
            return not;
        }
    }
}

/// A little-endian unsigned argument of `width` bytes.
fn uint<W: Walkable>(src: &mut W, offset: &mut u64, width: usize) -> io::Result<u64> {
    let mut buf = [0u8; 8];
    src.read_exact(&mut buf[..width])?;
    *offset += width as u64;
    Ok(u64::from_le_bytes(buf))
}

fn parse_int(line: &[u8]) -> Option<u64> {
    std::str::from_utf8(line).ok()?.trim().parse().ok()
}

fn fixed<W: Walkable>(src: &mut W, offset: &mut u64, n: usize) -> io::Result<()> {
    let mut buf = [0u8; 8];
    src.read_exact(&mut buf[..n])?;
    *offset += n as u64;
    Ok(())
}

/// A little-endian length of `width` bytes, then that many bytes, skipped.
fn counted<W: Walkable>(src: &mut W, offset: &mut u64, width: usize) -> io::Result<bool> {
    let mut buf = [0u8; 8];
    if src.read_exact(&mut buf[..width]).is_err() {
        return Ok(false);
    }
    let n = u64::from_le_bytes(buf);
    *offset += width as u64;
    if !src.skip(n)? {
        return Ok(false);
    }
    *offset += n;
    Ok(true)
}

/// Reads a newline-terminated argument of at most 4096 printable bytes.
fn read_line<W: Walkable>(src: &mut W, offset: &mut u64) -> io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    loop {
        let mut c = [0u8; 1];
        if src.read_exact(&mut c).is_err() {
            return Ok(None);
        }
        *offset += 1;
        if c[0] == b'\n' {
            return Ok(Some(line));
        }
        if line.len() >= 4096 || c[0] == 0 {
            return Ok(None);
        }
        line.push(c[0]);
    }
}

fn line_is_text<W: Walkable>(src: &mut W, offset: &mut u64) -> io::Result<bool> {
    Ok(read_line(src, offset)?.is_some_and(|l| {
        l.iter()
            .all(|c| c.is_ascii_graphic() || *c == b' ' || *c == b'\t' || *c == b'\r')
    }))
}

/// A dotted Python name (module or attribute), as `GLOBAL` and `INST` take.
fn line_is_name<W: Walkable>(src: &mut W, offset: &mut u64) -> io::Result<bool> {
    Ok(read_line(src, offset)?.is_some_and(|l| {
        !l.is_empty()
            && !l[0].is_ascii_digit()
            && l.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.'))
    }))
}

// ---------------------------------------------------------------------------
// Readers

fn read_at<R: Read + Seek>(r: &mut R, at: u64, len: u64) -> io::Result<Vec<u8>> {
    r.seek(SeekFrom::Start(at))?;
    let mut buf = Vec::with_capacity(len as usize);
    (&mut *r).take(len).read_to_end(&mut buf)?;
    Ok(buf)
}

/// The bytes `start..end` of a seekable reader, as a reader of their own.
struct Window<'a, R> {
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
