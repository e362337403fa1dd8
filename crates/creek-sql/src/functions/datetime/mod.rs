//! Date and time functions, with Java DateTimeFormatter patterns and zone ids.
//!
//! Patterns and zones given as constants are compiled once per call site;
//! per-row patterns and zones go through a small cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

use super::{Arg, ResolveError, Resolved, ScalarFunction};
use crate::types::SqlType;
use crate::value::Value;

pub mod pattern;
pub mod zone;

#[cfg(test)]
mod tests;

use pattern::{Field, FmtInput, Parsed, Pattern};
use zone::Zone;

const CATEGORY: &str = "DATE / TIME";
const MS_PER_DAY: i64 = 86_400_000;
/// Days from 0001-01-01 (CE day 1) to 1970-01-01.
const CE_TO_EPOCH_DAYS: i32 = 719_163;

pub fn functions() -> Vec<Arc<dyn ScalarFunction>> {
    let f = |name, description, signatures, resolve| -> Arc<dyn ScalarFunction> {
        Arc::new(Func {
            name,
            description,
            signatures,
            resolve,
        })
    };
    vec![
        f(
            "TIMESTAMPTOSTRING",
            "Converts a BIGINT millisecond timestamp value into the string representation of the timestamp in the given format.",
            &[
                "TIMESTAMPTOSTRING(epochMilli BIGINT, formatPattern STRING) => STRING",
                "TIMESTAMPTOSTRING(epochMilli BIGINT, formatPattern STRING, timeZone STRING) => STRING",
            ],
            resolve_timestamptostring,
        ),
        f(
            "FORMAT_TIMESTAMP",
            "Converts a TIMESTAMP value into the string representation of the timestamp in the given format.",
            &[
                "FORMAT_TIMESTAMP(timestamp TIMESTAMP, formatPattern STRING) => STRING",
                "FORMAT_TIMESTAMP(timestamp TIMESTAMP, formatPattern STRING, timeZone STRING) => STRING",
            ],
            resolve_format_timestamp,
        ),
        f(
            "STRINGTOTIMESTAMP",
            "Converts a string value in the given format into the BIGINT value that represents the millisecond timestamp.",
            &[
                "STRINGTOTIMESTAMP(formattedTimestamp STRING, formatPattern STRING) => BIGINT",
                "STRINGTOTIMESTAMP(formattedTimestamp STRING, formatPattern STRING, timeZone STRING) => BIGINT",
            ],
            resolve_stringtotimestamp,
        ),
        f(
            "PARSE_TIMESTAMP",
            "Converts a string value in the given format into the TIMESTAMP value.",
            &[
                "PARSE_TIMESTAMP(formattedTimestamp STRING, formatPattern STRING) => TIMESTAMP",
                "PARSE_TIMESTAMP(formattedTimestamp STRING, formatPattern STRING, timeZone STRING) => TIMESTAMP",
            ],
            resolve_parse_timestamp,
        ),
        f(
            "FORMAT_DATE",
            "Converts a DATE value into a string representing the date in the given format.",
            &["FORMAT_DATE(date DATE, formatPattern STRING) => STRING"],
            resolve_format_date,
        ),
        f(
            "PARSE_DATE",
            "Converts a string representation of a date in the given format into a DATE value.",
            &["PARSE_DATE(formattedDate STRING, formatPattern STRING) => DATE"],
            resolve_parse_date,
        ),
        f(
            "FORMAT_TIME",
            "Converts a TIME value into a string representing the time in the given format.",
            &["FORMAT_TIME(time TIME, formatPattern STRING) => STRING"],
            resolve_format_time,
        ),
        f(
            "PARSE_TIME",
            "Converts a string representation of a time in the given format into a TIME value.",
            &["PARSE_TIME(formattedTime STRING, formatPattern STRING) => TIME"],
            resolve_parse_time,
        ),
        f(
            "DATETOSTRING",
            "Converts an INT date value into the string representation of the date in the given format.",
            &["DATETOSTRING(epochDays INTEGER, formatPattern STRING) => STRING"],
            resolve_datetostring,
        ),
        f(
            "STRINGTODATE",
            "Converts a string representation of a date in the given format into an integer representing days since epoch.",
            &["STRINGTODATE(formattedDate STRING, formatPattern STRING) => INTEGER"],
            resolve_stringtodate,
        ),
        f(
            "UNIX_DATE",
            "Gets an integer representing days since epoch.",
            &["UNIX_DATE() => INTEGER", "UNIX_DATE(date DATE) => INTEGER"],
            resolve_unix_date,
        ),
        f(
            "UNIX_TIMESTAMP",
            "Gets the Unix timestamp in milliseconds, represented as a BIGINT.",
            &[
                "UNIX_TIMESTAMP() => BIGINT",
                "UNIX_TIMESTAMP(timestamp TIMESTAMP) => BIGINT",
            ],
            resolve_unix_timestamp,
        ),
        f(
            "FROM_UNIXTIME",
            "Converts a BIGINT millisecond timestamp value into a TIMESTAMP value.",
            &["FROM_UNIXTIME(epochMilli BIGINT) => TIMESTAMP"],
            resolve_from_unixtime,
        ),
        f(
            "FROM_DAYS",
            "Converts an INT number of days since epoch to a DATE value.",
            &["FROM_DAYS(days INTEGER) => DATE"],
            resolve_from_days,
        ),
        f(
            "CONVERT_TZ",
            "Converts a TIMESTAMP value from one timezone to another.",
            &["CONVERT_TZ(timestamp TIMESTAMP, fromTimeZone STRING, toTimeZone STRING) => TIMESTAMP"],
            resolve_convert_tz,
        ),
        f(
            "DATEADD",
            "Adds a duration to a DATE value.",
            &["DATEADD(unit INTERVALUNIT, interval INTEGER, date DATE) => DATE"],
            |a| resolve_date_shift(a, 1),
        ),
        f(
            "DATESUB",
            "Subtracts a duration from a DATE value.",
            &["DATESUB(unit INTERVALUNIT, interval INTEGER, date DATE) => DATE"],
            |a| resolve_date_shift(a, -1),
        ),
        f(
            "TIMEADD",
            "Adds a duration to a TIME value.",
            &["TIMEADD(unit INTERVALUNIT, interval INTEGER, time TIME) => TIME"],
            |a| resolve_time_shift(a, 1),
        ),
        f(
            "TIMESUB",
            "Subtracts a duration from a TIME value.",
            &["TIMESUB(unit INTERVALUNIT, interval INTEGER, time TIME) => TIME"],
            |a| resolve_time_shift(a, -1),
        ),
        f(
            "TIMESTAMPADD",
            "Adds a duration to a TIMESTAMP value.",
            &["TIMESTAMPADD(unit INTERVALUNIT, interval BIGINT, timestamp TIMESTAMP) => TIMESTAMP"],
            |a| resolve_timestamp_shift(a, 1),
        ),
        f(
            "TIMESTAMPSUB",
            "Subtracts a duration from a TIMESTAMP value.",
            &["TIMESTAMPSUB(unit INTERVALUNIT, interval BIGINT, timestamp TIMESTAMP) => TIMESTAMP"],
            |a| resolve_timestamp_shift(a, -1),
        ),
    ]
}

