//! Every crate's modules form a layering, not a web: no module imports a module
//! that (transitively) imports it back. (It lives here, beside the crate that had
//! most of them, and checks every crate of the workspace.)
//!
//! Two graphs are checked, both built from the `crate::…` and `super::…` paths
//! of the non-test code under `src/`: the top-level modules (`engine`,
//! `aggregate`, …; a file under `src/engine/` belongs to `engine`), and, inside
//! each directory module, its sibling files (`format/avro` → `format/json`).
//! A child naming its own parent is not an edge: the parent declares it, and
//! what the child needs from the parent's file lives there by construction.
//! Doc comments and `#[cfg(test)]` modules are ignored, since neither shapes
//! the build order a reader follows.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A source file's module path, e.g. `["format", "avro"]` (`mod.rs` and a
/// top-level `x.rs` name their directory / file; `lib.rs` is `[]`).
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap();
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_string());
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The file's code without comments and without its `#[cfg(test)]` modules.
fn code_of(text: &str) -> String {
    let mut out = String::new();
    let mut skipping_depth: Option<i32> = None;
    let mut depth = 0i32;
    let mut pending_cfg_test = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("//") {
            continue;
        }
        let line = match line.find(" // ") {
            Some(i) => &line[..i],
            None => line,
        };
        if trimmed.starts_with("#[cfg(test)]") {
            pending_cfg_test = true;
            continue;
        }
        if pending_cfg_test && trimmed.starts_with("mod ") {
            pending_cfg_test = false;
            if trimmed.ends_with(';') {
                continue; // an out-of-line test module: its file is skipped by name
            }
            skipping_depth = Some(depth);
        } else if !trimmed.starts_with("#[") {
            pending_cfg_test = false;
        }
        let opens = line.matches('{').count() as i32;
        let closes = line.matches('}').count() as i32;
        depth += opens - closes;
        if let Some(d) = skipping_depth {
            if depth <= d {
                skipping_depth = None;
            }
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Every path that starts with `crate::` or `super::`, with `{a, b::c}`
/// groups expanded, as its segments (`["crate", "format", "avro"]`).
fn paths_in(code: &str) -> Vec<Vec<String>> {
    let bytes = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !code.is_char_boundary(i) {
            i += 1; // inside a multi-byte character (a string or comment's text)
            continue;
        }
        let at_word_start =
            i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        let rest = &code[i..];
        if at_word_start && (rest.starts_with("crate::") || rest.starts_with("super::")) {
            let (paths, len) = parse_path(rest);
            out.extend(paths);
            i += len.max(1);
        } else {
            i += 1;
        }
    }
    out
}

/// Parses `a::b::{c, d::e}` from the start of `s`; returns the expanded paths
/// and how many bytes were consumed.
fn parse_path(s: &str) -> (Vec<Vec<String>>, usize) {
    let b = s.as_bytes();
    let mut i = 0;
    let mut prefix = Vec::new();
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i < b.len() && b[i] == b'{' {
            // A group: each comma-separated member extends the prefix.
            i += 1;
            let mut out = Vec::new();
            loop {
                while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b',') {
                    i += 1;
                }
                if i >= b.len() || b[i] == b'}' {
                    return (out, i + 1);
                }
                let (inner, len) = parse_path(&s[i..]);
                for p in inner {
                    let mut full = prefix.clone();
                    full.extend(p);
                    out.push(full);
                }
                i += len.max(1);
                // Skip `as alias` and anything up to the next separator.
                while i < b.len() && b[i] != b',' && b[i] != b'}' {
                    i += 1;
                }
            }
        }
        let start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
        if start == i {
            return (vec![prefix], i);
        }
        prefix.push(s[start..i].to_string());
        if s[i..].starts_with("::") {
            i += 2;
        } else {
            return (vec![prefix], i);
        }
    }
}

