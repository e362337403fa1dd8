//! JSON functions.

use std::sync::Arc;

use super::ScalarFunction;

pub fn functions() -> Vec<Arc<dyn ScalarFunction>> {
    Vec::new()
}
