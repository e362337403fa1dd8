//! JSON text for Avro records, the way Confluent's JsonFormat writes them: Connect's
//! `JsonConverter` with `schemas.enable=false` over the record AvroData made of the
//! Avro value. So dates are int days, times and timestamps plain numbers (ms, or µs
//! for the micros types), bytes and fixed base64 strings, decimals base64 of the
//! unscaled two's-complement bytes (or plain numbers with `json.decimal.format=NUMERIC`),
//! enums their symbol, and a general union Connect's union struct (one key per
//! branch, only the chosen one non-null).

use std::io::Write;

use crate::columns::be_i256;
use creek_avro::{Decoded, Node, Reader};

/// Renders one Avro value of `node` as JSON text into `out`.
pub(crate) fn render(
    node: &Node,
    r: &mut Reader<'_>,
    out: &mut Vec<u8>,
    numeric_decimals: bool,
) -> Decoded<()> {
    match node {
        Node::Null => out.extend_from_slice(b"null"),
        Node::Boolean => {
            let b = r.boolean()?;
            out.extend_from_slice(if b { b"true" } else { b"false" });
        }
        Node::Int(_) => write_display(out, r.int()?),
        Node::Long(_) => write_display(out, r.long()?),
        Node::Float => write_float(out, f64::from(r.float()?), true),
        Node::Double => write_float(out, r.double()?, false),
        Node::Bytes => write_base64(out, r.bytes()?),
        Node::Fixed(n) => write_base64(out, r.fixed(*n)?),
        Node::String => write_str(out, r.string()?),
        Node::Enum(symbols) => write_str(out, r.symbol(symbols)?),
        Node::Decimal { scale, fixed, .. } => {
            let raw = match fixed {
                Some(n) => r.fixed(*n)?,
                None => r.bytes()?,
            };
            if numeric_decimals {
                let unscaled = be_i256(raw)?;
                out.extend_from_slice(decimal_text(&unscaled.to_string(), *scale).as_bytes());
            } else {
                // Connect's Decimal.fromLogical: BigInteger.toByteArray, the minimal
                // two's complement (a fixed-size decimal carries sign padding).
                write_base64(out, minimal_twos_complement(raw));
            }
        }
        Node::Array(item) => {
            out.push(b'[');
            let mut first = true;
            loop {
                let n = r.block_len()?;
                if n == 0 {
                    break;
                }
                for _ in 0..n {
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    render(item, r, out, numeric_decimals)?;
                }
            }
            out.push(b']');
        }
        Node::Map(value) => {
            out.push(b'{');
            let mut first = true;
            loop {
                let n = r.block_len()?;
                if n == 0 {
                    break;
                }
                for _ in 0..n {
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    write_str(out, r.string()?);
                    out.push(b':');
                    render(value, r, out, numeric_decimals)?;
                }
            }
            out.push(b'}');
        }
        Node::Record(fields) => {
            out.push(b'{');
            for (i, f) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(f.json_key.as_bytes());
                render(&f.node, r, out, numeric_decimals).map_err(|e| e.in_field(&f.name))?;
            }
            out.push(b'}');
        }
        Node::Optional { null_index, inner } => {
            if r.branch(2)? == *null_index as usize {
                out.extend_from_slice(b"null");
            } else {
                render(inner, r, out, numeric_decimals)?;
            }
        }
        Node::Union(u) => {
            let chosen = r.branch(u.branches.len())?;
            if u.names[chosen].is_none() {
                out.extend_from_slice(b"null");
                return Ok(());
            }
            out.push(b'{');
            let mut first = true;
            for (i, name) in u.names.iter().enumerate() {
                let Some(name) = name else { continue };
                if !first {
                    out.push(b',');
                }
                first = false;
                write_str(out, name);
                out.push(b':');
                if i == chosen {
                    render(&u.branches[i], r, out, numeric_decimals)?;
                } else {
                    out.extend_from_slice(b"null");
                }
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn write_display(out: &mut Vec<u8>, v: impl std::fmt::Display) {
    write!(out, "{v}").expect("writing to a Vec cannot fail");
}

/// Finite numbers as JSON numbers (an Avro float in its shortest `f32` form, so
/// 0.1f prints as 0.1); NaN and infinities as the strings Jackson writes.
fn write_float(out: &mut Vec<u8>, v: f64, single: bool) {
    if v.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
    } else if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 {
            b"\"Infinity\""
        } else {
            b"\"-Infinity\""
        });
    } else if single {
        serde_json::to_writer(&mut *out, &(v as f32)).expect("a finite f32 serializes");
    } else {
        serde_json::to_writer(&mut *out, &v).expect("a finite f64 serializes");
    }
}

pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
}

fn write_base64(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    base64_into(out, bytes);
    out.push(b'"');
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (what Jackson writes for `byte[]`).
pub(crate) fn base64_into(out: &mut Vec<u8>, bytes: &[u8]) {
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(BASE64[(n >> 18) as usize & 63]);
        out.push(BASE64[(n >> 12) as usize & 63]);
        out.push(if chunk.len() > 1 {
            BASE64[(n >> 6) as usize & 63]
        } else {
            b'='
        });
        out.push(if chunk.len() > 2 {
            BASE64[n as usize & 63]
        } else {
            b'='
        });
    }
}

/// Drops leading bytes that only repeat the sign.
fn minimal_twos_complement(mut raw: &[u8]) -> &[u8] {
    while raw.len() > 1
        && ((raw[0] == 0x00 && raw[1] & 0x80 == 0) || (raw[0] == 0xff && raw[1] & 0x80 != 0))
    {
        raw = &raw[1..];
    }
    raw
}

