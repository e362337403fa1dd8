use super::*;

fn func(name: &str) -> Arc<dyn ScalarFunction> {
    functions()
        .into_iter()
        .find(|f| f.name() == name)
        .unwrap_or_else(|| panic!("no function {name}"))
}

fn s(x: &str) -> Value {
    Value::string(x)
}

/// Resolves with the args' types (strings given as constants) and calls.
fn call_const(name: &str, args: &[Value]) -> Result<Value, String> {
    let arg_list: Vec<Arg> = args
        .iter()
        .map(|v| match v {
            Value::String(_) => Arg::constant(SqlType::String, v.clone()),
            other => Arg {
                ty: ty_of(other),
                constant: None,
            },
        })
        .collect();
    let r = func(name).resolve(&arg_list).expect("resolves");
    (r.eval)(args)
}

/// Resolves with no constants (per-row patterns) and calls.
fn call_rows(name: &str, args: &[Value]) -> Result<Value, String> {
    let arg_list: Vec<Arg> = args
        .iter()
        .map(|v| Arg {
            ty: ty_of(v),
            constant: None,
        })
        .collect();
    let r = func(name).resolve(&arg_list).expect("resolves");
    (r.eval)(args)
}

fn ty_of(v: &Value) -> Option<SqlType> {
    Some(match v {
        Value::Null => return None,
        Value::Int(_) => SqlType::Int,
        Value::Bigint(_) => SqlType::Bigint,
        Value::String(_) => SqlType::String,
        Value::Date(_) => SqlType::Date,
        Value::Time(_) => SqlType::Time,
        Value::Timestamp(_) => SqlType::Timestamp,
        _ => panic!("unexpected"),
    })
}

/// Calls both ways and checks they agree.
fn call(name: &str, args: &[Value]) -> Result<Value, String> {
    let a = call_const(name, args);
    let b = call_rows(name, args);
    assert_eq!(a, b, "{name} const vs per-row");
    a
}

fn ok(name: &str, args: &[Value]) -> Value {
    call(name, args).unwrap_or_else(|e| panic!("{name}({args:?}) failed: {e}"))
}

fn ok_str(name: &str, args: &[Value]) -> String {
    match ok(name, args) {
        Value::String(s) => s.to_string(),
        other => panic!("not a string: {other:?}"),
    }
}

#[test]
fn timestamptostring_qtt() {
    let ts = Value::Bigint(1526075913000);
    assert_eq!(
        ok_str(
            "TIMESTAMPTOSTRING",
            &[
                ts.clone(),
                s("yyyy-MM-dd HH:mm:ss zzz"),
                s("America/Los_Angeles")
            ]
        ),
        "2018-05-11 14:58:33 PDT"
    );
    assert_eq!(
        ok_str(
            "TIMESTAMPTOSTRING",
            &[ts.clone(), s("yyyy-MM-dd HH:mm:ss zzz"), s("Europe/London")]
        ),
        "2018-05-11 22:58:33 BST"
    );
    assert_eq!(
        ok_str("TIMESTAMPTOSTRING", &[ts.clone(), s("yyyy-MM-dd HH:mm:ss")]),
        "2018-05-11 21:58:33"
    );
    assert_eq!(
        ok_str(
            "TIMESTAMPTOSTRING",
            &[ts, s("yyyy-MM-dd HH:mm:ss"), s("UTC")]
        ),
        "2018-05-11 21:58:33"
    );
    assert_eq!(
        ok("TIMESTAMPTOSTRING", &[Value::Null, s("yyyy"), s("UTC")]),
        Value::Null
    );
}

#[test]
fn timestamptostring_accepts_a_date() {
    // 1990-05-17 is day 7441.
    assert_eq!(
        ok_str(
            "TIMESTAMPTOSTRING",
            &[Value::Date(7441), s("yyyy-MM-dd"), s("UTC")]
        ),
        "1990-05-17"
    );
    assert_eq!(
        ok_str(
            "FORMAT_TIMESTAMP",
            &[Value::Date(7441), s("yyyy-MM-dd HH:mm")]
        ),
        "1990-05-17 00:00"
    );
    let r = func("TIMESTAMPTOSTRING")
        .resolve(&[
            Arg::typed(SqlType::Date),
            Arg::constant(SqlType::String, s("yyyy-MM-dd")),
            Arg::constant(SqlType::String, s("UTC")),
        ])
        .ok()
        .unwrap();
    assert_eq!(r.returns, SqlType::String);
}

