use super::*;
use crate::types::SqlType::{Bigint, Boolean, Double, Int, String as Str};

fn get(name: &str) -> Arc<dyn ScalarFunction> {
    functions()
        .into_iter()
        .find(|f| f.name() == name)
        .unwrap_or_else(|| panic!("no {name}"))
}

fn resolve(name: &str, types: &[SqlType]) -> Resolved {
    let args: Vec<Arg> = types.iter().cloned().map(Arg::typed).collect();
    get(name)
        .resolve(&args)
        .unwrap_or_else(|_| panic!("{name}{types:?} does not resolve"))
}

fn call(name: &str, types: &[SqlType], values: &[Value]) -> Value {
    (resolve(name, types).eval)(values).unwrap()
}

fn arr(t: SqlType) -> SqlType {
    SqlType::array(t)
}

fn ints(v: &[Option<i32>]) -> Value {
    Value::Array(
        v.iter()
            .map(|i| i.map_or(Value::Null, Value::Int))
            .collect(),
    )
}

fn i(v: &[i32]) -> Value {
    Value::Array(v.iter().map(|x| Value::Int(*x)).collect())
}

fn strs(v: &[Option<&str>]) -> Value {
    Value::Array(
        v.iter()
            .map(|s| s.map_or(Value::Null, Value::string))
            .collect(),
    )
}

fn s(v: &[&str]) -> Value {
    Value::Array(v.iter().map(|x| Value::string(*x)).collect())
}

fn dbls(v: &[Option<f64>]) -> Value {
    Value::Array(
        v.iter()
            .map(|d| d.map_or(Value::Null, Value::Double))
            .collect(),
    )
}

fn decs(v: &[Option<&str>]) -> Value {
    Value::Array(
        v.iter()
            .map(|d| d.map_or(Value::Null, |t| Value::Decimal(Decimal::parse(t).unwrap())))
            .collect(),
    )
}

fn map(entries: &[(&str, Value)]) -> Value {
    Value::Map(
        entries
            .iter()
            .map(|(k, v)| (Value::string(*k), v.clone()))
            .collect(),
    )
}

fn untyped() -> Arg {
    Arg {
        ty: None,
        constant: None,
    }
}

#[test]
fn names_are_upper_case_and_unique() {
    let names: Vec<&str> = functions().iter().map(|f| f.name()).collect();
    for n in &names {
        assert_eq!(n.to_ascii_uppercase(), *n);
        assert_eq!(names.iter().filter(|m| *m == n).count(), 1, "{n}");
    }
    assert_eq!(names.len(), 18);
}

#[test]
fn array_contains() {
    let t = [arr(Str), Str];
    let c = |a: Value| call("ARRAY_CONTAINS", &t, &[a, Value::string("Pink")]);
    assert_eq!(c(s(&["Red", "Green"])), Value::Boolean(false));
    assert_eq!(c(s(&["Pink", "Yellow", "Pink"])), Value::Boolean(true));
    assert_eq!(c(strs(&[Some("Pink"), None])), Value::Boolean(true));
    assert_eq!(c(Value::Null), Value::Boolean(false));
    assert_eq!(
        call(
            "ARRAY_CONTAINS",
            &t,
            &[strs(&[Some("a"), None]), Value::Null]
        ),
        Value::Boolean(true)
    );
    assert_eq!(resolve("ARRAY_CONTAINS", &t).returns, Boolean);
    // An INT needle in a BIGINT array compares by value.
    assert_eq!(
        call(
            "ARRAY_CONTAINS",
            &[arr(Bigint), Int],
            &[Value::Array(vec![Value::Bigint(3)]), Value::Int(3)]
        ),
        Value::Boolean(true)
    );
    assert!(get("ARRAY_CONTAINS")
        .resolve(&[Arg::typed(arr(Int)), Arg::typed(Str)])
        .is_err());
    assert!(get("ARRAY_CONTAINS")
        .resolve(&[Arg::typed(Str), Arg::typed(Str)])
        .is_err());
}

