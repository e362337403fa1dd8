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
        Node::Array(item) => {
            let empty = zero_width(item);
            let mut total = 0usize;
            loop {
                let (n, size) = r.block_header()?;
                if n == 0 {
                    break;
                }
                if empty {
                    // Items that take no bytes: nothing to read, but a consumer
                    // builds each one, so their number is bounded.
                    total = total.saturating_add(n);
                    if total > MAX_EMPTY_ITEMS {
                        return Err(too_many_empty(total));
                    }
                } else if n > r.remaining() {
                    return Err(too_many(n, r));
                }
                if let (Some(size), false) = (size, strict) {
                    r.fixed(size)?;
                } else {
                    for _ in 0..n {
                        walk(item, r, strict)?;
                    }
                }
            }
        }
        Node::Map(value) => loop {
            let (n, size) = r.block_header()?;
            if n == 0 {
                break;
            }
            if n > r.remaining() {
                return Err(too_many(n, r));
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

/// The most items an array of values that take no bytes (nulls, empty records) may
/// have: each still becomes a value in its consumer, so a forged count in a short
/// body must not become billions of them.
pub(crate) const MAX_EMPTY_ITEMS: usize = 1 << 20;

/// Whether every value of `node` takes no bytes at all.
pub(crate) fn zero_width(node: &Node) -> bool {
    match node {
        Node::Null | Node::Fixed(0) | Node::Decimal { fixed: Some(0), .. } => true,
        Node::Record(r) => r.iter().all(|f| zero_width(&f.node)),
        _ => false,
    }
}

#[cold]
pub(crate) fn too_many_empty(total: usize) -> DecodeError {
    DecodeError::new(format!(
        "an array of {total} empty items is longer than the {MAX_EMPTY_ITEMS} allowed"
    ))
}

/// A block count no body could hold: each item takes at least one byte.
#[cold]
pub(crate) fn too_many(n: usize, r: &Reader<'_>) -> DecodeError {
    DecodeError::new(format!(
        "a block of {n} items is longer than the {} bytes left in the body",
        r.remaining()
    ))
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

    #[test]
    fn forged_block_counts_are_errors() {
        // Found by tests/fuzz.rs: an array of nulls with a count of 2^62 in a
        // two-byte body looped 2^62 times (nothing to read per item).
        let nulls = compile(&parse(r#"{"type":"array","items":"null"}"#)).unwrap();
        let mut body = Vec::new();
        put_long(&mut body, 1 << 62);
        put_long(&mut body, 0);
        let err = validate(&nulls, &body).unwrap_err();
        assert!(err.to_string().contains("empty items"), "{err}");
        // A few nulls are fine.
        validate(&nulls, &[6, 0]).unwrap();
        // Items that take bytes: a count beyond the body is refused up front.
        for schema in [
            r#"{"type":"array","items":"long"}"#,
            r#"{"type":"map","values":"null"}"#,
        ] {
            let node = compile(&parse(schema)).unwrap();
            let err = check(&node, &body).unwrap_err();
            assert!(err.to_string().contains("bytes left in the body"), "{err}");
        }
    }
}
