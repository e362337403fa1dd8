//! Avro's binary encoding: [`Reader`] reads the primitives of a datum body, the
//! `put_*` functions append them, and the decimal helpers convert between an
//! unscaled integer and Avro's big-endian two's-complement bytes.

use crate::error::{DecodeError, Decoded};

#[cold]
fn eof() -> DecodeError {
    DecodeError::new("the Avro body ends in the middle of a value")
}

/// Reads Avro's binary encoding from a datum body.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// The body already passed [`check`], which validated every string's UTF-8.
    utf8_checked: bool,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            utf8_checked: false,
        }
    }

    /// A reader over a body that [`check`] accepted: strings are not validated a
    /// second time (UTF-8 validation was the hottest part of decoding).
    pub fn new_checked(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            utf8_checked: true,
        }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// How many bytes of the body were read so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The bytes read since `position` (an earlier [`position`](Self::position)),
    /// e.g. to copy a value that [`skip`](crate::skip) just stepped over.
    pub fn since(&self, position: usize) -> &'a [u8] {
        &self.buf[position.min(self.pos)..self.pos]
    }

    /// Errors unless the whole body was consumed (a body longer than its schema
    /// says means the schema id and the bytes disagree).
    pub fn expect_end(&self) -> Decoded<()> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(DecodeError::new(format!(
                "{n} bytes left after the end of the Avro record: the body does not match its schema"
            ))),
        }
    }

    /// A zigzag varint (Avro `int` and `long`).
    #[inline]
    pub fn long(&mut self) -> Decoded<i64> {
        let mut value: u64 = 0;
        let mut shift = 0u32;
        loop {
            let Some(&byte) = self.buf.get(self.pos) else {
                return Err(eof());
            };
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok((value >> 1) as i64 ^ -((value & 1) as i64));
            }
            shift += 7;
            if shift > 63 {
                return Err(DecodeError::new("an Avro varint is longer than 10 bytes"));
            }
        }
    }

    #[inline]
    pub fn int(&mut self) -> Decoded<i32> {
        let v = self.long()?;
        i32::try_from(v).map_err(|_| DecodeError::new(format!("Avro int {v} is out of range")))
    }

    #[inline]
    pub fn boolean(&mut self) -> Decoded<bool> {
        match self.fixed(1)?[0] {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(DecodeError::new(format!("invalid Avro boolean byte {b}"))),
        }
    }

    #[inline]
    pub fn float(&mut self) -> Decoded<f32> {
        let b = self.fixed(4)?;
        Ok(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    #[inline]
    pub fn double(&mut self) -> Decoded<f64> {
        let b = self.fixed(8)?;
        Ok(f64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    #[inline]
    pub fn fixed(&mut self, n: usize) -> Decoded<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or_else(eof)?;
        let bytes = self.buf.get(self.pos..end).ok_or_else(eof)?;
        self.pos = end;
        Ok(bytes)
    }

    /// A length-prefixed `bytes` or `string`.
    #[inline]
    pub fn bytes(&mut self) -> Decoded<&'a [u8]> {
        let len = self.long()?;
        if len < 0 {
            return Err(DecodeError::new(format!("negative Avro length {len}")));
        }
        self.fixed(len as usize)
    }

    #[inline]
    pub fn string(&mut self) -> Decoded<&'a str> {
        let b = self.bytes()?;
        if self.utf8_checked {
            // SAFETY: `new_checked` is only used on bodies that `check` walked with
            // the same schema, and `check` validated these exact bytes as UTF-8.
            return Ok(unsafe { std::str::from_utf8_unchecked(b) });
        }
        utf8(b).ok_or_else(|| DecodeError::new("an Avro string is not valid UTF-8"))
    }

    /// A union's branch index, checked against the number of branches.
    #[inline]
    pub fn branch(&mut self, branches: usize) -> Decoded<usize> {
        let i = self.long()?;
        if i < 0 || i as usize >= branches {
            return Err(DecodeError::new(format!(
                "union branch {i} does not exist (the union has {branches})"
            )));
        }
        Ok(i as usize)
    }

    /// An enum symbol index, checked against the symbols.
    #[inline]
    pub fn symbol<'s>(&mut self, symbols: &'s [String]) -> Decoded<&'s str> {
        let i = self.long()?;
        usize::try_from(i)
            .ok()
            .and_then(|i| symbols.get(i))
            .map(String::as_str)
            .ok_or_else(|| DecodeError::new(format!("enum symbol {i} does not exist")))
    }

    /// The item count of the next array or map block; a negative count is followed
    /// by the block's byte size, which decoding does not need.
    #[inline]
    pub fn block_len(&mut self) -> Decoded<usize> {
        let n = self.long()?;
        if n < 0 {
            self.long()?;
            Ok(n.unsigned_abs() as usize)
        } else {
            Ok(n as usize)
        }
    }

    /// Like [`block_len`](Self::block_len) but returns the byte size of a negative-count
    /// block so that skipping can jump over it.
    pub fn block_header(&mut self) -> Decoded<(usize, Option<usize>)> {
        let n = self.long()?;
        if n < 0 {
            let size = self.long()?;
            let size = usize::try_from(size)
                .map_err(|_| DecodeError::new(format!("negative Avro block size {size}")))?;
            Ok((n.unsigned_abs() as usize, Some(size)))
        } else {
            Ok((n as usize, None))
        }
    }
}

