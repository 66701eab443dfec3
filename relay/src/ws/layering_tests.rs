//! The modules of `ws/` depend on each other one way only, and the
//! modules beside the hub never on `ws/`: read from the source's `use`
//! lines and paths (`super::name`, `crate::ws::name`), so a change that
//! closes a circle fails here instead of in review.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The code of a file without its comment lines (doc links name modules
/// without depending on them).
fn code(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first path segments that follow `prefix` in `text`: `super::client`
/// and `super::{client, visitor::handle}` name `client` (and `visitor`).
fn named_after<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    let ident = |rest: &'a str| {
        let rest = rest.trim_start();
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        &rest[..end]
    };
    let mut names = Vec::new();
    for (at, _) in text.match_indices(prefix) {
        let rest = &text[at + prefix.len()..];
        let Some(group) = rest.strip_prefix('{') else {
            names.push(ident(rest));
            continue;
        };
        // The group's top-level items, each starting with a segment.
        let mut depth = 0;
        let mut start = 0;
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    names.push(ident(&group[start..i]));
                    break;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    names.push(ident(&group[start..i]));
                    start = i + 1;
                }
                _ => {}
            }
        }
    }
    names
}

/// Each module of `ws/` and the sibling modules it names.
fn ws_graph() -> BTreeMap<String, BTreeSet<String>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ws");
    let modules: BTreeSet<String> = std::fs::read_dir(&dir)
        .expect("src/ws")
        .map(|entry| entry.expect("an entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .map(|path| path.file_stem().unwrap().to_string_lossy().into_owned())
        .filter(|name| name != "mod")
        .collect();
    modules
        .iter()
        .map(|module| {
            let text = code(&dir.join(format!("{module}.rs")));
            let uses = named_after(&text, "super::")
                .into_iter()
                .chain(named_after(&text, "crate::ws::"))
                .filter(|name| modules.contains(*name) && name != module)
                .map(str::to_string)
                .collect();
            (module.clone(), uses)
        })
        .collect()
}

/// A circle of modules, if there is one (depth-first search).
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_module_of_ws_reaches_back_to_one_that_uses_it() {
    let graph = ws_graph();
    assert!(graph.len() > 5, "the modules of ws/ were found: {graph:?}");
    assert!(
        graph["client"].contains("visitor") && graph["visitor"].contains("context"),
        "the graph reads the use lines: {graph:?}"
    );
    assert_eq!(find_cycle(&graph), None, "{graph:#?}");
}

#[test]
fn grouped_and_nested_imports_name_each_module() {
    let text = "use super::{operator, visitor::{handle, welcome}, x};\nsuper::status::f();";
    assert_eq!(
        named_after(text, "super::"),
        vec!["operator", "visitor", "x", "status"]
    );
}

#[test]
fn a_circle_is_found_when_there_is_one() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec![]),
    ]
    .into_iter()
    .map(|(k, v)| (k.into(), v.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(
        find_cycle(&graph),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
}

#[test]
fn the_hub_fanout_and_catchup_never_use_the_websocket_handlers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for file in ["hub.rs", "fanout.rs", "catchup.rs"] {
        let text = code(&src.join(file));
        assert!(!text.contains("crate::ws"), "{file} uses crate::ws");
    }
}
