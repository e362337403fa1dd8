//! Date and time functions, with Java DateTimeFormatter patterns and zone ids.

use std::sync::Arc;

use super::ScalarFunction;

pub fn functions() -> Vec<Arc<dyn ScalarFunction>> {
    Vec::new()
}
