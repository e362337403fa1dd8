//! The scalar function library.
//!
//! A [`ScalarFunction`] is resolved once per call site, when a query is
//! compiled: [`ScalarFunction::resolve`] sees the argument types (and any
//! constant argument values, so patterns can be compiled once) and returns a
//! [`Resolved`] with the result type and the evaluator to call per row.
//!
//! Lambda functions (TRANSFORM, FILTER, REDUCE) and table functions (EXPLODE)
//! are special forms of the expression compiler and the engine, not entries
//! here.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::types::SqlType;
use crate::value::Value;

pub mod aggregate;
pub mod collections;
pub mod datetime;
pub mod json;
pub mod math;
pub mod string;

/// What the compiler knows about one argument at a call site.
#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    /// `None` for an untyped `NULL` literal, which matches any parameter.
    pub ty: Option<SqlType>,
    /// The value when the argument is a constant expression.
    pub constant: Option<Value>,
}

impl Arg {
    pub fn typed(ty: SqlType) -> Arg {
        Arg {
            ty: Some(ty),
            constant: None,
        }
    }

    pub fn constant(ty: SqlType, value: Value) -> Arg {
        Arg {
            ty: Some(ty),
            constant: Some(value),
        }
    }
}

/// Evaluates one call on a row's argument values. An `Err` is a function
/// throwing on a value: the engine logs it to the processing log and uses NULL.
pub type Eval = Arc<dyn Fn(&[Value]) -> Result<Value, String> + Send + Sync>;

/// One call site's chosen implementation.
#[derive(Clone)]
pub struct Resolved {
    pub returns: SqlType,
    pub eval: Eval,
}

impl Resolved {
    pub fn new(
        returns: SqlType,
        eval: impl Fn(&[Value]) -> Result<Value, String> + Send + Sync + 'static,
    ) -> Resolved {
        Resolved {
            returns,
            eval: Arc::new(eval),
        }
    }
}

/// Why a call could not be resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum ResolveError {
    /// No overload accepts these argument types; the compiler reports
    /// ksqlDB's "Function 'X' does not accept parameters (...)".
    NoMatch,
    /// Any other error, reported as written.
    Message(String),
}

/// ksqlDB's "Function 'x' does not accept parameters (...)." for a call
/// no overload (or aggregate) accepts.
pub fn no_match_message(name: &str, args: &[Arg]) -> String {
    format!(
        "Function '{}' does not accept parameters ({}).",
        declared_name(name),
        args.iter()
            .map(|a| a.ty.as_ref().map_or("null".into(), |t| t.to_string()))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// A function's name as ksqlDB declares it, which its errors quote: most
/// are lower case, a few conditionals upper case.
fn declared_name(name: &str) -> String {
    let upper = name.to_ascii_uppercase();
    match upper.as_str() {
        "COALESCE" | "IFNULL" | "NULLIF" => upper,
        _ => name.to_ascii_lowercase(),
    }
}

/// A scalar function (UDF).
pub trait ScalarFunction: Send + Sync + 'static {
    /// Upper-case name, e.g. `TIMESTAMPTOSTRING`.
    fn name(&self) -> &'static str;
    /// One line for DESCRIBE FUNCTION and SHOW FUNCTIONS.
    fn description(&self) -> &'static str;
    /// Category for SHOW FUNCTIONS: STRING, MATHEMATICAL, DATE / TIME, JSON,
    /// ARRAY, MAP, URL, BYTES, CONDITIONAL, OTHER.
    fn category(&self) -> &'static str;
    /// Overload signatures for DESCRIBE FUNCTION, e.g. `ABS(col1 DOUBLE) => DOUBLE`.
    fn signatures(&self) -> Vec<String>;
    fn resolve(&self, args: &[Arg]) -> Result<Resolved, ResolveError>;
}

/// Functions by upper-case name.
#[derive(Clone, Default)]
pub struct FunctionRegistry {
    functions: BTreeMap<&'static str, Arc<dyn ScalarFunction>>,
}

impl FunctionRegistry {
    /// Every built-in scalar function.
    pub fn builtin() -> FunctionRegistry {
        let mut registry = FunctionRegistry::default();
        for f in builtin_functions() {
            registry.add(f);
        }
        registry
    }

    pub fn add(&mut self, f: Arc<dyn ScalarFunction>) {
        self.functions.insert(f.name(), f);
    }

    /// Looks a function up by name, case-insensitively.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn ScalarFunction>> {
        self.functions.get(name.to_ascii_uppercase().as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn ScalarFunction>> {
        self.functions.values()
    }
}

fn builtin_functions() -> Vec<Arc<dyn ScalarFunction>> {
    let mut all = Vec::new();
    all.extend(string::functions());
    all.extend(math::functions());
    all.extend(collections::functions());
    all.extend(json::functions());
    all.extend(datetime::functions());
    all.push(Arc::new(AsValue));
    all
}

/// `AS_VALUE(col)`: copies a key column into the value (identity on the
/// value; the planner treats the result as a value column).
struct AsValue;

impl ScalarFunction for AsValue {
    fn name(&self) -> &'static str {
        "AS_VALUE"
    }

    fn description(&self) -> &'static str {
        "Used exclusively in the projection of a query to allow a key column to be copied into the value schema."
    }

    fn category(&self) -> &'static str {
        "OTHER"
    }

    fn signatures(&self) -> Vec<String> {
        vec!["AS_VALUE(T) => T".into()]
    }

    fn resolve(&self, args: &[Arg]) -> Result<Resolved, ResolveError> {
        match args {
            [Arg { ty: Some(t), .. }] => {
                Ok(Resolved::new(t.clone(), |v: &[Value]| Ok(v[0].clone())))
            }
            _ => Err(ResolveError::NoMatch),
        }
    }
}

