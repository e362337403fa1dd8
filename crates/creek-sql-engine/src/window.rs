//! Windows of aggregations, shared below everyone who handles them: the
//! planner and aggregator (`aggregate`), the metastore (a windowed source or
//! table), the windowed key formats (`format::window`), the query runtime,
//! and DESCRIBE. Also SQL time spans (`10 SECONDS`) as durations.

use std::time::Duration;

/// A window of an aggregation, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSpec {
    pub kind: WindowKind,
    /// TUMBLING/HOPPING size; SESSION inactivity gap.
    pub size: i64,
    /// HOPPING advance (the size for TUMBLING).
    pub advance: i64,
    pub grace: i64,
    /// How long a window's state is kept after its end (SESSION: how long
    /// a session can still be merged into).
    pub retention: i64,
}

/// How a window is cut: fixed and back to back, fixed and overlapping, or
/// by a gap of inactivity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowKind {
    Tumbling,
    Hopping,
    Session,
}

impl WindowKind {
    /// The name DESCRIBE and the metastore use.
    pub fn name(self) -> &'static str {
        match self {
            WindowKind::Tumbling => "TUMBLING",
            WindowKind::Hopping => "HOPPING",
            WindowKind::Session => "SESSION",
        }
    }
}

/// A SQL time span as a duration.
pub(crate) fn to_duration(d: &creek_sql::ast::Duration) -> Duration {
    let unit = d.unit.trim_end_matches('S');
    let ms = match unit {
        "MILLISECOND" => 1,
        "SECOND" => 1000,
        "MINUTE" => 60_000,
        "HOUR" => 3_600_000,
        "DAY" => 86_400_000,
        _ => 1000,
    };
    Duration::from_millis(d.value.saturating_mul(ms))
}
