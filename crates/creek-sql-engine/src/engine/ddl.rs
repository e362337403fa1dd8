//! DDL: `CREATE STREAM/TABLE` over a topic (its `WITH` properties, formats and
//! schema checks against the registry, the topic created when `PARTITIONS` is
//! given), `DROP STREAM/TABLE [DELETE TOPIC]`, and the processing log's own
//! stream. These change the metastore (and topics) only; no query runs.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use creek_sql::ast::{self, ColumnConstraint, Literal, Properties, SourceKind};
use creek_sql::expr::resolve_type;
use creek_sql::types::SqlType;
use serde_json::Value as Json;

use crate::format::{self, FormatKind, FormatSpec, RowFormat};
use crate::metastore::{ColumnRole, DataSource, SourceColumn};
use crate::query::headers_type;
use crate::EngineError;

use super::{
    contains_map, kafka_format, kind_title, kind_word, literal_text, session_wrap, status_entity,
    Engine, NameTaken, Session,
};

/// `WITH (...)` properties by upper-cased name.
pub(super) struct With {
    props: BTreeMap<String, Literal>,
}

impl With {
    pub(super) fn new(props: &Properties) -> Result<With, EngineError> {
        let mut map = BTreeMap::new();
        let mut unknown = Vec::new();
        for (k, v) in props {
            let key = k.to_ascii_uppercase();
            if !SOURCE_PROPERTIES.contains(&key.as_str()) {
                unknown.push(key.clone());
            }
            map.insert(key, v.clone());
        }
        if !unknown.is_empty() {
            return Err(EngineError::Statement(format!(
                "Invalid config variable(s) in the WITH clause: {}",
                unknown.join(",")
            )));
        }
        Ok(With { props: map })
    }

    pub(super) fn string(&self, key: &str) -> Option<String> {
        self.props.get(key).map(literal_text)
    }

    pub(super) fn int(&self, key: &str) -> Result<Option<i64>, EngineError> {
        match self.props.get(key) {
            None => Ok(None),
            Some(l) => literal_text(l).parse().map(Some).map_err(|_| {
                EngineError::Statement(format!("Invalid value for {key}: {}", literal_text(l)))
            }),
        }
    }

    pub(super) fn bool(&self, key: &str) -> Option<bool> {
        self.props.get(key).map(|l| match l {
            Literal::Boolean(b) => *b,
            other => literal_text(other).eq_ignore_ascii_case("true"),
        })
    }

    /// Key and value format specs, each `None` when not given.
    pub(super) fn formats(&self) -> Result<(Option<FormatSpec>, Option<FormatSpec>), EngineError> {
        let both = self.string("FORMAT");
        let key_name = self.string("KEY_FORMAT");
        let value_name = self.string("VALUE_FORMAT");
        if both.is_some() {
            for (given, name) in [(&key_name, "KEY_FORMAT"), (&value_name, "VALUE_FORMAT")] {
                if given.is_some() {
                    return Err(EngineError::Statement(format!(
                        "Cannot supply both '{name}' and 'FORMAT' properties, as 'FORMAT' sets both key and value formats. Either use just 'FORMAT', or use 'KEY_FORMAT' and 'VALUE_FORMAT'."
                    )));
                }
            }
        }
        let spec =
            |name: Option<String>, is_key: bool| -> Result<Option<FormatSpec>, EngineError> {
                let Some(name) = name else { return Ok(None) };
                let kind = format::parse_format(&name).map_err(EngineError::Statement)?;
                let mut properties = BTreeMap::new();
                let prefix = if is_key { "KEY" } else { "VALUE" };
                if let Some(d) = self.string(&format!("{prefix}_DELIMITER")) {
                    properties.insert("delimiter".to_string(), d);
                }
                if let Some(n) = self
                    .string(&format!("{prefix}_AVRO_SCHEMA_FULL_NAME"))
                    .or_else(|| self.string(&format!("{prefix}_SCHEMA_FULL_NAME")))
                {
                    properties.insert("fullSchemaName".to_string(), n);
                }
                if let Some(id) = self.string(&format!("{prefix}_SCHEMA_ID")) {
                    properties.insert("schemaId".to_string(), id);
                }
                Ok(Some(FormatSpec {
                    kind,
                    properties,
                    wrap_single_value: if is_key {
                        None
                    } else {
                        self.bool("WRAP_SINGLE_VALUE")
                    },
                }))
            };
        let key = spec(key_name.or(both.clone()), true)?;
        let value = spec(value_name.or(both), false)?;
        Ok((key, value))
    }
}