#[test]
fn format_timestamp_qtt() {
    let ts = Value::Timestamp(1526075913000);
    assert_eq!(
        ok_str(
            "FORMAT_TIMESTAMP",
            &[
                ts.clone(),
                s("yyyy-MM-dd HH:mm:ss zzz"),
                s("America/Los_Angeles")
            ]
        ),
        "2018-05-11 14:58:33 PDT"
    );
    assert_eq!(
        ok_str("FORMAT_TIMESTAMP", &[ts, s("yyyy-MM-dd HH:mm:ss")]),
        "2018-05-11 21:58:33"
    );
    assert_eq!(
        ok("FORMAT_TIMESTAMP", &[Value::Null, s("yyyy-MM-dd HH:mm:ss")]),
        Value::Null
    );
    // BIGINT is not a TIMESTAMP.
    assert!(matches!(
        func("FORMAT_TIMESTAMP")
            .resolve(&[Arg::typed(SqlType::Bigint), Arg::typed(SqlType::String)]),
        Err(ResolveError::NoMatch)
    ));
}

#[test]
fn stringtotimestamp_qtt() {
    let p = "yyyy-MM-dd'T'HH:mm:ssX";
    for (text, want) in [
        ("2018-05-11T21:58:33Z", 1526075913000),
        ("2019-05-11T21:58:33Z", 1557611913000),
        ("2020-05-11T21:58:33Z", 1589234313000),
        ("2020-05-11T21:58:33z", 1589234313000),
    ] {
        assert_eq!(
            ok("STRINGTOTIMESTAMP", &[s(text), s(p)]),
            Value::Bigint(want)
        );
    }
    assert_eq!(
        ok(
            "STRINGTOTIMESTAMP",
            &[
                s("2019-08-27T13:31:09.2+0000"),
                s("yyyy-MM-dd'T'HH:mm:ss.SX")
            ]
        ),
        Value::Bigint(1566912669200)
    );
    assert_eq!(
        ok(
            "PARSE_TIMESTAMP",
            &[s("2018-05-11T21:58:33"), s("yyyy-MM-dd'T'HH:mm:ss")]
        ),
        Value::Timestamp(1526075913000)
    );
    for (text, want) in [
        ("2018-05-11T21:58:33 PST", 1526101113000),
        ("2019-05-11T21:58:33 PST", 1557637113000),
        ("2020-05-11T21:58:33 PST", 1589259513000),
    ] {
        assert_eq!(
            ok(
                "PARSE_TIMESTAMP",
                &[s(text), s("yyyy-MM-dd'T'HH:mm:ss zzz")]
            ),
            Value::Timestamp(want)
        );
    }
}

#[test]
fn parse_timestamp_with_zone_argument_and_defaults() {
    assert_eq!(
        ok(
            "STRINGTOTIMESTAMP",
            &[
                s("2018-05-11 14:58:33"),
                s("yyyy-MM-dd HH:mm:ss"),
                s("America/Los_Angeles")
            ]
        ),
        Value::Bigint(1526075913000)
    );
    // A date-only pattern is midnight.
    assert_eq!(
        ok("PARSE_TIMESTAMP", &[s("1970-01-02"), s("yyyy-MM-dd")]),
        Value::Timestamp(MS_PER_DAY)
    );
    // Offset in the text wins over the zone argument.
    assert_eq!(
        ok(
            "STRINGTOTIMESTAMP",
            &[
                s("1970-01-01 02:00 +02:00"),
                s("yyyy-MM-dd HH:mm XXX"),
                s("America/New_York")
            ]
        ),
        Value::Bigint(0)
    );
    assert_eq!(
        ok(
            "STRINGTOTIMESTAMP",
            &[
                s("1970-01-01 01:00:00.123"),
                s("yyyy-MM-dd HH:mm:ss.SSS"),
                s("+01:00")
            ]
        ),
        Value::Bigint(123)
    );
}