#[test]
fn array_distinct() {
    let d = |t: SqlType, v: Value| call("ARRAY_DISTINCT", &[arr(t)], &[v]);
    assert_eq!(d(Str, s(&["foo", "bar", "foo"])), s(&["foo", "bar"]));
    assert_eq!(d(Int, i(&[0, 0, 1, 0, -1])), i(&[0, 1, -1]));
    assert_eq!(
        d(Int, ints(&[Some(0), None, Some(1), Some(0), Some(-1)])),
        ints(&[Some(0), None, Some(1), Some(-1)])
    );
    assert_eq!(
        d(
            Double,
            dbls(&[Some(0.3), Some(-12345.678), None, Some(0.3)])
        ),
        dbls(&[Some(0.3), Some(-12345.678), None])
    );
    let dt = SqlType::decimal(2, 1);
    assert_eq!(
        d(
            dt.clone(),
            decs(&[
                Some("1.0"),
                Some("1.1"),
                Some("1.1"),
                Some("-0.2"),
                None,
                Some("1.0")
            ])
        ),
        decs(&[Some("1.0"), Some("1.1"), Some("-0.2"), None])
    );
    assert_eq!(
        d(
            Boolean,
            Value::Array(vec![
                Value::Null,
                Value::Boolean(false),
                Value::Boolean(true)
            ])
        ),
        Value::Array(vec![
            Value::Null,
            Value::Boolean(false),
            Value::Boolean(true)
        ])
    );
    assert_eq!(d(Int, i(&[])), i(&[]));
    assert_eq!(d(Int, Value::Null), Value::Null);
    // Complex elements: structural equality.
    let lists = Value::Array(vec![
        s(&["foo", "bar", "foo"]),
        s(&["foo", "bar", "foo"]),
        s(&["foo"]),
    ]);
    assert_eq!(
        d(arr(Str), lists),
        Value::Array(vec![s(&["foo", "bar", "foo"]), s(&["foo"])])
    );
    let m1 = map(&[("apple", Value::Int(1)), ("banana", Value::Int(2))]);
    let m1_reordered = map(&[("banana", Value::Int(2)), ("apple", Value::Int(1))]);
    let m2 = map(&[("apple", Value::Null), ("banana", Value::Int(2))]);
    let maps = Value::Array(vec![m2.clone(), m1.clone(), m1_reordered, Value::Null]);
    assert_eq!(
        d(SqlType::map(Str, Int), maps),
        Value::Array(vec![m2, m1, Value::Null])
    );
    assert_eq!(resolve("ARRAY_DISTINCT", &[arr(Int)]).returns, arr(Int));
    assert!(get("ARRAY_DISTINCT").resolve(&[Arg::typed(Int)]).is_err());
    assert!(get("ARRAY_DISTINCT").resolve(&[untyped()]).is_err());
}

#[test]
fn array_except_intersect_union() {
    let t = [arr(Int), arr(Int)];
    let base = i(&[0, 0, 1, 0, -1]);
    let f = |name: &str, a: Value, b: Value| call(name, &t, &[a, b]);
    assert_eq!(f("ARRAY_EXCEPT", base.clone(), i(&[1, -2])), i(&[0, -1]));
    assert_eq!(f("ARRAY_EXCEPT", base.clone(), i(&[1, -1, 0])), i(&[]));
    assert_eq!(f("ARRAY_EXCEPT", i(&[]), i(&[1, -2])), i(&[]));
    assert_eq!(f("ARRAY_EXCEPT", base.clone(), i(&[])), i(&[0, 1, -1]));
    assert_eq!(f("ARRAY_EXCEPT", Value::Null, i(&[1])), Value::Null);
    assert_eq!(f("ARRAY_EXCEPT", base.clone(), Value::Null), Value::Null);
    assert_eq!(
        f("ARRAY_INTERSECT", base.clone(), i(&[1, -2, 0])),
        i(&[0, 1])
    );
    assert_eq!(f("ARRAY_INTERSECT", base.clone(), i(&[3, 4])), i(&[]));
    assert_eq!(f("ARRAY_INTERSECT", i(&[]), i(&[1, -2])), i(&[]));
    assert_eq!(f("ARRAY_INTERSECT", Value::Null, i(&[1])), Value::Null);
    assert_eq!(
        f("ARRAY_UNION", base.clone(), i(&[1, -2, 0])),
        i(&[0, 1, -1, -2])
    );
    assert_eq!(
        f("ARRAY_UNION", base.clone(), i(&[3, 4])),
        i(&[0, 1, -1, 3, 4])
    );
    assert_eq!(f("ARRAY_UNION", i(&[]), i(&[1, -2])), i(&[1, -2]));
    assert_eq!(f("ARRAY_UNION", base.clone(), Value::Null), Value::Null);
    let st = [arr(Str), arr(Str)];
    let foo = s(&["foo", "bar", "foo"]);
    assert_eq!(
        call("ARRAY_EXCEPT", &st, &[foo.clone(), s(&["bar", "baz"])]),
        s(&["foo"])
    );
    assert_eq!(
        call("ARRAY_INTERSECT", &st, &[foo.clone(), s(&["foo", "baz"])]),
        s(&["foo"])
    );
    assert_eq!(
        call("ARRAY_UNION", &st, &[foo, s(&["foo", "baz"])]),
        s(&["foo", "bar", "baz"])
    );
    // Mixed element types unify by widening.
    let r = resolve("ARRAY_UNION", &[arr(Int), arr(Bigint)]);
    assert_eq!(r.returns, arr(Bigint));
    assert_eq!(
        (r.eval)(&[
            i(&[1]),
            Value::Array(vec![Value::Bigint(1), Value::Bigint(2)])
        ])
        .unwrap(),
        Value::Array(vec![Value::Bigint(1), Value::Bigint(2)])
    );
    assert!(get("ARRAY_UNION")
        .resolve(&[Arg::typed(arr(Int)), Arg::typed(arr(Str))])
        .is_err());
}

