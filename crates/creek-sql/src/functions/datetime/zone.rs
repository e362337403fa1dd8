//! Java `ZoneId.of` semantics on top of chrono-tz.

use chrono::{Duration, NaiveDateTime, Offset, TimeZone};
use chrono_tz::{OffsetName, Tz};

/// A zone as Java's `ZoneId` sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Zone {
    /// A fixed offset with the id Java prints for it (`Z`, `+02:00`,
    /// `UTC`, `GMT+02:00`).
    Fixed { secs: i32, id: String },
    /// A tz database region.
    Region(Tz),
}

impl Zone {
    pub fn utc() -> Zone {
        Zone::Fixed {
            secs: 0,
            id: "UTC".to_string(),
        }
    }

    /// Parses a zone id as `java.time.ZoneId.of` does.
    pub fn of(id: &str) -> Result<Zone, String> {
        if id == "Z" {
            return Ok(Zone::Fixed {
                secs: 0,
                id: "Z".into(),
            });
        }
        if id.starts_with('+') || id.starts_with('-') {
            let secs = parse_offset_id(id)?;
            return Ok(Zone::Fixed {
                secs,
                id: offset_id(secs),
            });
        }
        for prefix in ["UTC", "GMT", "UT"] {
            if id == prefix {
                return Ok(Zone::Fixed {
                    secs: 0,
                    id: prefix.into(),
                });
            }
            if let Some(rest) = id.strip_prefix(prefix) {
                if rest.starts_with('+') || rest.starts_with('-') {
                    let secs = parse_offset_id(rest)
                        .map_err(|_| format!("Invalid ID for offset-based ZoneId: {id}"))?;
                    let id = if secs == 0 {
                        prefix.to_string()
                    } else {
                        format!("{prefix}{}", offset_id(secs))
                    };
                    return Ok(Zone::Fixed { secs, id });
                }
            }
        }
        let valid = id.len() >= 2
            && id.starts_with(|c: char| c.is_ascii_alphabetic())
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "~/._+-".contains(c));
        if !valid {
            return Err(format!(
                "Invalid ID for region-based ZoneId, invalid format: {id}"
            ));
        }
        id.parse::<Tz>()
            .map(Zone::Region)
            .map_err(|_| format!("Unknown time-zone ID: {id}"))
    }

    /// The offset from UTC in seconds at an instant (epoch seconds).
    pub fn offset_at(&self, epoch_secs: i64) -> i32 {
        match self {
            Zone::Fixed { secs, .. } => *secs,
            Zone::Region(tz) => match chrono::DateTime::from_timestamp(epoch_secs, 0) {
                Some(dt) => tz
                    .offset_from_utc_datetime(&dt.naive_utc())
                    .fix()
                    .local_minus_utc(),
                None => 0,
            },
        }
    }

    /// The short display name at an instant (Java's `z`).
    pub fn short_name(&self, epoch_secs: i64, out: &mut String) {
        match self {
            Zone::Fixed { id, .. } => out.push_str(id),
            Zone::Region(tz) => {
                let Some(dt) = chrono::DateTime::from_timestamp(epoch_secs, 0) else {
                    out.push_str(tz.name());
                    return;
                };
                let off = tz.offset_from_utc_datetime(&dt.naive_utc());
                match off.abbreviation() {
                    Some(a) if a.starts_with(|c: char| c.is_ascii_alphabetic()) => out.push_str(a),
                    _ => {
                        let secs = off.fix().local_minus_utc();
                        out.push_str("GMT");
                        if secs != 0 {
                            out.push_str(&offset_id(secs));
                        }
                    }
                }
            }
        }
    }

    /// The zone id (Java's `VV`).
    pub fn id(&self) -> &str {
        match self {
            Zone::Fixed { id, .. } => id,
            Zone::Region(tz) => tz.name(),
        }
    }

    /// The instant (epoch seconds) of a local date-time in this zone, as
    /// `ZonedDateTime.ofLocal` resolves it: the earlier offset in an
    /// overlap, shifted later by the gap's length in a gap.
    pub fn local_to_epoch(&self, local: &NaiveDateTime) -> i64 {
        let naive_secs = local.and_utc().timestamp();
        match self {
            Zone::Fixed { secs, .. } => naive_secs - *secs as i64,
            Zone::Region(tz) => match tz.from_local_datetime(local) {
                chrono::LocalResult::Single(dt) => dt.timestamp(),
                chrono::LocalResult::Ambiguous(a, _) => a.timestamp(),
                chrono::LocalResult::None => {
                    let before = *local - Duration::days(1);
                    let secs = tz.offset_from_utc_datetime(&before).fix().local_minus_utc();
                    naive_secs - secs as i64
                }
            },
        }
    }
}

