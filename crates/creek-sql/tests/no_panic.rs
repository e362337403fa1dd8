//! The parser must return errors, never panic: parse every prefix of every
//! QTT statement (truncated input hits most error paths).

mod common;
use common::strip_comments;

fn statements() -> Vec<String> {
    let mut out = Vec::new();
    for dir in common::qtt_dirs() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            if path.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let text = strip_comments(&std::fs::read_to_string(&path).unwrap());
            let json: serde_json::Value = serde_json::from_str(&text).unwrap();
            for case in json["tests"].as_array().into_iter().flatten() {
                for s in case["statements"].as_array().into_iter().flatten() {
                    if let Some(s) = s.as_str() {
                        out.push(s.to_string());
                    }
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn prefixes_never_panic() {
    let stmts = statements();
    let mut parsed = 0usize;
    for s in &stmts {
        for (i, _) in s.char_indices() {
            let prefix = &s[..i];
            if creek_sql::parse_statements(prefix).is_ok() {
                parsed += 1;
            }
            let _ = creek_sql::parse_expression(prefix);
        }
    }
    println!("{} statements, {parsed} prefixes parse", stmts.len());
}