#[test]
fn array_concat() {
    let t = [arr(Int), arr(Int)];
    let c = |a: Value, b: Value| call("ARRAY_CONCAT", &t, &[a, b]);
    assert_eq!(
        c(i(&[0, 0, 1, 0, -1]), i(&[1, -2, 0])),
        i(&[0, 0, 1, 0, -1, 1, -2, 0])
    );
    assert_eq!(c(i(&[]), i(&[1, -2])), i(&[1, -2]));
    assert_eq!(c(Value::Null, i(&[1, -2])), i(&[1, -2]));
    assert_eq!(c(i(&[0, 3, 2]), Value::Null), i(&[0, 3, 2]));
    assert_eq!(c(Value::Null, Value::Null), Value::Null);
    let r = get("ARRAY_CONCAT")
        .resolve(&[Arg::typed(arr(Str)), untyped()])
        .ok()
        .unwrap();
    assert_eq!(r.returns, arr(Str));
}

#[test]
fn array_join() {
    let bools = Value::Array(vec![
        Value::Boolean(true),
        Value::Null,
        Value::Boolean(false),
    ]);
    let cases: Vec<(SqlType, Value, &str)> = vec![
        (Boolean, bools, "true,null,false"),
        (Int, i(&[1, 23, -42, 0]), "1,23,-42,0"),
        (
            Bigint,
            Value::Array(vec![Value::Bigint(-4294967297), Value::Bigint(8589934592)]),
            "-4294967297,8589934592",
        ),
        (
            Double,
            dbls(&[Some(1.23), Some(-23.42), Some(0.0)]),
            "1.23,-23.42,0.0",
        ),
        (
            SqlType::decimal(5, 2),
            decs(&[Some("123.45"), Some("987.65")]),
            "123.45,987.65",
        ),
        (
            Str,
            s(&["Hello", "From", "", "Ksqldb", "Udf"]),
            "Hello,From,,Ksqldb,Udf",
        ),
    ];
    for (t, v, want) in &cases {
        assert_eq!(
            call("ARRAY_JOIN", &[arr(t.clone())], std::slice::from_ref(v)),
            Value::string(*want)
        );
    }
    let j = |t: &SqlType, v: &Value, d: Value| {
        call("ARRAY_JOIN", &[arr(t.clone()), Str], &[v.clone(), d])
    };
    assert_eq!(
        j(&cases[0].0, &cases[0].1, Value::string("|")),
        Value::string("true|null|false")
    );
    assert_eq!(
        j(&cases[3].0, &cases[3].1, Value::string(" ")),
        Value::string("1.23 -23.42 0.0")
    );
    assert_eq!(
        j(&cases[1].0, &cases[1].1, Value::Null),
        Value::string("123-420")
    );
    assert_eq!(
        j(&cases[5].0, &cases[5].1, Value::Null),
        Value::string("HelloFromKsqldbUdf")
    );
    assert_eq!(
        j(&cases[4].0, &cases[4].1, Value::string("")),
        Value::string("123.45987.65")
    );
    assert_eq!(call("ARRAY_JOIN", &[arr(Int)], &[Value::Null]), Value::Null);
    assert_eq!(resolve("ARRAY_JOIN", &[arr(Int)]).returns, Str);
    let r = resolve("ARRAY_JOIN", &[arr(arr(Int))]);
    assert!((r.eval)(&[Value::Array(vec![i(&[1])])]).is_err());
    assert!(get("ARRAY_JOIN").resolve(&[Arg::typed(Int)]).is_err());
}