/// `unscaled × 10^-scale` in plain notation (BigDecimal.toPlainString).
fn decimal_text(unscaled: &str, scale: usize) -> String {
    let (sign, digits) = match unscaled.strip_prefix('-') {
        Some(d) => ("-", d),
        None => ("", unscaled),
    };
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let padded = if digits.len() <= scale {
        format!("{}{digits}", "0".repeat(scale + 1 - digits.len()))
    } else {
        digits.to_string()
    };
    let (int, frac) = padded.split_at(padded.len() - scale);
    format!("{sign}{int}.{frac}")
}

/// Renders a whole datum body and checks nothing is left over.
pub(crate) fn render_body(
    node: &Node,
    body: &[u8],
    out: &mut Vec<u8>,
    numeric_decimals: bool,
) -> Decoded<()> {
    let start = out.len();
    let mut r = Reader::new(body);
    let result = render(node, &mut r, out, numeric_decimals).and_then(|()| r.expect_end());
    if result.is_err() {
        out.truncate(start);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::parse;
    use creek_avro::{compile, put_long, put_str};

    fn b64(bytes: &[u8]) -> String {
        let mut out = Vec::new();
        base64_into(&mut out, bytes);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(b64(b""), "");
        assert_eq!(b64(b"f"), "Zg==");
        assert_eq!(b64(b"fo"), "Zm8=");
        assert_eq!(b64(b"foo"), "Zm9v");
        assert_eq!(b64(b"foobar"), "Zm9vYmFy");
        assert_eq!(b64(&[0xfb, 0x2e]), "+y4=");
    }

    #[test]
    fn decimal_bytes_are_minimized_like_big_integer() {
        assert_eq!(minimal_twos_complement(&[0, 0, 0x7f]), &[0x7f]);
        assert_eq!(minimal_twos_complement(&[0, 0, 0x80]), &[0, 0x80]);
        assert_eq!(minimal_twos_complement(&[0xff, 0xff, 0x80]), &[0x80]);
        assert_eq!(minimal_twos_complement(&[0xff, 0x7f]), &[0xff, 0x7f]);
        assert_eq!(minimal_twos_complement(&[0, 0]), &[0]);
        assert_eq!(minimal_twos_complement(&[]), &[] as &[u8]);
    }

    #[test]
    fn decimal_text_is_plain() {
        assert_eq!(decimal_text("-1234", 2), "-12.34");
        assert_eq!(decimal_text("5", 3), "0.005");
        assert_eq!(decimal_text("-5", 1), "-0.5");
        assert_eq!(decimal_text("42", 0), "42");
    }

    #[test]
    fn renders_like_json_converter_without_schemas() {
        let node = compile(&parse(
            r#"{"type":"record","name":"r","fields":[
                {"name":"nome","type":["null","string"]},
                {"name":"nascimento","type":["null",{"type":"int","logicalType":"date"}]},
                {"name":"dt_update","type":{"type":"long","logicalType":"timestamp-millis"}},
                {"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}},
                {"name":"ratio","type":"float"},
                {"name":"raw","type":"bytes"},
                {"name":"color","type":{"type":"enum","name":"c","symbols":["RED","GREEN"]}},
                {"name":"u","type":["null","int","string"]},
                {"name":"tags","type":{"type":"array","items":"string"}},
                {"name":"m","type":{"type":"map","values":"boolean"}}
            ]}"#,
        ))
        .unwrap();
        let mut b = Vec::new();
        put_long(&mut b, 1);
        put_str(&mut b, "Ana \"A\"\n");
        put_long(&mut b, 0);
        put_long(&mut b, 1_618_269_963_655);
        put_long(&mut b, 2);
        b.extend_from_slice(&[0xfb, 0x2e]);
        b.extend_from_slice(&0.1f32.to_le_bytes());
        put_long(&mut b, 3);
        b.extend_from_slice(b"foo");
        put_long(&mut b, 1);
        put_long(&mut b, 2);
        put_str(&mut b, "x");
        put_long(&mut b, 1);
        put_str(&mut b, "t");
        put_long(&mut b, 0);
        put_long(&mut b, 1);
        put_str(&mut b, "k");
        b.push(1);
        put_long(&mut b, 0);

        let mut out = Vec::new();
        render_body(&node, &b, &mut out, false).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"nome":"Ana \"A\"\n","nascimento":null,"dt_update":1618269963655,"price":"+y4=","ratio":0.1,"raw":"Zm9v","color":"GREEN","u":{"int":null,"string":"x"},"tags":["t"],"m":{"k":true}}"#
        );
        let mut out = Vec::new();
        render_body(&node, &b, &mut out, true).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains(r#""price":-12.34,"#), "{text}");
        // Every line is valid JSON.
        serde_json::from_str::<serde_json::Value>(&text).unwrap();
    }

    #[test]
    fn a_failed_record_leaves_no_partial_line() {
        let node = compile(&parse(
            r#"{"type":"record","name":"r","fields":[{"name":"a","type":"string"},{"name":"b","type":"long"}]}"#,
        ))
        .unwrap();
        let mut b = Vec::new();
        put_str(&mut b, "x");
        let mut out = b"previous\n".to_vec();
        let err = render_body(&node, &b, &mut out, false).unwrap_err();
        assert_eq!(out, b"previous\n");
        assert!(err.to_string().starts_with("field b:"), "{err}");
    }
}
