//! The aggregate function library (ksqlDB's UDAFs).
//!
//! An [`AggregateFunction`] is resolved once per call site, like a scalar
//! function: [`AggregateFunction::resolve`] sees the argument types (and the
//! values of constant arguments such as TOPK's `k`) and returns a
//! [`ResolvedAggregate`]. Its state is a plain [`Value`] of
//! [`ResolvedAggregate::state_type`] (ksqlDB's intermediate aggregate type),
//! so the engine can keep it in its store and write it to a changelog topic:
//!
//! ```text
//! init() -> state --aggregate(args, state)--> state --map(&state)--> result
//!                 <--undo(args, state)------- (tables: a row replaced or deleted)
//! merge(a, b) -> state                        (session windows joining)
//! ```
//!
//! `args` holds the values of the call's non-constant arguments, in order
//! (empty for `COUNT(*)`). Constant arguments are seen at resolve time only.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Arg, ResolveError};
use crate::types::SqlType;
use crate::value::Value;

mod attr;
mod collect;
mod correlation;
mod count;
mod count_distinct;
mod histogram;
mod minmax;
mod offset;
mod stddev;
mod sum_avg;
mod topk;
mod util;

/// Folds one row's argument values into the state.
pub type Step = Arc<dyn Fn(&[Value], Value) -> Result<Value, String> + Send + Sync>;

/// One call site's chosen aggregate.
#[derive(Clone)]
pub struct ResolvedAggregate {
    /// The result column's type.
    pub returns: SqlType,
    /// The type of the state value (written to changelogs).
    pub state_type: SqlType,
    /// Which of the call's arguments are per-row values (the rest are
    /// constants given at resolve time), by position.
    pub row_args: Vec<usize>,
    pub init: Arc<dyn Fn() -> Value + Send + Sync>,
    pub aggregate: Step,
    /// `None` when the function cannot take a row back out; such
    /// aggregates are refused over tables, as ksqlDB does.
    pub undo: Option<Step>,
    pub merge: Arc<dyn Fn(Value, Value) -> Result<Value, String> + Send + Sync>,
    pub map: Arc<dyn Fn(&Value) -> Value + Send + Sync>,
}

/// An aggregate function (UDAF).
pub trait AggregateFunction: Send + Sync + 'static {
    /// Upper-case name, e.g. `COUNT`.
    fn name(&self) -> &'static str;
    /// One line for DESCRIBE FUNCTION and SHOW FUNCTIONS.
    fn description(&self) -> &'static str;
    /// Signatures for DESCRIBE FUNCTION, e.g. `COUNT(col1 T) => BIGINT`.
    fn signatures(&self) -> Vec<String>;
    fn resolve(&self, args: &[Arg]) -> Result<ResolvedAggregate, ResolveError>;
}

/// Aggregate functions by upper-case name.
#[derive(Clone, Default)]
pub struct AggregateRegistry {
    functions: BTreeMap<&'static str, Arc<dyn AggregateFunction>>,
}

/// Server settings some aggregates read (ksqlDB's `ksql.functions.*`).
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateConfig {
    /// `ksql.functions.collect_list.limit`.
    pub collect_list_limit: usize,
    /// `ksql.functions.collect_set.limit`.
    pub collect_set_limit: usize,
}

impl Default for AggregateConfig {
    fn default() -> AggregateConfig {
        AggregateConfig {
            collect_list_limit: 1000,
            collect_set_limit: 1000,
        }
    }
}

impl AggregateRegistry {
    /// Every built-in aggregate function, with ksqlDB's default settings.
    pub fn builtin() -> AggregateRegistry {
        AggregateRegistry::with_config(&AggregateConfig::default())
    }

    /// Every built-in aggregate function, with the given settings.
    pub fn with_config(config: &AggregateConfig) -> AggregateRegistry {
        let mut registry = AggregateRegistry::default();
        for f in builtin(config) {
            registry.functions.insert(f.name(), f);
        }
        registry
    }

    /// Looks a function up by name, case-insensitively.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn AggregateFunction>> {
        self.functions.get(name.to_ascii_uppercase().as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn AggregateFunction>> {
        self.functions.values()
    }
}

fn builtin(config: &AggregateConfig) -> Vec<Arc<dyn AggregateFunction>> {
    vec![
        Arc::new(count::Count),
        Arc::new(count_distinct::CountDistinct),
        Arc::new(sum_avg::Sum),
        Arc::new(sum_avg::SumList),
        Arc::new(sum_avg::Avg),
        Arc::new(minmax::MinMax::MIN),
        Arc::new(minmax::MinMax::MAX),
        Arc::new(collect::CollectList {
            limit: config.collect_list_limit,
        }),
        Arc::new(collect::CollectSet {
            limit: config.collect_set_limit,
        }),
        Arc::new(topk::TopK),
        Arc::new(topk::TopKDistinct),
        Arc::new(offset::ByOffset::EARLIEST),
        Arc::new(offset::ByOffset::LATEST),
        Arc::new(histogram::Histogram),
        Arc::new(attr::Attr),
        Arc::new(stddev::StdDev::SAMP),
        Arc::new(stddev::StdDev::SAMPLE),
        Arc::new(stddev::StdDev::POP),
        Arc::new(correlation::Correlation),
    ]
}
