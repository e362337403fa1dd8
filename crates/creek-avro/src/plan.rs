//! A writer schema compiled into a decoding plan: [`Node`] is the schema reduced to
//! what reading and writing a body needs — named references resolved, logical types
//! folded in, Connect's optional unions recognised — so that walking a body never
//! looks a name up. [`compile`] builds it once per schema; the registry keeps one
//! per schema id.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::Arc;

use apache_avro::schema::{InnerDecimalSchema, Schema, UuidSchema};

use crate::error::SchemaError;

/// Time unit of a time or timestamp logical type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Millis,
    Micros,
    Nanos,
}

/// What an Avro `int` means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntKind {
    Plain,
    Date,
    TimeMillis,
}

/// What an Avro `long` means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LongKind {
    Plain,
    TimeMicros,
    /// `timestamp-*` (`utc` true) and `local-timestamp-*` (`utc` false).
    Timestamp {
        unit: Unit,
        utc: bool,
    },
}

/// A record field: its name, its JSON key (`"name":`, pre-escaped), its type and
/// its default (JSON, as the schema gives it).
#[derive(Debug, Clone)]
pub struct FieldNode {
    pub name: String,
    pub json_key: String,
    pub node: Node,
    pub default: Option<serde_json::Value>,
}

/// A record: its full name, its fields in writing order, and whether it is Connect's
/// map entry (`connect.internal.type: MapEntry`, a map with non-string keys).
/// Dereferences to its fields.
#[derive(Debug)]
pub struct RecordNode {
    pub name: String,
    pub fields: Vec<FieldNode>,
    pub map_entry: bool,
}

impl Deref for RecordNode {
    type Target = [FieldNode];

    fn deref(&self) -> &[FieldNode] {
        &self.fields
    }
}

/// A writer schema compiled for decoding.
#[derive(Debug, Clone)]
pub enum Node {
    Null,
    Boolean,
    Int(IntKind),
    Long(LongKind),
    Float,
    Double,
    Bytes,
    String,
    Fixed(usize),
    Enum(Arc<[String]>),
    /// `fixed` is the size when the decimal is stored in a fixed, `None` for bytes.
    Decimal {
        precision: usize,
        scale: usize,
        fixed: Option<usize>,
    },
    Array(Box<Node>),
    Map(Box<Node>),
    Record(Arc<RecordNode>),
    /// `["null", T]` or `[T, "null"]`: Connect's optional T.
    Optional {
        null_index: u32,
        inner: Box<Node>,
    },
    /// Any other union: Connect's `ConnectUnion` struct, one field per non-null branch.
    Union(Arc<UnionNode>),
}

#[derive(Debug)]
pub struct UnionNode {
    pub branches: Vec<Node>,
    /// Connect's field name per branch (the Avro type name, or a named type's simple
    /// name); `None` for the null branch.
    pub names: Vec<Option<String>>,
}

impl Node {
    /// A short Avro-ish type name for messages.
    pub fn describe(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Boolean => "boolean",
            Node::Int(IntKind::Plain) => "int",
            Node::Int(IntKind::Date) => "date",
            Node::Int(IntKind::TimeMillis) => "time-millis",
            Node::Long(LongKind::Plain) => "long",
            Node::Long(LongKind::TimeMicros) => "time-micros",
            Node::Long(LongKind::Timestamp { .. }) => "timestamp",
            Node::Float => "float",
            Node::Double => "double",
            Node::Bytes => "bytes",
            Node::String => "string",
            Node::Fixed(_) => "fixed",
            Node::Enum(_) => "enum",
            Node::Decimal { .. } => "decimal",
            Node::Array(_) => "array",
            Node::Map(_) => "map",
            Node::Record(_) => "record",
            Node::Optional { inner, .. } => inner.describe(),
            Node::Union(_) => "union",
        }
    }
}

/// Compiles an Avro schema. Named types referenced again are copied in place;
/// a record that contains itself cannot become a fixed set of columns and is refused.
pub fn compile(schema: &Schema) -> Result<Node, SchemaError> {
    let mut names = HashMap::new();
    compile_in(schema, &mut names)
}

/// `None` marks a named type whose definition is still being compiled.
type Named = HashMap<String, Option<Node>>;

