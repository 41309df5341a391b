//! No import cycles between the modules of a crate (issue 11): a cycle is
//! how a "pure core" grows a knot nobody can test or move alone. Edges are
//! the `crate::` and `super::` paths a file's non-test code names, not its
//! comments; a registry callback's `crate::sources::$module` names every
//! source module; `mod` declarations are not edges. The graph is per file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// `src/a/b.rs` is `a::b`, `src/a/mod.rs` is `a`, `src/lib.rs` is ``.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|s| s.to_string_lossy().into_owned()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        parts.pop();
    }
    parts
}

/// The code before the test module at the bottom of a file, without
/// comment lines (a doc link is not an import).
fn code(text: &str) -> String {
    non_test(text).lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

fn non_test(text: &str) -> &str {
    let mut at = 0;
    for line in text.lines() {
        let next = &text[at + line.len()..].trim_start();
        if line.trim() == "#[cfg(test)]" && (next.starts_with("mod ") || next.starts_with("pub(crate) mod ")) {
            return &text[..at];
        }
        at += line.len() + 1;
    }
    text
}

/// Every path after `crate::` or `super::` (one per `{a, b}` branch).
fn paths(code: &str, here: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = 0;
    while i < code.len() {
        let rest = &bytes[i..];
        let start = if rest.starts_with(b"crate::") && (i == 0 || !ident(bytes[i - 1])) {
            Some((Vec::new(), 7))
        } else if rest.starts_with(b"super::") && (i == 0 || !ident(bytes[i - 1])) && !bytes[..i].ends_with(b"::") {
            let mut base = here.to_vec();
            let mut n = 0;
            while bytes[i + n..].starts_with(b"super::") {
                base.pop();
                n += 7;
            }
            Some((base, n))
        } else {
            None
        };
        let Some((mut base, skip)) = start else {
            i += 1;
            continue;
        };
        let mut j = i + skip;
        loop {
            let k = j + bytes[j..].iter().take_while(|c| ident(**c)).count();
            if k == j {
                break;
            }
            base.push(code[j..k].to_string());
            if !bytes[k..].starts_with(b"::") {
                break;
            }
            j = k + 2;
        }
        // `crate::sources::$module::...` in a registry callback: any child.
        if bytes.get(j) == Some(&b'$') {
            out.push(base.into_iter().chain(["$".to_string()]).collect());
        } else {
            out.push(base);
        }
        i = j.max(i + 1);
    }
    out
}

fn cycles(src: &Path) -> Vec<String> {
    let mut all = Vec::new();
    files(src, &mut all);
    let modules: BTreeMap<Vec<String>, PathBuf> = all.iter().map(|f| (module_of(src, f), f.clone())).collect();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (m, f) in &modules {
        let text = std::fs::read_to_string(f).unwrap();
        let mut named = Vec::new();
        for p in paths(&code(&text), m) {
            match p.split_last() {
                Some((last, base)) if last == "$" => {
                    named.extend(modules.keys().filter(|c| c.len() == base.len() + 1 && c.starts_with(base)).cloned())
                }
                _ => named.push(p),
            }
        }
        for p in named {
            // The longest known module the path names.
            let target = (0..=p.len()).rev().map(|n| p[..n].to_vec()).find(|c| modules.contains_key(c)).unwrap();
            // A module naming its own child or itself is not an edge.
            if target != *m && !(target.len() > m.len() && target.starts_with(m)) {
                edges.entry(m.clone()).or_default().insert(target);
            }
        }
    }
    // Depth-first search for back edges.
    let mut found = Vec::new();
    let mut state: BTreeMap<Vec<String>, u8> = BTreeMap::new();
    fn visit(
        m: &Vec<String>,
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        state: &mut BTreeMap<Vec<String>, u8>,
        stack: &mut Vec<Vec<String>>,
        found: &mut Vec<String>,
    ) {
        state.insert(m.clone(), 1);
        stack.push(m.clone());
        for t in edges.get(m).into_iter().flatten() {
            match state.get(t) {
                Some(1) => {
                    let from = stack.iter().position(|s| s == t).unwrap();
                    let names: Vec<String> = stack[from..].iter().chain([t]).map(|s| s.join("::")).collect();
                    found.push(names.join(" -> "));
                }
                Some(_) => {}
                None => visit(t, edges, state, stack, found),
            }
        }
        stack.pop();
        state.insert(m.clone(), 2);
    }
    for m in modules.keys() {
        if !state.contains_key(m) {
            visit(m, &edges, &mut state, &mut Vec::new(), &mut found);
        }
    }
    found
}

#[test]
fn model_has_no_import_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    assert_eq!(cycles(&src), Vec::<String>::new());
}

#[test]
fn server_has_no_import_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/src");
    assert_eq!(cycles(&src), Vec::<String>::new());
}

#[test]
fn ingest_has_no_import_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ingest/src");
    assert_eq!(cycles(&src), Vec::<String>::new());
}

/// The checker finds a planted cycle (so the tests above can fail).
#[test]
fn a_planted_cycle_is_found() {
    let dir = std::env::temp_dir().join(format!("vru-cycle-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("a")).unwrap();
    std::fs::write(dir.join("lib.rs"), "pub mod a;\npub mod b;\n").unwrap();
    std::fs::write(dir.join("a/mod.rs"), "pub mod c;\nuse crate::b::X;\n").unwrap();
    std::fs::write(dir.join("a/c.rs"), "use super::Y;\n").unwrap();
    std::fs::write(dir.join("b.rs"), "pub struct X;\nfn f() { crate::a::c::g() }\n#[cfg(test)]\nmod tests { use crate::a::Z; }\n").unwrap();
    let found = cycles(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(found, vec!["a -> b -> a::c -> a".to_string()]);
}