#[test]
fn parse_errors_are_ksqldb_style() {
    let e = call(
        "STRINGTOTIMESTAMP",
        &[s("not a timestamp"), s("yyyy-MM-dd")],
    )
    .unwrap_err();
    assert_eq!(
        e,
        "Failed to parse timestamp 'not a timestamp' with formatter 'yyyy-MM-dd': \
         Text 'not a timestamp' could not be parsed at index 0"
    );
    let e = call("STRINGTODATE", &[s("2020-01-01x"), s("yyyy-MM-dd")]).unwrap_err();
    assert!(e.contains("unparsed text found at index 10"), "{e}");
    let e = call("STRINGTODATE", &[s("2020-13-01"), s("yyyy-MM-dd")]).unwrap_err();
    assert!(
        e.contains("Invalid value for MonthOfYear (valid values 1 - 12): 13"),
        "{e}"
    );
    let e = call(
        "TIMESTAMPTOSTRING",
        &[Value::Bigint(0), s("yyyy"), s("Nowhere/City")],
    )
    .unwrap_err();
    assert_eq!(
        e,
        "Failed to format timestamp 0 at timeZone 'Nowhere/City' with formatter 'yyyy': \
         Unknown time-zone ID: Nowhere/City"
    );
    let e = call(
        "FORMAT_TIMESTAMP",
        &[Value::Timestamp(1500), s("yyyy"), s("Nowhere")],
    )
    .unwrap_err();
    assert!(
        e.starts_with("Failed to format timestamp 1970-01-01 00:00:01.5 at timeZone 'Nowhere'"),
        "{e}"
    );
    let e = call("PARSE_TIMESTAMP", &[s("x"), s("yyyy")]).unwrap_err();
    assert!(
        e.starts_with("Failed to parse timestamp 'x' at timezone 'GMT' with formatter 'yyyy'"),
        "{e}"
    );
    let e = call(
        "CONVERT_TZ",
        &[Value::Timestamp(0), s("UTC"), s("Mars/Base")],
    )
    .unwrap_err();
    assert_eq!(e, "Invalid time zone: Unknown time-zone ID: Mars/Base");
    let e = call("TIMESTAMPTOSTRING", &[Value::Bigint(0), s("yyyy-bb")]).unwrap_err();
    assert!(e.contains("Unknown pattern letter: b"), "{e}");
}

#[test]
fn date_strings_qtt() {
    for (days, pat, want) in [
        (17662, "yyyy-MM-dd", "2018-05-11"),
        (18027, "dd/MM/yyyy", "11/05/2019"),
        (18993, "dd-MMM-yyyy", "01-Jan-2022"),
        (0, "dd-MM-yyyy", "01-01-1970"),
        (-1, "dd-MM-yyyy'Sophia'", "31-12-1969Sophia"),
    ] {
        assert_eq!(ok_str("DATETOSTRING", &[Value::Int(days), s(pat)]), want);
        assert_eq!(ok_str("FORMAT_DATE", &[Value::Date(days), s(pat)]), want);
    }
    for (text, pat, want) in [
        ("2018-05-11Lit", "yyyy-MM-dd'Lit'", 17662),
        ("11/05/2019", "dd/MM/yyyy", 18027),
        ("01-Jan-2022", "dd-MMM-yyyy", 18993),
        ("01-01-1970", "dd-MM-yyyy", 0),
    ] {
        assert_eq!(ok("STRINGTODATE", &[s(text), s(pat)]), Value::Int(want));
        assert_eq!(ok("PARSE_DATE", &[s(text), s(pat)]), Value::Date(want));
    }
    assert_eq!(
        ok("PARSE_DATE", &[s("01-JAN-2022"), s("dd-MMM-yyyy")]),
        Value::Date(18993)
    );
    assert_eq!(
        ok("PARSE_DATE", &[s("JAN-2022"), s("MMM-yyyy")]),
        Value::Date(18993)
    );
    assert_eq!(ok("FORMAT_DATE", &[Value::Null, s("yyyy")]), Value::Null);
    let e = call("FORMAT_DATE", &[Value::Date(0), s("yyyy HH")]).unwrap_err();
    assert!(e.contains("Unsupported field: HourOfDay"), "{e}");
    let e = call("PARSE_DATE", &[s("2020 10"), s("yyyy HH")]).unwrap_err();
    assert_eq!(
        e,
        "Failed to parse date '2020 10' with formatter 'yyyy HH': Date format contains time field."
    );
    let e = call("PARSE_DATE", &[s("abcd"), s("yyyy-MM-dd")]).unwrap_err();
    assert_eq!(
        e,
        "Failed to parse date 'abcd' with formatter 'yyyy-MM-dd': Unparseable date: abcd"
    );
}

#[test]
fn time_strings_qtt() {
    for (ms, pat, want) in [
        (65000, "HH_mm_ss_SSS", "00_01_05_000"),
        (1234567, "HHmmss'AAAAA'", "002034AAAAA"),
        (0, "HH:mm:ss", "00:00:00"),
    ] {
        assert_eq!(ok_str("FORMAT_TIME", &[Value::Time(ms), s(pat)]), want);
    }
    assert_eq!(
        ok("FORMAT_TIME", &[Value::Null, s("HH:mm:ss")]),
        Value::Null
    );
    for (text, pat, want) in [
        ("00:01:05Lit", "HH:mm:ss'Lit'", 65000),
        ("11/05/19", "HH/mm/ss", 39919000),
        ("01:00:00 PM", "hh:mm:ss a", 46800000),
        ("01:00:00 Pm", "hh:mm:ss a", 46800000),
        ("12:30:00 AM", "hh:mm:ss a", 1800000),
    ] {
        assert_eq!(ok("PARSE_TIME", &[s(text), s(pat)]), Value::Time(want));
    }
    let e = call("FORMAT_TIME", &[Value::Time(0), s("yyyy")]).unwrap_err();
    assert!(e.contains("Unsupported field: YearOfEra"), "{e}");
    let e = call("PARSE_TIME", &[s("2020"), s("yyyy")]).unwrap_err();
    assert!(e.ends_with("Time format contains date field."), "{e}");
    let e = call("FORMAT_TIME", &[Value::Time(65_000), s("x'")]).unwrap_err();
    assert_eq!(
        e,
        "Failed to format time 00:01:05 with formatter 'x'': \
         Pattern ends with an incomplete string literal: x'"
    );
}

