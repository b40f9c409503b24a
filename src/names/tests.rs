//! The rules of each typed value, at their edges.

use super::*;

#[test]
fn names_follow_the_rule() {
    for ok in ["fraud", "a", "a.b_c-d", "0model"] {
        assert!(Namespace::parse(ok).is_ok(), "{ok}");
    }
    for bad in ["", "Fraud", "-a", ".a", "a/b", &"a".repeat(64), "a b"] {
        assert!(Namespace::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn file_paths_reject_traversal_and_oddities() {
    for ok in ["model.safetensors", "weights/model.bin", "a/b/c.d", "..a"] {
        assert!(FilePath::parse(ok).is_ok(), "{ok}");
    }
    let long = "a".repeat(1025);
    for bad in [
        "",
        "/abs",
        "a/../b",
        "../a",
        "./a",
        "a//b",
        "a/",
        "a\\b",
        "a\0b",
        "a b",
        "é",
        long.as_str(),
    ] {
        assert!(FilePath::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn names_no_common_filesystem_can_hold_are_refused() {
    let portable = |s: &str| FilePath::parse(s).unwrap().check_portable();
    for bad in [
        "CON",
        "con.txt",
        "a/Nul",
        "aux.tar.gz",
        "COM1",
        "lpt9.bin",
        "a.",
        "a./b",
        "w/x..",
    ] {
        assert!(portable(bad).is_err(), "{bad:?}");
    }
    for ok in [
        "CONFIG",
        "console.txt",
        "COM10",
        "com0",
        "nullable/x",
        "a.b",
        "..a",
    ] {
        assert!(portable(ok).is_ok(), "{ok:?}");
    }
}

#[test]
fn paths_clash_by_case_and_by_file_against_directory() {
    let p = |s: &str| FilePath::parse(s).unwrap();
    assert!(p("Model.bin").clash(&p("model.bin")).is_some());
    assert!(p("Weights/a.bin").clash(&p("weights/b.bin")).is_some());
    assert!(p("a").clash(&p("a/b")).is_some());
    assert!(p("a/b/c").clash(&p("a/b")).is_some());
    assert!(p("a/b").clash(&p("a/c")).is_none());
    assert!(p("a.txt").clash(&p("a/b")).is_none());
    assert!(p("x/A").clash(&p("y/a")).is_none());
    assert!(p("a").clash(&p("a")).is_none());
}

#[test]
fn component_order_puts_a_slash_b_before_a_dot_txt() {
    let a = FilePath::parse("a/b").unwrap();
    let b = FilePath::parse("a.txt").unwrap();
    assert_eq!(a.cmp_components(&b), std::cmp::Ordering::Less);
    assert!(a.as_str() > b.as_str());
}

#[test]
fn digests_are_64_hex() {
    assert!(Sha256::parse(&"ab".repeat(32)).is_ok());
    assert_eq!(
        Sha256::parse(&"AB".repeat(32)).unwrap().to_hex(),
        "ab".repeat(32)
    );
    assert!(Sha256::parse(&"ab".repeat(31)).is_err());
    assert!(Sha256::parse(&"zz".repeat(32)).is_err());
}

#[test]
fn hex_ids_fold_case_and_count_digits() {
    assert_eq!(
        KeyId::parse(&"AB".repeat(32)).unwrap().as_str(),
        "ab".repeat(32)
    );
    assert!(KeyId::parse(&"ab".repeat(20)).is_err());
    assert!(CommitId::parse(&"ab".repeat(20)).is_ok());
    assert!(CommitId::parse(&"ab".repeat(32)).is_ok());
    assert!(CommitId::parse("abc").is_err());
}

#[test]
fn text_bounds_are_in_the_type() {
    assert!(Reason::parse("x".repeat(1024)).is_ok());
    assert!(Reason::parse("x".repeat(1025)).is_err());
    assert!(KeyName::parse("").is_err());
    assert!(serde_json::from_str::<Description>(&format!("{:?}", "x".repeat(4097))).is_err());
}

#[test]
fn version_numbers_are_positive_decimal() {
    assert!(VersionNumber::parse("1").is_ok());
    for bad in ["0", "-1", "+1", "1.0", "x", ""] {
        assert!(VersionNumber::parse(bad).is_err(), "{bad}");
    }
}