/// Java's `ZoneOffset.getId`: `Z`, `+02:00`, `-05:30:15`.
pub fn offset_id(secs: i32) -> String {
    if secs == 0 {
        return "Z".into();
    }
    let sign = if secs < 0 { '-' } else { '+' };
    let a = secs.unsigned_abs();
    let (h, m, s) = (a / 3600, a / 60 % 60, a % 60);
    if s == 0 {
        format!("{sign}{h:02}:{m:02}")
    } else {
        format!("{sign}{h:02}:{m:02}:{s:02}")
    }
}

/// `ZoneOffset.of`: `+h`, `+hh`, `+hh:mm`, `+hhmm`, `+hh:mm:ss`, `+hhmmss`.
fn parse_offset_id(id: &str) -> Result<i32, String> {
    let bad = || format!("Invalid ID for ZoneOffset, invalid format: {id}");
    let sign = match id.as_bytes().first() {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => return Err(bad()),
    };
    let rest = &id[1..];
    if !rest.chars().all(|c| c.is_ascii_digit() || c == ':') {
        return Err(bad());
    }
    let num = |s: &str| s.parse::<i32>().map_err(|_| bad());
    let (h, m, s) = match rest.len() {
        1 | 2 => (num(rest)?, 0, 0),
        4 => (num(&rest[..2])?, num(&rest[2..])?, 0),
        5 if &rest[2..3] == ":" => (num(&rest[..2])?, num(&rest[3..])?, 0),
        6 => (num(&rest[..2])?, num(&rest[2..4])?, num(&rest[4..])?),
        8 if &rest[2..3] == ":" && &rest[5..6] == ":" => {
            (num(&rest[..2])?, num(&rest[3..5])?, num(&rest[6..])?)
        }
        _ => return Err(bad()),
    };
    if h > 18 || m > 59 || s > 59 || (h == 18 && (m > 0 || s > 0)) {
        return Err(format!(
            "Zone offset not in valid range: -18:00 to +18:00 ({id})"
        ));
    }
    Ok(sign * (h * 3600 + m * 60 + s))
}

/// Zone names a parser accepts for `z`, beyond zone ids.
pub fn zone_from_name(name: &str) -> Option<Zone> {
    let region = match name.to_ascii_uppercase().as_str() {
        "UTC" | "GMT" | "UT" | "Z" => return Zone::of(&name.to_ascii_uppercase()).ok(),
        "PST" | "PDT" | "PT" => "America/Los_Angeles",
        "MST" | "MDT" | "MT" => "America/Denver",
        "CST" | "CDT" | "CT" => "America/Chicago",
        "EST" | "EDT" | "ET" => "America/New_York",
        "AKST" | "AKDT" => "America/Anchorage",
        "HST" => "Pacific/Honolulu",
        "BST" => "Europe/London",
        "WET" | "WEST" => "Europe/Lisbon",
        "CET" | "CEST" => "Europe/Paris",
        "EET" | "EEST" => "Europe/Athens",
        "MSK" => "Europe/Moscow",
        "IST" => "Asia/Kolkata",
        "JST" => "Asia/Tokyo",
        "KST" => "Asia/Seoul",
        "HKT" => "Asia/Hong_Kong",
        "SGT" => "Asia/Singapore",
        "AEST" | "AEDT" => "Australia/Sydney",
        "ACST" | "ACDT" => "Australia/Adelaide",
        "AWST" => "Australia/Perth",
        "NZST" | "NZDT" => "Pacific/Auckland",
        "BRT" => "America/Sao_Paulo",
        "ART" => "America/Argentina/Buenos_Aires",
        _ => return None,
    };
    Zone::of(region).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_ids_like_java() {
        assert_eq!(
            Zone::of("+0200").unwrap(),
            Zone::Fixed {
                secs: 7200,
                id: "+02:00".into()
            }
        );
        assert_eq!(Zone::of("-5").unwrap().offset_at(0), -5 * 3600);
        assert_eq!(Zone::of("GMT+2").unwrap().id(), "GMT+02:00");
        assert_eq!(Zone::of("UTC+05:30").unwrap().offset_at(0), 19800);
        assert_eq!(
            Zone::of("America/Los_Angeles").unwrap().offset_at(0),
            -8 * 3600
        );
        assert_eq!(
            Zone::of("Foo/Bar").unwrap_err(),
            "Unknown time-zone ID: Foo/Bar"
        );
        assert!(Zone::of("+25:00").is_err());
        assert!(Zone::of("").is_err());
    }
}
