//! Windowed keys as Kafka Streams writes them to topics (ksqlDB's windowed
//! sources and sinks): the key format's bytes, then the window start for
//! time windows (TUMBLING, HOPPING), or the window end and start for session
//! windows, each an 8-byte big-endian millisecond timestamp.

const TS: usize = 8;

/// `key` of a time window starting at `start` (`TimeWindowedSerializer`).
pub fn time_windowed_key(key: &[u8], start: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + TS);
    out.extend_from_slice(key);
    out.extend_from_slice(&start.to_be_bytes());
    out
}

/// The key bytes and window start of a time-windowed key.
pub fn split_time_windowed_key(bytes: &[u8]) -> Result<(&[u8], i64), String> {
    if bytes.len() < TS {
        return Err(format!(
            "A time-windowed key needs at least {TS} bytes, got {}",
            bytes.len()
        ));
    }
    let (key, ts) = bytes.split_at(bytes.len() - TS);
    Ok((key, i64::from_be_bytes(ts.try_into().expect("8 bytes"))))
}

/// `key` of a session window (`SessionWindowedSerializer`: end, then start).
pub fn session_windowed_key(key: &[u8], start: i64, end: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 2 * TS);
    out.extend_from_slice(key);
    out.extend_from_slice(&end.to_be_bytes());
    out.extend_from_slice(&start.to_be_bytes());
    out
}

/// The key bytes, window start and window end of a session-windowed key.
pub fn split_session_windowed_key(bytes: &[u8]) -> Result<(&[u8], i64, i64), String> {
    if bytes.len() < 2 * TS {
        return Err(format!(
            "A session-windowed key needs at least {} bytes, got {}",
            2 * TS,
            bytes.len()
        ));
    }
    let n = bytes.len();
    let end = i64::from_be_bytes(bytes[n - 2 * TS..n - TS].try_into().expect("8 bytes"));
    let start = i64::from_be_bytes(bytes[n - TS..].try_into().expect("8 bytes"));
    Ok((&bytes[..n - 2 * TS], start, end))
}

/// The key bytes and window `(start, end)` of a key windowed by `w`; a
/// time window's end is its start plus the window size.
pub fn split_windowed_key<'a>(
    w: &crate::window::WindowSpec,
    bytes: &'a [u8],
) -> Result<(&'a [u8], (i64, i64)), String> {
    match w.kind {
        crate::window::WindowKind::Session => {
            let (key, start, end) = split_session_windowed_key(bytes)?;
            Ok((key, (start, end)))
        }
        _ => {
            let (key, start) = split_time_windowed_key(bytes)?;
            Ok((key, (start, start.saturating_add(w.size))))
        }
    }
}

/// `key` with the window `(start, end)` appended in the layout of `kind`.
pub fn windowed_key(kind: crate::window::WindowKind, key: &[u8], window: (i64, i64)) -> Vec<u8> {
    match kind {
        crate::window::WindowKind::Session => session_windowed_key(key, window.0, window.1),
        _ => time_windowed_key(key, window.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windowed_keys_round_trip() {
        let k = time_windowed_key(b"a", 1000);
        assert_eq!(k, [b'a', 0, 0, 0, 0, 0, 0, 0x03, 0xe8]);
        assert_eq!(split_time_windowed_key(&k).unwrap(), (&b"a"[..], 1000));
        let k = session_windowed_key(b"ab", 10, 20);
        assert_eq!(&k[2..10], &20i64.to_be_bytes());
        assert_eq!(
            split_session_windowed_key(&k).unwrap(),
            (&b"ab"[..], 10, 20)
        );
        assert!(split_time_windowed_key(b"abc").is_err());
        assert!(split_session_windowed_key(&[0; 15]).is_err());
    }
}
