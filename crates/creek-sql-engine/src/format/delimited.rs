//! DELIMITED: one CSV record of primitive columns, read and written as
//! ksqlDB does with commons-csv (quote `"`, quotes doubled, minimal quoting;
//! an empty field is NULL).

use base64::Engine;

use creek_sql::types::SqlType;
use creek_sql::value::Value;

use super::json::{convert, B64};
use super::{Column, RowFormat};

/// The delimiter a `delimiter` property names: one character, `TAB` or `SPACE`.
pub(crate) fn parse_delimiter(text: Option<&str>) -> Result<char, String> {
    let Some(text) = text else {
        return Ok(',');
    };
    if text.eq_ignore_ascii_case("TAB") {
        return Ok('\t');
    }
    if text.eq_ignore_ascii_case("SPACE") {
        return Ok(' ');
    }
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Ok(c),
        _ => Err(format!(
            "Invalid delimiter value: '{text}'. Delimiter must be a single character or TAB or SPACE"
        )),
    }
}

pub(crate) struct DelimitedFormat {
    columns: Vec<Column>,
    delimiter: char,
    what: &'static str,
    topic: String,
    is_key: bool,
}

impl DelimitedFormat {
    pub(crate) fn new(
        columns: &[Column],
        delimiter: Option<&str>,
        is_key: bool,
        topic: &str,
    ) -> Result<DelimitedFormat, String> {
        for c in columns {
            if !c.ty.is_primitive() {
                return Err(format!(
                    "The 'DELIMITED' format does not support type '{}', column: `{}`",
                    super::base_type_name(&c.ty),
                    c.name
                ));
            }
        }
        Ok(DelimitedFormat {
            columns: columns.to_vec(),
            delimiter: parse_delimiter(delimiter)?,
            what: if is_key { "key" } else { "value" },
            topic: topic.to_string(),
            is_key,
        })
    }
}

/// Splits one CSV record; `None` fields were empty and unquoted.
pub(crate) fn split_record(line: &str, delimiter: char) -> Result<Vec<Option<String>>, String> {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let line = line.strip_suffix('\r').unwrap_or(line);
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        let mut quoted = false;
        if chars.peek() == Some(&'"') {
            quoted = true;
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err("EOF reached before encapsulated token finished".into()),
                }
            }
            match chars.peek() {
                None => {}
                Some(c) if *c == delimiter => {}
                Some(_) => {
                    return Err("invalid char between encapsulated token and delimiter".into())
                }
            }
        }
        while let Some(&c) = chars.peek() {
            if c == delimiter {
                break;
            }
            field.push(c);
            chars.next();
        }
        fields.push(if field.is_empty() && !quoted {
            None
        } else {
            Some(field)
        });
        if chars.next().is_none() {
            break;
        }
    }
    Ok(fields)
}

fn parse_field(text: &str, ty: &SqlType) -> Result<Value, String> {
    match ty {
        SqlType::String => Ok(Value::string(text)),
        SqlType::Boolean => match text.trim() {
            t if t.eq_ignore_ascii_case("true") => Ok(Value::Boolean(true)),
            _ => Ok(Value::Boolean(false)),
        },
        SqlType::Bytes => B64
            .decode(text.as_bytes())
            .map(Value::bytes)
            .map_err(|_| "Value is not a valid Base64 encoded string".to_string()),
        _ => convert(&serde_json::Value::String(text.to_string()), ty)
            .map_err(|e| e.message().to_string()),
    }
}

fn field_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::Bytes(b) => Some(B64.encode(b)),
        Value::Double(d) => Some(super::java_double(*d)),
        other => Some(super::value_text(other)),
    }
}

/// commons-csv's `QuoteMode.MINIMAL` (the version ksqlDB uses): an empty
/// first field, a first field not starting with a letter or digit, a field
/// starting with a char up to `#`, containing the delimiter, a quote or a
/// line break, or ending in whitespace.
fn needs_quotes(s: &str, delimiter: char, first: bool) -> bool {
    let Some(c) = s.chars().next() else {
        return first;
    };
    if first && !c.is_ascii_alphanumeric() {
        return true;
    }
    if c <= '#' {
        return true;
    }
    if s.chars()
        .any(|c| c == delimiter || c == '"' || c == '\n' || c == '\r')
    {
        return true;
    }
    s.ends_with(|c: char| c <= ' ')
}

impl RowFormat for DelimitedFormat {
    fn deserialize(&self, bytes: Option<&[u8]>) -> Result<Option<Vec<Value>>, String> {
        let Some(bytes) = bytes else {
            return Ok(None);
        };
        let err = |e: String| {
            format!(
                "Failed to deserialize {} from topic: {}. {e}",
                self.what, self.topic
            )
        };
        if self.columns.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let text = String::from_utf8_lossy(bytes);
        let fields = split_record(&text, self.delimiter).map_err(err)?;
        if fields.len() != self.columns.len() {
            return Err(err(format!(
                "Column count mismatch on deserialization. topic: {}, expected: {}, got: {}",
                self.topic,
                self.columns.len(),
                fields.len()
            )));
        }
        let mut row = Vec::with_capacity(fields.len());
        for (f, c) in fields.iter().zip(&self.columns) {
            row.push(match f {
                None => Value::Null,
                Some(t) => parse_field(t, &c.ty).map_err(err)?,
            });
        }
        Ok(Some(row))
    }

    fn serialize(&self, row: Option<&[Value]>) -> Result<Option<Vec<u8>>, String> {
        let Some(row) = row else {
            return Ok(None);
        };
        if self.columns.is_empty() {
            return Ok(None);
        }
        if self.columns.len() == 1 && row.first().is_none_or(|v| v.is_null()) {
            // A null key is an absent key; a value row of one NULL is empty text.
            return Ok(if self.is_key { None } else { Some(Vec::new()) });
        }
        let mut out = String::new();
        for (i, v) in row.iter().take(self.columns.len()).enumerate() {
            if i > 0 {
                out.push(self.delimiter);
            }
            if let Some(t) = field_text(v) {
                if needs_quotes(&t, self.delimiter, i == 0) {
                    out.push('"');
                    out.push_str(&t.replace('"', "\"\""));
                    out.push('"');
                } else {
                    out.push_str(&t);
                }
            }
        }
        Ok(Some(out.into_bytes()))
    }
}
