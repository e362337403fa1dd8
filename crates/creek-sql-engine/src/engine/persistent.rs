//! Persistent queries: `CREATE STREAM/TABLE … AS SELECT` plans the SELECT
//! (a projection or an aggregation, re-keyed through a repartition topic when
//! it groups by anything but the source's key), registers the sink, restores
//! an aggregation's state from its changelog and starts the query; `TERMINATE`
//! stops them. `INSERT INTO … SELECT` builds its query here too.

use std::collections::BTreeMap;
use std::sync::Arc;

use creek_sql::ast::{self, Literal, Properties, Query, SourceKind};
use creek_sql::types::SqlType;
use creek_sql::value::Value;
use creek_store::OffsetSpec;
use parking_lot::Mutex;
use serde_json::Value as Json;

use crate::fetch::read_partition;
use crate::format::{FormatKind, FormatSpec};
use crate::metastore::DataSource;
use crate::query::{Projector, SinkEncoder, SourceDecoder};
use crate::EngineError;

use super::ddl::With;
use super::{
    kafka_format, kind_word, literal_text, session_wrap, status_entity, Engine, NameTaken,
    PersistentQuery, QueryLogic, QueryPlan, Repartition, Session,
};

/// A CREATE … AS SELECT as ksqlDB's analyser prints it in errors: one select
/// item a line with columns qualified by the source and every item named.
pub(super) fn rewritten_statement(
    kind: SourceKind,
    name: &str,
    properties: &Properties,
    query: &Query,
) -> String {
    let ast::Relation::Source {
        name: source,
        alias,
    } = &query.from
    else {
        return String::new();
    };
    let qualifier = alias.clone().unwrap_or_else(|| source.clone());
    let qualified = |e: &ast::Expr| {
        e.rewrite(&mut |node| -> Result<Option<ast::Expr>, ()> {
            Ok(match node {
                ast::Expr::Column { source: None, name } => Some(ast::Expr::Column {
                    source: Some(qualifier.clone()),
                    name: name.clone(),
                }),
                _ => None,
            })
        })
        .unwrap_or_else(|_| e.clone())
        .to_string()
        .replace('`', "")
    };
    let mut names: Vec<Option<String>> = Vec::new();
    let mut exprs = Vec::new();
    for item in &query.select {
        if let ast::SelectItem::Expr { expr, alias } = item {
            names.push(alias.clone().or_else(|| crate::plan::derived_name(expr)));
            exprs.push(expr);
        }
    }
    let taken: Vec<String> = names.iter().flatten().cloned().collect();
    let mut namer = crate::plan::ColumnNamer::default();
    let items: Vec<String> = exprs
        .iter()
        .zip(names)
        .map(|(e, n)| {
            let n = n.unwrap_or_else(|| namer.next(&taken));
            format!("  {} {n}", qualified(e))
        })
        .collect();
    let with = if properties.is_empty() {
        String::new()
    } else {
        let props: Vec<String> = properties
            .iter()
            .map(|(k, v)| match v {
                Literal::String(s) => format!("{}='{s}'", k.to_ascii_uppercase()),
                other => format!("{}={}", k.to_ascii_uppercase(), literal_text(other)),
            })
            .collect();
        format!(" WITH ({})", props.join(", "))
    };
    let mut out = format!(
        "CREATE {} {name}{with} AS SELECT\n{}\nFROM {source} {qualifier}",
        kind_word(kind).to_ascii_uppercase(),
        items.join(",\n")
    );
    if let Some(w) = &query.where_ {
        out.push_str(&format!("\nWHERE {}", qualified(w)));
    }
    if !query.group_by.is_empty() {
        let groups: Vec<String> = query.group_by.iter().map(&qualified).collect();
        out.push_str(&format!("\nGROUP BY {}", groups.join(", ")));
    }
    out.push_str("\nEMIT CHANGES");
    out
}

