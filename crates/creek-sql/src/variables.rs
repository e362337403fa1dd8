//! `${name}` variable substitution, as ksqlDB does it (KLIP-38, its
//! `VariableSubstitutor`): the one implementation the server, the CLI and
//! the conformance runner share.
//!
//! The rules:
//! - A reference is `${name}` (spaces inside the braces are ignored, as the
//!   lexer ignores them); names match `DEFINE`d names case-insensitively.
//! - `$${` escapes a reference: it becomes `${` and nothing is substituted
//!   there (scanning goes on after it, so `$${${env}}` is `${qa}`).
//! - An undefined variable is left as written; the statement then fails
//!   (or not) as it would with that text.
//! - Inside a string literal (`'topic_${env}'`) the value is inserted with
//!   its single quotes doubled, so the literal stays one literal.
//! - Outside quotes the value must be one token: an identifier (plain,
//!   `"quoted"` or `` `back-quoted` ``), a quoted string (inner quotes
//!   doubled as above), a number or a boolean. Anything else is refused
//!   (`Illegal argument at Line: L, Col: C.`), so a value cannot inject SQL.
//! - Quoted identifiers and comments are left alone.

/// Substitutes the `variables` (name, value) into one statement's `text`.
pub fn substitute<'v>(
    text: &str,
    variables: impl IntoIterator<Item = (&'v str, &'v str)>,
) -> Result<String, String> {
    if !text.contains("${") {
        return Ok(text.to_string());
    }
    let variables: Vec<(&str, &str)> = variables.into_iter().collect();
    let lookup = |name: &str| {
        variables
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    };
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut context = Context::Code;
    let (mut line, mut column) = (1usize, 1usize);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let mut taken = 1;
        match context {
            Context::Code | Context::String => {
                let in_string = context == Context::String;
                if c == '$' && next == Some('$') && chars.get(i + 2) == Some(&'{') {
                    out.push_str("${");
                    taken = 3;
                } else if let Some((name, len)) = reference_at(&chars, i) {
                    match lookup(&name) {
                        Some(value) if in_string => out.push_str(&sanitize(value)),
                        Some(value) => out.push_str(&bare_value(value, line, column)?),
                        None => out.extend(&chars[i..i + len]),
                    }
                    taken = len;
                } else if in_string {
                    if c == '\'' && next == Some('\'') {
                        out.push_str("''");
                        taken = 2;
                    } else {
                        if c == '\'' {
                            context = Context::Code;
                        }
                        out.push(c);
                    }
                } else {
                    context = match (c, next) {
                        ('\'', _) => Context::String,
                        ('"', _) | ('`', _) => Context::Identifier(c),
                        ('-', Some('-')) => Context::LineComment,
                        ('/', Some('*')) => Context::BlockComment,
                        _ => Context::Code,
                    };
                    if matches!(context, Context::LineComment | Context::BlockComment) {
                        out.push(c);
                        out.push(next.unwrap_or_default());
                        taken = 2;
                    } else {
                        out.push(c);
                    }
                }
            }
            Context::Identifier(quote) => {
                if c == quote && next == Some(quote) {
                    out.push(c);
                    out.push(c);
                    taken = 2;
                } else {
                    if c == quote {
                        context = Context::Code;
                    }
                    out.push(c);
                }
            }
            Context::LineComment => {
                if c == '\n' {
                    context = Context::Code;
                }
                out.push(c);
            }
            Context::BlockComment => {
                if c == '*' && next == Some('/') {
                    out.push_str("*/");
                    taken = 2;
                    context = Context::Code;
                } else {
                    out.push(c);
                }
            }
        }
        for &c in &chars[i..i + taken] {
            if c == '\n' {
                line += 1;
                column = 1;
            } else {
                column += 1;
            }
        }
        i += taken;
    }
    Ok(out)
}

/// Where the scanner is: code, a string literal, a quoted identifier (with
/// its quote character), or a comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    Code,
    String,
    Identifier(char),
    LineComment,
    BlockComment,
}

