//! Push queries: `SELECT ... EMIT CHANGES` streamed to a client, and
//! pull queries over streams (a bounded scan of the topic as it is now).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use creek_sql::ast::{Emit, Query, Relation, SourceKind};
use creek_store::OffsetSpec;

use crate::aggregate::Aggregator;
use crate::engine::{Engine, Session};
use crate::format::value_to_api_json;
use crate::plan::plan_stream_query;
use crate::plan::Projected;
use crate::query::{DecodedRow, Projector, ResultRow, SourceDecoder};
use crate::transient::{transient_id, PushQuery, PushRow};
use crate::EngineError;

const PULL_HINT: &str =
    "See https://cnfl.io/queries for more info.\nAdd EMIT CHANGES if you intended to issue a push query.";

/// What ksqlDB refuses in a pull query (no `EMIT CHANGES`).
fn pull_restrictions(query: &Query, session: &Session) -> Result<(), EngineError> {
    let refuse = |what: &str| {
        Err(EngineError::Statement(format!(
            "Pull queries don't support {what}. {PULL_HINT}"
        )))
    };
    if matches!(query.from, Relation::Join { .. }) {
        return refuse("JOIN clauses");
    }
    if query.window.is_some() {
        return refuse("WINDOW clauses");
    }
    if !query.group_by.is_empty() {
        return refuse("GROUP BY clauses");
    }
    if query.having.is_some() {
        return refuse("HAVING clauses");
    }
    if !query.partition_by.is_empty() {
        return refuse("PARTITION BY clauses");
    }
    if query.limit.is_some()
        && session
            .properties
            .get("ksql.query.pull.limit.clause.enabled")
            .is_some_and(|v| v.eq_ignore_ascii_case("false"))
    {
        return Err(EngineError::Statement(format!(
            "LIMIT clause in pull queries is currently disabled. You can enable them by setting ksql.query.pull.limit.clause.enabled=true. {PULL_HINT}"
        )));
    }
    let disallowed = |text: String| -> Vec<&'static str> {
        let upper = text.to_ascii_uppercase();
        ["ROWPARTITION", "ROWOFFSET"]
            .into_iter()
            .filter(|c| upper.contains(c))
            .collect()
    };
    let select_text: String = query
        .select
        .iter()
        .map(|i| match i {
            creek_sql::ast::SelectItem::Expr { expr, .. } => expr.to_string(),
            _ => String::new(),
        })
        .collect::<Vec<_>>()
        .join(" ");
    for (clause, text) in [
        ("SELECT", select_text),
        (
            "WHERE",
            query
                .where_
                .as_ref()
                .map(|w| w.to_string())
                .unwrap_or_default(),
        ),
    ] {
        let cols = disallowed(text);
        if !cols.is_empty() {
            return Err(EngineError::Statement(format!(
                "Pull queries don't support the following columns in {clause} clauses: {}",
                cols.iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    Ok(())
}

/// What a push query does with each record.
enum PushLogic {
    Project(Box<Projector>),
    /// `GROUP BY`: every change of a group is printed.
    Aggregate(Box<Aggregator>),
}

impl PushLogic {
    fn query_id(&self) -> &str {
        match self {
            PushLogic::Project(p) => &p.query_id,
            PushLogic::Aggregate(a) => &a.query_id,
        }
    }

    fn apply(&self, decoded: &DecodedRow) -> Vec<ResultRow> {
        match self {
            // A stream's tombstone has nothing to print (a table's does).
            PushLogic::Project(p)
                if decoded.value_is_null && p.plan.source.kind != SourceKind::Table =>
            {
                Vec::new()
            }
            PushLogic::Project(p) => {
                p.apply_all(&decoded.row, decoded.rowtime, decoded.value_is_null)
            }
            PushLogic::Aggregate(a) => {
                a.apply(&decoded.row, decoded.rowtime, decoded.value_is_null)
            }
        }
    }
}

/// Starts a push query (or, without `EMIT CHANGES`, a pull query over a stream).
pub async fn start(
    engine: &Arc<Engine>,
    query: &Query,
    _text: &str,
    session: &Session,
) -> Result<PushQuery, EngineError> {
    let pull = !matches!(query.emit, Some(Emit::Changes));
    if query.limit.is_some_and(|l| l < 0) {
        let kind = if pull { "Pull" } else { "Push" };
        let hint = if pull {
            " See https://cnfl.io/queries for more info."
        } else {
            ""
        };
        return Err(EngineError::Statement(format!(
            "{kind} queries don't support negative integers in the LIMIT clause.{hint}"
        )));
    }
    if pull {
        pull_restrictions(query, session)?;
        if let Relation::Source { name, .. } = &query.from {
            let table = engine
                .metastore()
                .source(name)
                .filter(|s| s.kind == SourceKind::Table)
                .cloned();
            if let Some(table) = table {
                return crate::pull::pull_table(engine, query, &table, session).await;
            }
        }
    }
    let metastore = engine.metastore();
    let (source, projection, logic): (_, Vec<Projected>, _) =
        if crate::aggregate::is_aggregate(query, &engine.aggregates) {
            let plan = crate::aggregate::plan_aggregate(
                query,
                &metastore,
                &engine.functions,
                &engine.aggregates_for(session),
                None,
            )?;
            let query_id = transient_id(&plan.source.name);
            (
                plan.source.clone(),
                plan.projection.clone(),
                PushLogic::Aggregate(Box::new(Aggregator::new(
                    plan,
                    engine.processing_log.clone(),
                    query_id,
                ))),
            )
        } else {
            let plan = plan_stream_query(query, &metastore, &engine.functions, None)?;
            let query_id = transient_id(&plan.source.name);
            (
                plan.source.clone(),
                plan.projection.clone(),
                PushLogic::Project(Box::new(Projector {
                    plan,
                    log: engine.processing_log.clone(),
                    query_id,
                })),
            )
        };
    let (key_fmt, value_fmt) = engine.build_formats(&source, false).await?;
    let decoder = SourceDecoder::new(source.clone(), key_fmt, value_fmt, &engine.functions)
        .map_err(EngineError::Statement)?;
    let query_id = logic.query_id().to_string();
    let columns: Vec<(String, String)> = projection
        .iter()
        .map(|p| (p.name.clone(), p.expr.ty.to_string()))
        .collect();
    let limit = query.limit.map(|l| l.max(0) as u64);
    let topic = source.topic.clone();
    let partitions = engine
        .log
        .describe_topic(&topic)
        .await
        .map(|d| d.partitions)
        .map_err(|e| EngineError::Statement(e.to_string()))?;
    let earliest = pull || session.offset_reset_earliest();
    let mut positions = BTreeMap::new();
    let mut ends = BTreeMap::new();
    for p in 0..partitions {
        let spec = if earliest {
            OffsetSpec::Earliest
        } else {
            OffsetSpec::Latest
        };
        let pos = engine
            .log
            .list_offset(&topic, p, spec)
            .await
            .ok()
            .flatten()
            .unwrap_or(0);
        positions.insert(p, pos);
        if pull {
            let end = engine
                .log
                .list_offset(&topic, p, OffsetSpec::Latest)
                .await
                .ok()
                .flatten()
                .unwrap_or(0);
            ends.insert(p, end);
        }
    }
    let over_table = source.kind == SourceKind::Table;
    let (tx, rx) = tokio::sync::mpsc::channel(256);
    let engine = engine.clone();
    tokio::spawn(async move {
        let mut sent: u64 = 0;
        if limit == Some(0) {
            return;
        }
        loop {
            let mut progress = false;
            for (partition, offset) in positions.iter_mut() {
                if pull && *offset >= ends[partition] {
                    continue;
                }
                let fetch = engine
                    .log
                    .fetch(&topic, *partition, *offset, 1 << 20, Duration::ZERO);
                let fetched = tokio::select! {
                    f = fetch => f,
                    _ = tx.closed() => return,
                };
                let fetched = match fetched {
                    Ok(f) => f,
                    Err(e) => {
                        tracing::warn!(query = %logic.query_id(), "push query fetch failed: {e}");
                        return;
                    }
                };
                if pull && fetched.records.is_empty() {
                    *offset = ends[partition];
                }
                for record in &fetched.records {
                    if pull && record.offset >= ends[partition] {
                        *offset = ends[partition];
                        break;
                    }
                    *offset = record.offset + 1;
                    progress = true;
                    // Transient queries consume too (DESCRIBE EXTENDED counts them, as
                    // ksqlDB's consumer metrics do).
                    engine.stats.consumed(
                        &topic,
                        1,
                        (record.key.as_ref().map_or(0, |k| k.len())
                            + record.value.as_ref().map_or(0, |v| v.len()))
                            as u64,
                    );
                    // A table row without a key has no identity: dropped.
                    if over_table && record.key.is_none() {
                        continue;
                    }
                    let decoded = match decoder.decode(record) {
                        Ok(d) => d,
                        Err(e) => {
                            engine.stats.failed(&topic);
                            engine.processing_log.error(
                                logic.query_id(),
                                &format!(
                                    "Failed to deserialize record from {topic}-{partition}@{}: {e}",
                                    record.offset
                                ),
                            );
                            continue;
                        }
                    };
                    let deleted = decoded.value_is_null;
                    let projecting = matches!(logic, PushLogic::Project(_));
                    let rows: Vec<PushRow> = logic
                        .apply(&decoded)
                        .into_iter()
                        .filter_map(|row| {
                            let columns = || row.projection.iter().map(value_to_api_json).collect();
                            match row.value {
                                Some(_) => Some(PushRow::of(columns())),
                                // A table's delete shows as a tombstone row;
                                // rows a table's filter drops do not show.
                                None if deleted && projecting => Some(PushRow {
                                    columns: columns(),
                                    tombstone: true,
                                }),
                                None => None,
                            }
                        })
                        .collect();
                    for row in rows {
                        if tx.send(row).await.is_err() {
                            return;
                        }
                        sent += 1;
                        if limit.is_some_and(|l| sent >= l) {
                            return;
                        }
                    }
                }
            }
            if pull && positions.iter().all(|(p, o)| *o >= ends[p]) {
                return;
            }
            if !progress && !pull {
                // Caught up: sleep until a record lands on any partition (a push
                // query's row reaches the client as soon as it is appended).
                let waiting: Vec<(i32, i64)> = positions.iter().map(|(p, o)| (*p, *o)).collect();
                let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
                tokio::select! {
                    _ = engine.log.wait_for_records(&topic, &waiting, deadline) => {}
                    _ = tx.closed() => return,
                }
            }
        }
    });
    Ok(PushQuery {
        query_id,
        columns,
        rows: rx,
        limit,
        pull,
        key_columns: Vec::new(),
        over_view: false,
    })
}