#[test]
fn pattern_letters_format() {
    // 2018-05-11T21:58:33.045Z, a Friday, day 131.
    let ms = Value::Bigint(1526075913045);
    let f = |p: &str| ok_str("TIMESTAMPTOSTRING", &[ms.clone(), s(p), s("UTC")]);
    assert_eq!(f("y yy yyy yyyy u"), "2018 18 2018 2018 2018");
    assert_eq!(f("M MM MMM MMMM MMMMM"), "5 05 May May M");
    assert_eq!(f("d dd D DD DDD"), "11 11 131 131 131");
    assert_eq!(f("E EEE EEEE EEEEE"), "Fri Fri Friday F");
    assert_eq!(f("H HH h hh a K k"), "21 21 9 09 PM 9 21");
    assert_eq!(f("m mm s ss"), "58 58 33 33");
    assert_eq!(f("S SS SSS SSSSSS SSSSSSSSS"), "0 04 045 045000 045000000");
    assert_eq!(f("n A"), "45000000 79113045");
    assert_eq!(
        f("X XX XXX x xx xxx Z ZZZZZ"),
        "Z Z Z +00 +0000 +00:00 +0000 Z"
    );
    assert_eq!(f("z VV O"), "UTC UTC GMT");
    assert_eq!(f("'It''s' ''"), "It's '");
    assert_eq!(f("yyyy[ HH:mm]"), "2018 21:58");
    assert_eq!(f("G QQQ"), "AD Q2");
    let g = |p: &str, z: &str| ok_str("TIMESTAMPTOSTRING", &[ms.clone(), s(p), s(z)]);
    assert_eq!(
        g("yyyy-MM-dd'T'HH:mm:ssXXX", "+05:30"),
        "2018-05-12T03:28:33+05:30"
    );
    assert_eq!(
        g("X x Z O OOOO", "-0330"),
        "-0330 -0330 -0330 GMT-3:30 GMT-03:30"
    );
    assert_eq!(g("HH z", "GMT+2"), "23 GMT+02:00");
    assert_eq!(
        g("HH zzzz", "America/Los_Angeles"),
        "14 Pacific Daylight Time"
    );
    assert_eq!(g("HH VV", "Asia/Kolkata"), "03 Asia/Kolkata");
    // Before the epoch.
    assert_eq!(
        ok_str(
            "TIMESTAMPTOSTRING",
            &[Value::Bigint(-1), s("yyyy-MM-dd HH:mm:ss.SSS"), s("UTC")]
        ),
        "1969-12-31 23:59:59.999"
    );
}

#[test]
fn pattern_errors() {
    assert_eq!(
        Pattern::compile("ddd").unwrap_err(),
        "Too many pattern letters: d"
    );
    assert_eq!(
        Pattern::compile("yyyy 'abc").unwrap_err(),
        "Pattern ends with an incomplete string literal: yyyy 'abc"
    );
    assert!(Pattern::compile("yyyy]").is_err());
    assert!(Pattern::compile("yyyy#").is_err());
    assert!(Pattern::compile("V").is_err());
}

