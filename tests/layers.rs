//! The layering rules of `src/lib.rs`, checked on the source itself: the HTTP
//! layer never reaches the store, the store depends on nothing above it, and the
//! top-level modules form no cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The names that follow each `prefix` in `text` (`crate::` → the module).
fn named_after<'a>(text: &'a str, prefix: &'a str) -> impl Iterator<Item = String> + 'a {
    text.match_indices(prefix).map(move |(i, _)| {
        text[i + prefix.len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    })
}

/// Top-level module → the top-level modules its files name as `crate::…`.
fn dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(&src).unwrap();
            let first = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy();
            let module = first.trim_end_matches(".rs").to_owned();
            if module == "lib" || module == "main" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let deps = graph.entry(module.clone()).or_default();
            for name in named_after(&text, "crate::") {
                if !name.is_empty() && name != module {
                    deps.insert(name);
                }
            }
        }
    }
    graph
}

#[test]
fn the_http_layer_never_reaches_the_store() {
    let graph = dependencies();
    assert!(
        !graph["http"].contains("store"),
        "src/http imports from store; call a domain service instead"
    );
}

#[test]
fn the_store_depends_only_on_the_leaves() {
    let graph = dependencies();
    let allowed: BTreeSet<String> = ["chain", "error", "kinds", "names", "tlog"]
        .map(String::from)
        .into();
    let extra: Vec<_> = graph["store"].difference(&allowed).collect();
    assert!(extra.is_empty(), "store depends on {extra:?}");
}

/// The files under `src/<dir>` → the top-level modules they name.
fn imports_under(dir: &str) -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(dir);
    let mut names = BTreeSet::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                names.extend(named_after(&text, "crate::"));
            }
        }
    }
    names
}

#[test]
fn the_api_types_are_a_leaf_both_sides_share() {
    let graph = dependencies();
    let allowed: BTreeSet<String> = ["chain", "kinds", "names"]
        .into_iter()
        .map(String::from)
        .collect();
    let extra: Vec<_> = graph["api"].difference(&allowed).collect();
    assert!(extra.is_empty(), "api depends on {extra:?}");
}

/// The console renders what one catalog read answers: it names no domain
/// service's module (registry, trust, lineage, audit) and never the store.
#[test]
fn the_console_reads_through_the_catalog() {
    let allowed: BTreeSet<String> = [
        "api", "auth", "catalog", "error", "http", "kinds", "names", "page", "trail",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    let names = imports_under("http/console");
    let extra: Vec<_> = names.difference(&allowed).collect();
    assert!(extra.is_empty(), "the console names {extra:?}");
}

/// The OCI face's handlers reach the registry through the `oci` domain service
/// (and the permit `trust` grants); the `oci` service itself never reaches the
/// store, nor the HTTP layer above it.
#[test]
fn the_oci_face_reads_through_its_domain_service() {
    let allowed: BTreeSet<String> = [
        "api", "auth", "error", "http", "metrics", "names", "oci", "registry", "trail", "trust",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    let names = imports_under("http/oci");
    let extra: Vec<_> = names.difference(&allowed).collect();
    assert!(extra.is_empty(), "the OCI face names {extra:?}");
    let graph = dependencies();
    for below in ["store", "http", "blobs"] {
        assert!(
            !graph["oci"].contains(below),
            "src/oci imports from {below}; it asks trust and registry"
        );
    }
}

#[test]
fn the_client_speaks_only_the_api_and_the_shared_leaves() {
    let graph = dependencies();
    let allowed: BTreeSet<String> = [
        "api", "chain", "kinds", "names", "signing", "tlog", "vectored",
    ]
    .map(String::from)
    .into();
    let extra: Vec<_> = graph["client"].difference(&allowed).collect();
    assert!(
        extra.is_empty(),
        "src/client imports {extra:?}; the client speaks to the server only over its API"
    );
}

#[test]
fn no_two_modules_depend_on_each_other_even_indirectly() {
    assert_acyclic(&dependencies(), "module");
}

/// The files of the client's module import each other without a circle.
#[test]
fn the_client_files_form_no_circle() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/client");
    let files: BTreeMap<String, String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .map(|p| {
            let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
            (stem, std::fs::read_to_string(&p).unwrap())
        })
        .filter(|(stem, _)| stem != "mod")
        .collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (stem, text) in &files {
        let deps = graph.entry(stem.clone()).or_default();
        for name in named_after(text, "super::") {
            if files.contains_key(&name) && &name != stem {
                deps.insert(name);
            }
        }
    }
    assert_acyclic(&graph, "client file");
}

/// Fails on the first cycle a depth-first search meets.
fn assert_acyclic(graph: &BTreeMap<String, BTreeSet<String>>, what: &str) {
    // Depth-first search for a back edge.
    fn visit<'a>(
        m: &'a str,
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
        what: &str,
    ) {
        if done.contains(m) {
            return;
        }
        if let Some(at) = path.iter().position(|p| *p == m) {
            panic!("{what} cycle: {} -> {m}", path[at..].join(" -> "));
        }
        path.push(m);
        for d in graph.get(m).into_iter().flatten() {
            visit(d, graph, path, done, what);
        }
        path.pop();
        done.insert(m);
    }
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        visit(m, graph, &mut Vec::new(), &mut done, what);
    }
}
