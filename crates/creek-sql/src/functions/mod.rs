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
    Vec::new()
}