#[test]
fn pattern_parsing_details() {
    let p = |text: &str, pat: &str| ok("PARSE_TIMESTAMP", &[s(text), s(pat)]);
    // Adjacent value parsing.
    assert_eq!(p("19700102", "yyyyMMdd"), Value::Timestamp(MS_PER_DAY));
    assert_eq!(
        p("1970010201", "yyyyMMddHH"),
        Value::Timestamp(MS_PER_DAY + 3_600_000)
    );
    // Two-digit years are 20xx.
    assert_eq!(
        ok("PARSE_DATE", &[s("01/02/21"), s("dd/MM/yy")]),
        Value::Date(18659)
    );
    // Month and day names.
    assert_eq!(
        ok(
            "PARSE_DATE",
            &[s("Friday, May 11 2018"), s("EEEE, MMMM d yyyy")]
        ),
        Value::Date(17662)
    );
    // Optional sections.
    assert_eq!(p("1970-01-01", "yyyy-MM-dd[ HH:mm]"), Value::Timestamp(0));
    assert_eq!(
        p("1970-01-01 00:01", "yyyy-MM-dd[ HH:mm]"),
        Value::Timestamp(60_000)
    );
    // Day of year.
    assert_eq!(
        ok("PARSE_DATE", &[s("1970-032"), s("yyyy-DDD")]),
        Value::Date(31)
    );
    // Offsets.
    assert_eq!(
        p("1970-01-01 05:30+0530", "yyyy-MM-dd HH:mmZ"),
        Value::Timestamp(0)
    );
    assert_eq!(
        p("1970-01-01 01:00 +01", "yyyy-MM-dd HH:mm x"),
        Value::Timestamp(0)
    );
    assert_eq!(
        p("1970-01-01 09:00 Asia/Tokyo", "yyyy-MM-dd HH:mm VV"),
        Value::Timestamp(0)
    );
    // Day 31 in a 30-day month is clipped (SMART resolving).
    assert_eq!(
        ok("STRINGTODATE", &[s("1970-04-31"), s("yyyy-MM-dd")]),
        Value::Int(119)
    );
    // PARSE_DATE rolls over instead (SimpleDateFormat is lenient).
    assert_eq!(
        ok("PARSE_DATE", &[s("1970-04-31"), s("yyyy-MM-dd")]),
        Value::Date(120)
    );
    // Fractions.
    assert_eq!(
        p(
            "1970-01-01 00:00:00.123456789",
            "yyyy-MM-dd HH:mm:ss.SSSSSSSSS"
        ),
        Value::Timestamp(123)
    );
}

#[test]
fn nulls_give_null() {
    assert_eq!(
        ok("STRINGTOTIMESTAMP", &[Value::Null, s("yyyy")]),
        Value::Null
    );
    assert_eq!(
        call_rows("STRINGTOTIMESTAMP", &[s("2020"), Value::Null]).unwrap(),
        Value::Null
    );
    assert_eq!(
        call_rows(
            "TIMESTAMPTOSTRING",
            &[Value::Bigint(0), s("yyyy"), Value::Null]
        )
        .unwrap(),
        Value::Null
    );
}

#[test]
fn convert_tz_qtt() {
    for (from, to) in [
        ("+0200", "+0500"),
        ("America/Los_Angeles", "America/New_York"),
    ] {
        assert_eq!(
            ok("CONVERT_TZ", &[Value::Timestamp(100), s(from), s(to)]),
            Value::Timestamp(10800100)
        );
        assert_eq!(
            ok(
                "CONVERT_TZ",
                &[Value::Timestamp(1589234313000), s(from), s(to)]
            ),
            Value::Timestamp(1589245113000)
        );
        assert_eq!(
            ok("CONVERT_TZ", &[Value::Null, s(from), s(to)]),
            Value::Null
        );
    }
    assert!(call(
        "CONVERT_TZ",
        &[Value::Timestamp(0), s("Bad/Zone"), s("UTC")]
    )
    .is_err());
}

#[test]
fn unix_and_days_qtt() {
    assert_eq!(ok("FROM_DAYS", &[Value::Int(10)]), Value::Date(10));
    assert_eq!(ok("FROM_DAYS", &[Value::Int(-10)]), Value::Date(-10));
    assert_eq!(ok("FROM_DAYS", &[Value::Null]), Value::Null);
    assert_eq!(ok("UNIX_DATE", &[Value::Date(100)]), Value::Int(100));
    assert_eq!(ok("UNIX_DATE", &[Value::Null]), Value::Null);
    assert_eq!(
        ok("UNIX_TIMESTAMP", &[Value::Timestamp(1589234313000)]),
        Value::Bigint(1589234313000)
    );
    assert_eq!(ok("UNIX_TIMESTAMP", &[Value::Null]), Value::Null);
    match ok("UNIX_TIMESTAMP", &[]) {
        Value::Bigint(ms) => assert!(ms > 1_600_000_000_000),
        other => panic!("{other:?}"),
    }
    match ok("UNIX_DATE", &[]) {
        Value::Int(d) => assert!(d > 18000),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        ok("FROM_UNIXTIME", &[Value::Bigint(1589234313000)]),
        Value::Timestamp(1589234313000)
    );
    assert_eq!(ok("FROM_UNIXTIME", &[Value::Int(5)]), Value::Timestamp(5));
}

