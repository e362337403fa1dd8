//! Java `DateTimeFormatter.ofPattern` patterns: compiling, formatting and
//! (case-insensitive) parsing.

use super::zone::{zone_from_name, Zone};

/// A temporal field a pattern letter prints or parses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Era,
    YearOfEra,
    Year,
    Quarter,
    Month,
    Day,
    DayOfYear,
    DayOfWeek,
    AmPm,
    HourOfDay,
    ClockHourOfAmPm,
    HourOfAmPm,
    ClockHourOfDay,
    Minute,
    Second,
    NanoOfSecond,
    MilliOfDay,
    NanoOfDay,
    Offset,
    /// `Y`: week-based year (US weeks: Sunday first, week 1 holds Jan 1).
    WeekBasedYear,
    /// `w`: week of the week-based year.
    WeekOfWeekBasedYear,
    /// `W`: week of the month.
    WeekOfMonth,
    /// `e`/`c`: localized day of week (US: Sunday = 1).
    LocalDayOfWeek,
}

const FIELD_COUNT: usize = 23;

impl Field {
    /// Java's `ChronoField` display name.
    fn java_name(self) -> &'static str {
        match self {
            Field::Era => "Era",
            Field::YearOfEra => "YearOfEra",
            Field::Year => "Year",
            Field::Quarter => "QuarterOfYear",
            Field::Month => "MonthOfYear",
            Field::Day => "DayOfMonth",
            Field::DayOfYear => "DayOfYear",
            Field::DayOfWeek => "DayOfWeek",
            Field::AmPm => "AmPmOfDay",
            Field::HourOfDay => "HourOfDay",
            Field::ClockHourOfAmPm => "ClockHourOfAmPm",
            Field::HourOfAmPm => "HourOfAmPm",
            Field::ClockHourOfDay => "ClockHourOfDay",
            Field::Minute => "MinuteOfHour",
            Field::Second => "SecondOfMinute",
            Field::NanoOfSecond => "NanoOfSecond",
            Field::MilliOfDay => "MilliOfDay",
            Field::NanoOfDay => "NanoOfDay",
            Field::Offset => "OffsetSeconds",
            Field::WeekBasedYear => "WeekBasedYear[WeekFields[SUNDAY,1]]",
            Field::WeekOfWeekBasedYear => "WeekOfWeekBasedYear[WeekFields[SUNDAY,1]]",
            Field::WeekOfMonth => "WeekOfMonth[WeekFields[SUNDAY,1]]",
            Field::LocalDayOfWeek => "DayOfWeek[WeekFields[SUNDAY,1]]",
        }
    }

    pub fn is_date(self) -> bool {
        matches!(
            self,
            Field::Era
                | Field::YearOfEra
                | Field::Year
                | Field::Quarter
                | Field::Month
                | Field::Day
                | Field::DayOfYear
                | Field::DayOfWeek
                | Field::WeekBasedYear
                | Field::WeekOfWeekBasedYear
                | Field::WeekOfMonth
                | Field::LocalDayOfWeek
        )
    }

    pub fn is_time(self) -> bool {
        !self.is_date() && self != Field::Offset
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sign {
    Normal,
    NotNegative,
    ExceedsPad,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Short,
    Full,
    Narrow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    No,
    Optional,
    Always,
}

#[derive(Debug, Clone)]
enum Item {
    Lit(String),
    Num {
        field: Field,
        min: usize,
        max: usize,
        sign: Sign,
    },
    /// `yy` / `uu`: two digits, base year 2000.
    Reduced(Field),
    /// `S...`: exactly `width` fraction digits.
    Fraction(usize),
    /// Candidates for parsing, longest first.
    Text(Field, Style, Vec<(String, i64)>),
    Offset {
        colon: bool,
        minutes: Part,
        seconds: Part,
        zero: &'static str,
    },
    LocalizedOffset {
        full: bool,
    },
    ZoneName {
        full: bool,
    },
    ZoneId,
    Optional(Vec<Item>),
}

impl Item {
    fn fixed_width(&self) -> Option<usize> {
        match self {
            Item::Num { min, max, .. } if min == max => Some(*min),
            Item::Reduced(_) => Some(2),
            Item::Fraction(w) => Some(*w),
            _ => None,
        }
    }

    fn fields(&self, out: &mut Vec<Field>) {
        match self {
            Item::Num { field, .. } | Item::Text(field, _, _) | Item::Reduced(field) => {
                out.push(*field)
            }
            Item::Fraction(_) => out.push(Field::NanoOfSecond),
            Item::Offset { .. } | Item::LocalizedOffset { .. } => out.push(Field::Offset),
            Item::ZoneName { .. } | Item::ZoneId => out.push(Field::Offset),
            Item::Optional(items) => items.iter().for_each(|i| i.fields(out)),
            Item::Lit(_) => {}
        }
    }
}

/// A compiled pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    items: Vec<Item>,
}

