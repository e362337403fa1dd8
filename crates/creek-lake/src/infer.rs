//! Schema inference for schemaless JSON going to Parquet (beyond Confluent, whose
//! ParquetFormat needs a schema).
//!
//! One schema per file, from all of the file's records: objects become structs
//! (fields in order of first appearance — within one object, serde_json's order —
//! all nullable, absent = null), arrays become
//! lists, integers Int64, other numbers Float64 (integers and floats together also
//! Float64). Anything that disagrees — a field that is a string in one record and an
//! object in another — becomes a string column holding each value's JSON text, so
//! no record is ever refused or loses data. Fields that are always null or always
//! `{}` become string columns too (Parquet has no empty groups).

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields};
use serde_json::Value;

/// What the values seen so far at one place in the records have in common.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Shape {
    /// Only nulls (or nothing) so far.
    Null,
    Bool,
    Int,
    Float,
    /// Strings, or values of different kinds (kept as JSON text).
    Text,
    Object(Vec<(String, Shape)>),
    Array(Box<Shape>),
}

impl Shape {
    /// Widens the shape so that it also covers `v`.
    pub(crate) fn absorb(&mut self, v: &Value) {
        match v {
            Value::Null => {}
            Value::Bool(_) => self.meet(Shape::Bool),
            Value::Number(n) => self.meet(if n.is_i64() { Shape::Int } else { Shape::Float }),
            Value::String(_) => self.meet(Shape::Text),
            Value::Array(items) => {
                match self {
                    Shape::Null => *self = Shape::Array(Box::new(Shape::Null)),
                    Shape::Array(_) => {}
                    _ => {
                        *self = Shape::Text;
                        return;
                    }
                }
                if let Shape::Array(item) = self {
                    for it in items {
                        item.absorb(it);
                    }
                }
            }
            Value::Object(map) => {
                match self {
                    Shape::Null => *self = Shape::Object(Vec::new()),
                    Shape::Object(_) => {}
                    _ => {
                        *self = Shape::Text;
                        return;
                    }
                }
                if let Shape::Object(fields) = self {
                    for (k, v) in map {
                        match fields.iter_mut().find(|(name, _)| name == k) {
                            Some((_, shape)) => shape.absorb(v),
                            None => {
                                let mut shape = Shape::Null;
                                shape.absorb(v);
                                fields.push((k.clone(), shape));
                            }
                        }
                    }
                }
            }
        }
    }

    fn meet(&mut self, scalar: Shape) {
        *self = match (&*self, scalar) {
            (Shape::Null, s) => s,
            (Shape::Int, Shape::Float) | (Shape::Float, Shape::Int) => Shape::Float,
            (a, b) if *a == b => b,
            _ => Shape::Text,
        };
    }

    /// The Arrow type for the shape.
    pub(crate) fn data_type(&self) -> DataType {
        match self {
            Shape::Null | Shape::Text => DataType::Utf8,
            Shape::Bool => DataType::Boolean,
            Shape::Int => DataType::Int64,
            Shape::Float => DataType::Float64,
            Shape::Object(fields) if fields.is_empty() => DataType::Utf8,
            Shape::Object(fields) => DataType::Struct(struct_fields(fields)),
            Shape::Array(item) => {
                DataType::List(Arc::new(Field::new("element", item.data_type(), true)))
            }
        }
    }
}

/// The fields of an object shape (the file's columns at the top level).
pub(crate) fn struct_fields(fields: &[(String, Shape)]) -> Fields {
    fields
        .iter()
        .map(|(name, shape)| Field::new(name, shape.data_type(), true))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn infer(values: &[Value]) -> DataType {
        let mut s = Shape::Null;
        for v in values {
            s.absorb(v);
        }
        s.data_type()
    }

    #[test]
    fn scalars_widen_and_conflicts_become_text() {
        assert_eq!(infer(&[json!(1), json!(2)]), DataType::Int64);
        assert_eq!(infer(&[json!(1), json!(2.5)]), DataType::Float64);
        assert_eq!(infer(&[json!(u64::MAX)]), DataType::Float64);
        assert_eq!(infer(&[json!(true), Value::Null]), DataType::Boolean);
        assert_eq!(infer(&[json!(1), json!("x")]), DataType::Utf8);
        assert_eq!(infer(&[json!({"a": 1}), json!("x")]), DataType::Utf8);
        assert_eq!(infer(&[json!([1]), json!({"a": 1})]), DataType::Utf8);
        assert_eq!(infer(&[Value::Null]), DataType::Utf8);
        assert_eq!(infer(&[json!({})]), DataType::Utf8);
    }

    #[test]
    fn objects_merge_fields_in_first_seen_order() {
        let dt = infer(&[
            json!({"id": 1, "name": "a", "tags": ["x"]}),
            json!({"id": 2, "extra": {"deep": 1.5}, "tags": []}),
        ]);
        let DataType::Struct(fields) = dt else {
            panic!()
        };
        let names: Vec<&str> = fields.iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["id", "name", "tags", "extra"]);
        assert_eq!(fields[0].data_type(), &DataType::Int64);
        assert!(fields.iter().all(|f| f.is_nullable()));
        assert_eq!(
            fields[2].data_type(),
            &DataType::List(Arc::new(Field::new("element", DataType::Utf8, true)))
        );
        assert_eq!(
            fields[3].data_type(),
            &DataType::Struct(Fields::from(vec![Field::new(
                "deep",
                DataType::Float64,
                true
            )]))
        );
    }
}