#[test]
fn java_text() {
    assert_eq!(java_decimal_string(&Decimal::new(12345, 2)), "123.45");
    assert_eq!(java_decimal_string(&Decimal::new(1, 7)), "1E-7");
    assert_eq!(java_decimal_string(&Decimal::new(-123, 9)), "-1.23E-7");
    assert_eq!(java_decimal_string(&Decimal::new(1, 6)), "0.000001");
}

#[test]
fn array_length() {
    let r = resolve("ARRAY_LENGTH", &[arr(Boolean)]);
    assert_eq!(r.returns, Int);
    assert_eq!(
        (r.eval)(&[Value::Array(vec![Value::Boolean(true)])]).unwrap(),
        Value::Int(1)
    );
    assert_eq!((r.eval)(&[Value::Null]).unwrap(), Value::Null);
    assert_eq!(
        call(
            "ARRAY_LENGTH",
            &[arr(arr(Boolean))],
            &[Value::Array(vec![Value::Array(vec![])])]
        ),
        Value::Int(1)
    );
    assert_eq!(
        call(
            "ARRAY_LENGTH",
            &[arr(Str)],
            &[s(&["a", "b", "c", "d", "e"])]
        ),
        Value::Int(5)
    );
    assert!(get("ARRAY_LENGTH").resolve(&[Arg::typed(Str)]).is_err());
}

#[test]
fn array_max_and_min() {
    let r = resolve("ARRAY_MAX", &[arr(Int)]);
    assert_eq!(r.returns, Int);
    assert_eq!(
        (r.eval)(&[ints(&[Some(3), None, Some(7), Some(-1)])]).unwrap(),
        Value::Int(7)
    );
    assert_eq!((r.eval)(&[ints(&[None, None])]).unwrap(), Value::Null);
    assert_eq!((r.eval)(&[i(&[])]).unwrap(), Value::Null);
    assert_eq!((r.eval)(&[Value::Null]).unwrap(), Value::Null);
    assert_eq!(
        call(
            "ARRAY_MIN",
            &[arr(Int)],
            &[ints(&[Some(3), None, Some(7), Some(-1)])]
        ),
        Value::Int(-1)
    );
    assert_eq!(
        call("ARRAY_MAX", &[arr(Str)], &[s(&["foo", "Food", "bar"])]),
        Value::string("foo")
    );
    assert_eq!(
        call("ARRAY_MIN", &[arr(Str)], &[s(&["foo", "Food", "bar"])]),
        Value::string("Food")
    );
    let Value::Double(nan) = call(
        "ARRAY_MAX",
        &[arr(Double)],
        &[dbls(&[Some(1.0), Some(f64::NAN)])],
    ) else {
        panic!()
    };
    assert!(nan.is_nan());
    assert_eq!(
        call(
            "ARRAY_MIN",
            &[arr(Double)],
            &[dbls(&[Some(0.0), Some(-0.0)])]
        ),
        Value::Double(-0.0)
    );
    let dt = SqlType::decimal(3, 2);
    assert_eq!(resolve("ARRAY_MIN", &[arr(dt.clone())]).returns, dt);
    assert_eq!(
        call(
            "ARRAY_MAX",
            &[arr(dt)],
            &[decs(&[Some("1.10"), Some("-2.00"), None])]
        ),
        Value::Decimal(Decimal::new(110, 2))
    );
    assert_eq!(
        call(
            "ARRAY_MAX",
            &[arr(Boolean)],
            &[Value::Array(vec![
                Value::Boolean(false),
                Value::Boolean(true)
            ])]
        ),
        Value::Boolean(true)
    );
    assert!(get("ARRAY_MAX")
        .resolve(&[Arg::typed(arr(arr(Int)))])
        .is_err());
}

