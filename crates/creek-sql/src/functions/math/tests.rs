#![allow(clippy::approx_constant)]

use super::*;

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

fn dec(text: &str) -> Value {
    Value::Decimal(Decimal::parse(text).unwrap())
}

fn dbl(v: Value) -> f64 {
    match v {
        Value::Double(d) => d,
        other => panic!("not a double: {other:?}"),
    }
}

/// ksqlDB's tests compare ROUND(x, 13) of the results.
fn round13(x: f64) -> f64 {
    round_double(x, 13, Rounding::HalfPositive)
}

use SqlType::{Bigint, Double, Int};

#[test]
fn every_function_is_upper_case_and_unique() {
    let names: Vec<&str> = functions().iter().map(|f| f.name()).collect();
    for n in &names {
        assert_eq!(n.to_ascii_uppercase(), *n);
        assert_eq!(names.iter().filter(|m| *m == n).count(), 1, "{n}");
    }
    assert_eq!(names.len(), 29);
}

#[test]
fn abs_keeps_the_type() {
    assert_eq!(call("ABS", &[Int], &[Value::Int(-1)]), Value::Int(1));
    assert_eq!(
        call("ABS", &[Bigint], &[Value::Bigint(-2)]),
        Value::Bigint(2)
    );
    assert_eq!(
        call("ABS", &[Double], &[Value::Double(-3.1)]),
        Value::Double(3.1)
    );
    let t = SqlType::decimal(2, 1);
    let r = resolve("ABS", std::slice::from_ref(&t));
    assert_eq!(r.returns, t);
    let v = (r.eval)(&[dec("-3.2")]).unwrap();
    assert_eq!(v, dec("3.2"));
    assert_eq!((r.eval)(&[Value::Null]).unwrap(), Value::Null);
    assert_eq!(
        call("ABS", &[Int], &[Value::Int(i32::MIN)]),
        Value::Int(i32::MIN)
    );
    assert!(get("ABS").resolve(&[Arg::typed(SqlType::String)]).is_err());
    assert!(get("ABS").resolve(&[]).is_err());
}

#[test]
fn ceil_and_floor() {
    let cases = [
        ("1.1", "2.0", "1.0"),
        ("1.5", "2.0", "1.0"),
        ("2.0", "2.0", "2.0"),
        ("-1.1", "-1.0", "-2.0"),
        ("-1.5", "-1.0", "-2.0"),
        ("-2.0", "-2.0", "-2.0"),
        ("0.0", "0.0", "0.0"),
    ];
    let t = SqlType::decimal(2, 1);
    for (input, ceil, floor) in cases {
        let x: f64 = input.parse().unwrap();
        assert_eq!(
            call("CEIL", &[Double], &[Value::Double(x)]),
            Value::Double(ceil.parse().unwrap())
        );
        assert_eq!(
            call("FLOOR", &[Double], &[Value::Double(x)]),
            Value::Double(floor.parse().unwrap())
        );
        let r = resolve("CEIL", std::slice::from_ref(&t));
        assert_eq!(r.returns, t);
        let Value::Decimal(c) = (r.eval)(&[dec(input)]).unwrap() else {
            panic!()
        };
        assert_eq!(c.to_string(), ceil);
        let Value::Decimal(f) = call("FLOOR", std::slice::from_ref(&t), &[dec(input)]) else {
            panic!()
        };
        assert_eq!(f.to_string(), floor);
    }
    assert_eq!(call("CEIL", &[Int], &[Value::Int(-1)]), Value::Int(-1));
    assert_eq!(resolve("FLOOR", &[Bigint]).returns, Bigint);
    assert_eq!(call("FLOOR", &[Int], &[Value::Null]), Value::Null);
}

