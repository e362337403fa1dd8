use super::*;
use crate::types::Field;

fn find(name: &str) -> Arc<dyn ScalarFunction> {
    functions()
        .into_iter()
        .find(|f| f.name() == name)
        .unwrap_or_else(|| panic!("no function {name}"))
}

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

fn s(x: &str) -> Value {
    Value::string(x)
}

fn strs(xs: &[&str]) -> Value {
    Value::Array(xs.iter().map(|x| s(x)).collect())
}

fn one(name: &str, input: Option<&str>) -> Value {
    call(name, &[Some(STR)], &[input.map_or(Value::Null, s)])
}

fn to_json(ty: SqlType, v: Value) -> Value {
    call("TO_JSON_STRING", &[Some(ty)], &[v])
}

#[test]
fn to_json_string_of_every_type() {
    assert_eq!(to_json(INT, Value::Int(1)), s("1"));
    assert_eq!(to_json(INT, Value::Null), s("null"));
    assert_eq!(to_json(STR, s("abc")), s("\"abc\""));
    assert_eq!(to_json(STR, s("a\"b\\c\n")), s("\"a\\\"b\\\\c\\n\""));
    assert_eq!(to_json(BOOLEAN, Value::Boolean(true)), s("true"));
    assert_eq!(to_json(SqlType::Bigint, Value::Bigint(123)), s("123"));
    assert_eq!(
        to_json(SqlType::Double, Value::Double(123.456)),
        s("123.456")
    );
    assert_eq!(to_json(SqlType::Double, Value::Double(1.0)), s("1.0"));
    assert_eq!(to_json(SqlType::Double, Value::Double(1e7)), s("1.0E7"));
    assert_eq!(
        to_json(
            SqlType::decimal(6, 3),
            Value::Decimal(Decimal::parse("123.456").unwrap())
        ),
        s("123.456")
    );
    assert_eq!(
        to_json(SqlType::Bytes, Value::bytes(&b"!"[..])),
        s("\"IQ==\"")
    );
    assert_eq!(
        to_json(SqlType::Time, Value::Time(60_220_000)),
        s("\"16:43:40\"")
    );
    assert_eq!(
        to_json(SqlType::Date, Value::Date(1000)),
        s("\"1972-09-27\"")
    );
    assert_eq!(
        to_json(SqlType::Timestamp, Value::Timestamp(60_220_000_000)),
        s("\"1971-11-28T23:46:40.000\"")
    );
    assert_eq!(
        to_json(
            SqlType::array(INT),
            Value::Array(vec![Value::Int(1), Value::Int(2), Value::Int(3)])
        ),
        s("[1,2,3]")
    );
    let st = SqlType::Struct(vec![Field::new("NAME", STR), Field::new("ID", INT)]);
    assert_eq!(
        to_json(
            st,
            Value::Struct(vec![
                ("NAME".into(), s("Alice")),
                ("ID".into(), Value::Int(1))
            ])
        ),
        s("{\"ID\":1,\"NAME\":\"Alice\"}")
    );
    assert_eq!(
        to_json(
            SqlType::map(STR, SqlType::array(INT)),
            Value::Map(vec![
                (s("id"), Value::Array(vec![Value::Int(1), Value::Int(2)])),
                (s("a"), Value::Null)
            ])
        ),
        s("{\"a\":null,\"id\":[1,2]}")
    );
    // An untyped NULL literal.
    assert_eq!(call("TO_JSON_STRING", &[None], &[Value::Null]), s("null"));
}

#[test]
fn is_json_string() {
    assert_eq!(one("IS_JSON_STRING", Some("1")), Value::Boolean(true));
    assert_eq!(one("IS_JSON_STRING", Some("abc")), Value::Boolean(false));
    assert_eq!(
        one("IS_JSON_STRING", Some("[1, 2, 3]")),
        Value::Boolean(true)
    );
    assert_eq!(one("IS_JSON_STRING", Some("\"abc\"")), Value::Boolean(true));
    assert_eq!(one("IS_JSON_STRING", Some("")), Value::Boolean(false));
    assert_eq!(one("IS_JSON_STRING", None), Value::Boolean(false));
    assert_eq!(
        one("IS_JSON_STRING", Some("{\"a\": [1, {}]}")),
        Value::Boolean(true)
    );
    assert_eq!(
        one("IS_JSON_STRING", Some("{\"a\" 1}")),
        Value::Boolean(false)
    );
    // Jackson stops after the first value; a number must end at whitespace.
    assert_eq!(one("IS_JSON_STRING", Some("1 abc")), Value::Boolean(true));
    assert_eq!(one("IS_JSON_STRING", Some("1abc")), Value::Boolean(false));
    assert_eq!(one("IS_JSON_STRING", Some("[1]]")), Value::Boolean(true));
}

