//! Byte and text codecs shared by the string, bytes and JSON functions:
//! hex, base64, MD5, URL encoding, and ksqlDB's text forms of DATE, TIME
//! and TIMESTAMP.

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        out.push(B64[(n >> 18) as usize & 63] as char);
        out.push(B64[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            B64[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            B64[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// Java's MIME base64 encoder (ksqlDB's `BytesUtils`): lines of at most 76
/// characters separated by CRLF.
pub fn base64_encode_mime(bytes: &[u8]) -> String {
    let flat = base64_encode(bytes);
    if flat.len() <= 76 {
        return flat;
    }
    let lines: Vec<&str> = flat
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    lines.join("\r\n")
}

fn b64_value(c: u8) -> Option<u32> {
    match c {
        b'A'..=b'Z' => Some((c - b'A') as u32),
        b'a'..=b'z' => Some((c - b'a') as u32 + 26),
        b'0'..=b'9' => Some((c - b'0') as u32 + 52),
        b'+' | b'-' => Some(62),
        b'/' | b'_' => Some(63),
        _ => None,
    }
}

/// Base64 as Java's `Base64.getDecoder()` reads it: `None` on a character
/// outside the alphabet or a bad length.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let body = text.trim_end_matches('=');
    if text.len() - body.len() > 2 || body.len() % 4 == 1 {
        return None;
    }
    if text.len() != body.len() && !text.len().is_multiple_of(4) {
        return None;
    }
    decode_b64_chars(body.bytes().map(b64_value).collect::<Option<Vec<_>>>()?)
}

/// Base64 as commons-codec's `Base64.decodeBase64` reads it: characters
/// outside the alphabet are skipped.
pub fn base64_decode_lenient(text: &str) -> Vec<u8> {
    let body = text.split('=').next().unwrap_or("");
    let mut values: Vec<u32> = body.bytes().filter_map(b64_value).collect();
    if values.len() % 4 == 1 {
        values.pop();
    }
    decode_b64_chars(values).unwrap_or_default()
}

fn decode_b64_chars(values: Vec<u32>) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(values.len() * 3 / 4);
    for chunk in values.chunks(4) {
        let mut n = 0u32;
        for (i, v) in chunk.iter().enumerate() {
            n |= v << (18 - 6 * i);
        }
        out.push((n >> 16) as u8);
        if chunk.len() > 2 {
            out.push((n >> 8) as u8);
        }
        if chunk.len() > 3 {
            out.push(n as u8);
        }
    }
    Some(out)
}

pub fn hex_encode(bytes: &[u8], upper: bool) -> String {
    let digits: &[u8; 16] = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(digits[(b >> 4) as usize] as char);
        out.push(digits[(b & 15) as usize] as char);
    }
    out
}

/// Hex digits to bytes; `None` on an odd count or a non-hex character.
pub fn hex_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks(2)
        .map(|p| {
            let hi = (p[0] as char).to_digit(16)?;
            let lo = (p[1] as char).to_digit(16)?;
            Some((hi * 16 + lo) as u8)
        })
        .collect()
}

/// Strips `0x` (padding an odd digit count with a leading 0) or `X'…'`, as
/// ksqlDB's `Encode.hexStrip`.
pub fn hex_strip(text: &str) -> String {
    if let Some(rest) = text.strip_prefix("0x") {
        if !text.chars().count().is_multiple_of(2) {
            format!("0{rest}")
        } else {
            rest.to_string()
        }
    } else if text.len() >= 3
        && (text.starts_with("x'") || text.starts_with("X'"))
        && text.ends_with('\'')
    {
        text[2..text.len() - 1].to_string()
    } else {
        text.to_string()
    }
}

/// Bytes read as US-ASCII the Java way: bytes above 0x7F become U+FFFD.
pub fn ascii_decode(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| if b < 0x80 { b as char } else { '\u{FFFD}' })
        .collect()
}

/// Text encoded as US-ASCII the Java way: non-ASCII characters become `?`.
pub fn ascii_encode(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| if c.is_ascii() { c as u8 } else { b'?' })
        .collect()
}