/// A function resolved by hand: generic parameters, return types that depend
/// on the arguments, or evaluators that keep state (compiled patterns).
pub struct Generic {
    pub name: &'static str,
    pub description: &'static str,
    pub category: &'static str,
    pub signatures: &'static [&'static str],
    pub resolve: fn(&[Arg]) -> Result<Resolved, ResolveError>,
}

impl ScalarFunction for Generic {
    fn name(&self) -> &'static str {
        self.name
    }

    fn description(&self) -> &'static str {
        self.description
    }

    fn category(&self) -> &'static str {
        self.category
    }

    fn signatures(&self) -> Vec<String> {
        self.signatures.iter().map(|s| s.to_string()).collect()
    }

    fn resolve(&self, args: &[Arg]) -> Result<Resolved, ResolveError> {
        (self.resolve)(args)
    }
}

/// One fixed signature of a [`Udf`].
#[derive(Clone)]
pub struct Overload {
    pub params: Vec<SqlType>,
    /// The last parameter repeats (zero or more times).
    pub variadic: bool,
    pub returns: SqlType,
    /// Returns NULL without calling `eval` when any argument is NULL
    /// (most of ksqlDB's UDFs behave so).
    pub null_in_null_out: bool,
    pub eval: fn(&[Value]) -> Result<Value, String>,
}

impl Overload {
    /// A null-in, null-out overload.
    pub fn new(
        params: Vec<SqlType>,
        returns: SqlType,
        eval: fn(&[Value]) -> Result<Value, String>,
    ) -> Overload {
        Overload {
            params,
            variadic: false,
            returns,
            null_in_null_out: true,
            eval,
        }
    }

    pub fn variadic(mut self) -> Overload {
        self.variadic = true;
        self
    }

    /// `eval` sees NULL arguments itself.
    pub fn null_tolerant(mut self) -> Overload {
        self.null_in_null_out = false;
        self
    }

    fn param(&self, i: usize) -> Option<&SqlType> {
        if i < self.params.len() {
            self.params.get(i)
        } else if self.variadic {
            self.params.last()
        } else {
            None
        }
    }

    /// Whether the arguments fit, exactly (`widen = false`) or after
    /// ksqlDB's implicit widening.
    fn accepts(&self, args: &[Arg], widen: bool) -> bool {
        let fixed = if self.variadic {
            self.params.len() - 1
        } else {
            self.params.len()
        };
        if args.len() < fixed || (!self.variadic && args.len() != fixed) {
            return false;
        }
        args.iter()
            .enumerate()
            .all(|(i, a)| match (&a.ty, self.param(i)) {
                (None, Some(_)) => true,
                (Some(t), Some(p)) => {
                    if widen {
                        t.can_widen_to(p) || decimal_param_accepts(p, t)
                    } else {
                        t == p || decimal_param_accepts(p, t)
                    }
                }
                _ => false,
            })
    }
}

/// A DECIMAL parameter written with precision 0 stands for any DECIMAL.
fn decimal_param_accepts(param: &SqlType, arg: &SqlType) -> bool {
    matches!(
        (param, arg),
        (
            SqlType::Decimal { precision: 0, .. },
            SqlType::Decimal { .. }
        )
    )
}