/// The values a format call can print.
pub struct FmtInput<'a> {
    /// year, month, day, day of year, day of week (1 = Monday).
    pub date: Option<(i32, u32, u32, u32, u32)>,
    /// hour, minute, second, nano of second.
    pub time: Option<(u32, u32, u32, u32)>,
    /// zone, offset seconds at the instant, epoch seconds.
    pub zone: Option<(&'a Zone, i32, i64)>,
}

/// Parsed field values.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    values: [Option<i64>; FIELD_COUNT],
    pub zone: Option<Zone>,
}

impl Parsed {
    pub fn get(&self, f: Field) -> Option<i64> {
        self.values[f as usize]
    }

    fn set(&mut self, f: Field, v: i64) {
        self.values[f as usize] = Some(v);
    }

    pub fn has_any(&self, pred: fn(Field) -> bool) -> Option<Field> {
        ALL_FIELDS
            .iter()
            .copied()
            .find(|f| pred(*f) && self.get(*f).is_some())
    }
}

const ALL_FIELDS: [Field; FIELD_COUNT] = [
    Field::Era,
    Field::YearOfEra,
    Field::Year,
    Field::Quarter,
    Field::Month,
    Field::Day,
    Field::DayOfYear,
    Field::DayOfWeek,
    Field::AmPm,
    Field::HourOfDay,
    Field::ClockHourOfAmPm,
    Field::HourOfAmPm,
    Field::ClockHourOfDay,
    Field::Minute,
    Field::Second,
    Field::NanoOfSecond,
    Field::MilliOfDay,
    Field::NanoOfDay,
    Field::Offset,
    Field::WeekBasedYear,
    Field::WeekOfWeekBasedYear,
    Field::WeekOfMonth,
    Field::LocalDayOfWeek,
];

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

fn text_for(field: Field, style: Style, v: i64) -> std::borrow::Cow<'static, str> {
    let full: &'static str = match field {
        Field::Month => MONTHS[(v - 1).clamp(0, 11) as usize],
        Field::DayOfWeek => DAYS[(v - 1).clamp(0, 6) as usize],
        Field::AmPm => return if v == 0 { "AM" } else { "PM" }.into(),
        Field::Era => {
            return match (style, v) {
                (Style::Full, 1) => "Anno Domini",
                (Style::Full, _) => "Before Christ",
                (Style::Narrow, 1) => "A",
                (Style::Narrow, _) => "B",
                (_, 1) => "AD",
                _ => "BC",
            }
            .into()
        }
        Field::Quarter => {
            return match style {
                Style::Full => ["1st quarter", "2nd quarter", "3rd quarter", "4th quarter"]
                    [(v - 1).clamp(0, 3) as usize]
                    .into(),
                Style::Narrow => v.to_string().into(),
                Style::Short => format!("Q{v}").into(),
            }
        }
        _ => return v.to_string().into(),
    };
    match style {
        Style::Full => full.into(),
        Style::Short => full[..3].into(),
        Style::Narrow => full[..1].into(),
    }
}

/// Candidate texts for parsing a text field, longest first.
fn text_candidates(field: Field, style: Style) -> Vec<(String, i64)> {
    let range: Vec<i64> = match field {
        Field::Month => (1..=12).collect(),
        Field::DayOfWeek => (1..=7).collect(),
        Field::AmPm | Field::Era => vec![0, 1],
        Field::Quarter => (1..=4).collect(),
        _ => vec![],
    };
    let mut out: Vec<(String, i64)> = range
        .iter()
        .map(|v| (text_for(field, style, *v).into_owned(), *v))
        .collect();
    if matches!(field, Field::Month | Field::DayOfWeek) {
        // Parsing accepts both full and short names (as lenient Java and
        // SimpleDateFormat do).
        out.extend(range.iter().flat_map(|v| {
            [Style::Full, Style::Short].map(|st| (text_for(field, st, *v).into_owned(), *v))
        }));
        out.dedup();
    }
    out.sort_by_key(|(t, _)| std::cmp::Reverse(t.len()));
    out
}