#[test]
fn array_remove() {
    let t = [arr(Int), Int];
    let rm = |a: Value, v: Value| call("ARRAY_REMOVE", &t, &[a, v]);
    assert_eq!(rm(i(&[0, 0, 1, 0, -1]), Value::Int(-1)), i(&[0, 0, 1, 0]));
    assert_eq!(
        rm(
            ints(&[Some(0), None, Some(1), Some(0), Some(-1)]),
            Value::Int(-1)
        ),
        ints(&[Some(0), None, Some(1), Some(0)])
    );
    assert_eq!(
        rm(
            ints(&[Some(0), None, Some(1), Some(0), Some(-1)]),
            Value::Null
        ),
        i(&[0, 1, 0, -1])
    );
    assert_eq!(rm(i(&[]), Value::Int(-1)), i(&[]));
    assert_eq!(rm(Value::Null, Value::Int(-1)), Value::Null);
    assert_eq!(
        call(
            "ARRAY_REMOVE",
            &[arr(Double), Double],
            &[
                dbls(&[Some(0.3), Some(-12345.678), None, Some(0.3)]),
                Value::Double(0.3)
            ]
        ),
        dbls(&[Some(-12345.678), None])
    );
    let dt = SqlType::decimal(2, 1);
    assert_eq!(
        call(
            "ARRAY_REMOVE",
            &[arr(dt.clone()), dt],
            &[
                decs(&[Some("1.0"), Some("-0.2"), Some("1.0"), Some("-9.9")]),
                decs(&[Some("-0.2")]).clone_first()
            ]
        ),
        decs(&[Some("1.0"), Some("1.0"), Some("-9.9")])
    );
    assert_eq!(
        call(
            "ARRAY_REMOVE",
            &[arr(Str), Str],
            &[
                strs(&[Some("foo"), Some("Food"), None, Some("food")]),
                Value::string("foo")
            ]
        ),
        strs(&[Some("Food"), None, Some("food")])
    );
    // Complex elements.
    let lists = Value::Array(vec![Value::Null, s(&["foo"]), s(&["foo", "bar"])]);
    assert_eq!(
        call(
            "ARRAY_REMOVE",
            &[arr(arr(Str)), arr(Str)],
            &[lists, s(&["foo"])]
        ),
        Value::Array(vec![Value::Null, s(&["foo", "bar"])])
    );
    let m1 = map(&[("apple", Value::Int(1)), ("banana", Value::Int(2))]);
    let m2 = map(&[("apple", Value::Int(3)), ("banana", Value::Int(4))]);
    let mt = SqlType::map(Str, Int);
    assert_eq!(
        call(
            "ARRAY_REMOVE",
            &[arr(mt.clone()), mt],
            &[Value::Array(vec![m1.clone(), m2.clone(), m1.clone()]), m1]
        ),
        Value::Array(vec![m2])
    );
    let r = get("ARRAY_REMOVE")
        .resolve(&[Arg::typed(arr(Str)), untyped()])
        .ok()
        .unwrap();
    assert_eq!(r.returns, arr(Str));
}

trait First {
    fn clone_first(&self) -> Value;
}

impl First for Value {
    fn clone_first(&self) -> Value {
        match self {
            Value::Array(v) => v[0].clone(),
            _ => panic!(),
        }
    }
}

#[test]
fn array_sort() {
    let asc = call(
        "ARRAY_SORT",
        &[arr(Int)],
        &[ints(&[Some(3), None, Some(-1), Some(2)])],
    );
    assert_eq!(asc, ints(&[Some(-1), Some(2), Some(3), None]));
    let sort = |dir: &str| {
        call(
            "ARRAY_SORT",
            &[arr(Int), Str],
            &[
                ints(&[Some(3), None, Some(-1), Some(2)]),
                Value::string(dir),
            ],
        )
    };
    assert_eq!(sort("desc"), ints(&[Some(3), Some(2), Some(-1), None]));
    assert_eq!(
        sort("DESCENDING"),
        ints(&[Some(3), Some(2), Some(-1), None])
    );
    assert_eq!(sort("Asc"), ints(&[Some(-1), Some(2), Some(3), None]));
    assert_eq!(sort("sideways"), Value::Null);
    assert_eq!(
        call("ARRAY_SORT", &[arr(Str)], &[s(&["foo", "bar", "baz"])]),
        s(&["bar", "baz", "foo"])
    );
    assert_eq!(call("ARRAY_SORT", &[arr(Str)], &[Value::Null]), Value::Null);
    assert_eq!(
        call(
            "ARRAY_SORT",
            &[arr(Double)],
            &[dbls(&[Some(f64::NAN), Some(1.0), Some(-0.0), Some(0.0)])]
        )
        .clone_first(),
        Value::Double(-0.0)
    );
    let r = resolve("ARRAY_SORT", &[arr(Int), Str]);
    assert!((r.eval)(&[i(&[1]), Value::Null]).is_err());
    assert!(get("ARRAY_SORT")
        .resolve(&[Arg::typed(arr(arr(Int)))])
        .is_err());
}