pub(super) const SOURCE_PROPERTIES: &[&str] = &[
    "KAFKA_TOPIC",
    "KEY_FORMAT",
    "VALUE_FORMAT",
    "FORMAT",
    "PARTITIONS",
    "REPLICAS",
    "TIMESTAMP",
    "TIMESTAMP_FORMAT",
    "KEY_DELIMITER",
    "VALUE_DELIMITER",
    "WRAP_SINGLE_VALUE",
    "VALUE_AVRO_SCHEMA_FULL_NAME",
    "KEY_AVRO_SCHEMA_FULL_NAME",
    "KEY_SCHEMA_ID",
    "VALUE_SCHEMA_ID",
    "KEY_SCHEMA_FULL_NAME",
    "VALUE_SCHEMA_FULL_NAME",
    "WINDOW_TYPE",
    "WINDOW_SIZE",
    "RETENTION_MS",
    "SOURCE_CONNECTOR",
];

/// The error for replacing a source stream/table (`CREATE OR REPLACE SOURCE
/// …`, or `CREATE OR REPLACE` over one).
fn replace_unsupported(kind: SourceKind, name: &str) -> EngineError {
    EngineError::Statement(format!(
        "Cannot add {} '{name}': CREATE OR REPLACE is not supported on source {}s.",
        kind_word(kind),
        kind_word(kind)
    ))
}

/// Whether any of `cols` plays `role`.
fn has_role(cols: &[SourceColumn], role: ColumnRole) -> bool {
    cols.iter().any(|c| c.role == role)
}

/// The source's key and value formats: the WITH clause's, else the session's
/// `ksql.persistence.default.format.value` / `.key`. A value format is
/// required; the key format defaults to KAFKA.
fn source_format_specs(
    with: &With,
    session: &Session,
) -> Result<(FormatSpec, FormatSpec), EngineError> {
    let (key_format, value_format) = with.formats()?;
    let default_format = |key: &str| -> Result<Option<FormatSpec>, EngineError> {
        match session.properties.get(key) {
            Some(name) => Ok(Some(FormatSpec {
                kind: format::parse_format(name).map_err(EngineError::Statement)?,
                properties: BTreeMap::new(),
                wrap_single_value: None,
            })),
            None => Ok(None),
        }
    };
    let value_format = match value_format {
        Some(f) => Some(f),
        None => default_format("ksql.persistence.default.format.value")?,
    };
    let key_format = match key_format {
        Some(f) => Some(f),
        None => default_format("ksql.persistence.default.format.key")?,
    };
    let value_format = value_format.ok_or_else(|| {
        EngineError::Statement(
            "Statement is missing the 'VALUE_FORMAT' property from the WITH clause. Either provide one or set a default via the 'ksql.persistence.default.format.value' config.".into(),
        )
    })?;
    Ok((key_format.unwrap_or_else(kafka_format), value_format))
}

/// The declared columns in order, their types resolved against the custom
/// `types` and their roles from their constraints (KEY / PRIMARY KEY,
/// HEADERS, HEADER('k'), else value). Reserved and duplicate names are
/// refused.
fn declared_columns(
    columns: &[ast::ColumnDef],
    types: &HashMap<String, SqlType>,
) -> Result<Vec<SourceColumn>, EngineError> {
    let mut cols: Vec<SourceColumn> = Vec::new();
    for c in columns {
        let ty = resolve_type(&c.ty, types).map_err(EngineError::Statement)?;
        let role = column_role(&c.constraint, &ty)?;
        if crate::plan::RESERVED_COLUMNS.contains(&c.name.as_str()) {
            return Err(EngineError::Statement(format!(
                "'{}' is a reserved column name.",
                c.name
            )));
        }
        if cols.iter().any(|x| x.name == c.name) {
            return Err(EngineError::Statement(format!(
                "Duplicate column names:\n\t{}",
                c.name
            )));
        }
        cols.push(SourceColumn {
            name: c.name.clone(),
            ty,
            role,
        });
    }
    Ok(cols)
}