/// The sink's key format: none (NONE) when the result has no key columns,
/// where any other given key format is refused; else the WITH clause's, or
/// the input's (KAFKA for a keyless input's NONE), without the input's own
/// schema id and full name but with the sink's `KEY_SCHEMA_ID`.
fn sink_key_format(
    with: &With,
    key_spec: Option<FormatSpec>,
    has_key: bool,
    input: &DataSource,
) -> Result<FormatSpec, EngineError> {
    if !has_key
        && key_spec
            .as_ref()
            .is_some_and(|k| k.kind != FormatKind::None)
    {
        return Err(EngineError::Statement(
            "Key format specified for stream without key columns.".into(),
        ));
    }
    if !has_key {
        return Ok(FormatSpec {
            kind: FormatKind::None,
            properties: BTreeMap::new(),
            wrap_single_value: None,
        });
    }
    Ok(match key_spec {
        Some(k) => k,
        // A keyless input's NONE does not carry over to a keyed result.
        None if input.key_format.kind == FormatKind::None => kafka_format(),
        // The input's schema id and full name describe its own
        // subject, not the sink's.
        None => {
            let mut f = input.key_format.clone();
            f.properties.remove("schemaId");
            f.properties.remove("fullSchemaName");
            if let Some(id) = with.string("KEY_SCHEMA_ID") {
                f.properties.insert("schemaId".into(), id);
            }
            f
        }
    })
}

/// The sink's value format: the WITH clause's, else the input's without its
/// schema id and full name but with the sink's `VALUE_SCHEMA_ID`. A sink's
/// serde features come from its own WITH clause, not its input's:
/// `WRAP_SINGLE_VALUE`, else the session's setting for a single value column.
fn sink_value_format(
    with: &With,
    value_spec: Option<FormatSpec>,
    plan: &QueryPlan,
    session: &Session,
) -> FormatSpec {
    let input = plan.source();
    let mut value_format = value_spec.unwrap_or_else(|| {
        let mut f = input.value_format.clone();
        f.properties.remove("schemaId");
        f.properties.remove("fullSchemaName");
        if let Some(id) = with.string("VALUE_SCHEMA_ID") {
            f.properties.insert("schemaId".into(), id);
        }
        f
    });
    value_format.wrap_single_value = with.bool("WRAP_SINGLE_VALUE").or_else(|| {
        if plan.value_count() == 1 {
            session_wrap(session)
        } else {
            None
        }
    });
    value_format
}

/// The sink's topic: the WITH clause's `KAFKA_TOPIC`, else the sink's name
/// after ksqlDB's `ksql.output.topic.name.prefix`.
fn sink_topic(with: &With, name: &str, session: &Session) -> String {
    with.string("KAFKA_TOPIC").unwrap_or_else(|| {
        let prefix = session
            .properties
            .get("ksql.output.topic.name.prefix")
            .map_or("", String::as_str);
        format!("{prefix}{name}")
    })
}