fn compile_in(schema: &Schema, names: &mut Named) -> Result<Node, SchemaError> {
    let node = match schema {
        Schema::Null => Node::Null,
        Schema::Boolean => Node::Boolean,
        Schema::Int => Node::Int(IntKind::Plain),
        Schema::Long => Node::Long(LongKind::Plain),
        Schema::Float => Node::Float,
        Schema::Double => Node::Double,
        // A big-decimal carries its scale in each value; Connect sees plain bytes.
        Schema::Bytes | Schema::BigDecimal => Node::Bytes,
        Schema::String => Node::String,
        Schema::Uuid(UuidSchema::String) => Node::String,
        Schema::Uuid(UuidSchema::Bytes) => Node::Bytes,
        Schema::Uuid(UuidSchema::Fixed(f)) => {
            define(names, f.name.fullname(None), Node::Fixed(f.size))?
        }
        Schema::Date => Node::Int(IntKind::Date),
        Schema::TimeMillis => Node::Int(IntKind::TimeMillis),
        Schema::TimeMicros => Node::Long(LongKind::TimeMicros),
        Schema::TimestampMillis => timestamp(Unit::Millis, true),
        Schema::TimestampMicros => timestamp(Unit::Micros, true),
        Schema::TimestampNanos => timestamp(Unit::Nanos, true),
        Schema::LocalTimestampMillis => timestamp(Unit::Millis, false),
        Schema::LocalTimestampMicros => timestamp(Unit::Micros, false),
        Schema::LocalTimestampNanos => timestamp(Unit::Nanos, false),
        Schema::Duration(f) => define(names, f.name.fullname(None), Node::Fixed(f.size))?,
        Schema::Fixed(f) => define(names, f.name.fullname(None), Node::Fixed(f.size))?,
        Schema::Enum(e) => define(
            names,
            e.name.fullname(None),
            Node::Enum(e.symbols.clone().into()),
        )?,
        Schema::Decimal(d) => {
            let fixed = match &d.inner {
                InnerDecimalSchema::Bytes => None,
                InnerDecimalSchema::Fixed(f) => {
                    define(names, f.name.fullname(None), Node::Fixed(f.size))?;
                    Some(f.size)
                }
            };
            Node::Decimal {
                precision: d.precision,
                scale: d.scale,
                fixed,
            }
        }
        Schema::Array(a) => Node::Array(Box::new(compile_in(&a.items, names)?)),
        Schema::Map(m) => Node::Map(Box::new(compile_in(&m.types, names)?)),
        Schema::Record(r) => {
            let full = r.name.fullname(None);
            names.insert(full.clone(), None);
            let mut fields = Vec::with_capacity(r.fields.len());
            for f in &r.fields {
                let node = compile_in(&f.schema, names)?;
                let mut json_key = serde_json::to_string(&f.name).expect("a string serializes");
                json_key.push(':');
                fields.push(FieldNode {
                    name: f.name.clone(),
                    json_key,
                    node,
                    default: f.default.clone(),
                });
            }
            let map_entry = r.attributes.get("connect.internal.type")
                == Some(&serde_json::Value::String("MapEntry".into()));
            let node = Node::Record(Arc::new(RecordNode {
                name: full.clone(),
                fields,
                map_entry,
            }));
            names.insert(full, Some(node.clone()));
            node
        }
        Schema::Union(u) => {
            let variants = u.variants();
            let null_at = variants.iter().position(|s| matches!(s, Schema::Null));
            let non_null = variants.len() - usize::from(null_at.is_some());
            if let (Some(null_index), 2) = (null_at, variants.len()) {
                let inner = compile_in(&variants[1 - null_index], names)?;
                Node::Optional {
                    null_index: null_index as u32,
                    inner: Box::new(inner),
                }
            } else if non_null == 0 {
                Node::Null
            } else {
                let mut branches = Vec::with_capacity(variants.len());
                let mut branch_names: Vec<Option<String>> = Vec::with_capacity(variants.len());
                for v in variants {
                    let name = union_branch_name(v);
                    if let Some(n) = &name {
                        if branch_names.iter().flatten().any(|m| m == n) {
                            return Err(SchemaError::NotSupported(format!(
                                "a union with two branches named {n:?}"
                            )));
                        }
                    }
                    branch_names.push(name);
                    branches.push(compile_in(v, names)?);
                }
                Node::Union(Arc::new(UnionNode {
                    branches,
                    names: branch_names,
                }))
            }
        }
        Schema::Ref { name } => {
            let full = name.fullname(None);
            match names.get(&full) {
                Some(Some(node)) => node.clone(),
                Some(None) => {
                    return Err(SchemaError::NotSupported(format!(
                        "recursive Avro schema: record {full} contains itself"
                    )))
                }
                None => {
                    return Err(SchemaError::Invalid(format!(
                        "the Avro schema refers to an undefined type {full}"
                    )))
                }
            }
        }
    };
    Ok(node)
}

fn timestamp(unit: Unit, utc: bool) -> Node {
    Node::Long(LongKind::Timestamp { unit, utc })
}