/// Resolves a unit function with the unit as a constant string.
fn shift(name: &str, unit: &str, n: Value, x: Value) -> Value {
    let r = func(name)
        .resolve(&[
            Arg::constant(SqlType::String, s(unit)),
            Arg {
                ty: ty_of(&n),
                constant: None,
            },
            Arg {
                ty: ty_of(&x),
                constant: None,
            },
        ])
        .expect("resolves");
    (r.eval)(&[s(unit), n, x]).unwrap()
}

#[test]
fn date_and_time_arithmetic_qtt() {
    let d = |n: i32, x: i32| shift("DATEADD", "DAYS", Value::Int(n), Value::Date(x));
    assert_eq!(d(10, 10), Value::Date(20));
    assert_eq!(d(-5, 5), Value::Date(0));
    assert_eq!(d(-5, 2), Value::Date(-3));
    let ds = |n: i32, x: i32| shift("DATESUB", "DAYS", Value::Int(n), Value::Date(x));
    assert_eq!(ds(10, 40), Value::Date(30));
    assert_eq!(ds(10, 5), Value::Date(-5));
    assert_eq!(ds(-5, -5), Value::Date(0));
    assert_eq!(
        shift("DATEADD", "MILLISECONDS", Value::Null, Value::Date(5)),
        Value::Null
    );
    assert_eq!(
        shift("DATEADD", "MILLISECONDS", Value::Int(5), Value::Null),
        Value::Null
    );
    assert_eq!(
        shift("DATEADD", "HOURS", Value::Int(48), Value::Date(1)),
        Value::Date(3)
    );

    let t = |n: i32, x: i64| shift("TIMEADD", "MILLISECONDS", Value::Int(n), Value::Time(x));
    assert_eq!(t(10, 10), Value::Time(20));
    assert_eq!(t(10, 86399995), Value::Time(5));
    assert_eq!(t(-5, 2), Value::Time(86399997));
    let ts = |n: i32, x: i64| shift("TIMESUB", "MILLISECONDS", Value::Int(n), Value::Time(x));
    assert_eq!(ts(10, 20), Value::Time(10));
    assert_eq!(ts(10, 5), Value::Time(86399995));
    assert_eq!(ts(-5, 86399997), Value::Time(2));
    assert_eq!(
        shift("TIMEADD", "HOUR", Value::Int(25), Value::Time(0)),
        Value::Time(3_600_000)
    );

    let tsa = |n: i32, x: i64| {
        shift(
            "TIMESTAMPADD",
            "MILLISECONDS",
            Value::Int(n),
            Value::Timestamp(x),
        )
    };
    assert_eq!(tsa(10, 10), Value::Timestamp(20));
    assert_eq!(tsa(-5, 2), Value::Timestamp(-3));
    assert_eq!(
        shift(
            "TIMESTAMPSUB",
            "SECONDS",
            Value::Bigint(5),
            Value::Timestamp(10_000)
        ),
        Value::Timestamp(5_000)
    );
    assert_eq!(
        shift(
            "TIMESTAMPADD",
            "MICROSECONDS",
            Value::Int(5500),
            Value::Timestamp(0)
        ),
        Value::Timestamp(5)
    );
    assert_eq!(
        shift("TIMESTAMPADD", "DAYS", Value::Int(1), Value::Date(1)),
        Value::Timestamp(2 * MS_PER_DAY)
    );
    assert_eq!(
        shift("TIMESTAMPADD", "MINUTES", Value::Null, Value::Timestamp(1)),
        Value::Null
    );
}

#[test]
fn unit_functions_reject_non_units() {
    for (name, ty) in [
        ("DATEADD", SqlType::Date),
        ("DATESUB", SqlType::Date),
        ("TIMEADD", SqlType::Time),
        ("TIMESUB", SqlType::Time),
        ("TIMESTAMPADD", SqlType::Timestamp),
        ("TIMESTAMPSUB", SqlType::Timestamp),
    ] {
        let r = func(name).resolve(&[
            Arg::typed(ty.clone()),
            Arg::typed(SqlType::Int),
            Arg::typed(ty),
        ]);
        assert!(matches!(r, Err(ResolveError::NoMatch)), "{name}");
    }
}

#[test]
fn every_function_is_registered() {
    let names: Vec<&str> = functions().iter().map(|f| f.name()).collect();
    for n in [
        "TIMESTAMPTOSTRING",
        "STRINGTOTIMESTAMP",
        "FORMAT_TIMESTAMP",
        "PARSE_TIMESTAMP",
        "FORMAT_DATE",
        "PARSE_DATE",
        "FORMAT_TIME",
        "PARSE_TIME",
        "DATETOSTRING",
        "STRINGTODATE",
        "UNIX_DATE",
        "UNIX_TIMESTAMP",
        "FROM_UNIXTIME",
        "FROM_DAYS",
        "CONVERT_TZ",
        "DATEADD",
        "DATESUB",
        "TIMEADD",
        "TIMESUB",
        "TIMESTAMPADD",
        "TIMESTAMPSUB",
    ] {
        assert!(names.contains(&n), "{n}");
    }
    for f in functions() {
        assert_eq!(f.category(), "DATE / TIME");
        assert!(!f.signatures().is_empty());
    }
}