/// A reference `${name}` starting at `i`: the name and the reference's length.
fn reference_at(chars: &[char], i: usize) -> Option<(String, usize)> {
    if chars.get(i) != Some(&'$') || chars.get(i + 1) != Some(&'{') {
        return None;
    }
    let close = chars[i + 2..].iter().position(|&c| c == '}')?;
    let name: String = chars[i + 2..i + 2 + close].iter().collect();
    let name = name.trim();
    is_variable_name(name).then(|| (name.to_string(), close + 3))
}

/// ksqlDB's variable names: a letter or `_`, then letters, digits or `_`.
fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A value as it goes into a string literal, or a quoted value as a string
/// literal: single quotes doubled (a quoted value keeps its outer quotes).
fn sanitize(value: &str) -> String {
    match value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        Some(inner) if value.len() >= 2 => format!("'{}'", inner.replace('\'', "''")),
        _ => value.replace('\'', "''"),
    }
}

/// A value substituted outside quotes: one identifier or literal, or an error.
fn bare_value(value: &str, line: usize, column: usize) -> Result<String, String> {
    let quoted_in = |q: char| {
        value.len() >= 2
            && value.starts_with(q)
            && value.ends_with(q)
            && is_identifier(&value[1..value.len() - 1].replace(&format!("{q}{q}"), &q.to_string()))
    };
    if value.len() >= 2 && value.starts_with('\'') && value.ends_with('\'') {
        return Ok(sanitize(value));
    }
    if is_identifier(value)
        || quoted_in('"')
        || quoted_in('`')
        || value.eq_ignore_ascii_case("true")
        || value.eq_ignore_ascii_case("false")
        || is_number(value)
    {
        return Ok(value.to_string());
    }
    Err(format!("Illegal argument at Line: {line}, Col: {column}."))
}

/// ksqlDB's identifier check for substituted names (`@` allowed after the first).
fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '@')
}

