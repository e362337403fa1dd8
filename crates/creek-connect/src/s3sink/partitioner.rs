//! Confluent's storage partitioners: where in the lake a record's file goes.
//!
//! `DefaultPartitioner` → `partition=<kafka partition>`; `FieldPartitioner` →
//! `field=value[/field=value…]`; `TimeBasedPartitioner` (and its Daily / Hourly
//! presets) → the record's time, floored to `partition.duration.ms` in `timezone`,
//! formatted with `path.format` (a Joda/Java DateTimeFormatter pattern).

use chrono::TimeZone;
use chrono_tz::Tz;
use creek_lake::{FieldValue, SinkValue};

#[derive(Debug, Clone, PartialEq)]
pub enum TimestampExtractor {
    Wallclock,
    Record,
    RecordField(String),
}

#[derive(Debug, Clone)]
pub enum Partitioner {
    Default,
    Field(Vec<String>),
    Time {
        /// chrono format string translated from `path.format`.
        format: String,
        duration_ms: i64,
        timezone: Tz,
        extractor: TimestampExtractor,
    },
}

/// Translates a Joda / java.time pattern (`'year'=YYYY/'month'=MM`) into chrono's
/// strftime syntax; letters creek does not know are an error naming them.
pub fn joda_to_chrono(pattern: &str) -> Result<String, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // Quoted literal; '' is a single quote.
            if chars.get(i + 1) == Some(&'\'') {
                out.push('\'');
                i += 2;
                continue;
            }
            i += 1;
            while i < chars.len() {
                if chars[i] == '\'' {
                    if chars.get(i + 1) == Some(&'\'') {
                        out.push('\'');
                        i += 2;
                        continue;
                    }
                    break;
                }
                push_literal(&mut out, chars[i]);
                i += 1;
            }
            if i >= chars.len() {
                return Err(format!("unterminated quote in path.format {pattern:?}"));
            }
            i += 1;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            push_literal(&mut out, c);
            i += 1;
            continue;
        }
        let mut n = 1;
        while chars.get(i + n) == Some(&c) {
            n += 1;
        }
        let spec = match (c, n) {
            ('y' | 'Y' | 'u', 2) => "%y",
            ('y' | 'Y' | 'u', _) => "%Y",
            ('M', 1) => "%-m",
            ('M', 2) => "%m",
            ('M', 3) => "%b",
            ('M', _) => "%B",
            ('d', 1) => "%-d",
            ('d', _) => "%d",
            ('D', _) => "%j",
            ('H', 1) => "%-H",
            ('H', _) => "%H",
            ('h', _) => "%I",
            ('a', _) => "%p",
            ('m', 1) => "%-M",
            ('m', _) => "%M",
            ('s', 1) => "%-S",
            ('s', _) => "%S",
            ('S', _) => "%3f",
            ('E', 1..=3) => "%a",
            ('E', _) => "%A",
            ('w', _) => "%V",
            ('Z', _) => "%z",
            _ => {
                return Err(format!(
                    "not supported yet: pattern letter {c:?} in path.format {pattern:?}"
                ))
            }
        };
        out.push_str(spec);
        i += n;
    }
    Ok(out)
}

fn push_literal(out: &mut String, c: char) {
    if c == '%' {
        out.push_str("%%");
    } else {
        out.push(c);
    }
}

impl Partitioner {
    /// The encoded partition when it is the same for every record of a Kafka
    /// partition (the default partitioner), else `None`.
    pub fn fixed_path(&self, kafka_partition: i32) -> Option<String> {
        match self {
            Partitioner::Default => Some(default_path(kafka_partition)),
            _ => None,
        }
    }

    /// The encoded partition of a record (directories joined by `delim`).
    pub fn encode(
        &self,
        kafka_partition: i32,
        value: &SinkValue,
        timestamp_ms: i64,
        delim: &str,
    ) -> Result<String, String> {
        match self {
            Partitioner::Default => Ok(default_path(kafka_partition)),
            Partitioner::Field(fields) => {
                let mut parts = Vec::with_capacity(fields.len());
                for f in fields {
                    let v = creek_lake::field_of(value, f)
                        .map_err(|e| e.to_string())?
                        .ok_or_else(|| {
                            format!("the record has no field {f} for FieldPartitioner")
                        })?;
                    let text = match v {
                        FieldValue::Null => {
                            return Err(format!(
                                "field {f} is null; FieldPartitioner needs a value"
                            ))
                        }
                        other => other.to_string(),
                    };
                    // Values are data: one that would climb out of the bucket is a
                    // bad record (skipped with errors.tolerance=all), never a path.
                    if let Some(why) = path_flaw(&text).filter(|_| text.contains(['/', '\\'])) {
                        return Err(format!(
                            "field {f} has the value {text:?}, which as an object path {why}"
                        ));
                    }
                    parts.push(format!("{f}={text}"));
                }
                Ok(parts.join(delim))
            }
            Partitioner::Time {
                format,
                duration_ms,
                timezone,
                ..
            } => {
                let start = floor_to_duration(timestamp_ms, *duration_ms, timezone);
                let t = timezone
                    .timestamp_millis_opt(start)
                    .single()
                    .ok_or_else(|| format!("timestamp {start} is out of range"))?;
                Ok(t.format(format).to_string())
            }
        }
    }
}