/// A compiled Java `DateTimeFormatter` pattern for code outside the
/// function library, e.g. a `timestamp_format` WITH property: parses and
/// formats epoch millis as STRINGTOTIMESTAMP / TIMESTAMPTOSTRING do.
#[derive(Debug, Clone)]
pub struct TimestampFormat {
    pattern: Pattern,
    zone: Zone,
}

impl TimestampFormat {
    /// `zone`: a Java zone id; `None` is UTC. Errors carry Java's message.
    pub fn new(pattern: &str, zone: Option<&str>) -> Result<TimestampFormat, String> {
        Ok(TimestampFormat {
            pattern: Pattern::compile(pattern)?,
            zone: match zone {
                Some(z) => Zone::of(z)?,
                None => Zone::utc(),
            },
        })
    }

    /// Epoch millis of `text`; a zone or offset in the text wins.
    pub fn parse(&self, text: &str) -> Result<i64, String> {
        parse_instant(&self.pattern, text, &self.zone)
    }

    pub fn format(&self, epoch_ms: i64) -> Result<String, String> {
        format_instant(&self.pattern, &self.zone, epoch_ms)
    }
}

/// A function resolved by hand, so constant patterns and zones compile once.
struct Func {
    name: &'static str,
    description: &'static str,
    signatures: &'static [&'static str],
    resolve: fn(&[Arg]) -> Result<Resolved, ResolveError>,
}

impl ScalarFunction for Func {
    fn name(&self) -> &'static str {
        self.name
    }

    fn description(&self) -> &'static str {
        self.description
    }

    fn category(&self) -> &'static str {
        CATEGORY
    }

    fn signatures(&self) -> Vec<String> {
        self.signatures.iter().map(|s| s.to_string()).collect()
    }

    fn resolve(&self, args: &[Arg]) -> Result<Resolved, ResolveError> {
        (self.resolve)(args)
    }
}

// ------------------------------------------------------------ arg checks

/// Whether the argument has one of the types (an untyped NULL fits any).
fn is(arg: &Arg, types: &[SqlType]) -> bool {
    match &arg.ty {
        None => true,
        Some(t) => types.contains(t),
    }
}

fn check(ok: bool) -> Result<(), ResolveError> {
    if ok {
        Ok(())
    } else {
        Err(ResolveError::NoMatch)
    }
}

/// BIGINT milliseconds, TIMESTAMP, or DATE (midnight UTC) as epoch millis.
fn epoch_ms(v: &Value) -> Option<i64> {
    match v {
        Value::Bigint(i) | Value::Timestamp(i) => Some(*i),
        Value::Int(i) => Some(*i as i64),
        Value::Date(d) => Some(*d as i64 * MS_PER_DAY),
        _ => None,
    }
}

fn epoch_days(v: &Value) -> Option<i64> {
    match v {
        Value::Date(d) | Value::Int(d) => Some(*d as i64),
        Value::Bigint(d) => Some(*d),
        _ => None,
    }
}