#[test]
fn json_array_contains() {
    let c = |json: Option<&str>, ty: SqlType, v: Value| {
        call(
            "JSON_ARRAY_CONTAINS",
            &[Some(STR), Some(ty)],
            &[json.map_or(Value::Null, s), v],
        )
    };
    let pink = || s("Pink");
    assert_eq!(
        c(Some("[\"Red\", \"Green\"]"), STR, pink()),
        Value::Boolean(false)
    );
    assert_eq!(
        c(Some("[\"Pink\", \"Yellow\", \"Pink\"]"), STR, pink()),
        Value::Boolean(true)
    );
    assert_eq!(
        c(Some("[\"Pink\", null]"), STR, pink()),
        Value::Boolean(true)
    );
    assert_eq!(c(None, STR, pink()), Value::Null);
    assert_eq!(c(Some("[1, 2]"), INT, Value::Int(2)), Value::Boolean(true));
    assert_eq!(
        c(Some("[1.0, 2]"), INT, Value::Int(1)),
        Value::Boolean(false)
    );
    assert_eq!(
        c(Some("[1.5, 2]"), SqlType::Double, Value::Double(1.5)),
        Value::Boolean(true)
    );
    assert_eq!(
        c(Some("[true]"), BOOLEAN, Value::Boolean(true)),
        Value::Boolean(true)
    );
    assert_eq!(c(Some("[[\"Pink\"]]"), STR, pink()), Value::Boolean(false));
    assert_eq!(
        c(Some("{\"a\": 1}"), INT, Value::Int(1)),
        Value::Boolean(false)
    );
    assert_eq!(c(Some("[1, null]"), INT, Value::Null), Value::Boolean(true));
    assert!(find("JSON_ARRAY_CONTAINS")
        .resolve(&[Arg::typed(INT), Arg::typed(INT)])
        .is_err());
}

#[test]
fn json_array_length() {
    assert_eq!(
        one("JSON_ARRAY_LENGTH", Some("[\"Red\", \"Green\"]")),
        Value::Int(2)
    );
    assert_eq!(one("JSON_ARRAY_LENGTH", Some("[]")), Value::Int(0));
    assert_eq!(one("JSON_ARRAY_LENGTH", Some("")), Value::Null);
    assert_eq!(one("JSON_ARRAY_LENGTH", Some("{}")), Value::Null);
    assert_eq!(one("JSON_ARRAY_LENGTH", None), Value::Null);
}

#[test]
fn json_concat() {
    let c = |vals: &[Option<&str>]| {
        let types: Vec<Option<SqlType>> = vals.iter().map(|_| Some(STR)).collect();
        let values: Vec<Value> = vals.iter().map(|v| v.map_or(Value::Null, s)).collect();
        call("JSON_CONCAT", &types, &values)
    };
    let two = |a: &str, b: &str| c(&[Some(a), Some(b)]);
    assert_eq!(two("{\"a\": 1}", "{\"b\": 2}"), s("{\"a\":1,\"b\":2}"));
    assert_eq!(two("{}", "{}"), s("{}"));
    assert_eq!(
        two("{\"a\": {\"5\": 6}}", "{\"a\": {\"3\": 4}}"),
        s("{\"a\":{\"3\":4}}")
    );
    assert_eq!(two("[1, 2]", "[3, 4]"), s("[1,2,3,4]"));
    assert_eq!(two("null", "null"), s("[null,null]"));
    assert_eq!(two("[1, 2]", "{\"a\": 1}"), s("[1,2,{\"a\":1}]"));
    assert_eq!(two("[]", "[]"), s("[]"));
    assert_eq!(
        two("[1, [2]]", "[[[3]], [[[4]]]]"),
        s("[1,[2],[[3]],[[[4]]]]")
    );
    assert_eq!(two("1", ""), Value::Null);
    assert_eq!(two("", "1"), Value::Null);
    assert_eq!(c(&[None, None]), Value::Null);
    assert_eq!(c(&[None, Some("")]), Value::Null);
    assert_eq!(
        c(&[Some("{\"a\": 1}"), Some("{\"b\": 2}"), Some("{\"c\": 3}")]),
        s("{\"a\":1,\"b\":2,\"c\":3}")
    );
    assert_eq!(
        c(&[Some("[1, 2]"), Some("{\"a\": 1}"), Some("4")]),
        s("[1,2,{\"a\":1},4]")
    );
    assert_eq!(c(&[Some("1"), Some(""), Some("2")]), Value::Null);
    assert_eq!(
        two("[1.50, 1e2, -0.5e-3]", "[\"\\u00e9\"]"),
        s("[1.50,100,-0.0005,\"\u{e9}\"]")
    );
    assert!(try_call("JSON_CONCAT", &[Some(STR), Some(STR)], &[s("[1"), s("[]")]).is_err());
}