/// MD5 digest (RFC 1321).
pub fn md5(input: &[u8]) -> [u8; 16] {
    const S: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5,
        9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10,
        15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
    ];
    let k: [u32; 64] =
        std::array::from_fn(|i| ((i as f64 + 1.0).sin().abs() * 4_294_967_296.0) as u32);
    let mut state: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];
    let mut msg = input.to_vec();
    let bit_len = (input.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_le_bytes());
    for chunk in msg.chunks(64) {
        let m: [u32; 16] = std::array::from_fn(|i| {
            u32::from_le_bytes([
                chunk[i * 4],
                chunk[i * 4 + 1],
                chunk[i * 4 + 2],
                chunk[i * 4 + 3],
            ])
        });
        let [mut a, mut b, mut c, mut d] = state;
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let f = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(m[g]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f.rotate_left(S[i]));
        }
        state[0] = state[0].wrapping_add(a);
        state[1] = state[1].wrapping_add(b);
        state[2] = state[2].wrapping_add(c);
        state[3] = state[3].wrapping_add(d);
    }
    let mut out = [0u8; 16];
    for (i, s) in state.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&s.to_le_bytes());
    }
    out
}

/// `application/x-www-form-urlencoded` as Java's `URLEncoder.encode(s, UTF_8)`.
pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Percent-decoding; `plus_is_space` for form encoding (`URLDecoder`).
/// `None` on a malformed escape or invalid UTF-8.
pub fn percent_decode(text: &str, plus_is_space: bool) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of days since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m, d)
}

fn year_text(y: i64) -> String {
    if (0..=9999).contains(&y) {
        format!("{y:04}")
    } else if y > 9999 {
        format!("+{y}")
    } else {
        format!("-{:04}", -y)
    }
}

/// `yyyy-MM-dd`.
pub fn format_date(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{}-{m:02}-{d:02}", year_text(y))
}

/// ksqlDB's `SqlTimeTypes.formatTime`: `LocalTime.ofSecondOfDay(..).toString()`,
/// so milliseconds are dropped and zero seconds too (`HH:mm`).
pub fn format_time(ms_of_day: i64) -> String {
    let secs = ms_of_day.rem_euclid(86_400_000) / 1000;
    let (h, mi, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if s == 0 {
        format!("{h:02}:{mi:02}")
    } else {
        format!("{h:02}:{mi:02}:{s:02}")
    }
}

/// `yyyy-MM-dd'T'HH:mm:ss.SSS` in UTC.
pub fn format_timestamp(epoch_ms: i64) -> String {
    let days = epoch_ms.div_euclid(86_400_000);
    let ms = epoch_ms.rem_euclid(86_400_000);
    format!(
        "{}T{:02}:{:02}:{:02}.{:03}",
        format_date(days),
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

fn num(text: &str, len: usize) -> Option<u32> {
    if text.len() != len || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// `yyyy-MM-dd` to days since the epoch; partial `yyyy` and `yyyy-MM` are
/// completed with the first month and day, as ksqlDB does.
pub fn parse_date(text: &str) -> Option<i64> {
    let mut parts = text.splitn(3, '-');
    let y = num(parts.next()?, 4)?;
    let m = parts.next().map_or(Some(1), |p| num(p, 2))?;
    let d = parts.next().map_or(Some(1), |p| num(p, 2))?;
    if !(1..=12).contains(&m) || d == 0 || d > 31 {
        return None;
    }
    let days = days_from_civil(y as i64, m, d);
    (civil_from_days(days) == (y as i64, m, d)).then_some(days)
}

/// `HH:mm[:ss[.SSS]]` to milliseconds of the day.
pub fn parse_time(text: &str) -> Option<i64> {
    let (hms, frac) = match text.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (text, None),
    };
    let parts: Vec<&str> = hms.split(':').collect();
    if parts.len() < 2 || parts.len() > 3 {
        return None;
    }
    let h = num(parts[0], 2)?;
    let mi = num(parts[1], 2)?;
    let s = match parts.get(2) {
        Some(p) => num(p, 2)?,
        None => 0,
    };
    if h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let ms = match frac {
        Some(f) if !f.is_empty() && f.len() <= 9 && f.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{f:0<3}")[..3].parse::<i64>().ok()?
        }
        Some(_) => return None,
        None => 0,
    };
    Some(((h as i64 * 60 + mi as i64) * 60 + s as i64) * 1000 + ms)
}

/// `yyyy[-MM[-dd['T'HH[:mm[:ss[.SSS]]]]]]` with an optional `Z` or `±HH:mm`
/// zone (UTC by default) to epoch milliseconds, as ksqlDB's partial
/// timestamp parser.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let (date, time) = match text.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (text, None),
    };
    let days = parse_date(date)?;
    let (ms, offset_ms) = match time {
        Some(t) => {
            let (clock, offset) = split_zone(t)?;
            let clock = if clock.len() == 2 {
                format!("{clock}:00")
            } else {
                clock.to_string()
            };
            (parse_time(&clock)?, offset)
        }
        None => (0, 0),
    };
    Some(days * 86_400_000 + ms - offset_ms)
}