// ------------------------------------------------------------ compiled args

type Compiled<T> = Result<Arc<T>, String>;

/// A pattern or zone argument: compiled once when constant, else cached.
struct Precompiled<T> {
    constant: Option<Compiled<T>>,
    cache: Mutex<HashMap<Arc<str>, Compiled<T>>>,
    compile: fn(&str) -> Result<T, String>,
}

const CACHE_LIMIT: usize = 256;

impl<T> Precompiled<T> {
    fn new(arg: Option<&Arg>, compile: fn(&str) -> Result<T, String>) -> Precompiled<T> {
        let constant = match arg.and_then(|a| a.constant.as_ref()) {
            Some(Value::String(s)) => Some(compile(s).map(Arc::new)),
            _ => None,
        };
        Precompiled {
            constant,
            cache: Mutex::new(HashMap::new()),
            compile,
        }
    }

    /// `None` when the value is NULL (or not a string).
    fn get(&self, v: &Value) -> Option<Compiled<T>> {
        let Value::String(s) = v else {
            return None;
        };
        if let Some(c) = &self.constant {
            return Some(c.clone());
        }
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cache.get(s) {
            return Some(c.clone());
        }
        let c = (self.compile)(s).map(Arc::new);
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(s.clone(), c.clone());
        Some(c)
    }
}

fn patterns(arg: Option<&Arg>) -> Precompiled<Pattern> {
    Precompiled::new(arg, Pattern::compile)
}

fn zones(arg: Option<&Arg>) -> Precompiled<Zone> {
    Precompiled::new(arg, Zone::of)
}

// ------------------------------------------------------------ formatting

/// Calendar fields of an epoch day.
fn civil(days: i64) -> Option<NaiveDate> {
    let d = i32::try_from(days).ok()?.checked_add(CE_TO_EPOCH_DAYS)?;
    NaiveDate::from_num_days_from_ce_opt(d)
}

fn date_fields(d: NaiveDate) -> (i32, u32, u32, u32, u32) {
    (
        d.year(),
        d.month(),
        d.day(),
        d.ordinal(),
        d.weekday().number_from_monday(),
    )
}

fn time_fields(ms_of_day: i64) -> (u32, u32, u32, u32) {
    let secs = ms_of_day / 1000;
    (
        (secs / 3600) as u32,
        (secs / 60 % 60) as u32,
        (secs % 60) as u32,
        (ms_of_day % 1000 * 1_000_000) as u32,
    )
}

/// Formats an instant in a zone.
pub fn format_instant(p: &Pattern, zone: &Zone, ms: i64) -> Result<String, String> {
    let mut out = String::with_capacity(32);
    format_instant_into(p, zone, ms, &mut out)?;
    Ok(out)
}