#[test]
fn constant_pattern_formats_fast_enough() {
    let r = func("TIMESTAMPTOSTRING")
        .resolve(&[
            Arg::typed(SqlType::Bigint),
            Arg::constant(SqlType::String, s("yyyy-MM-dd HH:mm:ss")),
            Arg::constant(SqlType::String, s("UTC")),
        ])
        .ok()
        .unwrap();
    let args = [Value::Bigint(0), s("yyyy-MM-dd HH:mm:ss"), s("UTC")];
    let start = std::time::Instant::now();
    let mut args = args;
    for i in 0..100_000i64 {
        args[0] = Value::Bigint(1_500_000_000_000 + i * 1000);
        (r.eval)(&args).unwrap();
    }
    eprintln!("100k TIMESTAMPTOSTRING: {:?}", start.elapsed());
    // Far below 500k rows/s would take > 0.2 s even in a debug build.
    assert!(start.elapsed().as_secs_f64() < 2.0, "{:?}", start.elapsed());
}

#[test]
fn week_fields_like_java_us() {
    let f = |days: i32, p: &str| ok_str("FORMAT_DATE", &[Value::Date(days), s(p)]);
    // 2018-05-11 (Friday): week 19, 2nd week of May, day 6 of a Sunday week.
    assert_eq!(f(17662, "YYYY w W e"), "2018 19 2 6");
    // 2019-12-29 (Sunday) is in week 1 of 2020.
    assert_eq!(f(18259, "YYYY-ww e"), "2020-01 1");
    // 2021-01-01 (Friday) is week 1 of 2021; 2020-12-31 too, of 2021.
    assert_eq!(f(18628, "YYYY w"), "2021 1");
    assert_eq!(f(18627, "YYYY w"), "2021 1");
    assert_eq!(f(18626, "yyyy YY w"), "2020 21 1");
}