fn text_item(field: Field, style: Style) -> Item {
    Item::Text(field, style, text_candidates(field, style))
}

impl Pattern {
    /// Compiles a pattern as `DateTimeFormatter.ofPattern` does.
    pub fn compile(pattern: &str) -> Result<Pattern, String> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut stack: Vec<Vec<Item>> = vec![Vec::new()];
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c.is_ascii_alphabetic() {
                let start = i;
                while i < chars.len() && chars[i] == c {
                    i += 1;
                }
                let count = i - start;
                let item = letter(c, count)?;
                stack.last_mut().unwrap().push(item);
                continue;
            }
            match c {
                '\'' => {
                    let start = i;
                    i += 1;
                    let mut lit = String::new();
                    loop {
                        if i >= chars.len() {
                            return Err(format!(
                                "Pattern ends with an incomplete string literal: {pattern}"
                            ));
                        }
                        if chars[i] == '\'' {
                            if i + 1 < chars.len() && chars[i + 1] == '\'' {
                                lit.push('\'');
                                i += 2;
                                continue;
                            }
                            i += 1;
                            break;
                        }
                        lit.push(chars[i]);
                        i += 1;
                    }
                    if i - start == 2 {
                        lit.push('\'');
                    }
                    push_lit(stack.last_mut().unwrap(), &lit);
                }
                '[' => {
                    stack.push(Vec::new());
                    i += 1;
                }
                ']' => {
                    if stack.len() == 1 {
                        return Err(
                            "Pattern invalid as it contains ] without previous [".to_string()
                        );
                    }
                    let items = stack.pop().unwrap();
                    stack.last_mut().unwrap().push(Item::Optional(items));
                    i += 1;
                }
                '{' | '}' | '#' => {
                    return Err(format!("Pattern includes reserved character: '{c}'"));
                }
                _ => {
                    push_lit(stack.last_mut().unwrap(), &c.to_string());
                    i += 1;
                }
            }
        }
        while stack.len() > 1 {
            let items = stack.pop().unwrap();
            stack.last_mut().unwrap().push(Item::Optional(items));
        }
        Ok(Pattern {
            items: stack.pop().unwrap(),
        })
    }

    /// Every field the pattern mentions.
    pub fn fields(&self) -> Vec<Field> {
        let mut out = Vec::new();
        self.items.iter().for_each(|i| i.fields(&mut out));
        out
    }

    pub fn format(&self, input: &FmtInput<'_>, out: &mut String) -> Result<(), String> {
        format_items(&self.items, input, out)
    }

    /// Parses like `SimpleDateFormat` / commons-lang `FastDateFormat`:
    /// text after the pattern is ignored, numbers not followed by numbers
    /// are read greedily, and `yy` uses the 80-years-back century window.
    pub fn parse_legacy(&self, text: &str) -> Result<Parsed, String> {
        let mut parsed = Parsed::default();
        match parse_items(&self.items, text, 0, &mut parsed, true) {
            Ok(_) => Ok(parsed),
            Err(_) => Err(format!("Unparseable date: {text}")),
        }
    }

    pub fn parse(&self, text: &str) -> Result<Parsed, String> {
        let mut parsed = Parsed::default();
        match parse_items(&self.items, text, 0, &mut parsed, false) {
            Ok(pos) if pos == text.len() => Ok(parsed),
            Ok(pos) => Err(format!(
                "Text '{text}' could not be parsed, unparsed text found at index {}",
                char_index(text, pos)
            )),
            Err(pos) => Err(format!(
                "Text '{text}' could not be parsed at index {}",
                char_index(text, pos)
            )),
        }
    }
}

fn char_index(text: &str, byte: usize) -> usize {
    text.get(..byte).map(|s| s.chars().count()).unwrap_or(byte)
}

fn push_lit(items: &mut Vec<Item>, s: &str) {
    if let Some(Item::Lit(prev)) = items.last_mut() {
        prev.push_str(s);
    } else {
        items.push(Item::Lit(s.to_string()));
    }
}

fn too_many(c: char) -> String {
    format!("Too many pattern letters: {c}")
}

fn num(field: Field, min: usize, max: usize, sign: Sign) -> Item {
    Item::Num {
        field,
        min,
        max,
        sign,
    }
}

fn offset(colon: bool, minutes: Part, seconds: Part, zero: &'static str) -> Item {
    Item::Offset {
        colon,
        minutes,
        seconds,
        zero,
    }
}