#[test]
fn slice() {
    let t = [arr(Str), Int, Int];
    let sl = |a: Value, f: Value, to: Value| call("SLICE", &t, &[a, f, to]);
    let abcd = s(&["a", "b", "c", "d"]);
    assert_eq!(
        sl(abcd.clone(), Value::Int(2), Value::Int(3)),
        s(&["b", "c"])
    );
    assert_eq!(sl(abcd.clone(), Value::Null, Value::Int(2)), s(&["a", "b"]));
    assert_eq!(sl(abcd.clone(), Value::Int(3), Value::Null), s(&["c", "d"]));
    assert_eq!(sl(abcd.clone(), Value::Int(1), Value::Int(4)), abcd.clone());
    assert_eq!(sl(abcd.clone(), Value::Int(3), Value::Int(2)), s(&[]));
    assert_eq!(sl(abcd.clone(), Value::Int(0), Value::Int(2)), Value::Null);
    assert_eq!(sl(abcd.clone(), Value::Int(2), Value::Int(5)), Value::Null);
    assert_eq!(sl(abcd, Value::Int(4), Value::Int(2)), Value::Null);
    assert_eq!(sl(Value::Null, Value::Int(1), Value::Int(2)), Value::Null);
    let lists = Value::Array(vec![s(&["a"]), s(&["b"]), s(&["c"]), s(&["d"])]);
    let r = resolve("SLICE", &[arr(arr(Str)), Int, Int]);
    assert_eq!(r.returns, arr(arr(Str)));
    assert_eq!(
        (r.eval)(&[lists, Value::Int(2), Value::Int(3)]).unwrap(),
        Value::Array(vec![s(&["b"]), s(&["c"])])
    );
}

#[test]
fn entries() {
    let m = map(&[
        ("K2", Value::Int(2)),
        ("K1", Value::Int(1)),
        ("K3", Value::Int(3)),
    ]);
    let r = resolve("ENTRIES", &[SqlType::map(Str, Int), Boolean]);
    assert_eq!(
        r.returns.to_string(),
        "ARRAY<STRUCT<`K` STRING, `V` INTEGER>>"
    );
    let entry = |k: &str, v: i32| {
        Value::Struct(vec![
            (Arc::from("K"), Value::string(k)),
            (Arc::from("V"), Value::Int(v)),
        ])
    };
    assert_eq!(
        (r.eval)(&[m.clone(), Value::Boolean(true)]).unwrap(),
        Value::Array(vec![entry("K1", 1), entry("K2", 2), entry("K3", 3)])
    );
    assert_eq!(
        (r.eval)(&[m, Value::Boolean(false)]).unwrap(),
        Value::Array(vec![entry("K2", 2), entry("K1", 1), entry("K3", 3)])
    );
    assert_eq!(
        (r.eval)(&[Value::Null, Value::Boolean(true)]).unwrap(),
        Value::Null
    );
    for t in [Bigint, Double, Boolean, Str] {
        resolve("ENTRIES", &[SqlType::map(Str, t), Boolean]);
    }
    assert!(get("ENTRIES")
        .resolve(&[Arg::typed(SqlType::map(Str, arr(Int))), Arg::typed(Boolean)])
        .is_err());
}

