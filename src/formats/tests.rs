//! Every disguise a code-executing pickle has been found in, and the safe
//! formats that must stay safe.

use std::io::{Cursor, Write};

use super::*;

fn found(bytes: &[u8]) -> Finding {
    inspect(&mut Cursor::new(bytes.to_vec()), bytes.len() as u64).unwrap()
}

fn format_of(bytes: &[u8]) -> FileFormat {
    found(bytes).format
}

/// `os.system('id')` as protocol 0 text: GLOBAL, MARK, STRING, TUPLE, REDUCE.
const P0: &[u8] = b"cos\nsystem\n(S'id'\ntR.";
/// The same as protocol 1: GLOBAL, MARK, SHORT_BINUNICODE... TUPLE, REDUCE.
const P1: &[u8] = b"cos\nsystem\nq\x00(X\x02\x00\x00\x00idq\x01tq\x02Rq\x03.";
/// Protocol 2 with its PROTO header: GLOBAL then a TUPLE1 and REDUCE.
const P2: &[u8] = b"\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03.";
/// Protocol 4 without a header: FRAME, SHORT_BINUNICODE x2, STACK_GLOBAL.
const P4_HEADLESS: &[u8] =
    b"\x95\x1d\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94\x8c\x06system\x94\x93\x94\x8c\x02id\x94\x85\x94R\x94.";
/// A pickle that only builds data: `[1, 'a', b'xyz']`.
const DATA_ONLY: &[u8] = b"\x80\x04]\x94(K\x01\x8c\x01a\x94C\x03xyz\x94e.";