/// Resolves a path used in module `from` to an absolute module path (as
/// segments, possibly running on into item names).
fn absolute(from: &[String], path: &[String]) -> Vec<String> {
    // `super` in `a/b.rs` is `a`; in `a/mod.rs` (module `a`) it is the crate.
    let mut base: Vec<String> = from.to_vec();
    let mut rest = path;
    if rest.first().map(String::as_str) == Some("crate") {
        return rest[1..].to_vec();
    }
    while rest.first().map(String::as_str) == Some("super") {
        base.pop();
        rest = &rest[1..];
    }
    base.extend(rest.iter().cloned());
    base
}

type Graph = BTreeMap<String, BTreeSet<String>>;

fn reachable(graph: &Graph, from: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![from.to_string()];
    while let Some(n) = todo.pop() {
        for next in graph.get(&n).into_iter().flatten() {
            if seen.insert(next.clone()) {
                todo.push(next.clone());
            }
        }
    }
    seen
}

/// The groups of modules that all reach each other (each a knot to untie).
fn knots(graph: &Graph) -> Vec<BTreeSet<String>> {
    let reach: BTreeMap<&String, BTreeSet<String>> =
        graph.keys().map(|n| (n, reachable(graph, n))).collect();
    let mut out: Vec<BTreeSet<String>> = Vec::new();
    for n in graph.keys() {
        if !reach[n].contains(n) || out.iter().any(|k| k.contains(n)) {
            continue;
        }
        let knot = reach[n]
            .iter()
            .filter(|m| reach.get(m).is_some_and(|r| r.contains(n)))
            .cloned()
            .collect();
        out.push(knot);
    }
    out
}

fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    // Depth-first search with colours; a grey node reached again closes a cycle.
    fn visit(
        node: &str,
        graph: &Graph,
        colour: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        colour.insert(node.to_string(), 1);
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            match colour.get(next.as_str()).copied().unwrap_or(0) {
                1 => {
                    let from = stack.iter().position(|n| n == next).unwrap();
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(next, graph, colour, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        colour.insert(node.to_string(), 2);
        None
    }
    let mut colour = BTreeMap::new();
    for node in graph.keys() {
        if colour.get(node).copied().unwrap_or(0) == 0 {
            if let Some(c) = visit(node, graph, &mut colour, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

/// The two graphs (top level, and siblings per directory module) of the
/// crate whose sources are under `src`.
fn graphs(src: &Path) -> (Graph, BTreeMap<String, Graph>) {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_path(src, f)).collect();
    let mut top = Graph::new();
    let mut siblings: BTreeMap<String, Graph> = BTreeMap::new();
    for file in &files {
        if file.file_name().is_some_and(|n| n == "tests.rs") {
            continue; // test-only module
        }
        let from = module_path(src, file);
        if from.is_empty() {
            continue; // lib.rs declares everything
        }
        let code = code_of(&std::fs::read_to_string(file).unwrap());
        top.entry(from[0].clone()).or_default();
        if from.len() == 2 {
            siblings
                .entry(from[0].clone())
                .or_default()
                .entry(from[1].clone())
                .or_default();
        }
        for path in paths_in(&code) {
            let to = absolute(&from, &path);
            let Some(first) = to.first() else { continue };
            if !modules.contains(&vec![first.clone()]) {
                continue; // an item of lib.rs, such as `EngineError`
            }
            if *first != from[0] {
                top.entry(from[0].clone())
                    .or_default()
                    .insert(first.clone());
            } else if from.len() == 2 && to.len() >= 2 && to[1] != from[1] {
                let sibling = vec![first.clone(), to[1].clone()];
                if modules.contains(&sibling) {
                    siblings
                        .entry(from[0].clone())
                        .or_default()
                        .entry(from[1].clone())
                        .or_default()
                        .insert(to[1].clone());
                }
            }
        }
    }
    (top, siblings)
}

/// Every crate of the workspace is checked (`crates/*/src`), this one included;
/// MODULE_GRAPH_SRC checks one other tree instead (e.g. an older commit's `src`).
#[test]
fn no_import_cycles_between_modules() {
    let sources: Vec<PathBuf> = match std::env::var_os("MODULE_GRAPH_SRC") {
        Some(src) => vec![PathBuf::from(src)],
        None => {
            let crates = manifest_dir().parent().unwrap().to_path_buf();
            let mut dirs: Vec<PathBuf> = std::fs::read_dir(&crates)
                .unwrap()
                .map(|e| e.unwrap().path().join("src"))
                .filter(|src| src.join("lib.rs").exists() || src.join("main.rs").exists())
                .collect();
            dirs.sort();
            assert!(dirs.len() > 5, "no crates found under {}", crates.display());
            dirs
        }
    };
    let mut problems = Vec::new();
    for src in &sources {
        let name = src.parent().unwrap().file_name().unwrap().to_string_lossy();
        for p in cycles_in(src) {
            problems.push(format!("{name}: {p}"));
        }
    }
    assert!(
        problems.is_empty(),
        "import cycles:\n{}",
        problems.join("\n")
    );
}

/// The cycles of one crate's two graphs, described edge by edge.
fn cycles_in(src: &Path) -> Vec<String> {
    let (top, siblings) = graphs(src);
    let mut problems = Vec::new();
    let describe = |graph: &Graph, knot: &BTreeSet<String>| {
        let edges: Vec<String> = knot
            .iter()
            .flat_map(|a| {
                graph[a]
                    .iter()
                    .filter(|b| knot.contains(*b))
                    .map(move |b| format!("{a} → {b}"))
            })
            .collect();
        edges.join(", ")
    };
    if let Some(cycle) = find_cycle(&top) {
        problems.push(format!("top-level modules: {}", cycle.join(" → ")));
        for knot in knots(&top) {
            problems.push(format!("  knot: {}", describe(&top, &knot)));
        }
    }
    for (parent, graph) in &siblings {
        if let Some(cycle) = find_cycle(graph) {
            problems.push(format!("inside {parent}: {}", cycle.join(" → ")));
            for knot in knots(graph) {
                problems.push(format!("  knot: {}", describe(graph, &knot)));
            }
        }
    }
    problems
}

/// The checker itself: it sees a planted cycle, groups, `super`, and ignores
/// comments and test modules.
#[test]
fn checker_finds_planted_cycles() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir(src.join("f")).unwrap();
    let write = |p: &str, s: &str| std::fs::write(src.join(p), s).unwrap();
    write("lib.rs", "pub mod a; pub mod b; pub mod c; pub mod f;");
    write("a.rs", "use crate::{b::X, EngineError};\n");
    write("b.rs", "// use crate::a;\nfn f() { crate::c::g() }\n");
    write(
        "c.rs",
        "#[cfg(test)]\nmod tests {\n    use crate::a::Y;\n}\n",
    );
    write("f/mod.rs", "mod x; mod y;\n");
    write("f/x.rs", "use super::{y::Z, Column};\n");
    write("f/y.rs", "use super::Column;\n");
    let (top, siblings) = graphs(src);
    assert_eq!(find_cycle(&top), None, "{top:?}");
    assert!(top["a"].contains("b") && top["b"].contains("c"), "{top:?}");
    assert_eq!(find_cycle(&siblings["f"]), None, "{siblings:?}");

    write("c.rs", "pub(crate) fn g() { let _ = super::a::Y; }\n");
    let (top, _) = graphs(src);
    assert_eq!(
        find_cycle(&top),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    write("f/y.rs", "use crate::f::x::W;\n");
    let (_, siblings) = graphs(src);
    assert!(find_cycle(&siblings["f"]).is_some(), "{siblings:?}");
}

/// This crate's folder, read when the test runs (cargo sets it): `env!` would keep
/// the path the test was compiled at, wrong when a cached target dir was built
/// from a checkout elsewhere.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}