fn define(names: &mut Named, fullname: String, node: Node) -> Result<Node, SchemaError> {
    names.insert(fullname, Some(node.clone()));
    Ok(node)
}

/// The field name Confluent's AvroData gives a union branch in its `ConnectUnion`
/// struct: a named type's simple name, otherwise the Avro type name.
pub fn union_branch_name(schema: &Schema) -> Option<String> {
    let name = match schema {
        Schema::Null => return None,
        Schema::Boolean => "boolean",
        Schema::Int | Schema::Date | Schema::TimeMillis => "int",
        Schema::Long
        | Schema::TimeMicros
        | Schema::TimestampMillis
        | Schema::TimestampMicros
        | Schema::TimestampNanos
        | Schema::LocalTimestampMillis
        | Schema::LocalTimestampMicros
        | Schema::LocalTimestampNanos => "long",
        Schema::Float => "float",
        Schema::Double => "double",
        Schema::Bytes | Schema::BigDecimal | Schema::Uuid(UuidSchema::Bytes) => "bytes",
        Schema::String | Schema::Uuid(UuidSchema::String) => "string",
        Schema::Array(_) => "array",
        Schema::Map(_) => "map",
        Schema::Record(r) => return Some(r.name.name().to_string()),
        Schema::Enum(e) => return Some(e.name.name().to_string()),
        Schema::Fixed(f) | Schema::Duration(f) | Schema::Uuid(UuidSchema::Fixed(f)) => {
            return Some(f.name.name().to_string())
        }
        Schema::Decimal(d) => match &d.inner {
            InnerDecimalSchema::Bytes => "bytes",
            InnerDecimalSchema::Fixed(f) => return Some(f.name.name().to_string()),
        },
        Schema::Ref { name } => return Some(name.name().to_string()),
        Schema::Union(_) => "union",
    };
    Some(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Schema {
        Schema::parse_str(json).unwrap()
    }

    #[test]
    fn named_references_are_resolved_and_recursion_refused() {
        let node = compile(&parse(
            r#"{"type":"record","name":"r","namespace":"ns","fields":[
                {"name":"a","type":{"type":"fixed","name":"f4","size":4}},
                {"name":"b","type":"f4"},
                {"name":"c","type":{"type":"record","name":"inner","namespace":"other","fields":[{"name":"x","type":"int"}]}},
                {"name":"d","type":"other.inner"},
                {"name":"e","type":{"type":"enum","name":"color","symbols":["RED","GREEN"]}},
                {"name":"f","type":["null","color"]}
            ]}"#,
        ))
        .unwrap();
        let Node::Record(fields) = node else { panic!() };
        assert!(matches!(fields[1].node, Node::Fixed(4)));
        assert!(matches!(&fields[3].node, Node::Record(f) if f[0].name == "x"));
        assert!(
            matches!(&fields[5].node, Node::Optional { null_index: 0, inner } if matches!(**inner, Node::Enum(_)))
        );

        let err = compile(&parse(
            r#"{"type":"record","name":"list","fields":[{"name":"next","type":["null","list"]}]}"#,
        ))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "not supported yet: recursive Avro schema: record list contains itself"
        );
    }

    #[test]
    fn union_branch_names_follow_avro_data() {
        let node = compile(&parse(
            r#"["null","int","string",{"type":"record","name":"ns.Point","fields":[{"name":"x","type":"int"}]},{"type":"long","logicalType":"timestamp-millis"}]"#,
        ))
        .unwrap();
        let Node::Union(u) = node else { panic!() };
        let names: Vec<_> = u.names.iter().map(|n| n.as_deref()).collect();
        assert_eq!(
            names,
            vec![
                None,
                Some("int"),
                Some("string"),
                Some("Point"),
                Some("long")
            ]
        );
    }

    #[test]
    fn records_keep_defaults_names_and_map_entries() {
        let node = compile(&parse(
            r#"{"type":"record","name":"r","namespace":"ns","fields":[
                {"name":"a","type":"int","default":7},
                {"name":"m","type":{"type":"array","items":{"type":"record","name":"e",
                    "connect.internal.type":"MapEntry",
                    "fields":[{"name":"key","type":"int"},{"name":"value","type":"string"}]}}}
            ]}"#,
        ))
        .unwrap();
        let Node::Record(r) = node else { panic!() };
        assert_eq!(r.name, "ns.r");
        assert_eq!(r[0].default, Some(serde_json::json!(7)));
        assert!(!r.map_entry);
        let Node::Array(items) = &r[1].node else {
            panic!()
        };
        assert!(matches!(&**items, Node::Record(e) if e.map_entry));
    }
}
