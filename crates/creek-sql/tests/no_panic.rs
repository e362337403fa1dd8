//! The parser must return errors, never panic: parse every prefix of every
//! QTT statement (truncated input hits most error paths).

use std::path::Path;

fn statements() -> Vec<String> {
    let mut out = Vec::new();
    for dir in ["/work/shared/ksql-qtt", "/work/shared/ksql-qtt-rest"] {
        let Ok(entries) = std::fs::read_dir(Path::new(dir)) else {
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

/// Removes `//` comments (outside strings), which some QTT files contain.
fn strip_comments(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped, mut in_comment) = (false, false, false);
    let mut chars = json.chars().peekable();
    while let Some(c) = chars.next() {
        if in_comment {
            if c == '\n' {
                in_comment = false;
                out.push(c);
            }
            continue;
        }
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        } else if c == '/' && chars.peek() == Some(&'/') {
            in_comment = true;
            continue;
        }
        out.push(c);
    }
    out
}