/// A decimal number: sign, digits with an optional fraction, optional exponent.
fn is_number(text: &str) -> bool {
    let t = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match t.find(['e', 'E']) {
        Some(p) => (&t[..p], Some(&t[p + 1..])),
        None => (t, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    let mantissa_ok =
        !(whole.is_empty() && fraction.is_empty()) && digits(whole) && digits(fraction);
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(text: &str, vars: &[(&str, &str)]) -> Result<String, String> {
        substitute(text, vars.iter().copied())
    }

    #[test]
    fn replaces_references_case_insensitively() {
        let vars = [("REPLICAS", "3"), ("format", "'AVRO'")];
        assert_eq!(
            sub(
                "CREATE STREAM s WITH (replicas=${replicas}, value_format=${FORMAT});",
                &vars
            )
            .unwrap(),
            "CREATE STREAM s WITH (replicas=3, value_format='AVRO');"
        );
        assert_eq!(
            sub("DESCRIBE ${ replicas };", &vars).unwrap(),
            "DESCRIBE 3;"
        );
    }

    #[test]
    fn inside_string_literals_quotes_are_doubled() {
        let vars = [("env", "qa"), ("name", "it's"), ("q", "'x'")];
        assert_eq!(
            sub("DEFINE t = 'topic_${env}';", &vars).unwrap(),
            "DEFINE t = 'topic_qa';"
        );
        assert_eq!(sub("SELECT '${name}';", &vars).unwrap(), "SELECT 'it''s';");
        // A string's own doubled quotes do not end it.
        assert_eq!(
            sub("SELECT 'a''${env}';", &vars).unwrap(),
            "SELECT 'a''qa';"
        );
        assert_eq!(sub("SELECT ${q};", &vars).unwrap(), "SELECT 'x';");
    }

    #[test]
    fn identifiers_plain_and_quoted() {
        let vars = [
            ("identifier", "_id_"),
            ("quoted", "\"_id_\""),
            ("back", "`_id_`"),
        ];
        assert_eq!(
            sub("DESCRIBE ${identifier};", &vars).unwrap(),
            "DESCRIBE _id_;"
        );
        assert_eq!(
            sub("DESCRIBE ${quoted};", &vars).unwrap(),
            "DESCRIBE \"_id_\";"
        );
        assert_eq!(
            sub("DESCRIBE ${back} EXTENDED;", &vars).unwrap(),
            "DESCRIBE `_id_` EXTENDED;"
        );
        // Inside a quoted identifier nothing is substituted.
        assert_eq!(
            sub("DESCRIBE \"${identifier}\";", &vars).unwrap(),
            "DESCRIBE \"${identifier}\";"
        );
        assert_eq!(
            sub("DESCRIBE `${identifier}`;", &vars).unwrap(),
            "DESCRIBE `${identifier}`;"
        );
    }

    #[test]
    fn literals_outside_quotes() {
        let vars = [
            ("num", "1"),
            ("dec", "0.32"),
            ("bool", "false"),
            ("str", "'john'"),
            ("e", "-1.5E3"),
        ];
        assert_eq!(
            sub(
                "INSERT INTO s VALUES (${num}, ${bool}, ${dec}, ${str}, ${e});",
                &vars
            )
            .unwrap(),
            "INSERT INTO s VALUES (1, false, 0.32, 'john', -1.5E3);"
        );
    }

    #[test]
    fn quoted_values_are_sanitized_not_injected() {
        let vars = [("escapeQuote", "'t1', value_format='AVRO'")];
        assert_eq!(
            sub("CREATE STREAM s1 WITH (kafka_topic=${escapeQuote});", &vars).unwrap(),
            "CREATE STREAM s1 WITH (kafka_topic='t1'', value_format=''AVRO');"
        );
    }

    #[test]
    fn values_that_are_not_one_token_are_refused() {
        let vars = [
            ("schema", "s1 (id, name)"),
            ("values", "1, 5"),
            ("where_", "s1 WHERE id = 1"),
            ("expr", "5 and id != 5"),
            ("keyword", "EXTENDED _id_"),
            ("quoted", "\"EXTENDED _id_\""),
            ("at", "@id"),
        ];
        for (text, col) in [
            ("INSERT INTO ${schema} VALUES (1);", 13),
            ("INSERT INTO s1 VALUES (${values});", 24),
            ("SELECT * FROM ${where_};", 15),
            ("SELECT * FROM s1\nWHERE id = ${expr};", 12),
            ("DESCRIBE ${keyword};", 10),
            ("DESCRIBE ${quoted};", 10),
            ("DESCRIBE ${at};", 10),
        ] {
            let line = if text.contains('\n') { 2 } else { 1 };
            assert_eq!(
                sub(text, &vars),
                Err(format!("Illegal argument at Line: {line}, Col: {col}.")),
                "{text}"
            );
        }
    }

    #[test]
    fn undefined_variables_stay_as_written() {
        let vars = [("a", "x")];
        assert_eq!(
            sub("PRINT ${b} '${c}' ${a};", &vars).unwrap(),
            "PRINT ${b} '${c}' x;"
        );
        // Not references: an invalid name, an unterminated one.
        assert_eq!(
            sub("SELECT '${1x}' ${a", &vars).unwrap(),
            "SELECT '${1x}' ${a"
        );
    }

    #[test]
    fn escaped_references_are_not_substituted() {
        let vars = [("env", "qa")];
        assert_eq!(
            sub("DEFINE t = 'topic_$${env}';", &vars).unwrap(),
            "DEFINE t = 'topic_${env}';"
        );
        // Scanning goes on after the escape, as ksqlDB's substitutor does.
        assert_eq!(
            sub("DEFINE t = 'topic_$${${env}}';", &vars).unwrap(),
            "DEFINE t = 'topic_${qa}';"
        );
        assert_eq!(sub("PRINT $${env};", &vars).unwrap(), "PRINT ${env};");
    }

    #[test]
    fn comments_are_left_alone() {
        let vars = [("a", "x")];
        assert_eq!(
            sub("SHOW STREAMS; -- ${a} here\n/* and ${a} */ ${a}", &vars).unwrap(),
            "SHOW STREAMS; -- ${a} here\n/* and ${a} */ x"
        );
    }

    #[test]
    fn number_shapes() {
        for n in ["1", "-2", "+3.5", ".5", "5.", "1e9", "2.5E-3"] {
            assert!(is_number(n), "{n}");
        }
        for n in ["", ".", "e5", "1e", "1.2.3", "0x10", "NaN", "1 2"] {
            assert!(!is_number(n), "{n}");
        }
    }
}