fn text_style(count: usize) -> Style {
    match count {
        4 => Style::Full,
        5 => Style::Narrow,
        _ => Style::Short,
    }
}

/// The item for `count` repetitions of pattern letter `c`.
fn letter(c: char, count: usize) -> Result<Item, String> {
    use Part::*;
    let simple = |field: Field| -> Result<Item, String> {
        match count {
            1 => Ok(num(field, 1, 19, Sign::Normal)),
            2 => Ok(num(field, 2, 2, Sign::NotNegative)),
            _ => Err(too_many(c)),
        }
    };
    Ok(match c {
        'G' => match count {
            1..=5 => text_item(Field::Era, text_style(count)),
            _ => return Err(too_many(c)),
        },
        'y' | 'u' => {
            let field = if c == 'y' {
                Field::YearOfEra
            } else {
                Field::Year
            };
            match count {
                1 => num(field, 1, 19, Sign::Normal),
                2 => Item::Reduced(field),
                3 => num(field, 3, 19, Sign::Normal),
                _ => num(field, count, 19, Sign::ExceedsPad),
            }
        }
        'Q' | 'q' => match count {
            1 => num(Field::Quarter, 1, 19, Sign::Normal),
            2 => num(Field::Quarter, 2, 2, Sign::NotNegative),
            3..=5 => text_item(Field::Quarter, text_style(count)),
            _ => return Err(too_many(c)),
        },
        'M' | 'L' => match count {
            1 => num(Field::Month, 1, 19, Sign::Normal),
            2 => num(Field::Month, 2, 2, Sign::NotNegative),
            3..=5 => text_item(Field::Month, text_style(count)),
            _ => return Err(too_many(c)),
        },
        'd' => simple(Field::Day)?,
        'D' => match count {
            1 => num(Field::DayOfYear, 1, 19, Sign::Normal),
            2 => num(Field::DayOfYear, 2, 3, Sign::NotNegative),
            3 => num(Field::DayOfYear, 3, 3, Sign::NotNegative),
            _ => return Err(too_many(c)),
        },
        'E' => match count {
            1..=5 => text_item(Field::DayOfWeek, text_style(count)),
            _ => return Err(too_many(c)),
        },
        'e' | 'c' => match count {
            1 => num(Field::LocalDayOfWeek, 1, 1, Sign::NotNegative),
            2 if c == 'e' => num(Field::LocalDayOfWeek, 2, 2, Sign::NotNegative),
            2 => return Err("Invalid pattern \"cc\"".into()),
            3..=5 => text_item(Field::DayOfWeek, text_style(count)),
            _ => return Err(too_many(c)),
        },
        'a' => match count {
            1 => text_item(Field::AmPm, Style::Short),
            _ => return Err(too_many(c)),
        },
        'H' => simple(Field::HourOfDay)?,
        'h' => simple(Field::ClockHourOfAmPm)?,
        'K' => simple(Field::HourOfAmPm)?,
        'k' => simple(Field::ClockHourOfDay)?,
        'm' => simple(Field::Minute)?,
        's' => simple(Field::Second)?,
        'S' => {
            if count > 9 {
                return Err(too_many(c));
            }
            Item::Fraction(count)
        }
        'n' => match count {
            1 => num(Field::NanoOfSecond, 1, 19, Sign::Normal),
            _ => num(Field::NanoOfSecond, count, 19, Sign::NotNegative),
        },
        'A' => num(Field::MilliOfDay, count, 19, Sign::NotNegative),
        'N' => num(Field::NanoOfDay, count, 19, Sign::NotNegative),
        'V' => {
            if count != 2 {
                return Err("Pattern letter count must be 2: V".into());
            }
            Item::ZoneId
        }
        'z' => match count {
            1..=3 => Item::ZoneName { full: false },
            4 => Item::ZoneName { full: true },
            _ => return Err(too_many(c)),
        },
        'O' => match count {
            1 => Item::LocalizedOffset { full: false },
            4 => Item::LocalizedOffset { full: true },
            _ => return Err("Pattern letter count must be 1 or 4: O".into()),
        },
        'X' | 'x' => {
            let zero_x = c == 'X';
            match count {
                1 => offset(false, Optional, No, if zero_x { "Z" } else { "+00" }),
                2 => offset(false, Always, No, if zero_x { "Z" } else { "+0000" }),
                3 => offset(true, Always, No, if zero_x { "Z" } else { "+00:00" }),
                4 => offset(false, Always, Optional, if zero_x { "Z" } else { "+0000" }),
                5 => offset(true, Always, Optional, if zero_x { "Z" } else { "+00:00" }),
                _ => return Err(too_many(c)),
            }
        }
        'Z' => match count {
            1..=3 => offset(false, Always, No, "+0000"),
            4 => Item::LocalizedOffset { full: true },
            5 => offset(true, Always, Optional, "Z"),
            _ => return Err(too_many(c)),
        },
        'Y' => match count {
            2 => Item::Reduced(Field::WeekBasedYear),
            1..=3 => num(Field::WeekBasedYear, count, 19, Sign::Normal),
            _ => num(Field::WeekBasedYear, count, 19, Sign::ExceedsPad),
        },
        'w' => match count {
            1 => num(Field::WeekOfWeekBasedYear, 1, 2, Sign::NotNegative),
            2 => num(Field::WeekOfWeekBasedYear, 2, 2, Sign::NotNegative),
            _ => return Err(too_many(c)),
        },
        'W' => match count {
            1 => num(Field::WeekOfMonth, 1, 1, Sign::NotNegative),
            _ => return Err(too_many(c)),
        },
        'F' | 'B' | 'g' | 'v' => return Err(format!("Unsupported pattern letter: {c}")),
        _ => return Err(format!("Unknown pattern letter: {c}")),
    })
}

