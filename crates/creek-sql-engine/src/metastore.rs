//! The metastore: streams, tables and custom types known to the engine.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::Arc;

use creek_sql::ast::SourceKind;
use creek_sql::types::SqlType;

use crate::format::{Column, FormatKind, FormatSpec};

/// Where a column's value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnRole {
    Key,
    Value,
    /// `HEADERS` (all headers as ARRAY<STRUCT<KEY STRING, VALUE BYTES>>) or
    /// `HEADER('k')` (one header's bytes).
    Header(Option<String>),
}

/// A column of a source's logical schema.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceColumn {
    pub name: String,
    pub ty: SqlType,
    pub role: ColumnRole,
}

/// A stream or table over a topic.
#[derive(Debug, Clone)]
pub struct DataSource {
    pub name: String,
    pub kind: SourceKind,
    pub topic: String,
    pub key_format: FormatSpec,
    pub value_format: FormatSpec,
    /// Key columns, then value and header columns, in declared order.
    pub columns: Vec<SourceColumn>,
    /// `TIMESTAMP` column and optional `TIMESTAMP_FORMAT`.
    pub timestamp: Option<(String, Option<String>)>,
    /// Created by `CREATE SOURCE ...` (read-only).
    pub read_only: bool,
    /// Created by CSAS/CTAS: the query writing it.
    pub is_sink: bool,
    pub statement: String,
    /// The window of a windowed table (its keys carry the window).
    pub window: Option<crate::window::WindowSpec>,
}

impl DataSource {
    /// Whether its key or value is written through the schema registry.
    pub fn uses_registry(&self) -> bool {
        [&self.key_format.kind, &self.value_format.kind]
            .iter()
            .any(|k| {
                matches!(
                    k,
                    FormatKind::Avro | FormatKind::Protobuf | FormatKind::JsonSr
                )
            })
    }

    pub fn key_columns(&self) -> impl Iterator<Item = &SourceColumn> {
        self.columns.iter().filter(|c| c.role == ColumnRole::Key)
    }

    pub fn value_columns(&self) -> impl Iterator<Item = &SourceColumn> {
        self.columns.iter().filter(|c| c.role == ColumnRole::Value)
    }

    /// Key columns as format columns.
    pub fn key_format_columns(&self) -> Vec<Column> {
        self.key_columns()
            .map(|c| Column {
                name: c.name.clone(),
                ty: c.ty.clone(),
            })
            .collect()
    }

    /// Value columns (not headers) as format columns.
    pub fn value_format_columns(&self) -> Vec<Column> {
        self.value_columns()
            .map(|c| Column {
                name: c.name.clone(),
                ty: c.ty.clone(),
            })
            .collect()
    }

    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            SourceKind::Stream => "STREAM",
            SourceKind::Table => "TABLE",
        }
    }

    /// The schema as ksqlDB prints it: `` `ID` INTEGER KEY, `NAME` STRING ``.
    pub fn schema_text(&self) -> String {
        let mut s = String::new();
        for (i, c) in self.columns.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            let _ = write!(s, "`{}` {}", c.name, c.ty);
            match (&c.role, self.kind) {
                (ColumnRole::Key, SourceKind::Stream) => s.push_str(" KEY"),
                (ColumnRole::Key, SourceKind::Table) => s.push_str(" PRIMARY KEY"),
                (ColumnRole::Header(None), _) => s.push_str(" HEADERS"),
                (ColumnRole::Header(Some(k)), _) => {
                    let _ = write!(s, " HEADER('{k}')");
                }
                _ => {}
            }
        }
        s
    }
}

/// Format names as ksqlDB prints them.
pub fn format_name(kind: FormatKind) -> &'static str {
    match kind {
        FormatKind::Kafka => "KAFKA",
        FormatKind::Json => "JSON",
        FormatKind::Avro => "AVRO",
        FormatKind::Delimited => "DELIMITED",
        FormatKind::None => "NONE",
        FormatKind::Protobuf => "PROTOBUF",
        FormatKind::ProtobufNoSr => "PROTOBUF_NOSR",
        FormatKind::JsonSr => "JSON_SR",
    }
}

/// Sources and types by name.
#[derive(Debug, Default, Clone)]
pub struct Metastore {
    pub sources: BTreeMap<String, Arc<DataSource>>,
    pub types: HashMap<String, SqlType>,
}

impl Metastore {
    pub fn source(&self, name: &str) -> Option<&Arc<DataSource>> {
        self.sources.get(name)
    }
}