#[test]
fn map_keys_values_union() {
    let mt = SqlType::map(Str, Int);
    let m = map(&[("foo", Value::Int(10)), ("bar", Value::Null)]);
    let keys = call(
        "MAP_KEYS",
        std::slice::from_ref(&mt),
        std::slice::from_ref(&m),
    );
    assert_eq!(keys, s(&["foo", "bar"]));
    assert_eq!(call("ARRAY_SORT", &[arr(Str)], &[keys]), s(&["bar", "foo"]));
    assert_eq!(
        resolve("MAP_KEYS", std::slice::from_ref(&mt)).returns,
        arr(Str)
    );
    assert_eq!(
        call(
            "MAP_VALUES",
            std::slice::from_ref(&mt),
            std::slice::from_ref(&m)
        ),
        ints(&[Some(10), None])
    );
    assert_eq!(
        resolve("MAP_VALUES", &[SqlType::map(Str, arr(Int))]).returns,
        arr(arr(Int))
    );
    assert_eq!(
        call("MAP_KEYS", std::slice::from_ref(&mt), &[Value::Null]),
        Value::Null
    );
    assert_eq!(
        call("MAP_VALUES", std::slice::from_ref(&mt), &[map(&[])]),
        i(&[])
    );

    let u = |a: Value, b: Value| call("MAP_UNION", &[mt.clone(), mt.clone()], &[a, b]);
    assert_eq!(
        u(
            map(&[
                ("foo", Value::Int(10)),
                ("bar", Value::Int(20)),
                ("baz", Value::Int(30))
            ]),
            map(&[("foo", Value::Int(99)), ("apple", Value::Int(-1))])
        ),
        map(&[
            ("foo", Value::Int(99)),
            ("bar", Value::Int(20)),
            ("baz", Value::Int(30)),
            ("apple", Value::Int(-1))
        ])
    );
    assert_eq!(
        u(
            map(&[("foo", Value::Int(10)), ("bar", Value::Int(20))]),
            map(&[("foo", Value::Null)])
        ),
        map(&[("foo", Value::Null), ("bar", Value::Int(20))])
    );
    assert_eq!(u(map(&[]), map(&[])), map(&[]));
    assert_eq!(
        u(Value::Null, map(&[("foo", Value::Null)])),
        map(&[("foo", Value::Null)])
    );
    assert_eq!(u(Value::Null, Value::Null), Value::Null);
    assert_eq!(resolve("MAP_UNION", &[mt.clone(), mt.clone()]).returns, mt);
}

#[test]
fn as_map() {
    let r = resolve("AS_MAP", &[arr(Str), arr(Int)]);
    assert_eq!(r.returns, SqlType::map(Str, Int));
    assert_eq!(
        (r.eval)(&[s(&["a", "b", "a", "c"]), i(&[1, 2, 3])]).unwrap(),
        map(&[
            ("a", Value::Int(3)),
            ("b", Value::Int(2)),
            ("c", Value::Null)
        ])
    );
    assert!((r.eval)(&[Value::Null, i(&[1])]).is_err());
    assert!(get("AS_MAP")
        .resolve(&[Arg::typed(arr(Int)), Arg::typed(arr(Int))])
        .is_err());
}

#[test]
fn unify_types() {
    assert_eq!(unify(&Int, &Bigint), Some(Bigint));
    assert_eq!(unify(&Bigint, &Double), Some(Double));
    assert_eq!(
        unify(&SqlType::decimal(4, 2), &SqlType::decimal(5, 1)),
        Some(SqlType::decimal(6, 2))
    );
    assert_eq!(
        unify(&Int, &SqlType::decimal(3, 2)),
        Some(SqlType::decimal(12, 2))
    );
    assert_eq!(unify(&Str, &Int), None);
}

#[test]
fn value_set_follows_java_equality() {
    let d = |u, s| Value::Decimal(Decimal::new(u, s));
    let mut set = ValueSet::default();
    assert!(set.insert(&d(10, 1)));
    assert!(!set.insert(&d(100, 2)));
    assert!(set.contains(&d(1, 0)));
    assert!(set.insert(&Value::Double(f64::NAN)));
    assert!(!set.insert(&Value::Double(-f64::NAN)));
    assert!(set.insert(&Value::Double(0.0)));
    assert!(set.insert(&Value::Double(-0.0)));
    assert!(set.insert(&Value::Null));
    assert!(!set.insert(&Value::Null));
    assert!(set.insert(&i(&[1, 2])));
    assert!(!set.insert(&i(&[1, 2])));
    assert!(set.contains(&i(&[1, 2])));
    assert!(!set.contains(&i(&[2, 1])));
    let big: Vec<Value> = (0..20_000).map(|x| Value::Int(x % 1000)).collect();
    assert_eq!(distinct(big).len(), 1000);
}