// ---------------------------------------------------------------- format

fn unsupported(f: Field) -> String {
    format!("Unsupported field: {}", f.java_name())
}

fn field_value(f: Field, input: &FmtInput<'_>) -> Result<i64, String> {
    if f.is_date() {
        let Some((y, m, d, doy, dow)) = input.date else {
            return Err(unsupported(f));
        };
        let y = y as i64;
        return Ok(match f {
            Field::Era => (y > 0) as i64,
            Field::YearOfEra => {
                if y > 0 {
                    y
                } else {
                    1 - y
                }
            }
            Field::Year => y,
            Field::Quarter => (m as i64 - 1) / 3 + 1,
            Field::Month => m as i64,
            Field::Day => d as i64,
            Field::DayOfYear => doy as i64,
            Field::DayOfWeek => dow as i64,
            Field::LocalDayOfWeek => (dow % 7 + 1) as i64,
            Field::WeekOfMonth => {
                // Sunday-based weeks; week 1 holds the 1st.
                let first_dow0 = (dow as i64 % 7 - (d as i64 - 1)).rem_euclid(7);
                (d as i64 - 1 + first_dow0) / 7 + 1
            }
            _ => {
                let (wby, week) = us_week(y, doy as i64, dow as i64);
                if f == Field::WeekBasedYear {
                    wby
                } else {
                    week
                }
            }
        });
    }
    if f == Field::Offset {
        return input
            .zone
            .map(|(_, off, _)| off as i64)
            .ok_or_else(|| unsupported(f));
    }
    let Some((h, mi, s, n)) = input.time else {
        return Err(unsupported(f));
    };
    let (h, mi, s, n) = (h as i64, mi as i64, s as i64, n as i64);
    Ok(match f {
        Field::AmPm => (h >= 12) as i64,
        Field::HourOfDay => h,
        Field::ClockHourOfAmPm => {
            if h % 12 == 0 {
                12
            } else {
                h % 12
            }
        }
        Field::HourOfAmPm => h % 12,
        Field::ClockHourOfDay => {
            if h == 0 {
                24
            } else {
                h
            }
        }
        Field::Minute => mi,
        Field::Second => s,
        Field::NanoOfSecond => n,
        Field::MilliOfDay => (h * 3600 + mi * 60 + s) * 1000 + n / 1_000_000,
        _ => (h * 3600 + mi * 60 + s) * 1_000_000_000 + n,
    })
}

/// US week-based year and week: weeks run Sunday to Saturday and week 1
/// is the one holding January 1st. `dow` is 1 = Monday .. 7 = Sunday.
fn us_week(year: i64, doy: i64, dow: i64) -> (i64, i64) {
    let dow0 = dow % 7; // 0 = Sunday
    let is_leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let len = if is_leap(year) { 366 } else { 365 };
    // The Saturday ending this week, as a day of this year.
    if doy + (6 - dow0) > len {
        return (year + 1, 1);
    }
    // Day of week (Sunday = 0) of January 1st.
    let jan1 = (dow0 - (doy - 1)).rem_euclid(7);
    (year, (doy - 1 + jan1) / 7 + 1)
}