#[test]
fn json_items_keys_records() {
    let events = "[{\"type\": \"A\", \"timestamp\": \"2022-01-27\"}, {\"type\": \"B\", \"timestamp\": \"2022-05-18\"}]";
    assert_eq!(
        one("JSON_ITEMS", Some(events)),
        strs(&[
            "{\"type\":\"A\",\"timestamp\":\"2022-01-27\"}",
            "{\"type\":\"B\",\"timestamp\":\"2022-05-18\"}"
        ])
    );
    assert_eq!(one("JSON_ITEMS", Some("[]")), strs(&[]));
    assert_eq!(one("JSON_ITEMS", Some("{}")), Value::Null);
    assert_eq!(one("JSON_ITEMS", Some("[{}, 1]")), Value::Null);
    assert!(try_call("JSON_ITEMS", &[Some(STR)], &[s("[{}")]).is_err());
    assert_eq!(
        one("JSON_KEYS", Some("{\"Red\": 3, \"Green\": 5}")),
        strs(&["Red", "Green"])
    );
    assert_eq!(one("JSON_KEYS", Some("{}")), strs(&[]));
    assert_eq!(one("JSON_KEYS", Some("")), Value::Null);
    assert_eq!(one("JSON_KEYS", None), Value::Null);
    assert_eq!(one("JSON_KEYS", Some("[1]")), Value::Null);
    let map = |kvs: &[(&str, &str)]| Value::Map(kvs.iter().map(|(k, v)| (s(k), s(v))).collect());
    assert_eq!(
        one("JSON_RECORDS", Some("{\"Red\": 3, \"Green\": 5}")),
        map(&[("Red", "3"), ("Green", "5")])
    );
    assert_eq!(
        one("JSON_RECORDS", Some("{\"White\": \"Seven\"}")),
        map(&[("White", "Seven")])
    );
    assert_eq!(
        one("JSON_RECORDS", Some("{\"a\": {\"b\": [1, true]}}")),
        map(&[("a", "{\"b\":[1,true]}")])
    );
    assert_eq!(one("JSON_RECORDS", Some("{}")), map(&[]));
    assert_eq!(one("JSON_RECORDS", None), Value::Null);
    assert_eq!(one("JSON_RECORDS", Some("")), Value::Null);
}

#[test]
fn extract_json_field() {
    let x = |json: &str, path: &str| {
        call(
            "EXTRACTJSONFIELD",
            &[Some(STR), Some(STR)],
            &[s(json), s(path)],
        )
    };
    let doc = "{\"type\": \"A\", \"n\": 1.50, \"a\": [10, {\"b\": \"c\"}], \"z\": null, \"o\": {\"k\": [1]}}";
    assert_eq!(x(doc, "$.type"), s("A"));
    assert_eq!(x(doc, "$.n"), s("1.50"));
    assert_eq!(x(doc, "$.a[0]"), s("10"));
    assert_eq!(x(doc, "$.a[1].b"), s("c"));
    assert_eq!(x(doc, "$['a'][1][\"b\"]"), s("c"));
    assert_eq!(x(doc, "$.a[5]"), Value::Null);
    assert_eq!(x(doc, "$.a.b"), Value::Null);
    assert_eq!(x(doc, "$.missing"), Value::Null);
    assert_eq!(x(doc, "$.z"), s("null"));
    assert_eq!(x(doc, "$.o"), s("{\"k\":[1]}"));
    assert_eq!(x(doc, "$.type.x"), Value::Null);
    assert_eq!(
        x(doc, "$"),
        s("{\"type\":\"A\",\"n\":1.50,\"a\":[10,{\"b\":\"c\"}],\"z\":null,\"o\":{\"k\":[1]}}")
    );
    assert!(try_call(
        "EXTRACTJSONFIELD",
        &[Some(STR), Some(STR)],
        &[s("{bad"), s("$.a")]
    )
    .is_err());
    assert_eq!(
        call(
            "EXTRACTJSONFIELD",
            &[Some(STR), Some(STR)],
            &[Value::Null, s("$.a")]
        ),
        Value::Null
    );
}

#[test]
fn java_number_text() {
    assert_eq!(java_double(0.001), "0.001");
    assert_eq!(java_double(0.0001), "1.0E-4");
    assert_eq!(java_double(1234567.0), "1234567.0");
    assert_eq!(java_double(1.5e10), "1.5E10");
    assert_eq!(java_double(-2.0), "-2.0");
    assert_eq!(java_double(0.0), "0.0");
    assert_eq!(plain_number("1E-7"), "0.0000001");
    assert_eq!(plain_number("-12"), "-12");
    assert_eq!(plain_number("1.0e+2"), "100");
    assert_eq!(
        to_json(SqlType::decimal(9, 9), Value::Decimal(Decimal::new(1, 9))),
        s("0.000000001")
    );
}

#[test]
fn every_function_is_described() {
    let all = functions();
    assert_eq!(all.len(), 9);
    for f in all {
        assert!(!f.signatures().is_empty(), "{}", f.name());
        assert_eq!(f.category(), "JSON");
        assert!(!f.description().is_empty());
    }
}