/// [`format_instant`] as a STRING value, formatted in a reused per-thread
/// buffer so the value's text is the only allocation.
fn format_instant_value(p: &Pattern, zone: &Zone, ms: i64) -> Result<Value, String> {
    thread_local! {
        static BUF: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    BUF.with(|buf| {
        let mut buf = buf.borrow_mut();
        buf.clear();
        format_instant_into(p, zone, ms, &mut buf)?;
        Ok(Value::string(buf.as_str()))
    })
}

fn format_instant_into(p: &Pattern, zone: &Zone, ms: i64, out: &mut String) -> Result<(), String> {
    let secs = ms.div_euclid(1000);
    let off = zone.offset_at(secs);
    let out_of_range = || format!("Instant exceeds minimum or maximum instant: {ms}");
    let local_ms = ms.checked_add(off as i64 * 1000).ok_or_else(out_of_range)?;
    let days = local_ms.div_euclid(MS_PER_DAY);
    let date = civil(days).ok_or_else(out_of_range)?;
    let input = FmtInput {
        date: Some(date_fields(date)),
        time: Some(time_fields(local_ms.rem_euclid(MS_PER_DAY))),
        zone: Some((zone, off, secs)),
    };
    p.format(&input, out)
}

fn format_days(p: &Pattern, days: i64) -> Result<String, String> {
    let date = civil(days).ok_or_else(|| format!("Invalid value for EpochDay: {days}"))?;
    let input = FmtInput {
        date: Some(date_fields(date)),
        time: None,
        zone: None,
    };
    let mut out = String::new();
    p.format(&input, &mut out)?;
    Ok(out)
}

fn format_ms_of_day(p: &Pattern, ms: i64) -> Result<String, String> {
    let input = FmtInput {
        date: None,
        time: Some(time_fields(ms.rem_euclid(MS_PER_DAY))),
        zone: None,
    };
    let mut out = String::new();
    p.format(&input, &mut out)?;
    Ok(out)
}

// ------------------------------------------------------------ parsing

fn invalid(text: &str, field: &str, lo: i64, hi: i64, v: i64) -> String {
    format!(
        "Text '{text}' could not be parsed: Invalid value for {field} (valid values {lo} - {hi}): {v}"
    )
}

/// The date of parsed fields; missing fields default to 1970-01-01.
fn resolve_date(p: &Parsed, text: &str) -> Result<NaiveDate, String> {
    let year = match (p.get(Field::Year), p.get(Field::YearOfEra)) {
        (Some(y), _) => y,
        (None, Some(yoe)) => {
            if p.get(Field::Era) == Some(0) {
                1 - yoe
            } else {
                yoe
            }
        }
        (None, None) => 1970,
    };
    if !(-999_999_999..=999_999_999).contains(&year) {
        return Err(invalid(text, "Year", -999_999_999, 999_999_999, year));
    }
    let year = year as i32;
    if let (Some(doy), None) = (p.get(Field::DayOfYear), p.get(Field::Month)) {
        return NaiveDate::from_yo_opt(year, doy as u32)
            .filter(|_| doy > 0)
            .ok_or_else(|| invalid(text, "DayOfYear", 1, 366, doy));
    }
    let month = p.get(Field::Month).unwrap_or(1);
    if !(1..=12).contains(&month) {
        return Err(invalid(text, "MonthOfYear", 1, 12, month));
    }
    let day = p.get(Field::Day).unwrap_or(1);
    if !(1..=31).contains(&day) {
        return Err(invalid(text, "DayOfMonth", 1, 31, day));
    }
    // Java's SMART resolver clips day 29-31 to the month's last day.
    let mut d = day as u32;
    loop {
        if let Some(date) = NaiveDate::from_ymd_opt(year, month as u32, d) {
            return Ok(date);
        }
        if d <= 28 {
            return Err(format!("Text '{text}' could not be parsed: Invalid date"));
        }
        d -= 1;
    }
}

/// The time of day (nanos) of parsed fields; missing fields default to 0.
fn resolve_time(p: &Parsed, text: &str) -> Result<NaiveTime, String> {
    if let Some(ms) = p.get(Field::MilliOfDay) {
        if !(0..MS_PER_DAY).contains(&ms) {
            return Err(invalid(text, "MilliOfDay", 0, MS_PER_DAY - 1, ms));
        }
        let t = NaiveTime::from_num_seconds_from_midnight_opt(
            (ms / 1000) as u32,
            (ms % 1000 * 1_000_000) as u32,
        );
        return t.ok_or_else(|| format!("Text '{text}' could not be parsed"));
    }
    if let Some(n) = p.get(Field::NanoOfDay) {
        let max = MS_PER_DAY * 1_000_000;
        if !(0..max).contains(&n) {
            return Err(invalid(text, "NanoOfDay", 0, max - 1, n));
        }
        let t = NaiveTime::from_num_seconds_from_midnight_opt(
            (n / 1_000_000_000) as u32,
            (n % 1_000_000_000) as u32,
        );
        return t.ok_or_else(|| format!("Text '{text}' could not be parsed"));
    }
    let ampm = p.get(Field::AmPm).unwrap_or(0);
    let hour = if let Some(h) = p.get(Field::HourOfDay) {
        if !(0..=23).contains(&h) {
            return Err(invalid(text, "HourOfDay", 0, 23, h));
        }
        h
    } else if let Some(h) = p.get(Field::ClockHourOfDay) {
        if !(1..=24).contains(&h) {
            return Err(invalid(text, "ClockHourOfDay", 1, 24, h));
        }
        h % 24
    } else if let Some(h) = p.get(Field::ClockHourOfAmPm) {
        if !(1..=12).contains(&h) {
            return Err(invalid(text, "ClockHourOfAmPm", 1, 12, h));
        }
        h % 12 + 12 * ampm
    } else if let Some(h) = p.get(Field::HourOfAmPm) {
        if !(0..=11).contains(&h) {
            return Err(invalid(text, "HourOfAmPm", 0, 11, h));
        }
        h + 12 * ampm
    } else {
        12 * ampm
    };
    let minute = p.get(Field::Minute).unwrap_or(0);
    if !(0..=59).contains(&minute) {
        return Err(invalid(text, "MinuteOfHour", 0, 59, minute));
    }
    let second = p.get(Field::Second).unwrap_or(0);
    if !(0..=59).contains(&second) {
        return Err(invalid(text, "SecondOfMinute", 0, 59, second));
    }
    let nano = p.get(Field::NanoOfSecond).unwrap_or(0);
    if !(0..=999_999_999).contains(&nano) {
        return Err(invalid(text, "NanoOfSecond", 0, 999_999_999, nano));
    }
    NaiveTime::from_hms_nano_opt(hour as u32, minute as u32, second as u32, nano as u32)
        .ok_or_else(|| format!("Text '{text}' could not be parsed"))
}

/// Parses a timestamp to epoch millis; a zone or offset in the text wins
/// over `zone`.
pub fn parse_instant(p: &Pattern, text: &str, zone: &Zone) -> Result<i64, String> {
    let parsed = p.parse(text)?;
    let date = resolve_date(&parsed, text)?;
    let time = resolve_time(&parsed, text)?;
    let local = NaiveDateTime::new(date, time);
    let secs = match (parsed.get(Field::Offset), &parsed.zone) {
        (Some(off), _) => local.and_utc().timestamp() - off,
        (None, Some(z)) => z.local_to_epoch(&local),
        (None, None) => zone.local_to_epoch(&local),
    };
    Ok(secs * 1000 + (time.nanosecond() / 1_000_000) as i64)
}

fn parse_days(p: &Pattern, text: &str) -> Result<i64, String> {
    let parsed = p.parse(text)?;
    Ok(days_of(resolve_date(&parsed, text)?))
}

fn days_of(d: NaiveDate) -> i64 {
    d.num_days_from_ce() as i64 - CE_TO_EPOCH_DAYS as i64
}

/// PARSE_DATE, which ksqlDB implements with commons-lang's
/// `FastDateFormat` (SimpleDateFormat patterns) in GMT: text after the
/// pattern is ignored, out-of-range months and days roll over, and a
/// result that is not midnight is an error.
fn parse_date_lenient(p: &Pattern, text: &str) -> Result<i64, String> {
    let parsed = p.parse_legacy(text)?;
    let year = parsed_year(&parsed);
    let start = NaiveDate::from_ymd_opt(year_i32(year, text)?, 1, 1)
        .ok_or_else(|| format!("Unparseable date: {text}"))?;
    let date = match (parsed.get(Field::DayOfYear), parsed.get(Field::Month)) {
        (Some(doy), None) => start.checked_add_signed(chrono::Duration::days(doy - 1)),
        (_, month) => {
            let months = month.unwrap_or(1) - 1;
            let y = year + months.div_euclid(12);
            let m = months.rem_euclid(12) as u32 + 1;
            NaiveDate::from_ymd_opt(year_i32(y, text)?, m, 1).and_then(|d| {
                d.checked_add_signed(chrono::Duration::days(
                    parsed.get(Field::Day).unwrap_or(1) - 1,
                ))
            })
        }
    }
    .ok_or_else(|| format!("Unparseable date: {text}"))?;
    let time = resolve_time(&parsed, text)?;
    let local = NaiveDateTime::new(date, time);
    let secs = match (parsed.get(Field::Offset), &parsed.zone) {
        (Some(off), _) => local.and_utc().timestamp() - off,
        (None, Some(z)) => z.local_to_epoch(&local),
        (None, None) => local.and_utc().timestamp(),
    };
    if secs.rem_euclid(86_400) != 0 || time.nanosecond() >= 1_000_000 {
        return Err("Date format contains time field.".into());
    }
    Ok(secs.div_euclid(86_400))
}

fn parsed_year(p: &Parsed) -> i64 {
    match (p.get(Field::Year), p.get(Field::YearOfEra)) {
        (Some(y), _) => y,
        (None, Some(yoe)) => {
            if p.get(Field::Era) == Some(0) {
                1 - yoe
            } else {
                yoe
            }
        }
        (None, None) => 1970,
    }
}

fn year_i32(year: i64, text: &str) -> Result<i32, String> {
    i32::try_from(year)
        .ok()
        .filter(|y| (-262_000..=262_000).contains(y))
        .ok_or_else(|| invalid(text, "Year", -999_999_999, 999_999_999, year))
}

/// PARSE_TIME: a date field in the text is an error.
fn parse_time_only(p: &Pattern, text: &str) -> Result<i64, String> {
    let parsed = p.parse(text)?;
    if parsed.has_any(Field::is_date).is_some() {
        return Err("Time format contains date field.".into());
    }
    let t = resolve_time(&parsed, text)?;
    Ok(t.num_seconds_from_midnight() as i64 * 1000 + (t.nanosecond() / 1_000_000) as i64)
}

// ------------------------------------------------------------ resolvers

fn int_types() -> [SqlType; 2] {
    [SqlType::Bigint, SqlType::Int]
}

/// How an error message shows the instant argument.
#[derive(Clone, Copy)]
enum Shown {
    /// The BIGINT millis.
    Millis,
    /// `java.sql.Timestamp.toString()` in UTC.
    Timestamp,
}

fn show_instant(ms: i64, shown: Shown) -> String {
    match shown {
        Shown::Millis => ms.to_string(),
        Shown::Timestamp => {
            let Some(date) = civil(ms.div_euclid(MS_PER_DAY)) else {
                return ms.to_string();
            };
            let (h, m, s, n) = time_fields(ms.rem_euclid(MS_PER_DAY));
            let mut frac = format!("{:09}", n);
            while frac.len() > 1 && frac.ends_with('0') {
                frac.pop();
            }
            format!("{date} {h:02}:{m:02}:{s:02}.{frac}")
        }
    }
}

/// `(instant, pattern [, zone])` to STRING.
/// `default_zone`: FORMAT_TIMESTAMP defaults to GMT and names it in its
/// messages; TIMESTAMPTOSTRING uses the system zone (UTC here) silently.
fn resolve_format_instant(
    args: &[Arg],
    instant_types: &[SqlType],
    shown: Shown,
    default_zone: Option<&'static str>,
) -> Result<Resolved, ResolveError> {
    check((2..=3).contains(&args.len()))?;
    check(is(&args[0], instant_types))?;
    check(args[1..].iter().all(|a| is(a, &[SqlType::String])))?;
    let pats = patterns(args.get(1));
    let zs = zones(args.get(2));
    let has_zone = args.len() == 3;
    let utc = match default_zone {
        Some(z) => Zone::of(z).unwrap_or_else(|_| Zone::utc()),
        None => Zone::utc(),
    };
    Ok(Resolved::new(SqlType::String, move |v: &[Value]| {
        let Some(ms) = epoch_ms(&v[0]) else {
            return Ok(Value::Null);
        };
        let Some(pat) = pats.get(&v[1]) else {
            return Ok(Value::Null);
        };
        let fail = |e: String| {
            let at = match (v.get(2).and_then(Value::as_str), default_zone) {
                (Some(z), _) | (None, Some(z)) => format!(" at timeZone '{z}'"),
                (None, None) => String::new(),
            };
            format!(
                "Failed to format timestamp {}{at} with formatter '{}': {e}",
                show_instant(ms, shown),
                v[1].as_str().unwrap_or("")
            )
        };
        let pat = pat.map_err(fail)?;
        let zone = if has_zone {
            match zs.get(&v[2]) {
                None => return Ok(Value::Null),
                Some(z) => Some(z.map_err(fail)?),
            }
        } else {
            None
        };
        let zone: &Zone = zone.as_deref().unwrap_or(&utc);
        format_instant_value(&pat, zone, ms).map_err(fail)
    }))
}

fn resolve_timestamptostring(args: &[Arg]) -> Result<Resolved, ResolveError> {
    resolve_format_instant(
        args,
        &[
            SqlType::Bigint,
            SqlType::Int,
            SqlType::Timestamp,
            SqlType::Date,
        ],
        Shown::Millis,
        None,
    )
}

fn resolve_format_timestamp(args: &[Arg]) -> Result<Resolved, ResolveError> {
    resolve_format_instant(
        args,
        &[SqlType::Timestamp, SqlType::Date],
        Shown::Timestamp,
        Some("GMT"),
    )
}

/// `(string, pattern [, zone])` to epoch millis. `default_zone_shown`:
/// PARSE_TIMESTAMP defaults to GMT and names it in its messages;
/// STRINGTOTIMESTAMP uses the system zone (UTC here) silently.
fn resolve_parse_instant(
    args: &[Arg],
    wrap: fn(i64) -> Value,
    returns: SqlType,
    default_zone_shown: bool,
) -> Result<Resolved, ResolveError> {
    check((2..=3).contains(&args.len()))?;
    check(args.iter().all(|a| is(a, &[SqlType::String])))?;
    let pats = patterns(args.get(1));
    let zs = zones(args.get(2));
    let has_zone = args.len() == 3;
    let utc = if default_zone_shown {
        Zone::of("GMT").unwrap_or_else(|_| Zone::utc())
    } else {
        Zone::utc()
    };
    Ok(Resolved::new(returns, move |v: &[Value]| {
        let Some(text) = v[0].as_str() else {
            return Ok(Value::Null);
        };
        let Some(pat) = pats.get(&v[1]) else {
            return Ok(Value::Null);
        };
        let fail = |e: String| {
            let at = match v.get(2).and_then(Value::as_str) {
                Some(z) => format!(" at timezone '{z}'"),
                None if default_zone_shown => " at timezone 'GMT'".to_string(),
                None => String::new(),
            };
            format!(
                "Failed to parse timestamp '{text}'{at} with formatter '{}': {e}",
                v[1].as_str().unwrap_or("")
            )
        };
        let pat = pat.map_err(fail)?;
        let zone = if has_zone {
            match zs.get(&v[2]) {
                None => return Ok(Value::Null),
                Some(z) => Some(z.map_err(fail)?),
            }
        } else {
            None
        };
        let zone: &Zone = zone.as_deref().unwrap_or(&utc);
        parse_instant(&pat, text, zone).map(wrap).map_err(fail)
    }))
}

fn resolve_stringtotimestamp(args: &[Arg]) -> Result<Resolved, ResolveError> {
    resolve_parse_instant(args, Value::Bigint, SqlType::Bigint, false)
}

fn resolve_parse_timestamp(args: &[Arg]) -> Result<Resolved, ResolveError> {
    resolve_parse_instant(args, Value::Timestamp, SqlType::Timestamp, true)
}

/// `(value, pattern)` to STRING by `format`.
fn resolve_format_plain(
    args: &[Arg],
    types: &[SqlType],
    what: &'static str,
    value_of: fn(&Value) -> Option<i64>,
    format: fn(&Pattern, i64) -> Result<String, String>,
) -> Result<Resolved, ResolveError> {
    check(args.len() == 2)?;
    check(is(&args[0], types) && is(&args[1], &[SqlType::String]))?;
    let pats = patterns(args.get(1));
    Ok(Resolved::new(SqlType::String, move |v: &[Value]| {
        let Some(x) = value_of(&v[0]) else {
            return Ok(Value::Null);
        };
        let Some(pat) = pats.get(&v[1]) else {
            return Ok(Value::Null);
        };
        let fail = |e: String| {
            format!(
                "Failed to format {what} {} with formatter '{}': {e}",
                display_value(&v[0]),
                v[1].as_str().unwrap_or("")
            )
        };
        let pat = pat.map_err(fail)?;
        format(&pat, x).map(Value::string).map_err(fail)
    }))
}

/// How Java prints the value in an error message.
fn display_value(v: &Value) -> String {
    match v {
        Value::Date(d) => civil(*d as i64)
            .map(|d| d.to_string())
            .unwrap_or_else(|| d.to_string()),
        Value::Time(t) => {
            // LocalTime.toString: HH:mm, HH:mm:ss or HH:mm:ss.SSS.
            let (h, m, s, n) = time_fields(t.rem_euclid(MS_PER_DAY));
            let mut out = format!("{h:02}:{m:02}");
            if s != 0 || n != 0 {
                out.push_str(&format!(":{s:02}"));
                if n != 0 {
                    out.push_str(&format!(".{:03}", n / 1_000_000));
                }
            }
            out
        }
        Value::Int(i) => i.to_string(),
        Value::Bigint(i) => i.to_string(),
        _ => String::new(),
    }
}

/// `(string, pattern)` parsed by `parse`.
fn resolve_parse_plain(
    args: &[Arg],
    returns: SqlType,
    what: &'static str,
    parse: fn(&Pattern, &str) -> Result<i64, String>,
    wrap: fn(i64) -> Value,
) -> Result<Resolved, ResolveError> {
    check(args.len() == 2)?;
    check(args.iter().all(|a| is(a, &[SqlType::String])))?;
    let pats = patterns(args.get(1));
    Ok(Resolved::new(returns, move |v: &[Value]| {
        let Some(text) = v[0].as_str() else {
            return Ok(Value::Null);
        };
        let Some(pat) = pats.get(&v[1]) else {
            return Ok(Value::Null);
        };
        let fail = |e: String| {
            format!(
                "Failed to parse {what} '{text}' with formatter '{}': {e}",
                v[1].as_str().unwrap_or("")
            )
        };
        let pat = pat.map_err(fail)?;
        parse(&pat, text).map(wrap).map_err(fail)
    }))
}

fn resolve_format_date(args: &[Arg]) -> Result<Resolved, ResolveError> {
    resolve_format_plain(args, &[SqlType::Date], "date", epoch_days, format_days)
}

fn resolve_datetostring(args: &[Arg]) -> Result<Resolved, ResolveError> {
    resolve_format_plain(
        args,
        &[SqlType::Int, SqlType::Date],
        "date",
        epoch_days,
        format_days,
    )
}

fn resolve_format_time(args: &[Arg]) -> Result<Resolved, ResolveError> {
    resolve_format_plain(
        args,
        &[SqlType::Time],
        "time",
        |v| match v {
            Value::Time(t) => Some(*t),
            _ => None,
        },
        format_ms_of_day,
    )
}

fn resolve_parse_date(args: &[Arg]) -> Result<Resolved, ResolveError> {
    resolve_parse_plain(args, SqlType::Date, "date", parse_date_lenient, |d| {
        Value::Date(d as i32)
    })
}

fn resolve_stringtodate(args: &[Arg]) -> Result<Resolved, ResolveError> {
    resolve_parse_plain(args, SqlType::Int, "date", parse_days, |d| {
        Value::Int(d as i32)
    })
}

fn resolve_parse_time(args: &[Arg]) -> Result<Resolved, ResolveError> {
    resolve_parse_plain(args, SqlType::Time, "time", parse_time_only, Value::Time)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn resolve_unix_date(args: &[Arg]) -> Result<Resolved, ResolveError> {
    match args {
        [] => Ok(Resolved::new(SqlType::Int, |_: &[Value]| {
            Ok(Value::Int(now_ms().div_euclid(MS_PER_DAY) as i32))
        })),
        [a] => {
            check(is(a, &[SqlType::Date]))?;
            Ok(Resolved::new(SqlType::Int, |v: &[Value]| {
                Ok(match v[0] {
                    Value::Date(d) => Value::Int(d),
                    _ => Value::Null,
                })
            }))
        }
        _ => Err(ResolveError::NoMatch),
    }
}

fn resolve_unix_timestamp(args: &[Arg]) -> Result<Resolved, ResolveError> {
    match args {
        [] => Ok(Resolved::new(SqlType::Bigint, |_: &[Value]| {
            Ok(Value::Bigint(now_ms()))
        })),
        [a] => {
            check(is(a, &[SqlType::Timestamp, SqlType::Date]))?;
            Ok(Resolved::new(SqlType::Bigint, |v: &[Value]| {
                Ok(epoch_ms(&v[0]).map_or(Value::Null, Value::Bigint))
            }))
        }
        _ => Err(ResolveError::NoMatch),
    }
}

fn resolve_from_unixtime(args: &[Arg]) -> Result<Resolved, ResolveError> {
    check(args.len() == 1 && is(&args[0], &int_types()))?;
    Ok(Resolved::new(SqlType::Timestamp, |v: &[Value]| {
        Ok(v[0].as_i64().map_or(Value::Null, Value::Timestamp))
    }))
}

fn resolve_from_days(args: &[Arg]) -> Result<Resolved, ResolveError> {
    check(args.len() == 1 && is(&args[0], &[SqlType::Int]))?;
    Ok(Resolved::new(SqlType::Date, |v: &[Value]| {
        Ok(match v[0] {
            Value::Int(d) => Value::Date(d),
            _ => Value::Null,
        })
    }))
}

fn resolve_convert_tz(args: &[Arg]) -> Result<Resolved, ResolveError> {
    check(args.len() == 3)?;
    check(is(&args[0], &[SqlType::Timestamp, SqlType::Date]))?;
    check(args[1..].iter().all(|a| is(a, &[SqlType::String])))?;
    let from = zones(args.get(1));
    let to = zones(args.get(2));
    Ok(Resolved::new(SqlType::Timestamp, move |v: &[Value]| {
        let Some(ms) = epoch_ms(&v[0]) else {
            return Ok(Value::Null);
        };
        let (Some(f), Some(t)) = (from.get(&v[1]), to.get(&v[2])) else {
            return Ok(Value::Null);
        };
        let invalid = |e: String| format!("Invalid time zone: {e}");
        let (f, t) = (f.map_err(invalid)?, t.map_err(invalid)?);
        let secs = ms.div_euclid(1000);
        let delta = t.offset_at(secs) as i64 - f.offset_at(secs) as i64;
        Ok(Value::Timestamp(ms.saturating_add(delta * 1000)))
    }))
}

// ------------------------------------------------------------ unit arithmetic

/// Java's `TimeUnit`, as nanoseconds per unit.
fn unit_nanos(word: &str) -> Option<i64> {
    let w = word.to_ascii_uppercase();
    let w = w.strip_suffix('S').unwrap_or(&w);
    Some(match w {
        "NANOSECOND" => 1,
        "MICROSECOND" => 1_000,
        "MILLISECOND" => 1_000_000,
        "SECOND" => 1_000_000_000,
        "MINUTE" => 60_000_000_000,
        "HOUR" => 3_600_000_000_000,
        "DAY" => 86_400_000_000_000,
        _ => return None,
    })
}

/// `TimeUnit.convert`: `amount` units in units of `target` nanos,
/// truncating toward zero and saturating like Java.
fn convert(amount: i64, unit: i64, target: i64) -> i64 {
    if unit >= target {
        amount.saturating_mul(unit / target)
    } else {
        amount / (target / unit)
    }
}

/// The unit argument: a constant STRING naming a time unit.
fn unit_arg(arg: &Arg) -> Result<i64, ResolveError> {
    match (&arg.ty, &arg.constant) {
        (Some(SqlType::String), Some(Value::String(s))) => {
            unit_nanos(s).ok_or_else(|| ResolveError::Message(format!("Unknown time unit: '{s}'")))
        }
        _ => Err(ResolveError::NoMatch),
    }
}

fn resolve_date_shift(args: &[Arg], sign: i64) -> Result<Resolved, ResolveError> {
    check(args.len() == 3)?;
    let unit = unit_arg(&args[0])?;
    check(is(&args[1], &[SqlType::Int]) && is(&args[2], &[SqlType::Date]))?;
    Ok(Resolved::new(SqlType::Date, move |v: &[Value]| {
        let (Some(n), Value::Date(d)) = (v[1].as_i64(), &v[2]) else {
            return Ok(Value::Null);
        };
        let ms = (*d as i64 * MS_PER_DAY).saturating_add(sign * convert(n, unit, 1_000_000));
        let days = ms / MS_PER_DAY;
        i32::try_from(days)
            .map(Value::Date)
            .map_err(|_| format!("Date out of range: {days}"))
    }))
}

fn resolve_time_shift(args: &[Arg], sign: i64) -> Result<Resolved, ResolveError> {
    check(args.len() == 3)?;
    let unit = unit_arg(&args[0])?;
    check(is(&args[1], &[SqlType::Int]) && is(&args[2], &[SqlType::Time]))?;
    const NANOS_PER_DAY: i128 = 86_400_000_000_000;
    Ok(Resolved::new(SqlType::Time, move |v: &[Value]| {
        let (Some(n), Value::Time(t)) = (v[1].as_i64(), &v[2]) else {
            return Ok(Value::Null);
        };
        let nanos = *t as i128 * 1_000_000 + sign as i128 * n as i128 * unit as i128;
        Ok(Value::Time(
            (nanos.rem_euclid(NANOS_PER_DAY) / 1_000_000) as i64,
        ))
    }))
}

fn resolve_timestamp_shift(args: &[Arg], sign: i64) -> Result<Resolved, ResolveError> {
    check(args.len() == 3)?;
    let unit = unit_arg(&args[0])?;
    check(is(&args[1], &int_types()))?;
    check(is(&args[2], &[SqlType::Timestamp, SqlType::Date]))?;
    Ok(Resolved::new(SqlType::Timestamp, move |v: &[Value]| {
        let (Some(n), Some(ms)) = (v[1].as_i64(), epoch_ms(&v[2])) else {
            return Ok(Value::Null);
        };
        Ok(Value::Timestamp(ms.saturating_add(
            sign.saturating_mul(convert(n, unit, 1_000_000)),
        )))
    }))
}