#[test]
fn common_patterns_round_trip() {
    let f =
        |ms: i64, p: &str, z: &str| ok_str("TIMESTAMPTOSTRING", &[Value::Bigint(ms), s(p), s(z)]);
    assert_eq!(
        f(0, "yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "America/New_York"),
        "1969-12-31T19:00:00.000-05:00"
    );
    assert_eq!(
        f(0, "EEE, d MMM yyyy HH:mm:ss Z", "UTC"),
        "Thu, 1 Jan 1970 00:00:00 +0000"
    );
    assert_eq!(
        f(0, "hh 'o''clock' a, zzzz", "UTC"),
        "12 o'clock AM, Coordinated Universal Time"
    );
    let p = |text: &str, pat: &str| ok("STRINGTOTIMESTAMP", &[s(text), s(pat)]);
    assert_eq!(
        p(
            "Thu, 1 Jan 1970 00:00:00 +0000",
            "EEE, d MMM yyyy HH:mm:ss Z"
        ),
        Value::Bigint(0)
    );
    assert_eq!(
        p(
            "1969-12-31T19:00:00.000-05:00",
            "yyyy-MM-dd'T'HH:mm:ss.SSSXXX"
        ),
        Value::Bigint(0)
    );
    assert_eq!(
        p(
            "2020-05-11 12:00:00 America/New_York",
            "yyyy-MM-dd HH:mm:ss z"
        ),
        Value::Bigint(1589212800000)
    );
}

#[test]
fn local_times_in_gaps_and_overlaps_resolve_like_java() {
    let p = |text: &str| {
        ok(
            "STRINGTOTIMESTAMP",
            &[s(text), s("yyyy-MM-dd HH:mm"), s("America/New_York")],
        )
    };
    // In the spring-forward gap: moved later by the gap, 03:30 EDT.
    assert_eq!(p("2021-03-14 02:30"), Value::Bigint(1615707000000));
    // In the fall-back overlap: the earlier offset (EDT).
    assert_eq!(p("2021-11-07 01:30"), Value::Bigint(1636263000000));
}

#[test]
fn parse_date_is_lenient_like_fast_date_format() {
    let p = |text: &str, pat: &str| call("PARSE_DATE", &[s(text), s(pat)]);
    // null.json: text after the pattern is ignored.
    assert_eq!(
        p("2003-12-24-01-01", "yyyy-MM-dd").unwrap(),
        Value::Date(12410)
    );
    assert_eq!(p("2004-01-01", "yyyy-MM-dd").unwrap(), Value::Date(12418));
    assert_eq!(p("2012-01-01", "yyyy-MM-dd").unwrap(), Value::Date(15340));
    assert!(p("2004", "yyyy-MM-dd").is_err());
    // Months and days roll over.
    assert_eq!(p("2019-13-01", "yyyy-MM-dd").unwrap(), Value::Date(18262));
    assert_eq!(p("1970-01-32", "yyyy-MM-dd").unwrap(), Value::Date(31));
    // Numbers not followed by numbers are read greedily.
    assert_eq!(p("1-2-1970", "dd-MM-yyyy").unwrap(), Value::Date(31));
    // A midnight time is fine, another time is not.
    assert_eq!(
        p("1970-01-02 00:00", "yyyy-MM-dd HH:mm").unwrap(),
        Value::Date(1)
    );
    assert!(p("1970-01-02 00:01", "yyyy-MM-dd HH:mm").is_err());
    // Two-digit years use the window 80 years back from now.
    assert_eq!(p("01/02/21", "dd/MM/yy").unwrap(), Value::Date(18659));
    assert_eq!(p("01/01/1970", "dd/MM/yy").unwrap(), Value::Date(0));
}

#[test]
fn default_zones() {
    // FORMAT_TIMESTAMP defaults to GMT, TIMESTAMPTOSTRING to the system zone (UTC).
    assert_eq!(
        ok_str("FORMAT_TIMESTAMP", &[Value::Timestamp(0), s("HH:mm z")]),
        "00:00 GMT"
    );
    assert_eq!(
        ok_str("TIMESTAMPTOSTRING", &[Value::Bigint(0), s("HH:mm z")]),
        "00:00 UTC"
    );
    let e = call("FORMAT_TIMESTAMP", &[Value::Timestamp(0), s("b")]).unwrap_err();
    assert_eq!(
        e,
        "Failed to format timestamp 1970-01-01 00:00:00.0 at timeZone 'GMT' with formatter 'b': \
         Unknown pattern letter: b"
    );
}

#[test]
fn month_and_day_names_parse_in_either_length() {
    assert_eq!(
        ok("PARSE_DATE", &[s("01-January-2022"), s("dd-MMM-yyyy")]),
        Value::Date(18993)
    );
    assert_eq!(
        ok(
            "STRINGTODATE",
            &[s("Sat 01 jan 2022"), s("EEEE dd MMMM yyyy")]
        ),
        Value::Int(18993)
    );
}

#[test]
fn extreme_values_do_not_panic() {
    for ms in [i64::MIN, i64::MAX, -62_135_596_800_001, 253_402_300_800_000] {
        let _ = call(
            "TIMESTAMPTOSTRING",
            &[
                Value::Bigint(ms),
                s("yyyy-MM-dd HH:mm:ss.SSS z"),
                s("America/New_York"),
            ],
        );
        let _ = call("CONVERT_TZ", &[Value::Timestamp(ms), s("UTC"), s("+18:00")]);
    }
    for d in [i32::MIN, i32::MAX] {
        let _ = call("FORMAT_DATE", &[Value::Date(d), s("yyyy-MM-dd")]);
        let _ = call("TIMESTAMPTOSTRING", &[Value::Date(d), s("yyyy-MM-dd")]);
    }
    let _ = call(
        "PARSE_TIMESTAMP",
        &[s("99999999999999999-01-01"), s("yyyy-MM-dd")],
    );
    let _ = call(
        "PARSE_DATE",
        &[s("99999999999999999-01-01"), s("yyyy-MM-dd")],
    );
    let _ = call("STRINGTODATE", &[s("-99999999-99-99"), s("yyyy-MM-dd")]);
    // Year 10000 prints with a sign, as Java's EXCEEDS_PAD does.
    assert_eq!(
        ok_str("FORMAT_DATE", &[Value::Date(2_932_897), s("yyyy-MM-dd")]),
        "+10000-01-01"
    );
}

#[test]
fn timestamp_format_helper() {
    let f = TimestampFormat::new("yyyy-MM-dd'T'HH:mm:ssX", None).unwrap();
    assert_eq!(f.parse("2018-05-11T21:58:33Z").unwrap(), 1526075913000);
    assert!(f.parse("not a timestamp").is_err());
    assert_eq!(f.format(1526075913000).unwrap(), "2018-05-11T21:58:33Z");
    let f = TimestampFormat::new("yyyy-MM-dd HH:mm", Some("+02:00")).unwrap();
    assert_eq!(f.parse("1970-01-01 02:00").unwrap(), 0);
    assert!(TimestampFormat::new("yyyy", Some("Nowhere/Land")).is_err());
}