/// A declared column's role from its constraint; a header column must have
/// the header type (HEADERS: an array of key/value structs, HEADER('k'):
/// BYTES).
fn column_role(constraint: &ColumnConstraint, ty: &SqlType) -> Result<ColumnRole, EngineError> {
    Ok(match constraint {
        ColumnConstraint::None => ColumnRole::Value,
        ColumnConstraint::Key | ColumnConstraint::PrimaryKey => ColumnRole::Key,
        ColumnConstraint::Headers => {
            if *ty != headers_type() {
                return Err(EngineError::Statement(format!(
                    "Invalid type for HEADERS column: expected {}, got {ty}",
                    headers_type()
                )));
            }
            ColumnRole::Header(None)
        }
        ColumnConstraint::Header(k) => {
            if *ty != SqlType::Bytes {
                return Err(EngineError::Statement(format!(
                    "Invalid type for HEADER('{k}') column: expected BYTES, got {ty}"
                )));
            }
            ColumnRole::Header(Some(k.clone()))
        }
    })
}

/// The source's event time: the WITH clause's `TIMESTAMP` column (upper-cased;
/// it must exist and be a BIGINT or TIMESTAMP, or a STRING parsed with
/// `TIMESTAMP_FORMAT`) and that format, or `None` for the record timestamp.
fn timestamp_column(
    with: &With,
    cols: &[SourceColumn],
) -> Result<Option<(String, Option<String>)>, EngineError> {
    let Some(col) = with.string("TIMESTAMP") else {
        return Ok(None);
    };
    let col = col.to_ascii_uppercase();
    let c = cols.iter().find(|c| c.name == col).ok_or_else(|| {
        EngineError::Statement(format!(
            "The TIMESTAMP column set in the WITH clause does not exist in the schema: '{col}'"
        ))
    })?;
    let fmt = with.string("TIMESTAMP_FORMAT");
    match (&c.ty, &fmt) {
        (SqlType::Bigint | SqlType::Timestamp, None) | (SqlType::String, Some(_)) => {}
        (SqlType::String, None) => {
            return Err(EngineError::Statement("A String timestamp field has been specified without also specifying the TIMESTAMP_FORMAT property.".into()))
        }
        (t, _) => {
            return Err(EngineError::Statement(format!(
                "Timestamp column, `{col}`, should be LONG(INT64), TIMESTAMP, or a String with a TIMESTAMP_FORMAT specified. Got {t}"
            )))
        }
    }
    Ok(Some((col, fmt)))
}