impl Engine {
    /// `CREATE [OR REPLACE] STREAM/TABLE [IF NOT EXISTS] name WITH (…) AS
    /// SELECT …` (CSAS/CTAS): checks what the SELECT produces and the name,
    /// plans the SELECT, works out the sink (formats, topic, partitions),
    /// creates its topic, then registers the sink and starts the query under
    /// a new query id.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn create_as_select(
        self: &Arc<Self>,
        kind: SourceKind,
        or_replace: bool,
        if_not_exists: bool,
        name: &str,
        properties: &Properties,
        query: &Query,
        text: &str,
        session: &Session,
    ) -> Result<Json, EngineError> {
        let aggregating = self.check_select_produces(kind, query)?;
        if let Some(exists) =
            self.check_new_sink_name(kind, or_replace, if_not_exists, name, text)?
        {
            return Ok(exists);
        }
        let with = With::new(properties)?;
        self.check_sink_timestamp(&with, query)?;
        let plan = self.plan_select(query, aggregating, name, session)?;
        let input = plan.source();
        let (key_spec, value_spec) = with.formats()?;
        let key_format = sink_key_format(&with, key_spec, plan.has_key(), &input)?;
        let value_format = sink_value_format(&with, value_spec, &plan, session);
        let topic = sink_topic(&with, name, session);
        let partitions = self.sink_partitions(&with, &input).await?;
        let timestamp = with
            .string("TIMESTAMP")
            .map(|c| (c.to_ascii_uppercase(), with.string("TIMESTAMP_FORMAT")));
        let sink = DataSource {
            name: name.to_string(),
            kind,
            topic: topic.clone(),
            key_format,
            value_format,
            columns: plan.output_columns(),
            timestamp,
            read_only: false,
            is_sink: true,
            statement: text.to_string(),
            window: plan.window(),
        };
        self.check_sink_schema_ids(&sink).await?;
        if self.log.describe_topic(&topic).await.is_err() {
            self.log
                .create_topic(&topic, partitions, BTreeMap::new())
                .await
                .map_err(|e| EngineError::Statement(e.to_string()))?;
        }
        let query_id = self.next_query_id(kind, name);
        let sink = Arc::new(sink);
        let pq = self
            .build_query(query_id.clone(), plan, &sink, text, session)
            .await
            .map_err(|e| match e {
                // ksqlDB names the statement as its analyser rewrote it.
                EngineError::Statement(m)
                    if aggregating && m.starts_with("Key format does not support schema.") =>
                {
                    EngineError::Statement(format!(
                        "{m}\nStatement: {}",
                        rewritten_statement(kind, name, properties, query)
                    ))
                }
                e => e,
            })?;
        {
            let mut state = self.state.lock();
            state.metastore.sources.insert(name.to_string(), sink);
            state.queries.insert(query_id.clone(), pq.clone());
        }
        self.start(&pq);
        Ok(status_entity(
            text,
            &format!("Created query with ID {query_id}"),
            Some(&query_id),
        ))
    }

    /// Checks that the SELECT may run as a persistent query creating a `kind`
    /// (no LIMIT, WINDOW only with GROUP BY, not over a windowed table) and
    /// that it produces one: an aggregation, or any query over a table,
    /// produces a table, anything else a stream. Returns whether it
    /// aggregates.
    fn check_select_produces(&self, kind: SourceKind, query: &Query) -> Result<bool, EngineError> {
        if query.limit.is_some() {
            return Err(EngineError::Statement(format!(
                "CREATE {} AS SELECT statements don't support LIMIT clause.",
                kind_word(kind).to_ascii_uppercase()
            )));
        }
        crate::aggregate::check_window_has_group_by(query, &self.aggregates)?;
        let aggregating = crate::aggregate::is_aggregate(query, &self.aggregates);
        let over_table = {
            let state = self.state.lock();
            match crate::plan::single_source(query, &state.metastore) {
                Ok((source, _, _)) => source.kind == SourceKind::Table,
                Err(e @ EngineError::NotSupported(_)) => return Err(e),
                Err(_) => false,
            }
        };
        let windowed_table = {
            let state = self.state.lock();
            crate::plan::single_source(query, &state.metastore)
                .is_ok_and(|(s, _, _)| s.kind == SourceKind::Table && s.window.is_some())
        };
        if windowed_table {
            return Err(EngineError::Statement(
                "KSQL does not support persistent queries on windowed tables.".into(),
            ));
        }
        let produces = if aggregating || over_table {
            SourceKind::Table
        } else {
            SourceKind::Stream
        };
        if produces != kind {
            let word = kind_word(produces).to_ascii_uppercase();
            return Err(EngineError::Statement(format!(
                "Invalid result type. Your SELECT query produces a {word}. Please use CREATE {word} AS SELECT statement instead."
            )));
        }
        Ok(aggregating)
    }

    /// Whether a sink named `name` may be created: `Some` status when one
    /// exists and the statement says IF NOT EXISTS; an error when one exists
    /// otherwise (replacing a query is not supported); `None` to go on.
    fn check_new_sink_name(
        &self,
        kind: SourceKind,
        or_replace: bool,
        if_not_exists: bool,
        name: &str,
        text: &str,
    ) -> Result<Option<Json>, EngineError> {
        match self.name_taken(kind, or_replace, if_not_exists, name, text)? {
            NameTaken::Free => Ok(None),
            NameTaken::AlreadyExists(answer) => Ok(Some(answer)),
            NameTaken::Replaces(_) => Err(EngineError::NotSupported(
                "CREATE OR REPLACE of a query".into(),
            )),
        }
    }

    /// The sink's TIMESTAMP column must be a result column of a usable type;
    /// ksqlDB checks it before the projection's key columns (so against a
    /// preview of the projection; a SELECT that does not plan as one is left
    /// to the planner's own errors).
    fn check_sink_timestamp(&self, with: &With, query: &Query) -> Result<(), EngineError> {
        let Some(col) = with.string("TIMESTAMP") else {
            return Ok(());
        };
        let col = col.to_ascii_uppercase();
        let state = self.state.lock();
        let Ok(preview) = crate::plan::plan_stream_query_with(
            query,
            &state.metastore,
            &self.functions,
            None,
            true,
        ) else {
            return Ok(());
        };
        let column = preview.output_columns().into_iter().find(|c| c.name == col);
        let Some(column) = column else {
            return Err(EngineError::Statement(format!(
                "The TIMESTAMP column set in the WITH clause does not exist in the schema: '{col}'"
            )));
        };
        let formatted = with.string("TIMESTAMP_FORMAT").is_some();
        if !matches!(
            (&column.ty, formatted),
            (SqlType::Bigint | SqlType::Timestamp, false) | (SqlType::String, true)
        ) {
            return Err(EngineError::Statement(format!(
                "Timestamp column, `{col}`, should be LONG(INT64), TIMESTAMP, or a String with a timestamp_format specified."
            )));
        }
        Ok(())
    }

    /// Plans the SELECT of a sink named `name`: an aggregation plan when it
    /// aggregates, else a projection (keyless when the session enables
    /// `ksql.new.query.planner.enabled`).
    fn plan_select(
        &self,
        query: &Query,
        aggregating: bool,
        name: &str,
        session: &Session,
    ) -> Result<QueryPlan, EngineError> {
        let state = self.state.lock();
        Ok(if aggregating {
            QueryPlan::Aggregate(crate::aggregate::plan_aggregate(
                query,
                &state.metastore,
                &self.functions,
                &self.aggregates_for(session),
                Some(name),
            )?)
        } else {
            let keyless = session
                .properties
                .get("ksql.new.query.planner.enabled")
                .is_some_and(|v| v == "true");
            QueryPlan::Stream(crate::plan::plan_stream_query_with(
                query,
                &state.metastore,
                &self.functions,
                Some(name),
                keyless,
            )?)
        })
    }

    /// The sink topic's partitions: the WITH clause's `PARTITIONS`, else the
    /// input topic's, else the engine's default.
    async fn sink_partitions(&self, with: &With, input: &DataSource) -> Result<i32, EngineError> {
        Ok(match with.int("PARTITIONS")? {
            Some(p) => p as i32,
            None => match self.log.describe_topic(&input.topic).await {
                Ok(d) => d.partitions,
                Err(_) => self.config.default_partitions,
            },
        })
    }

    /// A new persistent query's id: `CTAS_<NAME>_<n>` for a table,
    /// `CSAS_<NAME>_<n>` for a stream, `n` counting the engine's queries.
    fn next_query_id(&self, kind: SourceKind, name: &str) -> String {
        let mut state = self.state.lock();
        let prefix = if kind == SourceKind::Table {
            "CTAS"
        } else {
            "CSAS"
        };
        let id = format!(
            "{prefix}_{}_{}",
            name.to_ascii_uppercase(),
            state.next_query
        );
        state.next_query += 1;
        id
    }

    pub(super) async fn build_query(
        self: &Arc<Self>,
        query_id: String,
        plan: QueryPlan,
        sink: &Arc<DataSource>,
        text: &str,
        session: &Session,
    ) -> Result<Arc<PersistentQuery>, EngineError> {
        let input = match &plan {
            QueryPlan::Stream(p) => p.source.clone(),
            QueryPlan::Aggregate(p) => p.source.clone(),
        };
        let (key_in, value_in) = self.build_formats(&input, false).await?;
        let (key_out, value_out) = self.build_formats(sink, true).await?;
        let mut decoder = SourceDecoder::new(input.clone(), key_in, value_in, &self.functions)
            .map_err(EngineError::Statement)?;
        match &plan {
            QueryPlan::Stream(p) => decoder.read_only_used(p),
            QueryPlan::Aggregate(p) => decoder.read_only(p.row_expressions()),
        }
        let partitions = self
            .log
            .describe_topic(&sink.topic)
            .await
            .map(|d| d.partitions)
            .unwrap_or(1);
        let timestamp = match &sink.timestamp {
            None => None,
            Some((c, format)) => match sink.value_columns().position(|v| &v.name == c) {
                None => None,
                Some(i) => {
                    let parser = match format {
                        None => None,
                        Some(pattern) => {
                            let f = self.functions.get("STRINGTOTIMESTAMP").ok_or_else(|| {
                                EngineError::Statement("STRINGTOTIMESTAMP is missing".into())
                            })?;
                            let args = [
                                creek_sql::functions::Arg::typed(SqlType::String),
                                creek_sql::functions::Arg::constant(
                                    SqlType::String,
                                    Value::string(pattern.as_str()),
                                ),
                            ];
                            let resolved = f.resolve(&args).map_err(|_| {
                                EngineError::Statement(format!(
                                    "Invalid TIMESTAMP_FORMAT: {pattern}"
                                ))
                            })?;
                            Some((resolved.eval, Value::string(pattern.as_str())))
                        }
                    };
                    Some((i, parser))
                }
            },
        };
        let encoder = SinkEncoder {
            key: key_out,
            value: value_out,
            has_key: sink.key_columns().next().is_some(),
            partitions,
            timestamp,
            window: sink.window.map(|w| w.kind),
        };
        let exactly_once = self.exactly_once(session)?;
        self.refuse_standbys(session)?;
        let source_partitions = self
            .log
            .describe_topic(&input.topic)
            .await
            .map(|d| d.partitions)
            .map_err(|e| EngineError::Statement(e.to_string()))?;
        // Workers of the service id share the query through its consumer
        // group; what the leader hands out is known once the query's topics are.
        let assignor = Arc::new(super::membership::QueryAssignor::new(&query_id));
        let request = creek_store::group::JoinRequest::new(
            &self.query_group(&query_id),
            "consumer",
            // Names the worker in Kafka's tools, as ksqlDB's thread names do.
            &format!("{}-{}", self.query_group(&query_id), self.instance),
        );
        let member = match self.log.join_group(request, assignor.clone()).await {
            Ok(member) if self.config.spawn_queries && member.shares_work() => Some(member),
            Ok(_) => None,
            // Where the log cannot share work (e.g. group membership over a
            // security protocol creek does not speak yet), this worker runs
            // the whole query, as a lone ksqlDB server does.
            Err(e) => {
                tracing::warn!(query = %query_id, "running the whole query on this worker: {e}");
                None
            }
        };
        let shared = member.is_some();
        let mut topics = vec![(input.topic.clone(), source_partitions)];
        let mut repartition = None;
        let mut whole = exactly_once;
        let mut state_lost = None;
        let logic = match plan {
            QueryPlan::Stream(plan) => QueryLogic::Project(Box::new(Projector {
                plan,
                log: self.processing_log.clone(),
                query_id: query_id.clone(),
            })),
            QueryPlan::Aggregate(plan) => {
                let tasks = crate::aggregate::AggregateTasks::new(
                    plan,
                    self.processing_log.clone(),
                    query_id.clone(),
                    &self.config.state_limits,
                );
                // Tasks over a table's rows need the rows of every source
                // partition (their memory of them is not cut by partition yet).
                let cut = shared && input.kind == SourceKind::Stream;
                // GROUP BY on anything but the source's key re-keys through
                // a repartition topic, as ksqlDB does: stage one reads the
                // source (its committed offsets are its positions), stage
                // two the repartition topic, with the source's partitions
                // where workers share the query. Alone, one partition keeps
                // the source's order across groups, as ksqlDB's per-record
                // processing does.
                let mut stage_two = source_partitions;
                if tasks.needs_repartition() {
                    let topic = self.repartition_topic(&query_id);
                    let wanted = if cut { source_partitions } else { 1 };
                    let partitions = self.ensure_topic(&topic, wanted, BTreeMap::new()).await?;
                    topics.push((topic.clone(), partitions));
                    stage_two = partitions;
                    repartition = Some(Repartition {
                        topic,
                        partitions,
                        positions: Mutex::new(BTreeMap::new()),
                    });
                }
                // One task per stage-two partition where workers share the
                // query, else one; an existing changelog keeps its count.
                // Compacted, as Kafka Streams makes its changelogs: time and
                // size retention must never take a group's state away.
                let changelog_topic = self.changelog_topic(&query_id);
                // A query that committed input before has state: a missing
                // changelog means it is gone, not that the query is new.
                if self.log.describe_topic(&changelog_topic).await.is_err()
                    && !self
                        .log
                        .committed_offsets(&self.query_group(&query_id))
                        .await
                        .unwrap_or_default()
                        .is_empty()
                {
                    state_lost = Some(format!(
                        "Cannot restore {query_id}: its changelog topic {changelog_topic} is \
                         missing (deleted?) although the query has read input before, so its \
                         state is gone. Terminate the query, drop its table and create it \
                         again to rebuild the state from the source"
                    ));
                }
                let changelog = match state_lost {
                    Some(_) => 1,
                    None => {
                        self.ensure_topic(
                            &changelog_topic,
                            if cut { stage_two } else { 1 },
                            BTreeMap::from([("cleanup.policy".to_string(), "compact".to_string())]),
                        )
                        .await?
                    }
                };
                tasks.set_count(changelog);
                whole |= changelog == 1;
                QueryLogic::Aggregate(Box::new(tasks))
            }
        };
        assignor.set_work(topics.clone(), whole);
        // Workers agree on a query when they run the same statement the same way.
        let guarantee = if exactly_once {
            "exactly_once_v2"
        } else {
            "at_least_once"
        };
        let fingerprint = format!("{} [{guarantee}]", text.trim());
        assignor.set_fingerprint(fingerprint.clone());
        let membership = member.map(|m| {
            super::membership::QueryMembership::new(
                m,
                topics.iter().map(|(t, _)| t.as_str()),
                &fingerprint,
            )
        });
        let (stop, _) = tokio::sync::watch::channel(false);
        let query = Arc::new(PersistentQuery {
            id: query_id.clone(),
            sink: Some(sink.name.clone()),
            source: input.name.clone(),
            statement: text.to_string(),
            decoder,
            logic,
            encoder,
            sink_topic: sink.topic.clone(),
            positions: Mutex::new(BTreeMap::new()),
            state: Mutex::new("RUNNING"),
            error: Mutex::new(None),
            repartition,
            exactly_once,
            transactions: Mutex::new(None),
            offset_reset_earliest: session.offset_reset_earliest(),
            membership,
            share: Mutex::new(Default::default()),
            stop,
        });
        // Alone, this worker owns every partition now; shared, each round
        // hands out a share (`Engine::take_part_in_rounds`). A state that cannot
        // be read back fails this query only: it stays in ERROR with the
        // reason, the others run.
        if let Some(reason) = state_lost {
            tracing::error!(query = %query_id, "{reason}");
            query.fail(reason);
            return Ok(query);
        }
        if query.membership.is_none() {
            let all: Vec<(String, Vec<i32>)> = topics
                .into_iter()
                .map(|(topic, partitions)| (topic, (0..partitions).collect()))
                .collect();
            if let Err(e) = self.take_over(&query, &all).await {
                match e {
                    EngineError::Statement(reason) if reason.starts_with("Cannot restore") => {
                        tracing::error!(query = %query_id, "{reason}");
                        query.fail(reason);
                    }
                    other => return Err(other),
                }
            }
        }
        Ok(query)
    }

    /// Standby replicas (`num.standby.replicas`, Kafka Streams' setting) are
    /// not kept yet: a worker that takes a task over restores it from its
    /// changelog. Asking for them is refused rather than ignored.
    fn refuse_standbys(&self, session: &Session) -> Result<(), EngineError> {
        for key in ["num.standby.replicas", "ksql.streams.num.standby.replicas"] {
            let Some(value) = self.property(session, key) else {
                continue;
            };
            match value.trim().parse::<u32>() {
                Ok(0) => {}
                Ok(n) => {
                    return Err(EngineError::NotSupported(format!(
                        "{key}={n}: standby replicas are not kept yet; a worker that \
                         takes a task over restores its state from the changelog \
                         (set {key}=0)"
                    )))
                }
                Err(_) => {
                    return Err(EngineError::Statement(format!(
                        "{key}: '{value}' is not a number of replicas"
                    )))
                }
            }
        }
        Ok(())
    }

    /// Whether a query runs exactly once: `processing.guarantee`
    /// `exactly_once_v2` (ksqlDB's property; `ksql.streams.processing.guarantee`
    /// on the server), not under `at_least_once` (the default). Its
    /// transactional id is the query's application id, as Kafka Streams
    /// derives it; the producer starts when the worker takes the query over.
    fn exactly_once(&self, session: &Session) -> Result<bool, EngineError> {
        let guarantee = self
            .property(session, "processing.guarantee")
            .or_else(|| self.property(session, "ksql.streams.processing.guarantee"));
        match guarantee.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("at_least_once") => Ok(false),
            Some("exactly_once_v2" | "exactly_once" | "exactly_once_beta") => Ok(true),
            Some(other) => Err(EngineError::Statement(format!(
                "processing.guarantee: unknown value '{other}' (at_least_once or exactly_once_v2)"
            ))),
        }
    }

    /// The topic a re-keying aggregation passes its rows through (ksqlDB's name).
    pub fn repartition_topic(&self, query_id: &str) -> String {
        format!(
            "_confluent-ksql-{}query_{query_id}-Aggregate-GroupBy-repartition",
            self.config.service_id
        )
    }

    /// The topic an aggregation's state is kept in (ksqlDB's name for it).
    pub fn changelog_topic(&self, query_id: &str) -> String {
        format!(
            "_confluent-ksql-{}query_{query_id}-Aggregate-Aggregate-Materialize-changelog",
            self.config.service_id
        )
    }

    /// Creates a query's internal topic with `partitions` if it is missing;
    /// returns its partition count.
    pub(super) async fn ensure_topic(
        &self,
        topic: &str,
        partitions: i32,
        configs: BTreeMap<String, String>,
    ) -> Result<i32, EngineError> {
        if let Ok(d) = self.log.describe_topic(topic).await {
            return Ok(d.partitions);
        }
        match self.log.create_topic(topic, partitions, configs).await {
            // Another worker of the service id made it first.
            Ok(()) | Err(creek_store::LogError::TopicAlreadyExists(_)) => {}
            Err(e) => return Err(EngineError::Log(e.to_string())),
        }
        self.log
            .describe_topic(topic)
            .await
            .map(|d| d.partitions)
            .map_err(|e| EngineError::Log(e.to_string()))
    }

    /// Reads back one task's changelog partition into its state; returns the
    /// input positions it accounts for, if it has any.
    pub(super) async fn restore_task(
        &self,
        query: &PersistentQuery,
        tasks: &crate::aggregate::AggregateTasks,
        task: i32,
    ) -> Result<Option<BTreeMap<i32, i64>>, EngineError> {
        let query_id = query.id.as_str();
        let topic = self.changelog_topic(query_id);
        let started = std::time::Instant::now();
        let end = self
            .log
            .list_offset(&topic, task, OffsetSpec::Latest)
            .await
            .ok()
            .flatten()
            .unwrap_or(0);
        query.share.lock().restoring.insert(task, (0, end));
        let mut records = Vec::new();
        let read = read_partition(self.log.as_ref(), &topic, task, 0, None, |r| {
            records.push(r);
            // Progress for DESCRIBE EXTENDED, now and then.
            if records.len() % 10_000 == 0 {
                query
                    .share
                    .lock()
                    .restoring
                    .insert(task, (records.len() as u64, end));
            }
        })
        .await;
        if let Err(e) = read {
            query.share.lock().restoring.remove(&task);
            // Missing, truncated (its first records deleted) or unreachable:
            // the state cannot be rebuilt exactly, so the query stops saying so.
            return Err(EngineError::Statement(format!(
                "Cannot restore {query_id} from its changelog {topic}-{task}: {e}. \
                 A changelog that was deleted or truncated no longer holds the whole \
                 state: terminate the query, drop its table and create it again"
            )));
        }
        let read = records.len();
        let read_in = started.elapsed();
        let restored = tasks
            .task(task)
            .restore(records)
            .map_err(|e| EngineError::Statement(format!("Cannot restore {query_id}: {e}")))?;
        {
            let mut share = query.share.lock();
            share.restoring.remove(&task);
            share
                .restored
                .insert(task, (read as u64, started.elapsed().as_millis() as u64));
        }
        if read > 0 {
            tracing::info!(query = %query_id, task, records = read,
                read_ms = read_in.as_millis() as u64,
                total_ms = started.elapsed().as_millis() as u64,
                "restored a task's state from {topic}-{task}");
        }
        Ok(restored)
    }

    /// An aggregation over a table remembers each table row to take it back
    /// out on update; the source topic up to the restored positions is
    /// exactly that memory, so it is read back rather than kept twice.
    pub(super) async fn restore_table_rows(
        &self,
        decoder: &SourceDecoder,
        aggregator: &crate::aggregate::Aggregator,
        positions: &BTreeMap<i32, i64>,
    ) -> Result<(), EngineError> {
        let topic = &decoder.source.topic;
        for (partition, end) in positions {
            let start = self
                .log
                .list_offset(topic, *partition, OffsetSpec::Earliest)
                .await
                .ok()
                .flatten()
                .unwrap_or(0);
            read_partition(
                self.log.as_ref(),
                topic,
                *partition,
                start,
                Some(*end),
                |record| {
                    if record.key.is_none() {
                        return;
                    }
                    if let Ok(decoded) = decoder.decode(&record) {
                        aggregator.remember_table_row(&decoded.row, decoded.value_is_null);
                    }
                },
            )
            .await?;
        }
        Ok(())
    }

    pub fn query_group(&self, query_id: &str) -> String {
        format!("_confluent-ksql-{}query_{query_id}", self.config.service_id)
    }

    pub(super) fn terminate(&self, id: Option<&str>, text: &str) -> Result<Json, EngineError> {
        let mut state = self.state.lock();
        let ids: Vec<String> = match id {
            None => state.queries.keys().cloned().collect(),
            Some(id) => {
                let upper = id.to_ascii_uppercase();
                if !state.queries.contains_key(&upper) {
                    return Err(EngineError::Statement(format!("Unknown queryId: {id}")));
                }
                vec![upper]
            }
        };
        for id in ids {
            if let Some(q) = state.queries.remove(&id) {
                let _ = q.stop.send(true);
            }
        }
        Ok(status_entity(text, "Query terminated.", None))
    }
}
