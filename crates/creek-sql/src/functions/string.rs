//! String, bytes, URL, regex, hashing and conditional functions (COALESCE, IFNULL, NULLIF, GREATEST, LEAST).

use std::sync::Arc;

use super::ScalarFunction;

pub fn functions() -> Vec<Arc<dyn ScalarFunction>> {
    Vec::new()
}
