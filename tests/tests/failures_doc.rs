//! Keeps docs/FAILURES.md true: every test it names as proof exists, under
//! that name, in that file, and every row of its tables either names one
//! or says, in parentheses, why no Twinline test can.

use std::path::Path;

const DOC: &str = include_str!("../../docs/FAILURES.md");
const SEPARATOR: &str = " › ";

/// Every `file` › `name` in the doc.
fn named_tests(text: &str) -> Vec<(&str, &str)> {
    text.match_indices(SEPARATOR)
        .map(|(at, _)| {
            let before = &text[..at];
            let after = &text[at + SEPARATOR.len()..];
            let file = before
                .strip_suffix('`')
                .and_then(|b| b.rsplit_once('`'))
                .map(|(_, file)| file);
            let name = after
                .strip_prefix('`')
                .and_then(|a| a.split_once('`'))
                .map(|(name, _)| name);
            match (file, name) {
                (Some(file), Some(name)) => (file, name),
                _ => panic!(
                    "a › not between `file` and `name`: {}",
                    &text[at.saturating_sub(60)..]
                ),
            }
        })
        .collect()
}

/// Whether `source` (the file `file`) defines the test `name`: a Rust
/// function under a test attribute, or a `node:test` title.
fn defines(file: &str, source: &str, name: &str) -> bool {
    if file.ends_with(".rs") {
        let lines: Vec<&str> = source.lines().map(str::trim_start).collect();
        let signature = format!("fn {name}(");
        lines.iter().enumerate().any(|(i, line)| {
            // The attributes and comments right above the function.
            let above = lines[..i]
                .iter()
                .rev()
                .take_while(|l| l.starts_with("#[") || l.starts_with("//"));
            line.contains(&signature)
                && above
                    .filter(|l| l.starts_with("#["))
                    .any(|l| l.starts_with("#[test]") || l.contains("::test"))
        })
    } else {
        ["test(", "it("].iter().any(|call| {
            ['\'', '"', '`']
                .iter()
                .any(|quote| source.contains(&format!("{call}{quote}{name}{quote}")))
        })
    }
}

#[test]
fn every_test_failures_md_names_exists_under_that_name() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let named = named_tests(DOC);
    assert!(named.len() > 30, "only {} tests named", named.len());
    let mut missing = Vec::new();
    for (file, name) in named {
        let source = std::fs::read_to_string(repo.join(file))
            .unwrap_or_else(|e| panic!("docs/FAILURES.md names {file}: {e}"));
        if !defines(file, &source, name) {
            missing.push(format!("{file} › {name}"));
        }
    }
    assert!(
        missing.is_empty(),
        "docs/FAILURES.md names tests that do not exist: {missing:#?}"
    );
}

#[test]
fn every_row_of_failures_md_names_a_proof_or_says_why_not() {
    let rows: Vec<&str> = DOC
        .lines()
        .filter(|line| line.starts_with("| ") && !line.starts_with("| ---"))
        .filter(|line| !line.contains("| Proved by |"))
        .collect();
    assert!(
        rows.len() >= 20,
        "the paper's 17 rows and Twinline's own: {}",
        rows.len()
    );
    for row in rows {
        let proof = row
            .trim_end_matches('|')
            .rsplit('|')
            .next()
            .expect("a last cell")
            .trim();
        assert!(
            !named_tests(proof).is_empty() || proof.starts_with('('),
            "a row with no proof: {row}"
        );
    }
}

#[test]
fn the_checker_reads_both_kinds_of_test() {
    let rust = "#[tokio::test(flavor = \"multi_thread\")]\nasync fn a_crash_loses_nothing() {}\nfn helper() {}";
    assert!(defines("x.rs", rust, "a_crash_loses_nothing"));
    assert!(!defines("x.rs", rust, "helper"), "not a test");
    let node = "test('1. a row: what happens', async () => {});";
    assert!(defines("x.mjs", node, "1. a row: what happens"));
    assert!(!defines("x.mjs", node, "1. a row"));
    assert_eq!(
        named_tests("see `a.rs` › `b` and `c.mjs` › `d e`"),
        [("a.rs", "b"), ("c.mjs", "d e")]
    );
}
