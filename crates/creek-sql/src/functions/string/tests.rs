use super::*;
use crate::value::Decimal;

/// (subject, length, padding, LPAD result, RPAD result)
type PadCase = (
    Option<&'static str>,
    Option<i32>,
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
);

/// (hex input, results as ascii, utf8 and base64; None when it throws)
type HexCase = (
    &'static str,
    Option<(&'static str, &'static str, &'static str)>,
);

fn find(name: &str) -> Arc<dyn ScalarFunction> {
    functions()
        .into_iter()
        .find(|f| f.name() == name)
        .unwrap_or_else(|| panic!("no function {name}"))
}

/// Resolves `name` for arguments of these types (None = NULL literal) and
/// evaluates it on `values`.
fn try_call(name: &str, types: &[Option<SqlType>], values: &[Value]) -> Result<Value, String> {
    let args: Vec<Arg> = types
        .iter()
        .map(|t| Arg {
            ty: t.clone(),
            constant: None,
        })
        .collect();
    let r = find(name)
        .resolve(&args)
        .unwrap_or_else(|e| panic!("{name} did not resolve: {e:?}"));
    (r.eval)(values)
}

fn call(name: &str, types: &[Option<SqlType>], values: &[Value]) -> Value {
    try_call(name, types, values).unwrap_or_else(|e| panic!("{name} threw: {e}"))
}

fn t(ty: SqlType) -> Option<SqlType> {
    Some(ty)
}

fn s(x: &str) -> Value {
    Value::string(x)
}

fn b(x: &[u8]) -> Value {
    Value::bytes(x)
}

fn b64(x: &str) -> Value {
    Value::bytes(base64_decode(x).unwrap())
}

fn i(x: i32) -> Value {
    Value::Int(x)
}

fn strs(xs: &[&str]) -> Value {
    Value::Array(xs.iter().map(|x| s(x)).collect())
}

/// Calls a function of all-STRING parameters on optional strings.
fn str_fn(name: &str, args: &[Option<&str>]) -> Value {
    let types: Vec<Option<SqlType>> = args.iter().map(|_| t(STR)).collect();
    let values: Vec<Value> = args.iter().map(|a| a.map_or(Value::Null, s)).collect();
    call(name, &types, &values)
}

#[test]
fn concat_ignores_nulls() {
    assert_eq!(
        str_fn("CONCAT", &[Some("prefix-"), Some("s1"), Some("-postfix")]),
        s("prefix-s1-postfix")
    );
    assert_eq!(
        call(
            "CONCAT",
            &[t(STR), None, t(STR)],
            &[s("a"), Value::Null, s("b")]
        ),
        s("ab")
    );
    assert_eq!(
        call(
            "CONCAT",
            &[t(BYTES), None, t(BYTES)],
            &[b64("eWVz"), Value::Null, b64("bm8=")]
        ),
        b64("eWVzbm8=")
    );
    assert_eq!(
        call("CONCAT", &[t(BYTES), t(BYTES)], &[b(b""), b64("bm8=")]),
        b64("bm8=")
    );
}

#[test]
fn concat_needs_two_arguments() {
    assert!(try_call("CONCAT", &[t(STR)], &[s("a")]).is_err());
    assert!(try_call("CONCAT_WS", &[t(STR)], &[s("a")]).is_err());
}

#[test]
fn concat_ws_skips_nulls_and_needs_a_separator() {
    let types = [t(STR), t(STR), t(STR), t(STR), None, t(STR)];
    let row = |sep: Option<&str>, c: [Option<&str>; 3]| {
        let mut v = vec![sep.map_or(Value::Null, s)];
        v.extend(c.iter().map(|x| x.map_or(Value::Null, s)));
        v.push(Value::Null);
        v.push(s("literal"));
        call("CONCAT_WS", &types, &v)
    };
    assert_eq!(
        row(Some("SEP"), [Some("foo"), Some("bar"), Some("baz")]),
        s("fooSEPbarSEPbazSEPliteral")
    );
    assert_eq!(
        row(Some("SEP"), [Some("foo"), None, Some("baz")]),
        s("fooSEPbazSEPliteral")
    );
    assert_eq!(row(Some("SEP"), [None, None, None]), s("literal"));
    assert_eq!(
        row(None, [Some("foo"), Some("bar"), Some("baz")]),
        Value::Null
    );
    let bt = [t(BYTES), t(BYTES), t(BYTES), None, t(BYTES)];
    assert_eq!(
        call(
            "CONCAT_WS",
            &bt,
            &[
                b64("YQ=="),
                b64("Yg=="),
                b64("eWVz"),
                Value::Null,
                b64("bm8=")
            ]
        ),
        b64("YmF5ZXNhbm8=")
    );
    assert_eq!(
        call(
            "CONCAT_WS",
            &bt,
            &[b64("YQ=="), b64("Yg=="), b(b""), Value::Null, b64("bm8=")]
        ),
        b64("YmFhbm8=")
    );
    assert_eq!(
        call(
            "CONCAT_WS",
            &bt,
            &[
                b64("YQ=="),
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null
            ]
        ),
        b(b"")
    );
}

#[test]
fn case_trim_substring() {
    let rows = [
        ("lower", "lower", "LOWER", "lower", "ower"),
        ("UPPER", "upper", "UPPER", "UPPER", "PPER"),
        ("MiXeD", "mixed", "MIXED", "MiXeD", "iXeD"),
        (
            " \t with white space \t",
            " \t with white space \t",
            " \t WITH WHITE SPACE \t",
            "with white space",
            "\t wit",
        ),
        ("s", "s", "S", "s", ""),
        (
            "long enough",
            "long enough",
            "LONG ENOUGH",
            "long enough",
            "ong e",
        ),
    ];
    for (input, lower, upper, trim, sub) in rows {
        assert_eq!(str_fn("LCASE", &[Some(input)]), s(lower));
        assert_eq!(str_fn("UCASE", &[Some(input)]), s(upper));
        assert_eq!(str_fn("TRIM", &[Some(input)]), s(trim));
        assert_eq!(
            call(
                "SUBSTRING",
                &[t(STR), t(INT), t(INT)],
                &[s(input), i(2), i(5)]
            ),
            s(sub)
        );
    }
    assert_eq!(str_fn("LTRIM", &[Some("  a  ")]), s("a  "));
    assert_eq!(str_fn("RTRIM", &[Some("  a  ")]), s("  a"));
    assert_eq!(str_fn("UCASE", &[None]), Value::Null);
}

#[test]
fn substring_positions() {
    let sub2 = |x: &str, p: i32| call("SUBSTRING", &[t(STR), t(INT)], &[s(x), i(p)]);
    let sub3 =
        |x: &str, p: i32, l: i32| call("SUBSTRING", &[t(STR), t(INT), t(INT)], &[s(x), i(p), i(l)]);
    assert_eq!(sub2("hello", 2), s("ello"));
    assert_eq!(sub2("hello", -2), s("lo"));
    assert_eq!(sub2("hello", -10), s("hello"));
    assert_eq!(sub2("hello", 0), s("hello"));
    assert_eq!(sub2("hello", 10), s(""));
    assert_eq!(sub3("hello", -3, 2), s("ll"));
    assert_eq!(sub3("hello", 2, -1), s(""));
    assert_eq!(sub3("hello", 2, 100), s("ello"));
    assert_eq!(sub2("\u{182b8}éa", 3), s("éa"));
    assert_eq!(sub3("aé\u{182b8}", 2, 3), s("é\u{182b8}"));
    assert_eq!(
        call("SUBSTRING", &[t(STR), t(INT)], &[Value::Null, i(1)]),
        Value::Null
    );
    assert_eq!(
        call(
            "SUBSTRING",
            &[t(BYTES), t(INT), t(INT)],
            &[b(b"abcde"), i(-2), i(1)]
        ),
        b(b"d")
    );
}

#[test]
fn len_of_strings_and_bytes() {
    assert_eq!(str_fn("LEN", &[Some("ABC")]), i(3));
    assert_eq!(str_fn("LEN", &[Some("")]), i(0));
    assert_eq!(str_fn("LEN", &[None]), Value::Null);
    assert_eq!(call("LEN", &[t(BYTES)], &[b64("YWJj")]), i(3));
    // Java counts UTF-16 code units.
    assert_eq!(str_fn("LEN", &[Some("\u{182b8}é")]), i(3));
}

#[test]
fn replace_and_regexp_replace() {
    assert_eq!(
        str_fn("REPLACE", &[Some("anaconda"), Some("a"), Some("o")]),
        s("onocondo")
    );
    assert_eq!(
        str_fn("REPLACE", &[Some("anaconda"), None, Some("o")]),
        Value::Null
    );
    assert_eq!(
        str_fn("REPLACE", &[Some("popcorn"), Some("a"), Some("o")]),
        s("popcorn")
    );
    assert_eq!(
        str_fn(
            "REGEXP_REPLACE",
            &[Some("baababaa"), Some("(ab)+"), Some("cat")]
        ),
        s("bacataa")
    );
    assert_eq!(
        str_fn(
            "REGEXP_REPLACE",
            &[Some("baabbabaa"), Some("(ab)+"), Some("cat")]
        ),
        s("bacatbcataa")
    );
    assert_eq!(
        str_fn("REGEXP_REPLACE", &[None, Some("(ab)+"), Some("cat")]),
        Value::Null
    );
    assert_eq!(
        str_fn("REGEXP_REPLACE", &[Some("baababaa"), None, Some("cat")]),
        Value::Null
    );
    assert_eq!(
        str_fn(
            "REGEXP_REPLACE",
            &[Some("john smith"), Some("(\\w+) (\\w+)"), Some("$2a, $1")]
        ),
        s("smitha, john")
    );
    assert_eq!(java_replacement("\\$1$10").unwrap(), "$$1${10}");
    assert!(try_call(
        "REGEXP_REPLACE",
        &[t(STR), t(STR), t(STR)],
        &[s("x"), s("("), s("y")]
    )
    .is_err());
}

#[test]
fn regexp_extract() {
    let ex = |input: Option<&str>| str_fn("REGEXP_EXTRACT", &[Some("test."), input]);
    assert_eq!(ex(Some("some_test_string")), s("test_"));
    assert_eq!(ex(Some("anothertest")), Value::Null);
    assert_eq!(ex(Some("testa")), s("testa"));
    assert_eq!(ex(None), Value::Null);
    let group = |input: &str| {
        call(
            "REGEXP_EXTRACT",
            &[t(STR), t(STR), t(INT)],
            &[s("(.*) (.*)"), s(input), i(2)],
        )
    };
    assert_eq!(group("steven zhang"), s("zhang"));
    assert_eq!(group("agavra"), Value::Null);
    let all = |input: &str| str_fn("REGEXP_EXTRACT_ALL", &[Some("test."), Some(input)]);
    assert_eq!(all("some_test_string_testabab"), strs(&["test_", "testa"]));
    assert_eq!(all("nothing"), strs(&[]));
    let all2 = |input: &str| {
        call(
            "REGEXP_EXTRACT_ALL",
            &[t(STR), t(STR), t(INT)],
            &[s("(\\w+) (\\w*)"), s(input), i(2)],
        )
    };
    assert_eq!(all2("steven zhang andy coates"), strs(&["zhang", "coates"]));
    assert_eq!(all2("apurva mehta agavra "), strs(&["mehta", ""]));
    assert_eq!(all2("agavra"), strs(&[]));
    // A constant pattern is compiled at resolve time.
    let r = find("REGEXP_EXTRACT")
        .resolve(&[Arg::constant(STR, s("a+")), Arg::typed(STR)])
        .ok()
        .unwrap();
    assert_eq!((r.eval)(&[s("a+"), s("baaa")]).unwrap(), s("aaa"));
    assert!(find("REGEXP_EXTRACT")
        .resolve(&[Arg::typed(STR), Arg::typed(INT)])
        .is_err());
}

#[test]
fn java_regex_dialect() {
    assert_eq!(java_pattern("\\d+"), "[0-9]+");
    assert_eq!(java_pattern("[\\w-]"), "[a-zA-Z0-9_-]");
    assert_eq!(java_pattern("\\Q.*\\E+"), "\\.\\*+");
    assert_eq!(java_pattern("\\p{Alpha}\\P{Digit}"), "[a-zA-Z][^0-9]");
    assert_eq!(java_pattern("\\p{L}"), "\\p{L}");
    let ex = |p: &str, x: &str| str_fn("REGEXP_EXTRACT", &[Some(p), Some(x)]);
    assert_eq!(ex("\\d+", "a\u{661}\u{662}7"), s("7"));
    assert_eq!(ex("\\Q.\\E.", "ab.cd"), s(".c"));
    assert_eq!(ex("\\p{Upper}+", "abCDe"), s("CD"));
    assert_eq!(ex("\\S+", " x y"), s("x"));
}

#[test]
fn splits() {
    let sp = |m: &str, d: &str| str_fn("SPLIT", &[Some(m), Some(d)]);
    assert_eq!(sp("a.b.c", "."), strs(&["a", "b", "c"]));
    assert_eq!(sp(".abc.", "."), strs(&["", "abc", ""]));
    assert_eq!(sp("..a..", "."), strs(&["", "", "a", "", ""]));
    assert_eq!(sp("", "."), strs(&[""]));
    assert_eq!(sp(".$$a..", "$$"), strs(&[".", "a.."]));
    assert_eq!(sp("abc", ""), strs(&["a", "b", "c"]));
    assert_eq!(sp("", ""), strs(&[""]));
    let spb = |m: &[u8], d: &[u8]| call("SPLIT", &[t(BYTES), t(BYTES)], &[b(m), b(d)]);
    assert_eq!(
        spb(b".abc.", b"."),
        Value::Array(vec![b(b""), b(b"abc"), b(b"")])
    );
    assert_eq!(
        spb(b"abc", b""),
        Value::Array(vec![b(b"a"), b(b"b"), b(b"c")])
    );
    assert_eq!(spb(b"", b""), Value::Array(vec![b(b"")]));
    assert_eq!(
        spb(b"a$$b.c", b"$$"),
        Value::Array(vec![b(b"a"), b(b"b.c")])
    );
    let rs = |m: Option<&str>, p: Option<&str>| str_fn("REGEXP_SPLIT_TO_ARRAY", &[m, p]);
    assert_eq!(rs(Some("aabcda"), Some("(ab|cd)")), strs(&["a", "", "a"]));
    assert_eq!(rs(Some("aabdcda"), Some("(ab|cd)")), strs(&["a", "d", "a"]));
    assert_eq!(rs(Some("zxy"), Some("(ab|cd)")), strs(&["zxy"]));
    assert_eq!(rs(None, Some("(ab|cd)")), Value::Null);
    assert_eq!(rs(Some("zxy"), None), Value::Null);
    assert_eq!(rs(Some("abc"), Some("")), strs(&["a", "b", "c"]));
    assert_eq!(rs(Some(""), Some("")), strs(&[""]));
    assert_eq!(rs(Some("axxb"), Some("x*")), strs(&["a", "b"]));
    assert_eq!(rs(Some("a,b,,"), Some(",")), strs(&["a", "b", "", ""]));
    assert_eq!(rs(Some(",a"), Some(",")), strs(&["", "a"]));
}

#[test]
fn split_to_map() {
    let m = |i: Option<&str>, e: Option<&str>, k: Option<&str>| str_fn("SPLIT_TO_MAP", &[i, e, k]);
    let map = |kvs: &[(&str, &str)]| Value::Map(kvs.iter().map(|(k, v)| (s(k), s(v))).collect());
    let input = "apple:green/banana:yellow/cherry:red";
    let fruit = map(&[("apple", "green"), ("banana", "yellow"), ("cherry", "red")]);
    assert_eq!(m(Some(input), Some("/"), Some(":")), fruit);
    assert_eq!(
        m(Some(input), Some("&&"), Some(":")),
        map(&[("apple", "green/banana")])
    );
    assert_eq!(
        m(
            Some("apple:green//banana:yellow//cherry:red/"),
            Some("/"),
            Some(":")
        ),
        fruit
    );
    assert_eq!(m(Some(input), Some("/"), Some("=")), map(&[]));
    assert_eq!(m(Some(input), Some(""), Some(":")), Value::Null);
    assert_eq!(m(Some(input), Some("/"), Some("")), Value::Null);
    assert_eq!(m(Some(input), None, Some(":")), Value::Null);
    assert_eq!(m(Some(""), Some("/"), Some(":")), map(&[]));
    assert_eq!(m(None, Some("/"), Some(":")), Value::Null);
    assert_eq!(m(Some("a:1/a:2"), Some("/"), Some(":")), map(&[("a", "2")]));
}

#[test]
fn instr_positions_and_occurrences() {
    let ins = |x: &str, extra: &[i32]| {
        let mut types = vec![t(STR), t(STR)];
        let mut values = vec![s(x), s("or")];
        for e in extra {
            types.push(t(INT));
            values.push(i(*e));
        }
        call("INSTR", &types, &values)
    };
    assert_eq!(ins("corporate floor", &[]), i(2));
    assert_eq!(ins("should I stay or should I go", &[]), i(15));
    assert_eq!(ins("short", &[]), i(3));
    assert_eq!(ins("no substring", &[]), i(0));
    assert_eq!(ins("corporate floor", &[4]), i(5));
    assert_eq!(ins("short", &[4]), i(0));
    assert_eq!(ins("corporate floor", &[4, 2]), i(14));
    assert_eq!(ins("short", &[4, 2]), i(0));
    assert_eq!(ins("corporate floor", &[-4]), i(5));
    assert_eq!(ins("short", &[-4]), i(0));
    assert_eq!(ins("corporate floor", &[-4, 2]), i(2));
    assert_eq!(ins("short", &[-4, 2]), i(0));
    assert_eq!(
        call("INSTR", &[t(STR), t(STR)], &[Value::Null, s("a")]),
        i(0)
    );
}

#[test]
fn initcap() {
    assert_eq!(str_fn("INITCAP", &[Some("some_string")]), s("Some_string"));
    assert_eq!(str_fn("INITCAP", &[None]), Value::Null);
    assert_eq!(
        str_fn("INITCAP", &[Some("the   Quick br0wn fOx")]),
        s("The   Quick Br0wn Fox")
    );
    assert_eq!(
        str_fn("INITCAP", &[Some("  hELLO\tworld ")]),
        s("Hello\tWorld ")
    );
}

#[test]
fn string_padding() {
    let p = |name: &str, subject: Option<&str>, len: Option<i32>, pad: Option<&str>| {
        call(
            name,
            &[t(STR), t(INT), t(STR)],
            &[
                subject.map_or(Value::Null, s),
                len.map_or(Value::Null, i),
                pad.map_or(Value::Null, s),
            ],
        )
    };
    let cases: [PadCase; 9] = [
        (
            Some("foo"),
            Some(7),
            Some("Bar"),
            Some("BarBfoo"),
            Some("fooBarB"),
        ),
        (
            Some("foo"),
            Some(5),
            Some("Bar"),
            Some("Bafoo"),
            Some("fooBa"),
        ),
        (Some("foo"), Some(2), Some("Bar"), Some("fo"), Some("fo")),
        (Some("foo"), Some(-1), Some("Bar"), None, None),
        (Some("foo"), Some(5), None, None, None),
        (Some("foo"), None, Some("Bar"), None, None),
        (None, Some(-5), Some("Bar"), None, None),
        (Some("foo"), Some(7), Some(""), None, None),
        (
            Some(""),
            Some(7),
            Some("Bar"),
            Some("BarBarB"),
            Some("BarBarB"),
        ),
    ];
    for (subject, len, pad, l, r) in cases {
        assert_eq!(p("LPAD", subject, len, pad), l.map_or(Value::Null, s));
        assert_eq!(p("RPAD", subject, len, pad), r.map_or(Value::Null, s));
    }
}

#[test]
fn bytes_padding() {
    let p = |name: &str, subject: Option<&str>, len: Option<i32>, pad: Option<&str>| {
        call(
            name,
            &[t(BYTES), t(INT), t(BYTES)],
            &[
                subject.map_or(Value::Null, b64),
                len.map_or(Value::Null, i),
                pad.map_or(Value::Null, b64),
            ],
        )
    };
    let y = Some("eWVz");
    let n = Some("bm8=");
    let cases: [PadCase; 9] = [
        (y, Some(8), n, Some("bm9ub255ZXM="), Some("eWVzbm9ub24=")),
        (y, Some(5), n, Some("bm95ZXM="), Some("eWVzbm8=")),
        (y, Some(3), n, Some("eWVz"), Some("eWVz")),
        (y, Some(2), n, Some("eWU="), Some("eWU=")),
        (y, Some(0), n, Some(""), Some("")),
        (y, Some(-1), n, None, None),
        (y, Some(3), Some(""), None, None),
        (None, Some(8), n, None, None),
        (y, None, n, None, None),
    ];
    for (subject, len, pad, l, r) in cases {
        assert_eq!(p("LPAD", subject, len, pad), l.map_or(Value::Null, b64));
        assert_eq!(p("RPAD", subject, len, pad), r.map_or(Value::Null, b64));
    }
}

#[test]
fn masks() {
    assert_eq!(str_fn("MASK", &[Some("AbCd#$123xy Z")]), s("XxXx--nnnxx-X"));
    assert_eq!(
        str_fn(
            "MASK",
            &[
                Some("AbCd#$123xy Z"),
                Some("Q"),
                Some("q"),
                Some("9"),
                Some("@")
            ]
        ),
        s("QqQq@@999qq@Q")
    );
    assert_eq!(
        str_fn(
            "MASK",
            &[Some("AbCd#$123xy Z"), None, Some("q"), None, None]
        ),
        s("AqCq#$123qq Z")
    );
    assert_eq!(str_fn("MASK", &[None]), Value::Null);
    let m = |name: &str, input: &str, n: i32| call(name, &[t(STR), t(INT)], &[s(input), i(n)]);
    assert_eq!(m("MASK_KEEP_LEFT", "AbCd#$123xy Z", 5), s("AbCd#-nnnxx-X"));
    assert_eq!(m("MASK_KEEP_RIGHT", "AbCd#$123xy Z", 5), s("XxXx--nn3xy Z"));
    assert_eq!(m("MASK_LEFT", "AbCd#$123xy Z", 5), s("XxXx-$123xy Z"));
    assert_eq!(m("MASK_RIGHT", "AbCd#$123xy Z", 5), s("AbCd#$12nxx-X"));
    assert_eq!(m("MASK_LEFT", "Ab", 5), s("Xx"));
    assert_eq!(m("MASK_KEEP_LEFT", "Ab", 5), s("Ab"));
    assert!(try_call("MASK_LEFT", &[t(STR), t(INT)], &[s("Ab"), i(-1)]).is_err());
    assert!(try_call(
        "MASK",
        &[t(STR), t(STR), t(STR), t(STR), t(STR)],
        &[s("Ab"), s("XX"), Value::Null, Value::Null, Value::Null]
    )
    .is_err());
    assert_eq!(
        call(
            "MASK_RIGHT",
            &[t(STR), t(INT), t(STR), t(STR), t(STR), t(STR)],
            &[s("Ab1"), i(2), s("U"), s("l"), s("d"), s("o")]
        ),
        s("Ald")
    );
}

#[test]
fn chr() {
    let c = |code: Option<i32>| call("CHR", &[t(INT)], &[code.map_or(Value::Null, i)]);
    assert_eq!(c(Some(75)), s("K"));
    assert_eq!(c(Some(22909)), s("\u{597d}"));
    assert_eq!(c(Some(99000)), s("\u{182b8}"));
    assert_eq!(c(Some(-1)), Value::Null);
    assert_eq!(c(None), Value::Null);
    let cs = |code: Option<&str>| str_fn("CHR", &[code]);
    assert_eq!(cs(Some("\\u004b")), s("K"));
    assert_eq!(cs(Some("\\u597d")), s("\u{597d}"));
    assert_eq!(cs(Some("\\ud820\\udeb8")), s("\u{182b8}"));
    for bad in ["75", "004b", "bogus", ""] {
        assert_eq!(cs(Some(bad)), Value::Null);
    }
    assert_eq!(cs(None), Value::Null);
}

#[test]
fn elt_and_field() {
    assert_eq!(
        call(
            "ELT",
            &[t(INT), t(STR), t(STR)],
            &[i(2), s("ignored"), s("x")]
        ),
        s("x")
    );
    assert_eq!(
        call(
            "ELT",
            &[t(INT), t(STR), t(STR)],
            &[i(2), s("ignored"), Value::Null]
        ),
        Value::Null
    );
    assert_eq!(call("ELT", &[t(INT), t(STR)], &[i(0), s("a")]), Value::Null);
    assert_eq!(call("ELT", &[t(INT), t(STR)], &[i(2), s("a")]), Value::Null);
    let f = |a: Option<&str>, b: Option<&str>| str_fn("FIELD", &[Some("hello"), a, b]);
    assert_eq!(f(Some("hello"), Some("world")), i(1));
    assert_eq!(f(None, Some("world")), i(0));
    assert_eq!(f(Some("world"), Some("hello")), i(2));
    assert_eq!(f(None, None), i(0));
    assert_eq!(str_fn("FIELD", &[None, None]), i(0));
}

#[test]
fn encode_between_encodings() {
    let e =
        |input: &str, from: &str, to: &str| str_fn("ENCODE", &[Some(input), Some(from), Some(to)]);
    let hex_cases: [HexCase; 14] = [
        (
            "4578616d706C6521",
            Some(("Example!", "Example!", "RXhhbXBsZSE=")),
        ),
        (
            "c39c6265726d656e736368",
            Some((
                "\u{fffd}\u{fffd}bermensch",
                "\u{dc}bermensch",
                "w5xiZXJtZW5zY2g=",
            )),
        ),
        (
            "0x4578616d706C6521",
            Some(("Example!", "Example!", "RXhhbXBsZSE=")),
        ),
        (
            "X'4578616d706C6521'",
            Some(("Example!", "Example!", "RXhhbXBsZSE=")),
        ),
        (
            "x'4578616d706C6521'",
            Some(("Example!", "Example!", "RXhhbXBsZSE=")),
        ),
        ("0x", Some(("", "", ""))),
        ("X''", Some(("", "", ""))),
        ("x''", Some(("", "", ""))),
        ("0x0x", None),
        ("X'", None),
        ("x'4578616d706C6521", None),
        ("x'578616d706C6521'", None),
        (
            "0x578616d706C6521",
            Some(("\u{5}xample!", "\u{5}xample!", "BXhhbXBsZSE=")),
        ),
        ("578616d706C6521", None),
    ];
    for (input, expected) in hex_cases {
        for (k, to) in ["ascii", "utf8", "base64"].iter().enumerate() {
            let want = expected.map_or(Value::Null, |(a, u, b64)| s([a, u, b64][k]));
            let got = try_call(
                "ENCODE",
                &[t(STR), t(STR), t(STR)],
                &[s(input), s("hex"), s(to)],
            )
            .unwrap_or(Value::Null);
            assert_eq!(got, want, "{input} hex -> {to}");
        }
    }
    assert_eq!(
        e("ce95cebbcebbceacceb4ceb1", "hex", "utf8"),
        s("\u{395}\u{3bb}\u{3bb}\u{3ac}\u{3b4}\u{3b1}")
    );
    assert_eq!(
        e("ce95cebbcebbceacceb4ceb1", "hex", "ascii"),
        s(&"\u{fffd}".repeat(12))
    );
    assert_eq!(e("Example!", "ascii", "hex"), s("4578616d706c6521"));
    assert_eq!(e("Example!", "ascii", "base64"), s("RXhhbXBsZSE="));
    let greek = "\u{395}\u{3bb}\u{3bb}\u{3ac}\u{3b4}\u{3b1}";
    assert_eq!(e(greek, "ascii", "hex"), s("3f3f3f3f3f3f"));
    assert_eq!(e(greek, "ascii", "utf8"), s("??????"));
    assert_eq!(e(greek, "ascii", "base64"), s("Pz8/Pz8/"));
    assert_eq!(e("RXhhbXBsZSE=", "base64", "hex"), s("4578616d706c6521"));
    assert_eq!(e("zpXOu867zqzOtM6x", "base64", "utf8"), s(greek));
    assert_eq!(
        e("zpXOu867zqzOtM6x", "base64", "ascii"),
        s(&"\u{fffd}".repeat(12))
    );
    assert!(try_call(
        "ENCODE",
        &[t(STR), t(STR), t(STR)],
        &[s("RXhhbXBsZSE="), s("base64"), s("null")]
    )
    .is_err());
    assert_eq!(
        str_fn("ENCODE", &[None, Some("hex"), Some("utf8")]),
        Value::Null
    );
}

#[test]
fn bytes_and_strings() {
    let from = |x: Value, enc: &str| call("FROM_BYTES", &[t(BYTES), t(STR)], &[x, s(enc)]);
    let to = |x: &str, enc: &str| call("TO_BYTES", &[t(STR), t(STR)], &[s(x), s(enc)]);
    assert_eq!(from(b64("IQ=="), "hex"), s("21"));
    assert_eq!(from(b64("GrI="), "hex"), s("1AB2"));
    assert_eq!(to("1AB2", "hex"), b64("GrI="));
    assert_eq!(to("1aB2", "hex"), b64("GrI="));
    assert_eq!(from(b64("IQ=="), "ascii"), s("!"));
    assert_eq!(to("!", "ascii"), b64("IQ=="));
    assert_eq!(from(b64("Iw=="), "utf8"), s("#"));
    assert_eq!(to("#", "utf8"), b64("Iw=="));
    assert_eq!(from(b64("IQ=="), "base64"), s("IQ=="));
    assert_eq!(to("IQ==", "base64"), b64("IQ=="));
    assert_eq!(to("hello", "ascii"), b(b"hello"));
    assert!(try_call("TO_BYTES", &[t(STR), t(STR)], &[s("1"), s("hex")]).is_err());
    assert!(try_call("TO_BYTES", &[t(STR), t(STR)], &[s("1"), s("utf16")]).is_err());
    assert!(try_call("FROM_BYTES", &[t(BYTES), t(STR)], &[b(b"1"), s("x")]).is_err());
}

#[test]
fn numbers_from_bytes() {
    let one = |name: &str, x: &str| call(name, &[t(BYTES)], &[b64(x)]);
    let two = |name: &str, x: &str| call(name, &[t(BYTES), t(STR)], &[b64(x), s("LITTLE_ENDIAN")]);
    assert_eq!(one("INT_FROM_BYTES", "AAAH5Q=="), i(2021));
    assert_eq!(
        one("BIGINT_FROM_BYTES", "AAAAASoF8gA="),
        Value::Bigint(5_000_000_000)
    );
    assert_eq!(
        one("DOUBLE_FROM_BYTES", "QICm/ZvJ9YI="),
        Value::Double(532.8738323)
    );
    assert_eq!(two("INT_FROM_BYTES", "5QcAAA=="), i(2021));
    assert_eq!(
        two("BIGINT_FROM_BYTES", "APIFKgEAAAA="),
        Value::Bigint(5_000_000_000)
    );
    assert_eq!(
        two("DOUBLE_FROM_BYTES", "gvXJm/2mgEA="),
        Value::Double(532.8738323)
    );
    assert!(try_call("INT_FROM_BYTES", &[t(BYTES)], &[b(b"abc")]).is_err());
    assert!(try_call(
        "INT_FROM_BYTES",
        &[t(BYTES), t(STR)],
        &[b(b"abcd"), s("MIDDLE")]
    )
    .is_err());
}

#[test]
fn md5_and_uuid() {
    let cases = [
        ("r1", "7c92cf1eee8d99cc85f8355a3d6e4b86"),
        ("r2", "d279186428a75016b17e4df5ea43d080"),
        ("r3", "9d3e622df914d8de7f747b7b8b143c52"),
        ("", "d41d8cd98f00b204e9800998ecf8427e"),
        (" ", "7215ee9c7d9dc229d2921a40e899ec5f"),
        ("  ", "23b58def11b45727d3351702515f86af"),
    ];
    for (input, hash) in cases {
        assert_eq!(str_fn("MD5", &[Some(input)]), s(hash));
    }
    assert_eq!(str_fn("MD5", &[None]), Value::Null);
    let long = "x".repeat(200);
    assert_eq!(str_fn("MD5", &[Some(&long)]).as_str().unwrap().len(), 32);
    let u1 = call("UUID", &[], &[]);
    let u2 = call("UUID", &[], &[]);
    assert_ne!(u1, u2);
    let u = u1.as_str().unwrap();
    assert_eq!(u.len(), 36);
    assert_eq!(&u[14..15], "4");
    let bytes: Vec<u8> = (0u8..16).collect();
    assert_eq!(
        call("UUID", &[t(BYTES)], &[b(&bytes)]),
        s("00010203-0405-0607-0809-0a0b0c0d0e0f")
    );
    assert_eq!(call("UUID", &[t(BYTES)], &[b(b"short")]), Value::Null);
    assert_eq!(call("UUID", &[t(BYTES)], &[b(&[0u8; 17])]), Value::Null);
}

#[test]
fn urls() {
    let u = |name: &str, url: &str| str_fn(name, &[Some(url)]);
    assert_eq!(u("URL_ENCODE_PARAM", "?foo $bar"), s("%3Ffoo+%24bar"));
    assert_eq!(u("URL_ENCODE_PARAM", "hello&world"), s("hello%26world"));
    assert_eq!(u("URL_ENCODE_PARAM", "nothing"), s("nothing"));
    assert_eq!(u("URL_DECODE_PARAM", "%3Ffoo+%24bar"), s("?foo $bar"));
    assert_eq!(u("URL_DECODE_PARAM", "hello%26world"), s("hello&world"));
    assert_eq!(
        u(
            "URL_EXTRACT_FRAGMENT",
            "http://www.test.com/?query#fragment"
        ),
        s("fragment")
    );
    assert_eq!(
        u("URL_EXTRACT_FRAGMENT", "http://www.nofragment.com"),
        Value::Null
    );
    assert_eq!(
        u("URL_EXTRACT_HOST", "http://www.test.com/?query#fragment"),
        s("www.test.com")
    );
    assert_eq!(
        u("URL_EXTRACT_HOST", "http://test@confluent.io:8080"),
        s("confluent.io")
    );
    let param = |url: &str, name: &str| str_fn("URL_EXTRACT_PARAMETER", &[Some(url), Some(name)]);
    let url = "http://www.test.com/?one=a&two=b&three";
    assert_eq!(param(url, "one"), s("a"));
    assert_eq!(param(url, "two"), s("b"));
    assert_eq!(param(url, "three"), s(""));
    assert_eq!(param(url, "four"), Value::Null);
    assert_eq!(
        param("http://www.test.com/?one=a&two=url%20encoded", "two"),
        s("url encoded")
    );
    assert_eq!(
        param(
            "https://docs.confluent.io?foo%20bar=baz%20zab&blank#scalar-functions",
            "foo bar"
        ),
        s("baz zab")
    );
    assert_eq!(
        u("URL_EXTRACT_PATH", "http://www.test.com?query#fragment"),
        s("")
    );
    assert_eq!(
        u("URL_EXTRACT_PATH", "http://www.test.com/path?query"),
        s("/path")
    );
    assert_eq!(
        u(
            "URL_EXTRACT_PATH",
            "http://test@confluent.io:8080/nested/path?query&jobs"
        ),
        s("/nested/path")
    );
    assert_eq!(
        u("URL_EXTRACT_PORT", "http://test@confluent.io"),
        Value::Null
    );
    assert_eq!(
        u(
            "URL_EXTRACT_PORT",
            "http://test@confluent.io:8080/nested/path?query&jobs"
        ),
        i(8080)
    );
    assert_eq!(
        u("URL_EXTRACT_PROTOCOL", "http://test@confluent.io"),
        s("http")
    );
    assert_eq!(
        u(
            "URL_EXTRACT_PROTOCOL",
            "https://test@confluent.io:8080/nested/path?query&jobs"
        ),
        s("https")
    );
    assert_eq!(u("URL_EXTRACT_PROTOCOL", "www.confluent.io"), Value::Null);
    assert_eq!(
        u("URL_EXTRACT_QUERY", "http://www.test.com?query#fragment"),
        s("query")
    );
    assert_eq!(
        u("URL_EXTRACT_QUERY", "http://www.test.com/path?q1&q2"),
        s("q1&q2")
    );
    assert_eq!(
        u(
            "URL_EXTRACT_QUERY",
            "http://test@confluent.io:8080/nested/path?q=2"
        ),
        s("q=2")
    );
    assert_eq!(
        u("URL_EXTRACT_QUERY", "http://test@confluent.io:8080/path"),
        Value::Null
    );
    assert!(try_call("URL_EXTRACT_HOST", &[t(STR)], &[s("http://a b")]).is_err());
    assert!(try_call(
        "URL_EXTRACT_HOST",
        &[t(STR)],
        &[s("http://257.1/bogus/[url")]
    )
    .is_err());
    assert!(try_call("URL_EXTRACT_PATH", &[t(STR)], &[s("http://a/%zz")]).is_err());
    assert_eq!(u("URL_EXTRACT_HOST", "http://my_host:80/"), Value::Null);
    assert_eq!(u("URL_EXTRACT_HOST", "http://[::1]:80/"), s("[::1]"));
    assert_eq!(u("URL_EXTRACT_PORT", "http://[::1]:80/"), i(80));
    assert_eq!(u("URL_EXTRACT_PATH", "http://a/b%20c"), s("/b c"));
    assert_eq!(u("URL_EXTRACT_PATH", "mailto:someone"), Value::Null);
    assert_eq!(u("URL_EXTRACT_PROTOCOL", "mailto:someone"), s("mailto"));
}

#[test]
fn coalesce_ifnull_nullif() {
    let arr = |xs: &[i32]| Value::Array(xs.iter().map(|x| i(*x)).collect());
    let ai = t(SqlType::array(INT));
    assert_eq!(
        call(
            "COALESCE",
            &[t(INT), t(INT), t(INT), t(INT)],
            &[Value::Null, i(2), i(1), i(2)]
        ),
        i(2)
    );
    assert_eq!(
        call("COALESCE", &[t(STR), t(STR)], &[Value::Null, s("x")]),
        s("x")
    );
    assert_eq!(
        call(
            "COALESCE",
            &[ai.clone(), ai.clone()],
            &[arr(&[1, 2, 3]), arr(&[10, 20])]
        ),
        arr(&[1, 2, 3])
    );
    assert_eq!(
        call("COALESCE", &[t(INT), t(INT)], &[Value::Null, Value::Null]),
        Value::Null
    );
    assert!(matches!(
        find("COALESCE").resolve(&[]),
        Err(ResolveError::NoMatch)
    ));
    assert!(find("COALESCE")
        .resolve(&[Arg::typed(STR), Arg::typed(INT)])
        .is_err());
    let r = find("COALESCE")
        .resolve(&[Arg::typed(INT), Arg::typed(SqlType::Bigint)])
        .ok()
        .unwrap();
    assert_eq!(r.returns, SqlType::Bigint);
    assert_eq!((r.eval)(&[i(1), Value::Null]).unwrap(), Value::Bigint(1));
    assert_eq!(
        call("IFNULL", &[t(INT), t(INT)], &[Value::Null, i(10)]),
        i(10)
    );
    assert_eq!(call("IFNULL", &[t(INT), t(INT)], &[i(1), i(10)]), i(1));
    assert_eq!(
        call("IFNULL", &[t(STR), t(STR)], &[Value::Null, s("x")]),
        s("x")
    );
    assert_eq!(
        call("NULLIF", &[t(INT), t(INT)], &[i(10), i(10)]),
        Value::Null
    );
    assert_eq!(call("NULLIF", &[t(INT), t(INT)], &[i(1), i(10)]), i(1));
    assert_eq!(
        call("NULLIF", &[t(STR), t(STR)], &[Value::Null, s("x")]),
        Value::Null
    );
    assert_eq!(call("NULLIF", &[t(STR), t(STR)], &[s("X"), s("x")]), s("X"));
    assert_eq!(
        call(
            "NULLIF",
            &[ai.clone(), ai.clone()],
            &[arr(&[1, 2, 3]), arr(&[1, 2, 3])]
        ),
        Value::Null
    );
    assert_eq!(
        call("NULLIF", &[ai.clone(), ai], &[arr(&[]), arr(&[1, 2, 3])]),
        arr(&[])
    );
}

fn resolve_err(name: &str, types: &[Option<SqlType>]) -> ResolveError {
    let args: Vec<Arg> = types
        .iter()
        .map(|t| Arg {
            ty: t.clone(),
            constant: None,
        })
        .collect();
    match find(name).resolve(&args) {
        Ok(_) => panic!("{name} resolved"),
        Err(e) => e,
    }
}

#[test]
fn greatest_and_least_numbers() {
    let ints = [t(INT), t(INT), t(INT), None, t(INT)];
    let row = [i(i32::MAX), i(i32::MIN), Value::Null, Value::Null, i(5)];
    assert_eq!(call("GREATEST", &ints, &row), i(i32::MAX));
    assert_eq!(call("LEAST", &ints, &row), i(i32::MIN));
    let bigs = [t(SqlType::Bigint), t(SqlType::Bigint)];
    assert_eq!(
        call(
            "LEAST",
            &bigs,
            &[Value::Bigint(i64::MAX), Value::Bigint(i64::MIN)]
        ),
        Value::Bigint(i64::MIN)
    );
    let dec = |x: &str| Value::Decimal(Decimal::parse(x).unwrap());
    let d93 = [t(SqlType::decimal(9, 3)), t(SqlType::decimal(9, 3)), None];
    assert_eq!(
        call(
            "GREATEST",
            &d93,
            &[dec("123456.789"), dec("-987654.321"), Value::Null]
        ),
        dec("123456.789")
    );
    let mixed = [t(SqlType::decimal(9, 2)), t(SqlType::decimal(7, 6))];
    let r = find("LEAST")
        .resolve(&[
            Arg::typed(SqlType::decimal(9, 2)),
            Arg::typed(SqlType::decimal(7, 6)),
        ])
        .ok()
        .unwrap();
    assert_eq!(r.returns, SqlType::decimal(13, 6));
    assert_eq!(
        call("LEAST", &mixed, &[dec("1234567.89"), dec("0.123456")]),
        dec("0.123456")
    );
    assert_eq!(
        call("GREATEST", &mixed, &[dec("1234567.89"), dec("0.123456")]),
        dec("1234567.89")
    );
    let wide = [
        t(INT),
        t(SqlType::Bigint),
        t(SqlType::decimal(30, 18)),
        t(SqlType::Double),
        None,
    ];
    let g = |vals: [Value; 3]| {
        let mut v = vals.to_vec();
        v.push(Value::Null);
        v.push(Value::Null);
        call("GREATEST", &wide, &v)
    };
    assert_eq!(
        g([i(-1), Value::Bigint(1_000_000_000_000), dec("99999.99999")]),
        Value::Double(1e12)
    );
    assert_eq!(
        g([i(-1), Value::Bigint(1), dec("55555.555555555555")]),
        Value::Double(55555.555555555555)
    );
    assert_eq!(
        g([i(500_000), Value::Bigint(1), dec("99999.99999")]),
        Value::Double(500000.0)
    );
    assert_eq!(
        resolve_err("GREATEST", &[t(INT), t(SqlType::Bigint)]),
        ResolveError::Message(
            "Function 'greatest' cannot be resolved due to ambiguous method parameters (INTEGER, BIGINT)."
                .into()
        )
    );
    assert_eq!(
        resolve_err(
            "LEAST",
            &[t(INT), t(SqlType::Bigint), t(SqlType::decimal(50, 30))]
        ),
        ResolveError::Message(
            "Function 'least' cannot be resolved due to ambiguous method parameters (INTEGER, BIGINT, DECIMAL(50, 30))."
                .into()
        )
    );
    assert_eq!(
        resolve_err("GREATEST", &[None, None, None, None]),
        ResolveError::Message(
            "Function 'greatest' cannot be resolved due to ambiguous method parameters (null, null, null, null)."
                .into()
        )
    );
    assert_eq!(resolve_err("LEAST", &[]), ResolveError::NoMatch);
    assert_eq!(
        resolve_err("LEAST", &[t(STR), t(INT)]),
        ResolveError::NoMatch
    );
}

#[test]
fn greatest_and_least_strings_bytes_and_times() {
    let types = [t(STR), t(STR), t(STR), t(STR), None, None, t(STR)];
    let row = |xs: [Option<&str>; 4]| {
        let mut v: Vec<Value> = xs.iter().map(|x| x.map_or(Value::Null, s)).collect();
        v.extend([Value::Null, Value::Null, s("hello")]);
        v
    };
    let r1 = row([Some("apple"), Some("banana"), Some("aardvark"), None]);
    assert_eq!(call("GREATEST", &types, &r1), s("hello"));
    assert_eq!(call("LEAST", &types, &r1), s("aardvark"));
    let r2 = row([None, None, None, None]);
    assert_eq!(call("GREATEST", &types, &r2), s("hello"));
    assert_eq!(call("LEAST", &types, &r2), s("hello"));
    let r3 = row([Some("!"), Some("zebra"), Some("aardvark"), None]);
    assert_eq!(call("GREATEST", &types, &r3), s("zebra"));
    assert_eq!(call("LEAST", &types, &r3), s("!"));
    let bt = [t(BYTES), t(BYTES), t(BYTES)];
    let br = [b(b"apple"), b(b"banana"), b(b"hello")];
    assert_eq!(call("GREATEST", &bt, &br), b(b"hello"));
    assert_eq!(call("LEAST", &bt, &br), b(b"apple"));

    let temporal = |name: &str, ty: SqlType, lit: &str, vals: [Value; 3]| {
        let mut args: Vec<Arg> = (0..3).map(|_| Arg::typed(ty.clone())).collect();
        args.push(Arg {
            ty: None,
            constant: None,
        });
        args.push(Arg::constant(STR, s(lit)));
        let r = find(name).resolve(&args).ok().unwrap();
        assert_eq!(r.returns, ty);
        let mut v = vals.to_vec();
        v.push(Value::Null);
        v.push(s(lit));
        (r.eval)(&v).unwrap()
    };
    let d = Value::Date;
    assert_eq!(
        temporal(
            "GREATEST",
            SqlType::Date,
            "2022-06-14",
            [d(19071), d(18824), d(-5883)]
        ),
        d(19157)
    );
    assert_eq!(
        temporal(
            "LEAST",
            SqlType::Date,
            "2022-06-14",
            [d(19071), d(18824), d(-5883)]
        ),
        d(-5883)
    );
    assert_eq!(
        temporal(
            "LEAST",
            SqlType::Date,
            "2022-06-14",
            [Value::Null, Value::Null, Value::Null]
        ),
        d(19157)
    );
    let tm = Value::Time;
    assert_eq!(
        temporal(
            "GREATEST",
            SqlType::Time,
            "09:16:00",
            [tm(33359999), tm(23361230), tm(10)]
        ),
        tm(33360000)
    );
    assert_eq!(
        temporal(
            "GREATEST",
            SqlType::Time,
            "09:16:00",
            [tm(32560000), tm(33370000), tm(33360001)]
        ),
        tm(33370000)
    );
    let ts = Value::Timestamp;
    assert_eq!(
        temporal(
            "GREATEST",
            SqlType::Timestamp,
            "2022-06-14",
            [ts(1647734400000), ts(1626393600000), ts(-508291200000)]
        ),
        ts(1655164800000)
    );
    assert_eq!(
        temporal(
            "LEAST",
            SqlType::Timestamp,
            "2022-06-14",
            [ts(1655251200000), ts(1657756800000), ts(-7948800000)]
        ),
        ts(-7948800000)
    );
}

#[test]
fn every_function_has_signatures() {
    for f in functions() {
        assert!(!f.signatures().is_empty(), "{}", f.name());
        assert_eq!(f.name(), f.name().to_ascii_uppercase());
    }
}
