//! Pickle: a walk of the opcodes up to one that imports or calls, without
//! unpickling anything.

use super::*;

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

pub(super) fn from_pickle_walk(walk: PickleWalk) -> Finding {
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
pub(super) struct Seekable<'a, R>(pub(super) &'a mut R);

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
pub(super) struct Streamed<R> {
    pub(super) inner: R,
    pub(super) budget: u64,
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
pub(super) struct Machine {
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

pub(super) fn walk<W: Walkable>(src: &mut W, max_opcodes: u64) -> io::Result<PickleWalk> {
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
pub(super) fn uint<W: Walkable>(src: &mut W, offset: &mut u64, width: usize) -> io::Result<u64> {
    let mut buf = [0u8; 8];
    src.read_exact(&mut buf[..width])?;
    *offset += width as u64;
    Ok(u64::from_le_bytes(buf))
}

pub(super) fn parse_int(line: &[u8]) -> Option<u64> {
    std::str::from_utf8(line).ok()?.trim().parse().ok()
}

pub(super) fn fixed<W: Walkable>(src: &mut W, offset: &mut u64, n: usize) -> io::Result<()> {
    let mut buf = [0u8; 8];
    src.read_exact(&mut buf[..n])?;
    *offset += n as u64;
    Ok(())
}

/// A little-endian length of `width` bytes, then that many bytes, skipped.
pub(super) fn counted<W: Walkable>(
    src: &mut W,
    offset: &mut u64,
    width: usize,
) -> io::Result<bool> {
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
pub(super) fn read_line<W: Walkable>(src: &mut W, offset: &mut u64) -> io::Result<Option<Vec<u8>>> {
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

pub(super) fn line_is_text<W: Walkable>(src: &mut W, offset: &mut u64) -> io::Result<bool> {
    Ok(read_line(src, offset)?.is_some_and(|l| {
        l.iter()
            .all(|c| c.is_ascii_graphic() || *c == b' ' || *c == b'\t' || *c == b'\r')
    }))
}

/// A dotted Python name (module or attribute), as `GLOBAL` and `INST` take.
pub(super) fn line_is_name<W: Walkable>(src: &mut W, offset: &mut u64) -> io::Result<bool> {
    Ok(read_line(src, offset)?.is_some_and(|l| {
        !l.is_empty()
            && !l[0].is_ascii_digit()
            && l.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.'))
    }))
}
