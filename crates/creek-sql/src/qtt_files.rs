//! Reading ksqlDB's query-validation-test (QTT) files: JSON with `//`
//! comments, shared by the engine's runner and the parser's tests.

/// Removes `//` comments outside strings, which some QTT files contain.
pub fn strip_comments(json: &str) -> String {
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