/// Confluent's `TimeBasedPartitioner.getPartition`: floor in the zone's local time.
fn floor_to_duration(ts: i64, duration: i64, tz: &Tz) -> i64 {
    if duration <= 0 {
        return ts;
    }
    use chrono::Offset;
    let offset = tz
        .timestamp_millis_opt(ts)
        .single()
        .map(|t| t.offset().fix().local_minus_utc() as i64 * 1000)
        .unwrap_or(0);
    let local = ts + offset;
    local - local.rem_euclid(duration) - offset
}

/// The record's time for a timestamp extractor.
pub fn extract_timestamp(
    extractor: &TimestampExtractor,
    record_timestamp: i64,
    value: &SinkValue,
) -> Result<i64, String> {
    match extractor {
        TimestampExtractor::Wallclock => Ok(creek_store::now_ms()),
        TimestampExtractor::Record => Ok(record_timestamp),
        TimestampExtractor::RecordField(field) => {
            match creek_lake::field_of(value, field).map_err(|e| e.to_string())? {
                Some(FieldValue::TimestampMillis(ms)) | Some(FieldValue::Long(ms)) => Ok(ms),
                Some(FieldValue::TimestampMicros(us)) => Ok(us.div_euclid(1000)),
                Some(FieldValue::Date(days)) => Ok(days as i64 * 86_400_000),
                Some(FieldValue::String(s)) => chrono::DateTime::parse_from_rfc3339(&s)
                    .map(|t| t.timestamp_millis())
                    .map_err(|_| {
                        format!("timestamp.field {field} = {s:?} is not an ISO-8601 timestamp")
                    }),
                Some(other) => Err(format!(
                    "timestamp.field {field} = {other} is not a timestamp"
                )),
                None => Err(format!("the record has no field {field} (timestamp.field)")),
            }
        }
    }
}

/// Why a piece of an object key would not stay inside the bucket, if it would not:
/// absolute, `.`/`..` or empty segments, backslashes or control characters.
pub fn path_flaw(path: &str) -> Option<String> {
    if path.starts_with('/') {
        return Some("is absolute (starts with '/'); it must be relative to the bucket".into());
    }
    if path.contains('\\') {
        return Some("contains '\\'".into());
    }
    if path.chars().any(char::is_control) {
        return Some("contains control characters".into());
    }
    for seg in path.split('/') {
        match seg {
            ".." => return Some("climbs out of the store ('..')".into()),
            "." => return Some("has a '.' segment".into()),
            "" => return Some("has an empty segment ('//' or a trailing '/')".into()),
            _ => {}
        }
    }
    None
}

fn default_path(kafka_partition: i32) -> String {
    format!("partition={kafka_partition}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joda_patterns_translate() {
        assert_eq!(
            joda_to_chrono("'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH").unwrap(),
            "year=%Y/month=%m/day=%d/hour=%H"
        );
        assert_eq!(joda_to_chrono("yyyy-MM-dd'T'HH").unwrap(), "%Y-%m-%dT%H");
        assert_eq!(joda_to_chrono("'it''s'").unwrap(), "it's");
        assert!(joda_to_chrono("'open").is_err());
        assert!(joda_to_chrono("QQ").is_err());
    }

    #[test]
    fn time_partitions_floor_in_the_zone() {
        let p = Partitioner::Time {
            format: joda_to_chrono("'day'=dd/'hour'=HH").unwrap(),
            duration_ms: 3_600_000,
            timezone: "America/Sao_Paulo".parse().unwrap(),
            extractor: TimestampExtractor::Record,
        };
        // 2021-04-13T02:26:03.655Z is 23:26 on the 12th in São Paulo (UTC-3).
        let v = SinkValue::Bytes(bytes::Bytes::new());
        assert_eq!(
            p.encode(0, &v, 1_618_280_763_655, "/").unwrap(),
            "day=12/hour=23"
        );
        assert_eq!(
            Partitioner::Default.encode(3, &v, 0, "/").unwrap(),
            "partition=3"
        );
    }
}