fn push_padded(out: &mut String, v: u64, width: usize) {
    // The common cases (months, days, hours, minutes, seconds; years) without
    // the general loop.
    if width == 2 && v < 100 {
        let b = [b'0' + (v / 10) as u8, b'0' + (v % 10) as u8];
        out.push_str(std::str::from_utf8(&b).unwrap_or("00"));
        return;
    }
    if width <= 4 && (1000..10_000).contains(&v) {
        let b = [
            b'0' + (v / 1000) as u8,
            b'0' + (v / 100 % 10) as u8,
            b'0' + (v / 10 % 10) as u8,
            b'0' + (v % 10) as u8,
        ];
        out.push_str(std::str::from_utf8(&b).unwrap_or("0000"));
        return;
    }
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut v = v;
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let digits = buf.len() - i;
    for _ in digits..width {
        out.push('0');
    }
    out.push_str(std::str::from_utf8(&buf[i..]).unwrap_or(""));
}

fn push_offset(out: &mut String, secs: i32, colon: bool, minutes: Part, seconds: Part) {
    out.push(if secs < 0 { '-' } else { '+' });
    let a = secs.unsigned_abs() as u64;
    let (h, m, s) = (a / 3600, a / 60 % 60, a % 60);
    push_padded(out, h, 2);
    let show_m = match minutes {
        Part::Always => true,
        Part::Optional => m != 0 || s != 0,
        Part::No => false,
    };
    if show_m {
        if colon {
            out.push(':');
        }
        push_padded(out, m, 2);
        let show_s = match seconds {
            Part::Always => true,
            Part::Optional => s != 0,
            Part::No => false,
        };
        if show_s {
            if colon {
                out.push(':');
            }
            push_padded(out, s, 2);
        }
    }
}

fn push_localized_offset(out: &mut String, secs: i32, full: bool) {
    out.push_str("GMT");
    if secs == 0 {
        return;
    }
    out.push(if secs < 0 { '-' } else { '+' });
    let a = secs.unsigned_abs() as u64;
    let (h, m, s) = (a / 3600, a / 60 % 60, a % 60);
    if full {
        push_padded(out, h, 2);
        out.push(':');
        push_padded(out, m, 2);
        if s != 0 {
            out.push(':');
            push_padded(out, s, 2);
        }
    } else {
        push_padded(out, h, 1);
        if m != 0 || s != 0 {
            out.push(':');
            push_padded(out, m, 2);
            if s != 0 {
                out.push(':');
                push_padded(out, s, 2);
            }
        }
    }
}

fn format_items(items: &[Item], input: &FmtInput<'_>, out: &mut String) -> Result<(), String> {
    for item in items {
        match item {
            Item::Lit(s) => out.push_str(s),
            Item::Num {
                field,
                min,
                max,
                sign,
            } => {
                let v = field_value(*field, input)?;
                let a = v.unsigned_abs();
                let digits = if a == 0 { 1 } else { a.ilog10() as usize + 1 };
                if digits > *max {
                    return Err(format!(
                        "Field {} cannot be printed as the value {v} exceeds the maximum print width of {max}",
                        field.java_name()
                    ));
                }
                if v < 0 {
                    if *sign == Sign::NotNegative {
                        return Err(format!(
                            "Field {} cannot be printed as the value {v} cannot be negative according to the SignStyle",
                            field.java_name()
                        ));
                    }
                    out.push('-');
                } else if *sign == Sign::ExceedsPad && digits > *min {
                    out.push('+');
                }
                push_padded(out, a, *min);
            }
            Item::Reduced(field) => {
                let v = field_value(*field, input)?;
                push_padded(out, v.rem_euclid(100) as u64, 2);
            }
            Item::Fraction(width) => {
                let n = field_value(Field::NanoOfSecond, input)? as u64;
                let v = n / 10u64.pow(9 - *width as u32);
                push_padded(out, v, *width);
            }
            Item::Text(field, style, _) => {
                let v = field_value(*field, input)?;
                out.push_str(&text_for(*field, *style, v));
            }
            Item::Offset {
                colon,
                minutes,
                seconds,
                zero,
            } => {
                let secs = field_value(Field::Offset, input)? as i32;
                if secs == 0 {
                    out.push_str(zero);
                } else {
                    push_offset(out, secs, *colon, *minutes, *seconds);
                }
            }
            Item::LocalizedOffset { full } => {
                let secs = field_value(Field::Offset, input)? as i32;
                push_localized_offset(out, secs, *full);
            }
            Item::ZoneName { full } => {
                let Some((zone, off, epoch)) = input.zone else {
                    return Err("Unable to extract ZoneId from temporal".into());
                };
                if *full {
                    match full_zone_name(zone, off) {
                        Some(name) => out.push_str(name),
                        None => zone.short_name(epoch, out),
                    }
                } else {
                    zone.short_name(epoch, out);
                }
            }
            Item::ZoneId => {
                let Some((zone, _, _)) = input.zone else {
                    return Err("Unable to extract ZoneId from temporal".into());
                };
                out.push_str(zone.id());
            }
            Item::Optional(inner) => {
                let mark = out.len();
                if format_items(inner, input, out).is_err() {
                    out.truncate(mark);
                }
            }
        }
    }
    Ok(())
}