fn zip_of(entries: &[(&str, &[u8], zip::CompressionMethod)], large: bool) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes, method) in entries {
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(*method)
            .large_file(large);
        w.start_file(*name, opts).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

use zip::CompressionMethod::{Deflated, Stored};

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn zlib(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn bz2(b: &[u8]) -> Vec<u8> {
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn xz(b: &[u8]) -> Vec<u8> {
    let mut e =
        lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::with_preset(1)).unwrap();
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn zstd(b: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(b, ruzstd::encoding::CompressionLevel::Fastest)
}

fn npy(descr: &str, body: &[u8]) -> Vec<u8> {
    let header = format!("{{'descr': {descr}, 'fortran_order': False, 'shape': (2,), }}");
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(body);
    out
}

fn safetensors(header: &str, data: usize) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend(std::iter::repeat_n(0u8, data));
    out
}

const ST: &str = r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;

#[test]
fn pickles_of_every_protocol_are_found_with_or_without_a_header() {
    for (name, p) in [
        ("p0", P0),
        ("p1", P1),
        ("p2", P2),
        ("p4 headless", P4_HEADLESS),
    ] {
        let f = found(p);
        assert_eq!(f.format, FileFormat::Pickle, "{name}: {}", f.reason);
    }
    assert!(found(P0).reason.contains("GLOBAL"));
    assert!(found(P4_HEADLESS).reason.contains("STACK_GLOBAL"));
    // Code hidden after a large data argument: skipped, not scanned.
    let mut big = b"\x80\x04B".to_vec();
    big.extend_from_slice(&(3_000_000u32).to_le_bytes());
    big.extend(std::iter::repeat_n(7u8, 3_000_000));
    big.extend_from_slice(&P4_HEADLESS[9..]);
    assert_eq!(format_of(&big), FileFormat::Pickle);
}

#[test]
fn plain_data_and_text_are_not_pickles() {
    assert_eq!(format_of(DATA_ONLY), FileFormat::Unknown);
    for text in [
        &b"config: true\n"[..],
        b"copyright 2026\nall rights reserved\n",
        b"hello world",
        b"",
        b"\x80\x09",
        b"h",
        b"K",
        b"\x95\x01",
        b"X\xff\xff\xff\xff",
    ] {
        assert_eq!(format_of(text), FileFormat::Unknown, "{text:?}");
    }
}

#[test]
fn json_documents_are_data_and_nothing_else_is_json() {
    for doc in [
        &br#"{"architectures": ["BertModel"], "hidden_size": 768}"#[..],
        b"  \n[1, 2, {\"a\": null}]\n",
        b"{}",
    ] {
        assert_eq!(format_of(doc), FileFormat::Json, "{doc:?}");
    }
    let mut tokenizer = br#"{"model": {"vocab": {"#.to_vec();
    for i in 0..50_000 {
        tokenizer.extend_from_slice(format!("\"tok{i}\": {i},").as_bytes());
    }
    tokenizer.extend_from_slice(br#""end": 0}}}"#);
    assert_eq!(format_of(&tokenizer), FileFormat::Json);
    // Nesting as deep as the bytes allow is read without recursion.
    let deep = format!("{}{}", "[".repeat(1_000_000), "]".repeat(1_000_000));
    assert_eq!(format_of(deep.as_bytes()), FileFormat::Json);
    // Not whole, not one document, not an object or array: no.
    for not in [
        &br#"{"a": 1"#[..],
        br#"{"a": 1} {"b": 2}"#,
        b"\"just a string\"",
        b"42",
        br#"{"a": 1}garbage"#,
    ] {
        assert_eq!(format_of(not), FileFormat::Unknown, "{not:?}");
    }
    // A pickle stays a pickle, whatever JSON follows it.
    let mut disguised = P4_HEADLESS.to_vec();
    disguised.extend_from_slice(br#"{"a": 1}"#);
    assert_eq!(format_of(&disguised), FileFormat::Pickle);
}

#[test]
fn compressed_pickles_are_found_whatever_the_wrapper() {
    for (name, wrapped) in [
        ("gzip", gzip(P2)),
        ("zlib (joblib)", zlib(P2)),
        ("bzip2", bz2(P2)),
        ("xz", xz(P2)),
        ("zstd", zstd(P2)),
        ("gzip of gzip", gzip(&gzip(P0))),
    ] {
        let f = found(&wrapped);
        assert_eq!(f.format, FileFormat::Pickle, "{name}: {}", f.reason);
    }
    assert_eq!(format_of(&gzip(b"just text")), FileFormat::Unknown);
}

#[test]
fn a_pickle_in_a_zip_is_found_wherever_the_entry_sits() {
    let padding = vec![0u8; 2 << 20];
    for (name, archive) in [
        // PyTorch layout: the pickle first, far from the end of the archive.
        (
            "torch-like, stored",
            zip_of(
                &[
                    ("archive/data.pkl", P2, Stored),
                    ("archive/data/0", &padding, Stored),
                ],
                false,
            ),
        ),
        (
            "deflated",
            zip_of(
                &[
                    ("a.bin", &padding, Deflated),
                    ("model", P4_HEADLESS, Deflated),
                ],
                false,
            ),
        ),
        (
            "zip64",
            zip_of(&[("x", &padding, Stored), ("y", P1, Stored)], true),
        ),
        (
            "named innocently",
            zip_of(&[("weights.bin", P0, Stored)], false),
        ),
    ] {
        let f = found(&archive);
        assert_eq!(f.format, FileFormat::Pickle, "{name}: {}", f.reason);
    }
    let clean = zip_of(
        &[("a.txt", b"hello", Deflated), ("b.json", b"{}", Stored)],
        false,
    );
    assert_eq!(format_of(&clean), FileFormat::Unknown);
}

#[test]
fn archives_nested_in_archives_or_streams_are_opened() {
    let inner = zip_of(&[("data.pkl", P2, Deflated)], false);
    for (name, outer) in [
        (
            "stored zip in zip",
            zip_of(&[("inner.zip", &inner, Stored)], false),
        ),
        (
            "deflated zip in zip",
            zip_of(&[("inner.zip", &inner, Deflated)], false),
        ),
        (
            "gzip in zip",
            zip_of(&[("model.gz", &gzip(P1), Stored)], false),
        ),
        ("zip in gzip", gzip(&inner)),
    ] {
        let f = found(&outer);
        assert_eq!(f.format, FileFormat::Pickle, "{name}: {}", f.reason);
    }
    // Nesting beyond the bound is not trusted.
    let mut deep = inner;
    for _ in 0..MAX_DEPTH + 1 {
        deep = zip_of(&[("z.zip", &deep, Stored)], false);
    }
    assert!(found(&deep).format.is_unsafe());
}

#[test]
fn a_zip_hidden_behind_or_before_other_bytes_is_found() {
    let archive = zip_of(&[("data.pkl", P2, Stored)], false);
    // A valid safetensors header in front, the archive after the data.
    let mut polyglot = safetensors(ST, 8);
    polyglot.extend_from_slice(&archive);
    assert_eq!(format_of(&polyglot), FileFormat::Pickle);
    // Junk after the archive.
    let mut trailing = archive.clone();
    trailing.extend(std::iter::repeat_n(0u8, 200_000));
    assert_eq!(format_of(&trailing), FileFormat::Pickle);
}

#[test]
fn numpy_arrays_of_objects_load_through_pickle() {
    assert_eq!(format_of(&npy("'<f4'", &[0; 8])), FileFormat::Numpy);
    assert_eq!(format_of(&npy("'|O'", P2)), FileFormat::Pickle);
    assert_eq!(
        format_of(&npy("[('a', '<f4'), ('b', '|O')]", P2)),
        FileFormat::Pickle
    );
    let numbers = npy("'<i8'", &[0; 16]);
    let objects = npy("'|O'", P2);
    assert_eq!(
        format_of(&zip_of(&[("x.npy", &numbers, Stored)], false)),
        FileFormat::Numpy
    );
    assert_eq!(
        format_of(&zip_of(
            &[("x.npy", &numbers, Stored), ("y.npy", &objects, Deflated)],
            false
        )),
        FileFormat::Pickle
    );
}

#[test]
fn safetensors_must_cover_the_data_exactly() {
    assert_eq!(format_of(&safetensors(ST, 8)), FileFormat::Safetensors);
    for (why, bytes) in [
        ("trailing payload", {
            let mut b = safetensors(ST, 8);
            b.extend_from_slice(P2);
            b
        }),
        ("short data", safetensors(ST, 7)),
        (
            "a gap",
            safetensors(
                r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                12,
            ),
        ),
        (
            "shape and span disagree",
            safetensors(
                r#"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#,
                8,
            ),
        ),
        (
            "overlap",
            safetensors(
                r#"{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}"#,
                6,
            ),
        ),
        (
            "an unknown dtype",
            safetensors(
                r#"{"w":{"dtype":"Q9","shape":[1],"data_offsets":[0,1]}}"#,
                1,
            ),
        ),
    ] {
        let f = found(&bytes);
        assert_ne!(f.format, FileFormat::Safetensors, "{why}: {}", f.reason);
    }
    // Metadata and several tensors in any key order.
    let two = r#"{"__metadata__":{"k":"v"},"b":{"dtype":"BF16","shape":[2,2],"data_offsets":[4,12]},"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}"#;
    assert_eq!(format_of(&safetensors(two, 12)), FileFormat::Safetensors);
}

#[test]
fn gguf_and_onnx_heads() {
    assert_eq!(format_of(b"GGUF\x03\x00\x00\x00"), FileFormat::Gguf);
    assert_eq!(format_of(b"\x08\x07\x12\x07pytorch"), FileFormat::Onnx);
}