/// Splits a zone suffix (`Z`, `+01:00`, `-0130`) off a time of day.
fn split_zone(t: &str) -> Option<(&str, i64)> {
    if let Some(clock) = t.strip_suffix('Z') {
        return Some((clock, 0));
    }
    match t.rfind(['+', '-']) {
        Some(i) => {
            let zone = t[i + 1..].replace(':', "");
            let h = num(zone.get(..2)?, 2)? as i64;
            let m = match zone.get(2..) {
                Some("") | None => 0,
                Some(m) => num(m, 2)? as i64,
            };
            let sign = if &t[i..i + 1] == "-" { -1 } else { 1 };
            Some((&t[..i], sign * (h * 60 + m) * 60_000))
        }
        None => Some((t, 0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codecs_round_trip() {
        assert_eq!(base64_encode(b"yes"), "eWVz");
        assert_eq!(base64_encode(b"no"), "bm8=");
        assert_eq!(base64_encode(b"!"), "IQ==");
        assert_eq!(base64_decode("bm8=").unwrap(), b"no");
        let long = base64_encode_mime(&[0u8; 60]);
        assert_eq!(long.len(), 80 + 2);
        assert_eq!(&long[76..78], "\r\n");
        assert_eq!(base64_decode_lenient(&long), vec![0u8; 60]);
        assert_eq!(base64_decode("").unwrap(), b"");
        assert!(base64_decode("b!8=").is_none());
        assert_eq!(base64_decode_lenient("zpXOu867zqzOtM6x").len(), 12);
        assert_eq!(hex_encode(&[0x1a, 0xb2], true), "1AB2");
        assert_eq!(hex_decode("1aB2").unwrap(), vec![0x1a, 0xb2]);
        assert!(hex_decode("1a2").is_none());
        assert_eq!(hex_strip("0x578616d706C6521"), "0578616d706C6521");
        assert_eq!(hex_strip("X''"), "");
        assert_eq!(hex_strip("X'"), "X'");
        assert_eq!(
            hex_encode(&md5(b""), false),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
        assert_eq!(url_encode("?foo $bar"), "%3Ffoo+%24bar");
        assert_eq!(percent_decode("%3Ffoo+%24bar", true).unwrap(), "?foo $bar");
        assert!(percent_decode("%zz", true).is_none());
    }

    #[test]
    fn temporal_text() {
        assert_eq!(format_date(1000), "1972-09-27");
        assert_eq!(format_time(60_220_000), "16:43:40");
        assert_eq!(format_time(60_220_500), "16:43:40");
        assert_eq!(format_time(60_180_000), "16:43");
        assert_eq!(format_time(0), "00:00");
        assert_eq!(format_timestamp(60_220_000_000), "1971-11-28T23:46:40.000");
        assert_eq!(format_timestamp(-1), "1969-12-31T23:59:59.999");
        assert_eq!(parse_date("2022-06-14"), Some(19157));
        assert_eq!(parse_date("2022-02-30"), None);
        assert_eq!(parse_time("09:16:00"), Some(33_360_000));
        assert_eq!(parse_timestamp("2022-06-14"), Some(1_655_164_800_000));
        assert_eq!(parse_date("2022"), parse_date("2022-01-01"));
        assert_eq!(parse_date("2022-06"), parse_date("2022-06-01"));
        assert_eq!(
            parse_timestamp("2022-06-14T10"),
            Some(1_655_164_800_000 + 36_000_000)
        );
        assert_eq!(
            parse_timestamp("2022-06-14T10:00:00+01:00"),
            Some(1_655_164_800_000 + 32_400_000)
        );
        assert_eq!(
            parse_timestamp("2022-06-14T10:00:00.5Z"),
            Some(1_655_164_800_000 + 36_000_500)
        );
        assert_eq!(parse_timestamp("2022-06-14Tx"), None);
        for d in [-800_000, -1, 0, 1, 19157, 2_000_000] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
    }
}