#[test]
fn round_doubles_like_ksqldb() {
    // math.json "round": v → (ROUND(v), ROUND(v, 0), 1, 2, 10, -1, -2)
    let cases: [(f64, i64, [f64; 6]); 11] = [
        (1.2, 1, [1.0, 1.2, 1.2, 1.2, 0.0, 0.0]),
        (1.7, 2, [2.0, 1.7, 1.7, 1.7, 0.0, 0.0]),
        (1.5, 2, [2.0, 1.5, 1.5, 1.5, 0.0, 0.0]),
        (3.0, 3, [3.0, 3.0, 3.0, 3.0, 0.0, 0.0]),
        (1.234567, 1, [1.0, 1.2, 1.23, 1.234567, 0.0, 0.0]),
        (0.0, 0, [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
        (111.0, 111, [111.0, 111.0, 111.0, 111.0, 110.0, 100.0]),
        (-1.1, -1, [-1.0, -1.1, -1.1, -1.1, 0.0, 0.0]),
        (-1.5, -1, [-1.0, -1.5, -1.5, -1.5, 0.0, 0.0]),
        (-1.7, -2, [-2.0, -1.7, -1.7, -1.7, 0.0, 0.0]),
        (
            12345.678,
            12346,
            [12346.0, 12345.7, 12345.68, 12345.678, 12350.0, 12300.0],
        ),
    ];
    let r0 = resolve("ROUND", &[Double]);
    assert_eq!(r0.returns, Bigint);
    let r2 = resolve("ROUND", &[Double, Int]);
    assert_eq!(r2.returns, Double);
    for (v, whole, rounded) in cases {
        assert_eq!(
            (r0.eval)(&[Value::Double(v)]).unwrap(),
            Value::Bigint(whole)
        );
        for (places, want) in [0, 1, 2, 10, -1, -2].into_iter().zip(rounded) {
            let got = (r2.eval)(&[Value::Double(v), Value::Int(places)]).unwrap();
            assert_eq!(got, Value::Double(want), "ROUND({v}, {places})");
        }
    }
    let neg = (r2.eval)(&[Value::Double(-12345.678), Value::Int(-2)]).unwrap();
    assert_eq!(neg, Value::Double(-12300.0));
    let neg = (r2.eval)(&[Value::Double(-12345.678), Value::Int(2)]).unwrap();
    assert_eq!(neg, Value::Double(-12345.68));
    assert_eq!(
        (r2.eval)(&[Value::Double(1.5), Value::Null]).unwrap(),
        Value::Null
    );
    assert_eq!((r0.eval)(&[Value::Null]).unwrap(), Value::Null);
    assert_eq!(
        (r0.eval)(&[Value::Double(f64::NAN)]).unwrap(),
        Value::Bigint(0)
    );
    assert_eq!(
        (r0.eval)(&[Value::Double(1e300)]).unwrap(),
        Value::Bigint(i64::MAX)
    );
    assert_eq!(
        (r0.eval)(&[Value::Double(0.49999999999999994)]).unwrap(),
        Value::Bigint(0)
    );
    assert!((r2.eval)(&[Value::Double(f64::NAN), Value::Int(1)]).is_err());
    assert_eq!(
        (r2.eval)(&[Value::Double(1e300), Value::Int(-299)]).unwrap(),
        Value::Double(1e300)
    );
    assert_eq!(call("ROUND", &[Int], &[Value::Int(3)]), Value::Bigint(3));
    let Value::Double(z) = (r2.eval)(&[Value::Double(-0.0), Value::Int(2)]).unwrap() else {
        panic!()
    };
    assert!(z == 0.0 && z.is_sign_positive());
    // filter.json: ROUND(DECIMAL(4, 2)) in a lambda.
    let r = resolve("ROUND", &[SqlType::decimal(4, 2)]);
    assert_eq!(r.returns, SqlType::decimal(2, 0));
    for (x, want) in [(956, 10), (922, 9), (1045, 10), (1055, 11)] {
        assert_eq!(
            (r.eval)(&[Value::Decimal(Decimal::new(x, 2))]).unwrap(),
            Value::Decimal(Decimal::new(want, 0))
        );
    }
    assert_eq!(resolve("ROUND", &[Int]).returns, Bigint);
    // ROUND(INT, INT) could cast to DECIMAL or DOUBLE: ambiguous in ksqlDB.
    let err = get("ROUND")
        .resolve(&[Arg::typed(Int), Arg::typed(Int)])
        .err()
        .unwrap();
    assert!(matches!(err, ResolveError::Message(m) if m.contains("ambiguous")));
    assert!(get("TRUNC")
        .resolve(&[Arg::typed(Bigint), Arg::typed(Int)])
        .is_err());
    assert!(get("ROUND")
        .resolve(&[Arg::typed(Double), Arg::typed(Bigint)])
        .is_err());
}

#[test]
fn round_large_decimals_keeps_scale() {
    // math.json "round with large DECIMAL values - DELIMITED"
    let t = SqlType::decimal(33, 16);
    let v = dec("12345678987654321.2345678987654321");
    let r0 = resolve("ROUND", std::slice::from_ref(&t));
    assert_eq!(r0.returns, SqlType::decimal(17, 0));
    let Value::Decimal(d) = (r0.eval)(std::slice::from_ref(&v)).unwrap() else {
        panic!()
    };
    assert_eq!(d.to_string(), "12345678987654321");
    let r = resolve("ROUND", &[t.clone(), Int]);
    assert_eq!(r.returns, t);
    let expected = [
        (0, "12345678987654321.0000000000000000"),
        (1, "12345678987654321.2000000000000000"),
        (2, "12345678987654321.2300000000000000"),
        (10, "12345678987654321.2345678988000000"),
        (-1, "12345678987654320.0000000000000000"),
        (-2, "12345678987654300.0000000000000000"),
        (20, "12345678987654321.2345678987654321"),
    ];
    for (places, want) in expected {
        let Value::Decimal(d) = (r.eval)(&[v.clone(), Value::Int(places)]).unwrap() else {
            panic!()
        };
        assert_eq!(d.to_string(), want, "places {places}");
    }
}

#[test]
fn round_decimal_ties_go_up() {
    let t = SqlType::decimal(3, 1);
    for (input, want) in [("1.5", "2"), ("-1.5", "-1"), ("-1.6", "-2"), ("-1.4", "-1")] {
        let Value::Decimal(d) = call("ROUND", std::slice::from_ref(&t), &[dec(input)]) else {
            panic!()
        };
        assert_eq!(d.to_string(), want, "ROUND({input})");
    }
    let Value::Decimal(d) = call("ROUND", &[t, Int], &[dec("-2.45"), Value::Int(1)]) else {
        panic!()
    };
    // -2.45 has scale 2 here although the type says 1: the value's own scale counts.
    assert_eq!(d.to_string(), "-2.40");
    assert_eq!(
        resolve("ROUND", &[SqlType::decimal(2, 2)]).returns,
        SqlType::decimal(1, 0)
    );
}

#[test]
fn trunc_like_ksqldb() {
    let r0 = resolve("TRUNC", &[Double]);
    assert_eq!(r0.returns, Bigint);
    let r2 = resolve("TRUNC", &[Double, Int]);
    let cases: [(f64, i64, [f64; 3]); 5] = [
        (1.7, 1, [1.7, 1.7, 0.0]),
        (-1.7, -1, [-1.7, -1.7, 0.0]),
        (1.234567, 1, [1.2, 1.23, 0.0]),
        (12345.678, 12345, [12345.6, 12345.67, 12340.0]),
        (-12345.678, -12345, [-12345.6, -12345.67, -12340.0]),
    ];
    for (v, whole, want) in cases {
        assert_eq!(
            (r0.eval)(&[Value::Double(v)]).unwrap(),
            Value::Bigint(whole)
        );
        for (places, w) in [1, 2, -1].into_iter().zip(want) {
            assert_eq!(
                (r2.eval)(&[Value::Double(v), Value::Int(places)]).unwrap(),
                Value::Double(w)
            );
        }
    }
    let t = SqlType::decimal(12, 7);
    let r = resolve("TRUNC", std::slice::from_ref(&t));
    assert_eq!(r.returns, SqlType::decimal(5, 0));
    assert_eq!((r.eval)(&[dec("-12345.6780000")]).unwrap(), dec("-12345"));
    let r = resolve("TRUNC", &[t.clone(), Int]);
    assert_eq!(r.returns, t);
    let Value::Decimal(d) = (r.eval)(&[dec("-12345.6780000"), Value::Int(-2)]).unwrap() else {
        panic!()
    };
    assert_eq!(d.to_string(), "-12300.0000000");
    let Value::Decimal(d) = (r.eval)(&[dec("1.5000000"), Value::Int(0)]).unwrap() else {
        panic!()
    };
    assert_eq!(d.to_string(), "1.0000000");
    assert_eq!(
        call("TRUNC", &[Int], &[Value::Int(-12345)]),
        Value::Bigint(-12345)
    );
    assert_eq!(
        call("TRUNC", &[Bigint], &[Value::Bigint(2147483648)]),
        Value::Bigint(2147483648)
    );
}

#[test]
fn sign_returns_int() {
    for t in [Int, Bigint, Double] {
        assert_eq!(resolve("SIGN", std::slice::from_ref(&t)).returns, Int);
    }
    assert_eq!(call("SIGN", &[Int], &[Value::Int(-1)]), Value::Int(-1));
    assert_eq!(call("SIGN", &[Bigint], &[Value::Bigint(2)]), Value::Int(1));
    assert_eq!(
        call("SIGN", &[Double], &[Value::Double(-3.0)]),
        Value::Int(-1)
    );
    assert_eq!(
        call("SIGN", &[Double], &[Value::Double(0.0)]),
        Value::Int(0)
    );
    assert_eq!(
        call("SIGN", &[Double], &[Value::Double(f64::NAN)]),
        Value::Int(0)
    );
    assert_eq!(call("SIGN", &[Double], &[Value::Null]), Value::Null);
}

#[test]
fn exp_ln_sqrt_cbrt() {
    let e = |t: SqlType, v: Value| dbl(call("EXP", &[t], &[v]));
    assert_eq!(e(Int, Value::Int(-1)), 0.36787944117144233);
    assert_eq!(e(Bigint, Value::Bigint(2)), 7.38905609893065);
    assert_eq!(e(Double, Value::Double(3.0)), 20.085536923187668);
    assert_eq!(e(Double, Value::Double(0.0)), 1.0);
    assert!(dbl(call("LN", &[Int], &[Value::Int(-1)])).is_nan());
    assert_eq!(dbl(call("LN", &[Int], &[Value::Int(0)])), f64::NEG_INFINITY);
    assert_eq!(
        dbl(call("LN", &[Bigint], &[Value::Bigint(2)])),
        0.6931471805599453
    );
    assert_eq!(
        dbl(call("LN", &[Double], &[Value::Double(3.0)])),
        1.0986122886681098
    );
    assert!(dbl(call("SQRT", &[Int], &[Value::Int(-1)])).is_nan());
    assert_eq!(
        dbl(call("SQRT", &[Bigint], &[Value::Bigint(2)])),
        1.4142135623730951
    );
    assert_eq!(
        dbl(call("SQRT", &[Double], &[Value::Double(3.0)])),
        1.7320508075688772
    );
    assert_eq!(dbl(call("CBRT", &[Int], &[Value::Int(-8)])), -2.0);
    assert_eq!(
        dbl(call("CBRT", &[Bigint], &[Value::Bigint(3)])),
        1.4422495703074083
    );
    assert_eq!(call("SQRT", &[Double], &[Value::Null]), Value::Null);
    // DECIMAL widens to DOUBLE.
    let r = resolve("SQRT", &[SqlType::decimal(3, 1)]);
    assert_eq!(r.returns, Double);
    assert_eq!((r.eval)(&[dec("4.0")]).unwrap(), Value::Double(2.0));
}

#[test]
fn log_one_argument_is_natural() {
    assert_eq!(
        dbl(call("LOG", &[Int], &[Value::Int(13)])),
        2.5649493574615367
    );
    assert_eq!(dbl(call("LOG", &[Double], &[Value::Double(1.0)])), 0.0);
    assert_eq!(
        dbl(call("LOG", &[Bigint], &[Value::Bigint(0)])),
        f64::NEG_INFINITY
    );
    assert!(dbl(call("LOG", &[Double], &[Value::Double(-13.0)])).is_nan());
    let log2 = |b: i32, v: i32| dbl(call("LOG", &[Int, Int], &[Value::Int(b), Value::Int(v)]));
    assert_eq!(log2(15, 13), 0.9471572411831843);
    assert_eq!(log2(15, 1), 0.0);
    assert_eq!(log2(15, 0), f64::NEG_INFINITY);
    assert!(log2(15, -13).is_nan());
    assert!(log2(-15, 13).is_nan());
    assert!(log2(0, 13).is_nan());
    assert!(log2(1, 13).is_nan());
    assert_eq!(
        call(
            "LOG",
            &[Double, Double],
            &[Value::Null, Value::Double(13.0)]
        ),
        Value::Null
    );
}

#[test]
fn power_and_pi() {
    let p = |b: f64, e: f64| {
        dbl(call(
            "POWER",
            &[Double, Double],
            &[Value::Double(b), Value::Double(e)],
        ))
    };
    assert_eq!(p(15.0, -1.0), 0.06666666666666667);
    assert_eq!(p(0.0, 0.0), 1.0);
    assert_eq!(p(15.0, 13.0), 1946195068359375.0);
    assert_eq!(p(-15.0, 2.0), 225.0);
    assert!(p(1.0, f64::INFINITY).is_nan());
    assert_eq!(
        call("POWER", &[Int, Int], &[Value::Int(15), Value::Int(0)]),
        Value::Double(1.0)
    );
    assert_eq!(
        call(
            "POWER",
            &[Bigint, Bigint],
            &[Value::Null, Value::Bigint(13)]
        ),
        Value::Null
    );
    assert_eq!(call("PI", &[], &[]), Value::Double(3.141592653589793));
}

#[test]
fn trigonometry_matches_ksqldb_to_13_places() {
    let f = |name: &str, x: f64| round13(dbl(call(name, &[Double], &[Value::Double(x)])));
    let i = |name: &str, x: i32| round13(dbl(call(name, &[Int], &[Value::Int(x)])));
    assert_eq!(i("ACOS", -1), 3.1415926535898);
    assert_eq!(f("ACOS", -0.43), 2.0152891037307);
    assert_eq!(f("ACOS", 0.43), 1.1263035498591);
    assert!(i("ACOS", 2).is_nan() || dbl(call("ACOS", &[Int], &[Value::Int(2)])).is_nan());
    assert_eq!(f("ASIN", -0.43), -0.4444927769358);
    assert!(dbl(call("ASIN", &[Double], &[Value::Double(1.1)])).is_nan());
    assert_eq!(i("ATAN", -2), -1.1071487177941);
    assert_eq!(f("ATAN", 1.1), 0.8329812666744);
    assert_eq!(i("COS", -7), 0.7539022543433);
    assert_eq!(f("COS", -9.1), -0.9477216021311);
    assert_eq!(i("SIN", -7), -0.6569865987188);
    assert_eq!(f("SIN", 0.43), 0.4168708024292);
    assert_eq!(i("TAN", -7), -0.8714479827243);
    assert_eq!(f("TAN", 9.1), -0.3367005264329);
    assert_eq!(i("COT", -7), -1.1475154224051);
    assert_eq!(f("COT", 0.43), 2.1804495406685);
    assert_eq!(dbl(call("COT", &[Int], &[Value::Int(0)])), f64::INFINITY);
    assert_eq!(i("COSH", 7), 548.317035155212);
    assert_eq!(f("COSH", 9.1), 4477.646407574158);
    assert_eq!(i("SINH", -6), -201.7131573702792);
    assert_eq!(f("SINH", -9.1), -4477.64629590835);
    assert_eq!(i("TANH", -7), -0.9999983369439);
    assert_eq!(f("TANH", 0.43), 0.4053213086895);
    let a2 = |t: SqlType, y: Value, x: Value| round13(dbl(call("ATAN2", &[t.clone(), t], &[y, x])));
    assert_eq!(a2(Int, Value::Int(-2), Value::Int(-3)), -2.5535900500422);
    assert_eq!(
        a2(Bigint, Value::Bigint(-2), Value::Bigint(2)),
        -0.7853981633974
    );
    assert_eq!(
        a2(Double, Value::Double(1.1), Value::Double(-0.24)),
        1.7856117271966
    );
    assert_eq!(a2(Int, Value::Int(0), Value::Int(-3)), 3.1415926535898);
    assert_eq!(a2(Int, Value::Int(0), Value::Int(0)), 0.0);
    assert_eq!(
        call("ATAN2", &[Int, Int], &[Value::Null, Value::Int(1)]),
        Value::Null
    );
    let deg = |x: f64| {
        round_double(
            dbl(call("DEGREES", &[Double], &[Value::Double(x)])),
            12,
            Rounding::HalfPositive,
        )
    };
    assert_eq!(deg(-1.2345), -70.7316398089);
    assert_eq!(
        round_double(
            dbl(call("DEGREES", &[Int], &[Value::Int(2)])),
            12,
            Rounding::HalfPositive
        ),
        114.591559026165
    );
    assert_eq!(i("RADIANS", -114), -1.9896753472735);
    assert_eq!(f("RADIANS", 70.73163980890013), 1.2345);
}

#[test]
fn random_is_in_unit_interval() {
    let r = resolve("RANDOM", &[]);
    assert_eq!(r.returns, Double);
    let values: Vec<f64> = (0..100).map(|_| dbl((r.eval)(&[]).unwrap())).collect();
    assert!(values.iter().all(|v| (0.0..1.0).contains(v)));
    assert!(values.windows(2).any(|w| w[0] != w[1]));
}

fn ints(v: &[i32]) -> Value {
    Value::Array(v.iter().map(|i| Value::Int(*i)).collect())
}

#[test]
fn generate_series_like_ksqldb() {
    let r = resolve("GENERATE_SERIES", &[Int, Int]);
    assert_eq!(r.returns, SqlType::array(Int));
    let g = |a: i32, b: i32| (r.eval)(&[Value::Int(a), Value::Int(b)]).unwrap();
    assert_eq!(g(0, 3), ints(&[0, 1, 2, 3]));
    assert_eq!(g(-2, 1), ints(&[-2, -1, 0, 1]));
    assert_eq!(g(4, 3), ints(&[4, 3]));
    assert_eq!(g(4, 0), ints(&[4, 3, 2, 1, 0]));
    assert_eq!(g(5, 5), ints(&[5]));
    let r = resolve("GENERATE_SERIES", &[Int, Int, Int]);
    let g = |a: i32, b: i32, s: i32| (r.eval)(&[Value::Int(a), Value::Int(b), Value::Int(s)]);
    assert_eq!(g(0, 3, 1).unwrap(), ints(&[0, 1, 2, 3]));
    assert_eq!(g(-2, 1, 2).unwrap(), ints(&[-2, 0]));
    assert_eq!(g(0, 9, 3).unwrap(), ints(&[0, 3, 6, 9]));
    assert_eq!(g(3, 0, -1).unwrap(), ints(&[3, 2, 1, 0]));
    assert_eq!(g(1, -2, -2).unwrap(), ints(&[1, -1]));
    assert_eq!(g(9, 0, -3).unwrap(), ints(&[9, 6, 3, 0]));
    assert_eq!(
        g(0, 3, 0).unwrap_err(),
        "GENERATE_SERIES step cannot be zero"
    );
    assert_eq!(
        g(0, 3, -1).unwrap_err(),
        "GENERATE_SERIES step has wrong sign"
    );
    let r = resolve("GENERATE_SERIES", &[Bigint, Int]);
    assert_eq!(r.returns, SqlType::array(Bigint));
    assert_eq!(
        (r.eval)(&[Value::Bigint(1), Value::Int(2)]).unwrap(),
        Value::Array(vec![Value::Bigint(1), Value::Bigint(2)])
    );
    assert_eq!(
        (r.eval)(&[Value::Null, Value::Int(2)]).unwrap(),
        Value::Null
    );
}

#[test]
fn geo_distance_like_ksqldb() {
    // udf-implicit-cast.json: integer and decimal arguments widen to DOUBLE.
    let want = Value::Double(8682.459061368269);
    let lat = Value::Double(37.4439);
    let lon = Value::Double(-122.1663);
    assert_eq!(
        call(
            "GEO_DISTANCE",
            &[Double, Double, Int, Int],
            &[lat.clone(), lon.clone(), Value::Int(51), Value::Int(0)]
        ),
        want
    );
    assert_eq!(
        call(
            "GEO_DISTANCE",
            &[Double, Double, Bigint, Int],
            &[lat.clone(), lon.clone(), Value::Bigint(51), Value::Int(0)]
        ),
        want
    );
    let d31 = SqlType::decimal(3, 1);
    assert_eq!(
        call(
            "GEO_DISTANCE",
            &[Double, Double, d31, Int],
            &[
                lat.clone(),
                lon.clone(),
                Value::Decimal(Decimal::new(510, 1)),
                Value::Int(0)
            ]
        ),
        want
    );
    let t5 = [Double, Double, Double, Double, SqlType::String];
    let r = resolve("GEO_DISTANCE", &t5);
    let with = |unit: Value| {
        (r.eval)(&[
            lat.clone(),
            lon.clone(),
            Value::Double(51.0),
            Value::Double(0.0),
            unit,
        ])
    };
    assert_eq!(with(Value::Null).unwrap(), want);
    assert_eq!(with(Value::string(" KM ")).unwrap(), want);
    let Value::Double(miles) = with(Value::string("Miles")).unwrap() else {
        panic!()
    };
    assert!((miles - 8682.459061368269 * 3959.0 / 6371.0).abs() < 1e-6);
    assert!(with(Value::string("furlongs")).is_err());
    assert!((r.eval)(&[
        Value::Double(91.0),
        lon.clone(),
        Value::Double(0.0),
        Value::Double(0.0),
        Value::Null
    ])
    .is_err());
    assert_eq!(
        (r.eval)(&[
            Value::Null,
            lon,
            Value::Double(0.0),
            Value::Double(0.0),
            Value::Null
        ])
        .unwrap(),
        Value::Null
    );
    assert!(get("GEO_DISTANCE")
        .resolve(&[
            Arg::typed(Double),
            Arg::typed(Double),
            Arg::typed(SqlType::String),
            Arg::typed(Int)
        ])
        .is_err());
}

#[test]
fn round_uses_the_shortest_decimal_digits_of_a_double() {
    // BigDecimal.valueOf(2.675) is 2.675 exactly, so HALF_UP gives 2.68,
    // although the binary double is slightly below 2.675.
    let r = resolve("ROUND", &[Double, Int]);
    let round = |x: f64, p: i32| dbl((r.eval)(&[Value::Double(x), Value::Int(p)]).unwrap());
    assert_eq!(round(2.675, 2), 2.68);
    assert_eq!(round(1.005, 2), 1.01);
    assert_eq!(round(-2.675, 2), -2.67);
    assert_eq!(round(1.2345678e20, -19), 1.2e20);
    assert_eq!(round(5e-324, 2), 0.0);
    assert_eq!(round(123.456, 1000), 123.456);
    assert_eq!(round(123.456, -1000), 0.0);
    let t = resolve("TRUNC", &[Double, Int]);
    let trunc = |x: f64, p: i32| dbl((t.eval)(&[Value::Double(x), Value::Int(p)]).unwrap());
    assert_eq!(trunc(2.679, 2), 2.67);
    assert_eq!(trunc(-2.679, 2), -2.67);
    assert_eq!(trunc(1.2345678e20, -19), 1.2e20);
}

#[test]
fn signatures_for_describe_function() {
    assert_eq!(
        get("SQRT").signatures(),
        vec![
            "SQRT(INTEGER) => DOUBLE",
            "SQRT(BIGINT) => DOUBLE",
            "SQRT(DOUBLE) => DOUBLE"
        ]
    );
    assert!(get("ROUND")
        .signatures()
        .contains(&"ROUND(DECIMAL, INTEGER) => DECIMAL".to_string()));
    for f in functions() {
        assert!(!f.description().is_empty());
        assert!(!f.signatures().is_empty());
        assert!(["MATHEMATICAL", "ARRAY"].contains(&f.category()));
    }
}