/// Appends a zigzag varint (Avro `int` and `long`).
#[inline]
pub fn put_long(out: &mut Vec<u8>, n: i64) {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// Appends a length-prefixed `bytes`.
#[inline]
pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_long(out, b.len() as i64);
    out.extend_from_slice(b);
}

/// Appends a length-prefixed `string`.
#[inline]
pub fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

#[inline]
pub fn put_float(out: &mut Vec<u8>, v: f32) {
    out.extend_from_slice(&v.to_le_bytes());
}

#[inline]
pub fn put_double(out: &mut Vec<u8>, v: f64) {
    out.extend_from_slice(&v.to_le_bytes());
}

#[inline]
pub fn put_boolean(out: &mut Vec<u8>, v: bool) {
    out.push(v as u8);
}

/// The shortest big-endian two's-complement bytes of `unscaled`, as Java's
/// `BigInteger.toByteArray()` writes a decimal's unscaled value.
pub fn decimal_bytes(unscaled: i128) -> Vec<u8> {
    let full = unscaled.to_be_bytes();
    let mut start = 0;
    while start < 15 {
        let (b, next) = (full[start], full[start + 1]);
        if (b == 0 && next & 0x80 == 0) || (b == 0xFF && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    full[start..].to_vec()
}

/// The unscaled value of big-endian two's-complement decimal bytes (sign-extended;
/// an empty slice is 0). Errors when the value does not fit in an `i128`.
pub fn decimal_from_bytes(raw: &[u8]) -> Decoded<i128> {
    let Some(&first) = raw.first() else {
        return Ok(0);
    };
    let fill = if first & 0x80 != 0 { 0xFF } else { 0 };
    // Leading sign bytes do not change the value.
    let mut start = 0;
    while start + 1 < raw.len()
        && raw[start] == fill
        && (raw[start + 1] & 0x80 != 0) == (fill == 0xFF)
    {
        start += 1;
    }
    let significant = &raw[start..];
    if significant.len() > 16 {
        return Err(DecodeError::new(format!(
            "a decimal of {} bytes does not fit in 128 bits",
            raw.len()
        )));
    }
    let mut full = [fill; 16];
    full[16 - significant.len()..].copy_from_slice(significant);
    Ok(i128::from_be_bytes(full))
}

/// How many decimal digits the magnitude of big-endian two's-complement `raw` has
/// (0 for zero), for checking a decimal against its precision at any width.
pub fn decimal_digits(raw: &[u8]) -> usize {
    if let Ok(v) = decimal_from_bytes(raw) {
        let mut m = v.unsigned_abs();
        let mut digits = 0;
        while m > 0 {
            m /= 10;
            digits += 1;
        }
        return digits;
    }
    // Wider than 128 bits: the magnitude as big-endian base-2^32 limbs, divided down.
    let negative = raw[0] & 0x80 != 0;
    let mut bytes: Vec<u8> = raw.to_vec();
    if negative {
        // Two's complement negation: invert, add one.
        for b in bytes.iter_mut() {
            *b = !*b;
        }
        for b in bytes.iter_mut().rev() {
            let (v, carry) = b.overflowing_add(1);
            *b = v;
            if !carry {
                break;
            }
        }
    }
    let pad = (4 - bytes.len() % 4) % 4;
    let mut padded = vec![0u8; pad];
    padded.extend_from_slice(&bytes);
    let mut limbs: Vec<u32> = padded
        .chunks(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let mut digits = 0;
    while limbs.iter().any(|&l| l != 0) {
        let mut rem: u64 = 0;
        for l in limbs.iter_mut() {
            let cur = (rem << 32) | u64::from(*l);
            *l = (cur / 10) as u32;
            rem = cur % 10;
        }
        digits += 1;
    }
    digits
}

/// `b` as text if it is valid UTF-8. Most strings are ASCII, which `is_ascii`
/// confirms about three times faster than `from_utf8` validates short strings
/// (5 ns against 15 for the seed's fields); anything else is validated fully.
#[inline]
pub(crate) fn utf8(b: &[u8]) -> Option<&str> {
    if b.is_ascii() {
        // SAFETY: ASCII is valid UTF-8.
        return Some(unsafe { std::str::from_utf8_unchecked(b) });
    }
    std::str::from_utf8(b).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        for n in [0, 1, -1, 63, -64, 64, 1 << 20, i64::MAX, i64::MIN, -129] {
            let mut b = Vec::new();
            put_long(&mut b, n);
            let mut r = Reader::new(&b);
            assert_eq!(r.long().unwrap(), n);
            assert_eq!(r.remaining(), 0);
        }
        let mut r = Reader::new(&[0x80]);
        assert!(r.long().is_err());
        let mut r = Reader::new(&[0xff; 11]);
        assert!(r.long().unwrap_err().to_string().contains("10 bytes"));
    }

    #[test]
    fn decimal_bytes_are_minimal_twos_complement_and_read_back() {
        assert_eq!(decimal_bytes(0), vec![0]);
        assert_eq!(decimal_bytes(127), vec![0x7F]);
        assert_eq!(decimal_bytes(128), vec![0x00, 0x80]);
        assert_eq!(decimal_bytes(-1), vec![0xFF]);
        assert_eq!(decimal_bytes(-128), vec![0x80]);
        assert_eq!(decimal_bytes(-129), vec![0xFF, 0x7F]);
        for v in [
            0i128,
            1,
            -1,
            127,
            128,
            -128,
            -129,
            1 << 100,
            -(1 << 100),
            i128::MAX,
            i128::MIN,
        ] {
            assert_eq!(decimal_from_bytes(&decimal_bytes(v)).unwrap(), v, "{v}");
        }
        // Sign-extended wider than needed still reads.
        assert_eq!(decimal_from_bytes(&[0xFF; 20]).unwrap(), -1);
        assert_eq!(decimal_from_bytes(&[0, 0, 0, 5]).unwrap(), 5);
        assert_eq!(decimal_from_bytes(&[]).unwrap(), 0);
        let mut wide = vec![0x01];
        wide.extend_from_slice(&[0; 16]);
        assert!(decimal_from_bytes(&wide).is_err());
    }

    #[test]
    fn decimal_digits_count_any_width() {
        assert_eq!(decimal_digits(&decimal_bytes(0)), 0);
        assert_eq!(decimal_digits(&decimal_bytes(999)), 3);
        assert_eq!(decimal_digits(&decimal_bytes(-1000)), 4);
        // 2^128 = 340282366920938463463374607431768211456 (39 digits), as 17 bytes.
        let mut wide = vec![0x01];
        wide.extend_from_slice(&[0; 16]);
        assert_eq!(decimal_digits(&wide), 39);
        // -(2^128) as 17 bytes: 0xFF 0x00 × 16.
        let mut neg = vec![0xFF];
        neg.extend_from_slice(&[0; 16]);
        assert_eq!(decimal_digits(&neg), 39);
    }
}
