//! The lineage graph, drawn on the server as SVG: versions in columns by their
//! depth from the version shown (base models before it, fine-tunes after), each
//! dataset and commit just before the first version built from it, edges from
//! what each was built from.

use std::collections::BTreeMap;

use maud::{Markup, html};
use uuid::Uuid;

use crate::catalog::{InputNode, LineageGraph, VersionNode};

const W: i64 = 230;
const H: i64 = 44;
const COL_GAP: i64 = 50;
const ROW_GAP: i64 = 18;
const MARGIN: i64 = 20;

struct Node {
    x: i64,
    y: i64,
    href: String,
    title: String,
    detail: String,
    class: &'static str,
}

fn at(col: i64, row: i64) -> (i64, i64) {
    (MARGIN + col * (W + COL_GAP), MARGIN + row * (H + ROW_GAP))
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(n - 1).collect();
        out.push('…');
        out
    }
}

fn search(q: &str) -> String {
    let q: String = url::form_urlencoded::byte_serialize(q.as_bytes()).collect();
    format!("/ui/search?q={q}")
}

pub fn draw(g: &LineageGraph) -> Markup {
    let laid = Layout::of(g);
    let edges = laid.edges(g);
    svg(&laid.nodes, &edges)
}

/// The nodes placed: versions in odd columns by depth, each dataset or commit
/// in the even column just before the first version built from it.
struct Layout {
    nodes: Vec<Node>,
    /// `kind:value` → the input's node.
    input_at: BTreeMap<String, usize>,
    version_at: BTreeMap<Uuid, usize>,
}

impl Layout {
    fn of(g: &LineageGraph) -> Self {
        let min_depth = g.versions.iter().map(|v| v.depth).min().unwrap_or(0);
        let col_of = |depth: i64| 1 + 2 * (depth - min_depth);
        let mut first_use: BTreeMap<String, i64> = BTreeMap::new();
        for n in &g.versions {
            for (kind, value) in n.inputs() {
                let col = first_use
                    .entry(format!("{kind}:{value}"))
                    .or_insert(i64::MAX);
                *col = (*col).min(col_of(n.depth) - 1);
            }
        }
        let mut rows_in: BTreeMap<i64, i64> = BTreeMap::new();
        // Inputs between two version columns start a row down, clear of the
        // parent edges that cross there.
        let mut place = |col: i64| {
            let r = rows_in
                .entry(col)
                .or_insert(i64::from(col > 0 && col % 2 == 0));
            *r += 1;
            at(col, *r - 1)
        };
        let mut laid = Self {
            nodes: Vec::new(),
            input_at: BTreeMap::new(),
            version_at: BTreeMap::new(),
        };
        let inputs = g
            .datasets
            .values()
            .map(|d| (d, "dataset"))
            .chain(g.commits.values().map(|c| (c, "commit")));
        for (input, kind) in inputs {
            let key = format!("{kind}:{}", input.value);
            let (x, y) = place(first_use.get(&key).copied().unwrap_or(0));
            laid.input_at.insert(key, laid.nodes.len());
            laid.nodes.push(input_node(x, y, kind, input));
        }
        for (i, n) in g.versions.iter().enumerate() {
            let (x, y) = place(col_of(n.depth));
            laid.version_at.insert(n.version.id, laid.nodes.len());
            laid.nodes.push(version_node(x, y, n, i == 0));
        }
        laid
    }

    /// Inputs to the versions built from them, parents to children, each
    /// marked when it comes from a quarantined node.
    fn edges(&self, g: &LineageGraph) -> Vec<(usize, usize, bool)> {
        let bad = |from: usize| self.nodes[from].class.contains("bad");
        let mut edges = Vec::new();
        for n in &g.versions {
            let to = self.version_at[&n.version.id];
            for (kind, value) in n.inputs() {
                if let Some(&from) = self.input_at.get(&format!("{kind}:{value}")) {
                    edges.push((from, to, bad(from)));
                }
            }
        }
        for (parent, child) in &g.parent_edges {
            if let (Some(&from), Some(&to)) =
                (self.version_at.get(parent), self.version_at.get(child))
            {
                edges.push((from, to, bad(from)));
            }
        }
        edges
    }
}

fn input_node(x: i64, y: i64, kind: &str, input: &InputNode) -> Node {
    Node {
        x,
        y,
        href: search(&input.value),
        title: format!("{kind} {}", clip(&input.value, 14)),
        detail: if input.quarantined {
            "quarantined".into()
        } else {
            kind.into()
        },
        class: if input.quarantined {
            "node input bad"
        } else {
            "node input"
        },
    }
}

fn version_node(x: i64, y: i64, n: &VersionNode, focus: bool) -> Node {
    let v = &n.version;
    Node {
        x,
        y,
        href: format!(
            "/ui/models/{}/{}/versions/{}",
            v.namespace, v.model, v.version
        ),
        title: clip(&format!("{}/{}@{}", v.namespace, v.model, v.version), 30),
        detail: match (n.quarantined, v.is_sealed()) {
            (true, _) => "quarantined".into(),
            (false, true) => "sealed".into(),
            (false, false) => "draft".into(),
        },
        class: match (n.quarantined, focus) {
            (true, true) => "node version focus bad",
            (true, false) => "node version bad",
            (false, true) => "node version focus",
            (false, false) => "node version",
        },
    }
}

/// The graph as SVG. Every element is closed explicitly: an HTML parser reads
/// `<rect>` in SVG as an open element, not an empty one.
fn svg(nodes: &[Node], edges: &[(usize, usize, bool)]) -> Markup {
    let width = nodes.iter().map(|n| n.x + W).max().unwrap_or(W) + MARGIN;
    let height = nodes.iter().map(|n| n.y + H).max().unwrap_or(H) + MARGIN;
    html! {
        svg xmlns="http://www.w3.org/2000/svg" class="lineage" role="img"
            aria-label="Lineage graph" width=(width) height=(height)
            viewBox=(format!("0 0 {width} {height}")) {
            @for (from, to, bad) in edges {
                @let (a, b) = (&nodes[*from], &nodes[*to]);
                @let (x1, y1, x2, y2) = (a.x + W, a.y + H / 2, b.x, b.y + H / 2);
                @let mid = (x1 + x2) / 2;
                path class=(if *bad { "edge bad" } else { "edge" })
                    d=(format!("M {x1} {y1} C {mid} {y1}, {mid} {y2}, {x2} {y2}")) {}
            }
            @for n in nodes {
                a href=(n.href) {
                    g class=(n.class) {
                        rect x=(n.x) y=(n.y) width=(W) height=(H) rx="6" {}
                        text x=(n.x + 10) y=(n.y + 18) { (n.title) }
                        text class="sub" x=(n.x + 10) y=(n.y + 35) { (n.detail) }
                    }
                }
            }
        }
    }
}
