//! Writing a run of received chunks to a file without copying them into one
//! buffer first: the registry's resumable parts and the client's downloads.

use bytes::Bytes;

/// Writes `chunks` one after the other, many per system call and without
/// copying them into one buffer first.
pub fn write_chunks(f: &mut std::fs::File, chunks: &[Bytes]) -> std::io::Result<()> {
    use std::io::{IoSlice, Write};
    // At most this many buffers per call (Linux's IOV_MAX).
    const AT_ONCE: usize = 1024;
    for group in chunks.chunks(AT_ONCE) {
        let mut slices: Vec<IoSlice<'_>> = group.iter().map(|c| IoSlice::new(c)).collect();
        let mut left = &mut slices[..];
        while !left.is_empty() {
            match f.write_vectored(left) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => IoSlice::advance_slices(&mut left, n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}
