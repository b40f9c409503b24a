//! Format detection on 4 GiB files, against the hashing every upload does.
//!
//! `cargo bench --bench formats [SIZE_MIB]` (default 4096). For each kind of
//! file it prints the time `formats::inspect` takes on it, and the
//! time one core takes to SHA-256 the same bytes (the floor under every
//! upload's time, since uploads hash as they stream); the ratio is the most
//! detection can cost an upload of that file. Files are sparse where they can
//! be, so the run needs little disk.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::time::Instant;

use sha2::Digest;

/// Writes a file of one kind and (about) this size.
type Maker = Box<dyn Fn(&mut File, u64)>;

fn main() {
    let mib: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(4096);
    let size = mib << 20;
    let dir = tempfile::tempdir_in(std::env::var("TMPDIR").unwrap_or("/var/tmp".into()))
        .expect("temp dir");
    println!("format detection, {mib} MiB files (inspect vs one-core SHA-256 of the same bytes)");

    let kinds: Vec<(&str, Maker)> = vec![
        ("safetensors", Box::new(safetensors)),
        ("raw pickle, one huge BINBYTES8", Box::new(pickle)),
        (
            "PyTorch-style zip64, pickle entry first",
            Box::new(torch_zip),
        ),
        (
            "unknown binary",
            Box::new(|f: &mut File, size| f.set_len(size).unwrap()),
        ),
    ];
    for (name, make) in kinds {
        let path = dir.path().join("f");
        let mut f = File::create(&path).unwrap();
        make(&mut f, size);
        drop(f);
        let mut f = File::open(&path).unwrap();
        let len = f.metadata().unwrap().len();

        let t = Instant::now();
        let found = signet::formats::inspect(&mut f, len).unwrap();
        let inspect = t.elapsed();

        f.seek(SeekFrom::Start(0)).unwrap();
        let t = Instant::now();
        let mut h = sha2::Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        let _ = h.finalize();
        let hash = t.elapsed();
        println!(
            "{name:42} {:>10.1} ms inspect ({:?}) | {:>8.1} ms sha256 | {:>6.3}% of the hash floor",
            inspect.as_secs_f64() * 1e3,
            found.format,
            hash.as_secs_f64() * 1e3,
            inspect.as_secs_f64() / hash.as_secs_f64() * 100.0
        );
        std::fs::remove_file(&path).unwrap();
    }
}

/// A safetensors file: one U8 tensor filling the data section.
fn safetensors(f: &mut File, size: u64) {
    // The header's length depends on the numbers in it: settle it in two rounds.
    let header_for = |data: u64| {
        format!(r#"{{"w":{{"dtype":"U8","shape":[{data}],"data_offsets":[0,{data}]}}}}"#)
    };
    let guess = header_for(size).len() as u64;
    let header = header_for(size - 8 - guess);
    let data = size - 8 - header.len() as u64;
    assert_eq!(header, header_for(data));
    f.write_all(&(header.len() as u64).to_le_bytes()).unwrap();
    f.write_all(header.as_bytes()).unwrap();
    f.set_len(8 + header.len() as u64 + data).unwrap();
}

/// Protocol 4: PROTO, BINBYTES8 of nearly all the file, then a GLOBAL and STOP.
fn pickle(f: &mut File, size: u64) {
    let tail = b"\x94cos\nsystem\n.";
    let n = size - 11 - tail.len() as u64;
    f.write_all(b"\x80\x04\x8e").unwrap();
    f.write_all(&n.to_le_bytes()).unwrap();
    f.seek(SeekFrom::Start(11 + n)).unwrap();
    f.write_all(tail).unwrap();
}

/// A zip64 archive: `archive/data.pkl` first, then one stored entry of the rest.
fn torch_zip(f: &mut File, size: u64) {
    let mut w = zip::ZipWriter::new(f);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(true);
    w.start_file("archive/data.pkl", opts).unwrap();
    w.write_all(b"\x80\x02cos\nsystem\nq\x00.").unwrap();
    w.start_file("archive/data/0", opts).unwrap();
    let chunk = vec![0u8; 8 << 20];
    let mut left = size.saturating_sub(1 << 20);
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        w.write_all(&chunk[..n]).unwrap();
        left -= n as u64;
    }
    w.finish().unwrap();
}