/// A function made of fixed-signature overloads. Resolution tries exact
/// matches first, then ksqlDB's implicit widening (INT → BIGINT → DECIMAL →
/// DOUBLE); widened arguments are converted before `eval` sees them.
pub struct Udf {
    pub name: &'static str,
    pub description: &'static str,
    pub category: &'static str,
    pub overloads: Vec<Overload>,
}

impl ScalarFunction for Udf {
    fn name(&self) -> &'static str {
        self.name
    }

    fn description(&self) -> &'static str {
        self.description
    }

    fn category(&self) -> &'static str {
        self.category
    }

    fn signatures(&self) -> Vec<String> {
        self.overloads
            .iter()
            .map(|o| {
                let params: Vec<String> = o
                    .params
                    .iter()
                    .enumerate()
                    .map(|(i, p)| {
                        if o.variadic && i + 1 == o.params.len() {
                            format!("{p}...")
                        } else {
                            p.to_string()
                        }
                    })
                    .collect();
                format!("{}({}) => {}", self.name, params.join(", "), o.returns)
            })
            .collect()
    }

    fn resolve(&self, args: &[Arg]) -> Result<Resolved, ResolveError> {
        let overload = self
            .overloads
            .iter()
            .find(|o| o.accepts(args, false))
            .or_else(|| self.overloads.iter().find(|o| o.accepts(args, true)))
            .ok_or(ResolveError::NoMatch)?
            .clone();
        let targets: Vec<Option<SqlType>> = args
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let p = overload.param(i)?;
                match &a.ty {
                    Some(t) if t != p && !decimal_param_accepts(p, t) => Some(p.clone()),
                    _ => None,
                }
            })
            .collect();
        let needs_widening = targets.iter().any(Option::is_some);
        let returns = overload.returns.clone();
        let eval = overload.eval;
        let null_in_null_out = overload.null_in_null_out;
        Ok(Resolved::new(returns, move |values: &[Value]| {
            if null_in_null_out && values.iter().any(Value::is_null) {
                return Ok(Value::Null);
            }
            if needs_widening {
                let widened: Vec<Value> = values
                    .iter()
                    .zip(&targets)
                    .map(|(v, t)| match t {
                        Some(t) => v.clone().widen(t),
                        None => v.clone(),
                    })
                    .collect();
                eval(&widened)
            } else {
                eval(values)
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upper(args: &[Value]) -> Result<Value, String> {
        Ok(Value::string(args[0].as_str().unwrap_or("").to_uppercase()))
    }

    fn abs_double(args: &[Value]) -> Result<Value, String> {
        Ok(Value::Double(args[0].as_f64().unwrap().abs()))
    }

    fn abs_bigint(args: &[Value]) -> Result<Value, String> {
        Ok(Value::Bigint(args[0].as_i64().unwrap().abs()))
    }

    #[test]
    fn overloads_resolve_exactly_then_by_widening() {
        let abs = Udf {
            name: "ABS",
            description: "",
            category: "MATHEMATICAL",
            overloads: vec![
                Overload::new(vec![SqlType::Bigint], SqlType::Bigint, abs_bigint),
                Overload::new(vec![SqlType::Double], SqlType::Double, abs_double),
            ],
        };
        let r = abs.resolve(&[Arg::typed(SqlType::Int)]).ok().unwrap();
        assert_eq!(r.returns, SqlType::Bigint);
        assert_eq!((r.eval)(&[Value::Int(-3)]).unwrap(), Value::Bigint(3));
        assert_eq!((r.eval)(&[Value::Null]).unwrap(), Value::Null);
        let r = abs.resolve(&[Arg::typed(SqlType::Double)]).ok().unwrap();
        assert_eq!(r.returns, SqlType::Double);
        assert!(matches!(
            abs.resolve(&[Arg::typed(SqlType::String)]),
            Err(ResolveError::NoMatch)
        ));
        let ucase = Udf {
            name: "UCASE",
            description: "",
            category: "STRING",
            overloads: vec![Overload::new(vec![SqlType::String], SqlType::String, upper)],
        };
        assert_eq!(ucase.signatures(), vec!["UCASE(STRING) => STRING"]);
        let r = ucase
            .resolve(&[Arg {
                ty: None,
                constant: None,
            }])
            .ok()
            .unwrap();
        assert_eq!((r.eval)(&[Value::Null]).unwrap(), Value::Null);
    }
}