fn full_zone_name(zone: &Zone, off: i32) -> Option<&'static str> {
    let name = zone.id();
    Some(match name {
        "UTC" | "Etc/UTC" | "Z" => "Coordinated Universal Time",
        "GMT" | "Etc/GMT" => "Greenwich Mean Time",
        "America/Los_Angeles" if off == -7 * 3600 => "Pacific Daylight Time",
        "America/Los_Angeles" => "Pacific Standard Time",
        "America/New_York" if off == -4 * 3600 => "Eastern Daylight Time",
        "America/New_York" => "Eastern Standard Time",
        "America/Chicago" if off == -5 * 3600 => "Central Daylight Time",
        "America/Chicago" => "Central Standard Time",
        "America/Denver" if off == -6 * 3600 => "Mountain Daylight Time",
        "America/Denver" => "Mountain Standard Time",
        "Europe/London" if off == 3600 => "British Summer Time",
        "Europe/London" => "Greenwich Mean Time",
        _ => return None,
    })
}

// ---------------------------------------------------------------- parse

/// Parses `items` from byte position `pos`; `Err(pos)` where it failed.
fn parse_items(
    items: &[Item],
    text: &str,
    mut pos: usize,
    p: &mut Parsed,
    legacy: bool,
) -> Result<usize, usize> {
    let bytes = text.as_bytes();
    for (idx, item) in items.iter().enumerate() {
        // SimpleDateFormat reads a number not followed by another number
        // greedily, whatever its pattern width.
        let greedy = legacy && items.get(idx + 1).and_then(Item::fixed_width).is_none();
        match item {
            Item::Lit(lit) => {
                let end = pos + lit.len();
                match text.get(pos..end) {
                    Some(s) if s.eq_ignore_ascii_case(lit) => pos = end,
                    _ => return Err(pos),
                }
            }
            Item::Num {
                field,
                min,
                max,
                sign,
            } => {
                let mut neg = false;
                let mut start = pos;
                if *sign != Sign::NotNegative && pos < bytes.len() {
                    if bytes[pos] == b'-' {
                        neg = true;
                        start += 1;
                    } else if bytes[pos] == b'+' && *sign == Sign::ExceedsPad {
                        start += 1;
                    }
                }
                let avail = bytes[start..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                let (min, max) = if greedy { (&1, &19) } else { (min, max) };
                let mut take = avail.min(*max).min(18);
                if min != max {
                    // Adjacent value parsing: leave room for the fixed-width
                    // numbers that follow directly.
                    let reserve: usize = items[idx + 1..].iter().map_while(Item::fixed_width).sum();
                    take = take.min(avail.saturating_sub(reserve));
                }
                if take < *min || take == 0 {
                    return Err(pos);
                }
                let v: i64 = text[start..start + take].parse().map_err(|_| pos)?;
                p.set(*field, if neg { -v } else { v });
                pos = start + take;
            }
            Item::Reduced(field) => {
                let digits = bytes[pos..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                if legacy && greedy && digits != 2 && digits > 0 {
                    // SimpleDateFormat: not two digits is a literal year.
                    let take = digits.min(18);
                    let v: i64 = text[pos..pos + take].parse().map_err(|_| pos)?;
                    p.set(*field, v);
                    pos += take;
                    continue;
                }
                if digits < 2 {
                    return Err(pos);
                }
                let v: i64 = text[pos..pos + 2].parse().map_err(|_| pos)?;
                p.set(*field, if legacy { century_window(v) } else { 2000 + v });
                pos += 2;
            }
            Item::Fraction(width) => {
                let digits = bytes[pos..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count()
                    .min(*width);
                if digits == 0 {
                    return Err(pos);
                }
                let v: i64 = text[pos..pos + digits].parse().map_err(|_| pos)?;
                p.set(Field::NanoOfSecond, v * 10i64.pow(9 - digits as u32));
                pos += digits;
            }
            Item::Text(field, _, candidates) => {
                let mut found = None;
                for (t, v) in candidates {
                    if let Some(s) = text.get(pos..pos + t.len()) {
                        if s.eq_ignore_ascii_case(t) {
                            found = Some((t.len(), *v));
                            break;
                        }
                    }
                }
                let Some((len, v)) = found else {
                    return Err(pos);
                };
                p.set(*field, v);
                pos += len;
            }
            Item::Offset { zero, .. } => {
                if let Some((secs, len)) = parse_signed_offset(&text[pos..]) {
                    p.set(Field::Offset, secs as i64);
                    pos += len;
                } else if text
                    .get(pos..pos + zero.len())
                    .is_some_and(|s| s.eq_ignore_ascii_case(zero))
                {
                    p.set(Field::Offset, 0);
                    pos += zero.len();
                } else if text
                    .get(pos..pos + 1)
                    .is_some_and(|s| s.eq_ignore_ascii_case("Z"))
                {
                    p.set(Field::Offset, 0);
                    pos += 1;
                } else {
                    return Err(pos);
                }
            }
            Item::LocalizedOffset { .. } => {
                match text.get(pos..pos + 3) {
                    Some(s) if s.eq_ignore_ascii_case("GMT") => pos += 3,
                    _ => return Err(pos),
                }
                match parse_signed_offset(&text[pos..]) {
                    Some((secs, len)) => {
                        p.set(Field::Offset, secs as i64);
                        pos += len;
                    }
                    None => p.set(Field::Offset, 0),
                }
            }
            Item::ZoneName { .. } | Item::ZoneId => {
                let len = text[pos..]
                    .bytes()
                    .take_while(|b| b.is_ascii_alphanumeric() || b"/_+-:~.".contains(b))
                    .count();
                // Longest prefix that names a zone.
                let mut found = None;
                for end in (1..=len).rev() {
                    let cand = &text[pos..pos + end];
                    if let Some(z) = zone_from_name(cand).or_else(|| Zone::of(cand).ok()) {
                        found = Some((z, end));
                        break;
                    }
                }
                let Some((z, end)) = found else {
                    return Err(pos);
                };
                p.zone = Some(z);
                pos += end;
            }
            Item::Optional(inner) => {
                let mut trial = p.clone();
                if let Ok(end) = parse_items(inner, text, pos, &mut trial, legacy) {
                    *p = trial;
                    pos = end;
                }
            }
        }
    }
    Ok(pos)
}

/// SimpleDateFormat's two-digit year: within 80 years before and 20
/// years after now.
fn century_window(yy: i64) -> i64 {
    let now_year = 1970
        + std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64 / 31_556_952)
            .unwrap_or(56);
    let start = now_year - 80;
    let mut year = start / 100 * 100 + yy;
    if year < start {
        year += 100;
    }
    year
}

/// `+HH`, `+HHMM`, `+HH:MM`, `+HH:MM:SS`, `+HHMMSS`, `+H`.
fn parse_signed_offset(s: &str) -> Option<(i32, usize)> {
    let b = s.as_bytes();
    let sign = match b.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits = |from: usize| {
        b[from.min(b.len())..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count()
    };
    let two = |at: usize| -> i32 { ((b[at] - b'0') * 10 + (b[at + 1] - b'0')) as i32 };
    let d = digits(1);
    let (h, mut pos) = match d {
        0 => return None,
        1 => ((b[1] - b'0') as i32, 2),
        _ => (two(1), 3),
    };
    let mut m = 0;
    let mut sec = 0;
    let colon = b.get(pos) == Some(&b':');
    let mpos = if colon { pos + 1 } else { pos };
    if digits(mpos) >= 2 {
        m = two(mpos);
        pos = mpos + 2;
        let spos = if colon && b.get(pos) == Some(&b':') {
            pos + 1
        } else if colon {
            usize::MAX
        } else {
            pos
        };
        if spos != usize::MAX && digits(spos) >= 2 {
            sec = two(spos);
            pos = spos + 2;
        }
    }
    if h > 18 || m > 59 || sec > 59 {
        return None;
    }
    Some((sign * (h * 3600 + m * 60 + sec), pos))
}