impl Engine {
    /// `CREATE [OR REPLACE] [SOURCE] STREAM/TABLE [IF NOT EXISTS] name (…)
    /// WITH (…)` over a topic: checks the name, reads the WITH clause (topic,
    /// window, key and value formats), the declared columns, makes sure the
    /// topic exists, infers columns the registry knows, checks the
    /// TIMESTAMP column and the formats, then adds the source to the metastore.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn create_source(
        self: &Arc<Self>,
        kind: SourceKind,
        or_replace: bool,
        read_only: bool,
        if_not_exists: bool,
        name: &str,
        columns: &[ast::ColumnDef],
        properties: &Properties,
        text: &str,
        session: &Session,
    ) -> Result<Json, EngineError> {
        if let Some(exists) =
            self.check_new_source_name(kind, or_replace, read_only, if_not_exists, name, text)?
        {
            return Ok(exists);
        }
        let with = With::new(properties)?;
        let window = crate::aggregate::source_window(
            with.string("WINDOW_TYPE").as_deref(),
            with.string("WINDOW_SIZE").as_deref(),
        )
        .map_err(EngineError::Statement)?;
        let topic = with.string("KAFKA_TOPIC").ok_or_else(|| {
            EngineError::Statement(
                "Missing required property \"KAFKA_TOPIC\" which has no default value.".into(),
            )
        })?;
        let (key_format, mut value_format) = source_format_specs(&with, session)?;
        let types = self.state.lock().metastore.types.clone();
        let mut cols = declared_columns(columns, &types)?;
        if window.is_some() && !has_role(&cols, ColumnRole::Key) {
            return Err(EngineError::Statement(
                "Windowed sources require a key column.".into(),
            ));
        }
        self.ensure_source_topic(&with, &topic, kind, name).await?;
        self.infer_value_columns(&topic, &value_format, &mut cols)
            .await?;
        if !has_role(&cols, ColumnRole::Value)
            && matches!(value_format.kind, FormatKind::Kafka | FormatKind::Delimited)
        {
            return Err(EngineError::Statement("No columns supplied.".into()));
        }
        self.infer_key_columns(&topic, &key_format, &mut cols)
            .await?;
        // A table is the latest value per key, so it needs one.
        if kind == SourceKind::Table && !has_role(&cols, ColumnRole::Key) {
            return Err(EngineError::Statement(
                "Tables require a PRIMARY KEY. Please define the PRIMARY KEY.".into(),
            ));
        }
        let timestamp = timestamp_column(&with, &cols)?;
        if value_format.wrap_single_value.is_none()
            && cols.iter().filter(|c| c.role == ColumnRole::Value).count() == 1
        {
            value_format.wrap_single_value = session_wrap(session);
        }
        let source = DataSource {
            name: name.to_string(),
            kind,
            topic,
            key_format,
            value_format,
            columns: cols,
            timestamp,
            read_only,
            is_sink: false,
            statement: text.to_string(),
            window,
        };
        // Validate that the formats accept the columns.
        self.build_formats(&source, false).await?;
        self.state
            .lock()
            .metastore
            .sources
            .insert(name.to_string(), Arc::new(source));
        Ok(status_entity(
            text,
            &format!("{} created", kind_title(kind)),
            None,
        ))
    }

    /// Whether a source named `name` may be created: `Some` status when one
    /// exists and the statement says IF NOT EXISTS; an error when one exists
    /// otherwise, or when a source stream/table (`read_only`) would be
    /// replaced; `None` to go on creating it.
    fn check_new_source_name(
        &self,
        kind: SourceKind,
        or_replace: bool,
        read_only: bool,
        if_not_exists: bool,
        name: &str,
        text: &str,
    ) -> Result<Option<Json>, EngineError> {
        if or_replace && read_only {
            return Err(replace_unsupported(kind, name));
        }
        match self.name_taken(kind, or_replace, if_not_exists, name, text)? {
            NameTaken::Free => Ok(None),
            NameTaken::AlreadyExists(answer) => Ok(Some(answer)),
            NameTaken::Replaces(existing) if read_only || existing.read_only => {
                Err(replace_unsupported(kind, name))
            }
            NameTaken::Replaces(_) => Ok(None),
        }
    }

    /// Makes sure the source's topic exists: a missing topic is created when
    /// the WITH clause gives `PARTITIONS`, and refused otherwise.
    async fn ensure_source_topic(
        &self,
        with: &With,
        topic: &str,
        kind: SourceKind,
        name: &str,
    ) -> Result<(), EngineError> {
        let partitions = with.int("PARTITIONS")?;
        if self.log.describe_topic(topic).await.is_ok() {
            return Ok(());
        }
        match partitions {
            Some(p) => self
                .log
                .create_topic(topic, p as i32, BTreeMap::new())
                .await
                .map_err(|e| EngineError::Statement(e.to_string())),
            None => Err(EngineError::Statement(format!(
                "Topic '{topic}' does not exist. If you want to create a new topic for the {} please re-run the statement providing the required 'PARTITIONS' configuration in the WITH clause (and optionally 'REPLICAS'). For example: CREATE {} {name} ({}) WITH (KAFKA_TOPIC='{topic}', PARTITIONS=2, REPLICAS=1, ...);",
                kind_word(kind),
                kind_word(kind).to_ascii_uppercase(),
                "...",
            ))),
        }
    }

    /// Schema inference for the value: a source that declares no value
    /// columns and reads AVRO, JSON_SR or PROTOBUF values takes them from the
    /// registry (the schema `VALUE_SCHEMA_ID` names, else the topic's
    /// `-value` subject's latest).
    async fn infer_value_columns(
        &self,
        topic: &str,
        value_format: &FormatSpec,
        cols: &mut Vec<SourceColumn>,
    ) -> Result<(), EngineError> {
        if has_role(cols, ColumnRole::Value)
            || !matches!(
                value_format.kind,
                FormatKind::Avro | FormatKind::JsonSr | FormatKind::Protobuf
            )
        {
            return Ok(());
        }
        let ctx = self.format_ctx(topic, false);
        let inferred = match value_format.properties.get("schemaId") {
            Some(id) => {
                let id = id.parse().map_err(|_| {
                    EngineError::Statement(format!("Invalid VALUE_SCHEMA_ID: {id}"))
                })?;
                format::infer_columns_by_id(
                    value_format.kind,
                    &ctx,
                    id,
                    value_format.wrap_single_value,
                )
                .await
            }
            None => {
                format::infer_columns_with(value_format.kind, &ctx, value_format.wrap_single_value)
                    .await
            }
        }
        .map_err(EngineError::Statement)?;
        cols.extend(inferred.into_iter().map(|c| SourceColumn {
            name: c.name,
            ty: c.ty,
            role: ColumnRole::Value,
        }));
        Ok(())
    }

    /// Schema inference for the key: a source that declares no key columns
    /// and reads AVRO keys takes them from the schema `KEY_SCHEMA_ID` names,
    /// or else from the topic's `-key` subject when there is one; they go
    /// before the other columns.
    async fn infer_key_columns(
        &self,
        topic: &str,
        key_format: &FormatSpec,
        cols: &mut Vec<SourceColumn>,
    ) -> Result<(), EngineError> {
        let key_count = cols.iter().filter(|c| c.role == ColumnRole::Key).count();
        let key_subject_exists = self
            .registry
            .as_ref()
            .is_some_and(|r| r.latest(&format!("{topic}-key")).is_some());
        let key_schema_id = key_format.properties.get("schemaId").cloned();
        if key_count != 0
            || !matches!(key_format.kind, FormatKind::Avro)
            || !(key_subject_exists || key_schema_id.is_some())
        {
            return Ok(());
        }
        let ctx = self.format_ctx(topic, true);
        let inferred = match key_schema_id {
            Some(id) => {
                let id = id
                    .parse()
                    .map_err(|_| EngineError::Statement(format!("Invalid KEY_SCHEMA_ID: {id}")))?;
                format::infer_columns_by_id(key_format.kind, &ctx, id, None).await
            }
            None => format::infer_columns(key_format.kind, &ctx).await,
        }
        .map_err(EngineError::Statement)?;
        let keys: Vec<SourceColumn> = inferred
            .into_iter()
            .map(|c| SourceColumn {
                name: c.name,
                ty: c.ty,
                role: ColumnRole::Key,
            })
            .collect();
        cols.splice(0..0, keys);
        Ok(())
    }

    /// A sink told to write with a registered schema (`KEY_SCHEMA_ID`,
    /// `VALUE_SCHEMA_ID`) must find its columns at the same positions, with
    /// the same names and types, in that schema; extra trailing fields are
    /// the schema's business (optional, defaulted or failing at write time).
    pub(super) async fn check_sink_schema_ids(&self, sink: &DataSource) -> Result<(), EngineError> {
        for (is_key, spec) in [(true, &sink.key_format), (false, &sink.value_format)] {
            let Some(id) = spec.properties.get("schemaId") else {
                continue;
            };
            if spec.kind != FormatKind::Avro {
                continue;
            }
            let id = id
                .parse()
                .map_err(|_| EngineError::Statement(format!("Invalid schema id: {id}")))?;
            let ctx = self.format_ctx(&sink.topic, is_key);
            let registered =
                format::infer_columns_by_id(spec.kind, &ctx, id, spec.wrap_single_value)
                    .await
                    .map_err(EngineError::Statement)?;
            let columns = if is_key {
                sink.key_format_columns()
            } else {
                sink.value_format_columns()
            };
            let render = |c: &format::Column| format!("`{}` {}", c.name, c.ty);
            let changed: Vec<String> = columns
                .iter()
                .enumerate()
                .filter(|(i, c)| registered.get(*i) != Some(*c))
                .map(|(_, c)| render(c))
                .collect();
            if !changed.is_empty() {
                let registered: Vec<String> = registered.iter().map(render).collect();
                return Err(EngineError::Statement(format!(
                    "The following {} columns are changed, missing or reordered: [{}]. Schema from schema registry is [{}]",
                    if is_key { "key" } else { "value" },
                    changed.join(", "),
                    registered.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// Builds the key and value formats of a source. `register` is true for
    /// sinks, whose AVRO schemas are registered.
    pub async fn build_formats(
        &self,
        source: &DataSource,
        register: bool,
    ) -> Result<(Arc<dyn RowFormat>, Arc<dyn RowFormat>), EngineError> {
        // Map keys serialize inconsistently, so ksqlDB refuses them anywhere in a key.
        for c in source.key_columns() {
            if contains_map(&c.ty) {
                return Err(EngineError::Statement(format!(
                    "Map keys, including types that contain maps, are not supported as they may lead to unexpected behavior due to inconsistent serialization. Key column name: `{}`. Column type: {}. See https://github.com/confluentinc/ksql/issues/6621 for more.",
                    c.name, c.ty
                )));
            }
        }
        let registration = if register {
            format::Registration::Always
        } else {
            format::Registration::IfAbsent
        };
        let key = format::build_with(
            &source.key_format,
            &source.key_format_columns(),
            &self.format_ctx(&source.topic, true),
            registration,
        )
        .await
        .map_err(|e| {
            if source.key_format.kind == FormatKind::Kafka {
                let columns: Vec<String> = source
                    .key_columns()
                    .map(|c| format!("`{}` {} KEY", c.name, c.ty))
                    .collect();
                EngineError::Statement(format!(
                    "Key format does not support schema.\nformat: KAFKA\nschema: Persistence{{columns=[{}], features=[]}}\nreason: {e}",
                    columns.join(", ")
                ))
            } else {
                EngineError::Statement(e)
            }
        })?;
        let value = format::build_with(
            &source.value_format,
            &source.value_format_columns(),
            &self.format_ctx(&source.topic, false),
            registration,
        )
        .await
        .map_err(EngineError::Statement)?;
        Ok((key, value))
    }

    pub(super) async fn drop_source(
        self: &Arc<Self>,
        kind: SourceKind,
        if_exists: bool,
        name: &str,
        delete_topic: bool,
        text: &str,
    ) -> Result<Json, EngineError> {
        let source = {
            let state = self.state.lock();
            let Some(source) = state.metastore.source(name).cloned() else {
                if if_exists {
                    return Ok(status_entity(
                        text,
                        &format!("Source `{name}` does not exist."),
                        None,
                    ));
                }
                return Err(EngineError::Statement(format!(
                    "Source {name} does not exist."
                )));
            };
            if source.kind != kind {
                return Err(EngineError::Statement(format!(
                    "Incompatible data source type is {}, but statement was DROP {}",
                    source.kind_name(),
                    kind_word(kind).to_ascii_uppercase()
                )));
            }
            let writers: Vec<String> = state
                .queries
                .values()
                .filter(|q| q.sink.as_deref() == Some(name))
                .map(|q| q.id.clone())
                .collect();
            let readers: Vec<String> = state
                .queries
                .values()
                .filter(|q| q.source == name)
                .map(|q| q.id.clone())
                .collect();
            if !writers.is_empty() || !readers.is_empty() {
                let (what, ids) = if !writers.is_empty() {
                    ("write into", writers)
                } else {
                    ("read from", readers)
                };
                return Err(EngineError::Statement(format!(
                    "Cannot drop {name}.\nThe following queries {what} this source: [{}].\nYou need to terminate them before dropping {name}.",
                    ids.join(", ")
                )));
            }
            if delete_topic && source.read_only {
                return Err(EngineError::Statement(format!(
                    "Cannot delete topic for read-only source: {name}"
                )));
            }
            source
        };
        self.state.lock().metastore.sources.remove(name);
        self.views.lock().remove(name);
        if delete_topic {
            let _ = self.log.delete_topic(&source.topic).await;
            if let Some(registry) = &self.registry {
                for suffix in ["-key", "-value"] {
                    let _ = registry
                        .delete_subject(&format!("{}{suffix}", source.topic), false)
                        .await;
                }
            }
        }
        Ok(status_entity(
            text,
            &format!("Source `{name}` (topic: {}) was dropped.", source.topic),
            None,
        ))
    }

    /// The processing log's topic (`default_ksql_processing_log`).
    pub fn processing_log_topic(&self) -> String {
        self.config.processing_log_topic()
    }

    /// Creates the processing-log topic and the `KSQL_PROCESSING_LOG` stream
    /// over it (ksqlDB's `ksql.logging.processing.stream.auto.create`).
    pub async fn create_processing_log_stream(self: &Arc<Self>) -> Result<(), EngineError> {
        let topic = self.processing_log_topic();
        let [_, processing_log] = self.config.internal_topics();
        processing_log
            .ensure(self.log.as_ref())
            .await
            .map_err(|e| EngineError::Log(e.to_string()))?;
        if self
            .state
            .lock()
            .metastore
            .source("KSQL_PROCESSING_LOG")
            .is_some()
        {
            return Ok(());
        }
        let text = format!(
            "CREATE STREAM KSQL_PROCESSING_LOG ({}) WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON');",
            crate::processing_log::PROCESSING_LOG_COLUMNS
        );
        let statement = creek_sql::parse_statement(&text)?;
        self.execute_statement(&statement, &text, &mut Session::default())
            .await?;
        Ok(())
    }
}
