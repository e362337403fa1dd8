//! Walking a body with its plan without building anything: [`skip`] steps over one
//! value, [`check`] also checks what a typed consumer would refuse (invalid UTF-8,
//! decimals beyond their precision), and [`validate`] checks that a body is exactly
//! one value.

use crate::binary::{decimal_digits, Reader};
use crate::error::{DecodeError, Decoded};
use crate::plan::Node;

/// Walks over one value without building anything: validates a body's structure.
pub fn skip(node: &Node, r: &mut Reader<'_>) -> Decoded<()> {
    walk(node, r, false)
}

/// Like [`skip`], and also checks what the Parquet columns would refuse (strings
/// that are not UTF-8, decimals beyond their precision), so that a record either
/// passes whole or leaves the columns untouched.
pub fn check(node: &Node, body: &[u8]) -> Decoded<()> {
    let mut r = Reader::new(body);
    walk(node, &mut r, true)?;
    r.expect_end()
}

fn walk(node: &Node, r: &mut Reader<'_>, strict: bool) -> Decoded<()> {
    match node {
        Node::Null => {}
        Node::Boolean => {
            r.boolean()?;
        }
        Node::Int(_) => {
            r.int()?;
        }
        Node::Long(_) => {
            r.long()?;
        }
        Node::Float => {
            r.fixed(4)?;
        }
        Node::Double => {
            r.fixed(8)?;
        }
        Node::String if strict => {
            r.string()?;
        }
        Node::Bytes | Node::String => {
            r.bytes()?;
        }
        Node::Fixed(n) => {
            r.fixed(*n)?;
        }
        Node::Decimal {
            precision, fixed, ..
        } => {
            let raw = match fixed {
                Some(n) => r.fixed(*n)?,
                None => r.bytes()?,
            };
            if strict {
                check_precision(raw, *precision)?;
            }
        }
        Node::Enum(symbols) => {
            r.symbol(symbols)?;
        }
        Node::Array(item) => loop {
            let (n, size) = r.block_header()?;
            if n == 0 {
                break;
            }
            if let (Some(size), false) = (size, strict) {
                r.fixed(size)?;
            } else {
                for _ in 0..n {
                    walk(item, r, strict)?;
                }
            }
        },
        Node::Map(value) => loop {
            let (n, size) = r.block_header()?;
            if n == 0 {
                break;
            }
            if let (Some(size), false) = (size, strict) {
                r.fixed(size)?;
            } else {
                for _ in 0..n {
                    if strict {
                        r.string()?;
                    } else {
                        r.bytes()?;
                    }
                    walk(value, r, strict)?;
                }
            }
        },
        Node::Record(fields) => {
            for f in fields.iter() {
                walk(&f.node, r, strict).map_err(|e| e.in_field(&f.name))?;
            }
        }
        Node::Optional { null_index, inner } => {
            if r.branch(2)? != *null_index as usize {
                walk(inner, r, strict)?;
            }
        }
        Node::Union(u) => {
            let i = r.branch(u.branches.len())?;
            walk(&u.branches[i], r, strict)?;
        }
    }
    Ok(())
}

/// Errors when a decimal's unscaled value has more digits than `precision`.
fn check_precision(raw: &[u8], precision: usize) -> Decoded<()> {
    let digits = decimal_digits(raw);
    if digits > precision {
        return Err(DecodeError::new(format!(
            "decimal unscaled value has {digits} digits, more than the schema's precision {precision}"
        )));
    }
    Ok(())
}

/// Checks that `body` is exactly one value of `node`.
pub fn validate(node: &Node, body: &[u8]) -> Decoded<()> {
    let mut r = Reader::new(body);
    skip(node, &mut r)?;
    r.expect_end()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binary::{put_long, put_str};
    use crate::plan::compile;
    use apache_avro::Schema;

    fn parse(json: &str) -> Schema {
        Schema::parse_str(json).unwrap()
    }

    #[test]
    fn validate_catches_short_long_and_bad_unions() {
        let node = compile(&parse(
            r#"{"type":"record","name":"r","fields":[{"name":"a","type":["null","string"]},{"name":"b","type":"long"}]}"#,
        ))
        .unwrap();
        let mut good = Vec::new();
        put_long(&mut good, 1);
        put_str(&mut good, "hi");
        put_long(&mut good, 7);
        validate(&node, &good).unwrap();

        let err = validate(&node, &good[..good.len() - 1]).unwrap_err();
        assert!(
            err.to_string().contains("field b: the Avro body ends"),
            "{err}"
        );
        let mut long = good.clone();
        long.push(0);
        assert!(validate(&node, &long)
            .unwrap_err()
            .to_string()
            .contains("1 bytes left"));
        let mut bad = good.clone();
        bad[0] = 4; // branch 2
        let err = validate(&node, &bad).unwrap_err();
        assert!(err.to_string().contains("field a: union branch 2"), "{err}");
    }

    #[test]
    fn skip_uses_block_sizes() {
        let node = compile(&parse(r#"{"type":"array","items":"string"}"#)).unwrap();
        let mut body = Vec::new();
        // One block of 2 items written with a byte size, then the end marker.
        let mut items = Vec::new();
        put_str(&mut items, "a");
        put_str(&mut items, "bc");
        put_long(&mut body, -2);
        put_long(&mut body, items.len() as i64);
        body.extend_from_slice(&items);
        put_long(&mut body, 0);
        validate(&node, &body).unwrap();
    }
}
