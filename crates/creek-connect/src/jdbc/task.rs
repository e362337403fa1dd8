//! A JDBC source task: polls its tables and appends new rows to their topics.
//!
//! ## The watermark: snapshots, not timestamps
//!
//! Confluent's timestamp/incrementing modes remember the largest timestamp or id
//! read and ask for `> last` next time. A transaction that commits late with an older
//! timestamp (or id), or a row sharing the last timestamp, is then skipped forever.
//!
//! creek remembers the PostgreSQL snapshot each poll read from (`pg_current_snapshot()`
//! in a REPEATABLE READ transaction) instead. The next poll delivers exactly the rows
//! *not visible* in that snapshot: inserted by a transaction that was still in
//! progress (its xid in the snapshot's `xip` list) or that started after it
//! (`xid >= xmax`). Commit order and timestamp ties no longer matter. Written with
//! `age()` so no per-row text conversion is needed:
//!
//! ```sql
//! age(xmin) <= age('<prev xmax>'::xid) OR xmin = ANY('{<prev xip>}'::xid[])
//! ```
//!
//! Within a poll, rows stream in heap order (`ctid`; sequential scan, no sync scans,
//! no parallel workers) and are cut into chunks of `batch.max.rows`. Each chunk is
//! appended as one idempotent batch (a producer id kept in the offset, one sequence
//! per partition), then the offset records the chunk's last ctid. After a crash the
//! task re-runs the unfinished poll restricted to the rows visible in its snapshot
//! and after that ctid, so it re-cuts the same chunks with the same sequence numbers;
//! a chunk that was appended but whose offset was not yet written is recognised by
//! the log as a duplicate. Every committed row lands exactly once.
//!
//! Known limits: rows written inside a savepoint of a transaction that spans two
//! polls are judged by their subtransaction id, which snapshots do not list; an
//! UPDATE is delivered as a new row version in every mode but bulk and incrementing.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use creek_store::ProducerSequence;
use futures::StreamExt;
use serde_json::{json, Value as Json};
use tokio_postgres::Client;
use tracing::{info, warn};

use super::pg::{self, Column, CopyParser, Ctid, TableId};
use super::{discover_tables, JdbcSourceConfig, Mode};
use crate::connector::SourceTask;
use crate::context::{PendingBatch, SourceContext, SourceRow, TaskError, TopicWriter};
use crate::data::{StructSchema, Value};

/// A PostgreSQL snapshot: `xmin:xmax:xip,…` (64-bit transaction ids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub xmin: u64,
    pub xmax: u64,
    pub xip: Vec<u64>,
}

impl Snapshot {
    pub fn parse(s: &str) -> Option<Snapshot> {
        let mut parts = s.splitn(3, ':');
        let xmin = parts.next()?.parse().ok()?;
        let xmax = parts.next()?.parse().ok()?;
        let xip = parts
            .next()
            .unwrap_or("")
            .split(',')
            .filter(|x| !x.is_empty())
            .map(|x| x.parse().ok())
            .collect::<Option<Vec<u64>>>()?;
        Some(Snapshot { xmin, xmax, xip })
    }

    pub fn text(&self) -> String {
        let xip: Vec<String> = self.xip.iter().map(u64::to_string).collect();
        format!("{}:{}:{}", self.xmin, self.xmax, xip.join(","))
    }

    /// The 32-bit xid a row's `xmin` column shows.
    fn xid32(x: u64) -> u32 {
        x as u32
    }

    fn xip_array(&self) -> String {
        let xs: Vec<String> = self
            .xip
            .iter()
            .map(|x| Self::xid32(*x).to_string())
            .collect();
        format!("'{{{}}}'::xid[]", xs.join(","))
    }

    /// SQL: the row was not visible in this snapshot.
    fn not_visible_sql(&self) -> String {
        let mut s = format!("(age(xmin) <= age('{}'::xid)", Self::xid32(self.xmax));
        if !self.xip.is_empty() {
            s.push_str(&format!(" OR xmin = ANY({})", self.xip_array()));
        }
        s.push(')');
        s
    }

    /// SQL: the row was visible in this snapshot.
    fn visible_sql(&self) -> String {
        let mut s = format!("(age(xmin) > age('{}'::xid)", Self::xid32(self.xmax));
        if !self.xip.is_empty() {
            s.push_str(&format!(" AND xmin <> ALL({})", self.xip_array()));
        }
        s.push(')');
        s
    }
}

/// Per-table progress, stored as the table's source offset.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableOffset {
    /// Largest timestamp delivered (ms, plus the sub-ms nanos), Confluent's fields.
    pub timestamp: Option<(i64, i64)>,
    pub incrementing: Option<i64>,
    /// The snapshot of the last completed poll.
    pub snapshot: Option<Snapshot>,
    /// An unfinished poll: its snapshot, the incrementing floor it used, and the last
    /// row delivered.
    pub inflight: Option<(Snapshot, Option<i64>, Ctid)>,
    pub producer_id: Option<i64>,
    /// Next sequence number per partition of the table's topic.
    pub sequences: BTreeMap<i32, i32>,
    /// Chunks appended so far (picks the partition of the next one).
    pub chunks: u64,
}

impl TableOffset {
    pub fn to_json(&self) -> Json {
        let mut m = serde_json::Map::new();
        if let Some((ms, nanos)) = self.timestamp {
            m.insert("timestamp".into(), json!(ms));
            m.insert("timestamp_nanos".into(), json!(nanos));
        }
        if let Some(i) = self.incrementing {
            m.insert("incrementing".into(), json!(i));
        }
        if let Some(s) = &self.snapshot {
            m.insert("creek.snapshot".into(), json!(s.text()));
        }
        if let Some((s, floor, ctid)) = &self.inflight {
            m.insert(
                "creek.inflight".into(),
                json!({"snapshot": s.text(), "incrementing": floor, "after": [ctid.0, ctid.1]}),
            );
        }
        if let Some(p) = self.producer_id {
            let seqs: serde_json::Map<String, Json> = self
                .sequences
                .iter()
                .map(|(p, s)| (p.to_string(), json!(s)))
                .collect();
            m.insert(
                "creek.producer".into(),
                json!({"id": p, "sequences": seqs, "chunks": self.chunks}),
            );
        }
        Json::Object(m)
    }

    pub fn from_json(v: &Json) -> TableOffset {
        let mut o = TableOffset::default();
        if let Some(ms) = v.get("timestamp").and_then(Json::as_i64) {
            o.timestamp = Some((
                ms,
                v.get("timestamp_nanos").and_then(Json::as_i64).unwrap_or(0),
            ));
        }
        o.incrementing = v.get("incrementing").and_then(Json::as_i64);
        o.snapshot = v
            .get("creek.snapshot")
            .and_then(Json::as_str)
            .and_then(Snapshot::parse);
        if let Some(f) = v.get("creek.inflight") {
            let snap = f
                .get("snapshot")
                .and_then(Json::as_str)
                .and_then(Snapshot::parse);
            let after = f.get("after").and_then(Json::as_array);
            if let (Some(snap), Some(after)) = (snap, after) {
                let b = after.first().and_then(Json::as_u64).unwrap_or(0) as u32;
                let off = after.get(1).and_then(Json::as_u64).unwrap_or(0) as u16;
                o.inflight = Some((snap, f.get("incrementing").and_then(Json::as_i64), (b, off)));
            }
        }
        if let Some(p) = v.get("creek.producer") {
            o.producer_id = p.get("id").and_then(Json::as_i64);
            o.chunks = p.get("chunks").and_then(Json::as_u64).unwrap_or(0);
            if let Some(seqs) = p.get("sequences").and_then(Json::as_object) {
                for (k, s) in seqs {
                    if let (Ok(k), Some(s)) = (k.parse(), s.as_i64()) {
                        o.sequences.insert(k, s as i32);
                    }
                }
            }
        }
        o
    }
}

/// The source partition of a table, Confluent's shape.
pub fn source_partition(database: &str, table: &TableId) -> Json {
    json!({"protocol": "1", "table": format!("{database}.{}", table.qualified())})
}

/// A stable task for a table, so tables do not move between tasks as others appear.
pub fn task_for(table: &TableId, tasks: usize) -> usize {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    table.hash(&mut h);
    (h.finish() % tasks.max(1) as u64) as usize
}

/// A JDBC source task: its tables' progress lives here between polls and in the
/// source offsets across restarts.
pub struct JdbcSourceTask {
    config: JdbcSourceConfig,
    client: Option<Client>,
    tables: BTreeMap<TableId, TableState>,
    next_discovery: Instant,
    /// Failed polls in a row on a live connection (query.retry.attempts).
    sql_failures: u32,
}

impl JdbcSourceTask {
    pub fn new(config: JdbcSourceConfig) -> Self {
        JdbcSourceTask {
            config,
            client: None,
            tables: BTreeMap::new(),
            next_discovery: Instant::now(),
            sql_failures: 0,
        }
    }

    fn backoff(&self) -> Duration {
        self.config
            .connection_backoff
            .max(Duration::from_millis(200))
    }
}

#[async_trait]
impl SourceTask for JdbcSourceTask {
    /// Connects (with attempts and backoff, each failed attempt shown as FAILED)
    /// and forgets the tables' in-memory state: their offsets are read again.
    async fn start(&mut self, ctx: &SourceContext) -> Result<(), TaskError> {
        self.client = None;
        self.tables.clear();
        self.next_discovery = Instant::now();
        self.client = Some(connect_with_retries(ctx, &self.config).await?);
        Ok(())
    }

    async fn poll(&mut self, ctx: &SourceContext) -> Result<tokio::time::Instant, TaskError> {
        let client = self
            .client
            .as_ref()
            .ok_or_else(|| TaskError("polled before the task connected".into()))?;
        let config = &self.config;
        let tables = &mut self.tables;
        if Instant::now() >= self.next_discovery {
            discover(ctx, config, client, tables).await?;
            self.next_discovery = Instant::now() + config.table_poll_interval;
        }
        let now = Instant::now();
        let due: Vec<TableId> = tables
            .values()
            .filter(|t| t.next_poll <= now)
            .map(|t| t.table.clone())
            .collect();
        for id in due {
            let state = tables.get_mut(&id).expect("listed above");
            if state.is_query {
                poll_query(ctx, config, client, state).await?;
            } else {
                poll_table(ctx, config, client, state).await?;
            }
            self.sql_failures = 0;
            state.next_poll = Instant::now() + config.poll_interval;
        }
        let wake = tables
            .values()
            .map(|t| t.next_poll)
            .min()
            .unwrap_or(self.next_discovery)
            .min(self.next_discovery);
        Ok(wake.into())
    }

    fn start_backoff(&self) -> Duration {
        self.backoff()
    }

    /// A lost connection is retried forever (the database comes back); SQL errors
    /// count against query.retry.attempts (-1: forever).
    fn after_failure(&mut self, ctx: &SourceContext) -> Option<Duration> {
        if self.client.as_ref().is_some_and(|c| !c.is_closed()) {
            self.sql_failures += 1;
            let attempts = self.config.query_retry_attempts;
            if attempts >= 0 && self.sql_failures > attempts as u32 {
                warn!(connector = %ctx.connector, task = ctx.task_id, failures = self.sql_failures, "query.retry.attempts exhausted; the task stays FAILED until restarted");
                return None;
            }
        }
        Some(self.backoff())
    }
}

/// Confluent retries `connection.attempts` times, `connection.backoff.ms` apart, before
/// the task throws; with the defaults that is 20 s of UNASSIGNED without a word. creek
/// shows the task FAILED with the cause as soon as one attempt fails, and keeps
/// trying: the status turns RUNNING by itself when an attempt succeeds (a restart
/// tries again at once).
async fn connect_with_retries(
    ctx: &SourceContext,
    config: &JdbcSourceConfig,
) -> Result<Client, TaskError> {
    let attempts = config.connection_attempts.max(1);
    let mut last = String::new();
    for attempt in 1..=attempts {
        match config.connect().await {
            Ok(c) => return Ok(c),
            Err(e) => {
                last = describe_pg_error(&e);
                warn!(connector = %ctx.connector, task = ctx.task_id, attempt, database = %config.url.display(), error = %last, "connection attempt failed");
                if attempt < attempts {
                    ctx.status.failed(&format!(
                        "org.apache.kafka.connect.errors.ConnectException: could not connect to {} (attempt {attempt} of {attempts}, next in {} ms): {last}",
                        config.url.display(),
                        config.connection_backoff.as_millis()
                    ));
                    tokio::time::sleep(config.connection_backoff).await;
                }
            }
        }
    }
    Err(TaskError(format!(
        "org.apache.kafka.connect.errors.ConnectException: could not connect to {} after {attempts} attempt(s): {last} \
         (retrying every {} ms; POST /connectors/{}/restart retries now)",
        config.url.display(),
        config.connection_backoff.max(Duration::from_millis(200)).as_millis(),
        ctx.connector
    )))
}

/// tokio-postgres' Display hides the server's message behind "db error".
fn describe_pg_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {} ({})", db.severity(), db.message(), db.code().code()),
        None => {
            let mut s = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(inner) = src {
                s.push_str(": ");
                s.push_str(&inner.to_string());
                src = inner.source();
            }
            s
        }
    }
}

/// The table.whitelist entries no discovered table matches (Confluent would copy
/// nothing and say nothing).
fn missing_tables(config: &JdbcSourceConfig, found: &[TableId]) -> Vec<String> {
    config
        .include
        .iter()
        .filter(|entry| {
            !found.iter().any(|t| {
                **entry == t.table
                    || **entry == t.qualified()
                    || **entry == format!("{}.{}", config.url.database, t.qualified())
            })
        })
        .cloned()
        .collect()
}

struct TableState {
    table: TableId,
    topic: String,
    partition_json: Json,
    offset: TableOffset,
    next_poll: Instant,
    /// Query mode: the source is `query`, not the table.
    is_query: bool,
    /// Snapshots waiting out timestamp.delay.interval.ms, oldest first.
    delayed_snapshots: std::collections::VecDeque<(Instant, Snapshot)>,
}

impl TableState {
    /// Records the table's progress as its source offset.
    async fn save(&self, ctx: &SourceContext) -> Result<(), TaskError> {
        ctx.offsets
            .commit(&ctx.connector, &self.partition_json, &self.offset.to_json())
            .await
            .map_err(|e| TaskError(e.to_string()))
    }

    fn source_name(&self) -> String {
        if self.is_query {
            "the query".into()
        } else {
            self.table.qualified()
        }
    }
}

/// One poll of a custom query, with Confluent's semantics: the query is wrapped,
/// filtered on the timestamp / incrementing watermark and ordered by it. Unlike table
/// mode this cannot see transactions (a query has no row versions), so like
/// Confluent it can miss rows that commit late with an older timestamp or id.
async fn poll_query(
    ctx: &SourceContext,
    config: &JdbcSourceConfig,
    client: &Client,
    state: &mut TableState,
) -> Result<(), TaskError> {
    let query = config.query.as_deref().expect("query mode");
    let columns = pg::query_columns(client, query, config.numeric_mapping, &config.db_timezone)
        .await
        .map_err(|e| {
            TaskError(format!(
                "preparing the query failed: {}",
                describe_pg_error(&e)
            ))
        })?;
    let find = |name: &str| columns.iter().find(|c| c.name == name);
    let ts_parts: Vec<String> = config
        .timestamp_columns
        .iter()
        .map(|n| {
            let c = find(n).ok_or_else(|| TaskError(format!("the query returns no column {n}")))?;
            let q = format!("creek_query.{}", pg::quote_ident(n));
            Ok(if c.type_name == "timestamp" {
                format!(
                    "({q} AT TIME ZONE {})",
                    pg::quote_literal(&config.db_timezone)
                )
            } else {
                q
            })
        })
        .collect::<Result<_, TaskError>>()?;
    let ts_expr = match ts_parts.len() {
        0 => String::new(),
        1 => ts_parts[0].clone(),
        _ => format!("COALESCE({})", ts_parts.join(", ")),
    };
    let inc_expr = match &config.incrementing_column {
        Some(n) => {
            find(n).ok_or_else(|| TaskError(format!("the query returns no column {n}")))?;
            format!("creek_query.{}", pg::quote_ident(n))
        }
        None => String::new(),
    };
    let last_ts = state
        .offset
        .timestamp
        .map(|(ms, nanos)| ms * 1000 + (nanos / 1000) % 1000)
        .or_else(|| {
            config
                .timestamp_initial
                .filter(|t| *t >= 0)
                .map(|ms| ms * 1000)
        });
    let ts_after = |us: Option<i64>| match us {
        Some(us) => pg::timestamptz_literal(us),
        None => "'-infinity'::timestamptz".to_string(),
    };
    // Rows are read up to the database's clock minus timestamp.delay.interval.ms.
    let upper = format!(
        "now() - interval '{} milliseconds'",
        config.timestamp_delay.as_millis()
    );
    let last_inc = state.offset.incrementing.unwrap_or(-1);
    let (filter, order) = match config.mode {
        Mode::Bulk => (String::new(), String::new()),
        Mode::Timestamp => (
            format!(" WHERE {ts_expr} > {} AND {ts_expr} < {upper}", ts_after(last_ts)),
            format!(" ORDER BY {ts_expr}"),
        ),
        Mode::Incrementing => (format!(" WHERE {inc_expr} > {last_inc}"), format!(" ORDER BY {inc_expr}")),
        Mode::TimestampIncrementing => (
            format!(
                " WHERE {ts_expr} < {upper} AND (({ts_expr} = {} AND {inc_expr} > {last_inc}) OR {ts_expr} > {})",
                ts_after(last_ts),
                ts_after(last_ts)
            ),
            format!(" ORDER BY {ts_expr}, {inc_expr}"),
        ),
    };
    let select: Vec<String> = columns
        .iter()
        .map(|c| {
            c.select.replacen(
                &pg::quote_ident(&c.name),
                &format!("creek_query.{}", pg::quote_ident(&c.name)),
                1,
            )
        })
        .collect();
    let mut sql = format!(
        "SELECT {} FROM ({query}) AS creek_query{filter}{order}",
        select.join(", ")
    );
    if !config.query_suffix.is_empty() {
        sql.push(' ');
        sql.push_str(&config.query_suffix);
    }
    let copy = format!("COPY ({sql}) TO STDOUT (FORMAT binary)");
    // Connect gives query results an unnamed struct; Avro calls it ConnectDefault.
    let schema = StructSchema {
        name: "ConnectDefault".into(),
        fields: pg::struct_schema(&state.table, &columns).fields,
    };
    let mut progress = Progress {
        ctid: None,
        max_ts_us: last_ts,
        max_inc: state.offset.incrementing,
    };
    let delivered = copy_rows(
        ctx,
        config,
        client,
        state,
        &columns,
        &schema,
        &copy,
        0,
        &|_| None,
        &mut progress,
    )
    .await?;
    if delivered > 0 || config.mode == Mode::Bulk {
        progress.record(&mut state.offset);
        state.save(ctx).await?;
    }
    ctx.metrics.add_rows(delivered);
    Ok(())
}

/// Finds the task's tables (table.poll.interval.ms), picking up new ones with their
/// stored offsets and dropping those gone.
async fn discover(
    ctx: &SourceContext,
    config: &JdbcSourceConfig,
    client: &Client,
    tables: &mut BTreeMap<TableId, TableState>,
) -> Result<(), TaskError> {
    // Query mode: one source, the query, read by task 0 into topic.prefix.
    let found = if config.query.is_some() {
        vec![TableId {
            schema: String::new(),
            table: String::new(),
        }]
    } else {
        discover_tables(client, config)
            .await
            .map_err(|e| TaskError(format!("listing tables failed: {}", describe_pg_error(&e))))?
    };
    if config.query.is_none() {
        let missing = missing_tables(config, &found);
        if !missing.is_empty() {
            return Err(TaskError(format!(
                "org.apache.kafka.connect.errors.ConnectException: table(s) {} of table.whitelist do not exist in database {} (create them, then POST /connectors/{}/restart)",
                missing.join(", "),
                config.url.display(),
                ctx.connector
            )));
        }
    }
    let mine: Vec<TableId> = found
        .into_iter()
        .filter(|t| task_for(t, ctx.task_count) == ctx.task_id)
        .collect();
    tables.retain(|t, _| mine.contains(t));
    for t in mine {
        if tables.contains_key(&t) {
            continue;
        }
        let partition_json = match &config.query {
            Some(_) => json!({"query": "query"}),
            None => source_partition(&config.url.database, &t),
        };
        let offset = ctx
            .offsets
            .get(&ctx.connector, &partition_json)
            .map(|v| TableOffset::from_json(&v))
            .unwrap_or_default();
        let topic = match &config.query {
            Some(_) => config.topic_prefix.clone(),
            None => config.topic_for(&t),
        };
        info!(connector = %ctx.connector, source = %if config.query.is_some() { "query".to_string() } else { t.qualified() }, topic = %topic, "copying");
        tables.insert(
            t.clone(),
            TableState {
                topic,
                is_query: config.query.is_some(),
                table: t,
                partition_json,
                offset,
                next_poll: Instant::now(),
                delayed_snapshots: Default::default(),
            },
        );
    }
    Ok(())
}

/// One poll of one table: the rows not yet delivered, in chunks.
async fn poll_table(
    ctx: &SourceContext,
    config: &JdbcSourceConfig,
    client: &Client,
    state: &mut TableState,
) -> Result<(), TaskError> {
    let pgerr = |what: &str, e: tokio_postgres::Error| {
        TaskError(format!(
            "{what} on {}: {}",
            state.table.qualified(),
            describe_pg_error(&e)
        ))
    };
    let columns = pg::table_columns(
        client,
        &state.table,
        config.numeric_mapping,
        &config.db_timezone,
    )
    .await
    .map_err(|e| pgerr("reading the columns", e))?;
    if columns.is_empty() {
        return Err(TaskError(format!(
            "table {} does not exist or has no columns",
            state.table.qualified()
        )));
    }
    for c in config
        .timestamp_columns
        .iter()
        .chain(config.incrementing_column.iter())
    {
        if !columns.iter().any(|col| &col.name == c) {
            return Err(TaskError(format!(
                "column {c} does not exist in table {}",
                state.table.qualified()
            )));
        }
    }
    let schema = pg::struct_schema(&state.table, &columns);
    // One REPEATABLE READ transaction: the snapshot read first is the one COPY sees.
    // Heap order (no index, bitmap, parallel or synchronized scans) makes ctid a
    // resumable position.
    let c = client;
    c.batch_execute(
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; \
         SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off; \
         SET LOCAL enable_indexonlyscan = off; SET LOCAL max_parallel_workers_per_gather = 0; \
         SET LOCAL synchronize_seqscans = off",
    )
    .await
    .map_err(|e| pgerr("starting the snapshot", e))?;
    let result = poll_in_transaction(ctx, config, c, state, &columns, &schema).await;
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    let _ = c.batch_execute(end).await;
    result
}

async fn poll_in_transaction(
    ctx: &SourceContext,
    config: &JdbcSourceConfig,
    client: &Client,
    state: &mut TableState,
    columns: &[Column],
    schema: &StructSchema,
) -> Result<(), TaskError> {
    let row = client
        .query_one("SELECT pg_current_snapshot()::text", &[])
        .await
        .map_err(|e| TaskError(describe_pg_error(&e)))?;
    let current = Snapshot::parse(row.get::<_, &str>(0))
        .ok_or_else(|| TaskError("unreadable pg_current_snapshot()".into()))?;

    // timestamp.initial = -1: start from now, delivering nothing that exists already.
    if state.offset.snapshot.is_none()
        && state.offset.inflight.is_none()
        && config.timestamp_initial == Some(-1)
        && config.mode != Mode::Bulk
    {
        state.offset.snapshot = Some(current);
        state.save(ctx).await?;
        return Ok(());
    }

    // Resuming an unfinished poll: finish it within its own snapshot first.
    // timestamp.delay.interval.ms: read up to a snapshot taken that long ago, so a
    // row is delivered once its transaction has been committed for the delay.
    let (poll_snapshot, incrementing_floor, after, restrict) = match &state.offset.inflight {
        Some((snap, floor, after)) => (snap.clone(), *floor, Some(*after), true),
        None if config.timestamp_delay.is_zero() => {
            (current, state.offset.incrementing, None, false)
        }
        None => {
            let now = Instant::now();
            state.delayed_snapshots.push_back((now, current));
            let mut ripe = None;
            while let Some((taken, _)) = state.delayed_snapshots.front() {
                if now.duration_since(*taken) < config.timestamp_delay {
                    break;
                }
                ripe = state.delayed_snapshots.pop_front().map(|(_, s)| s);
            }
            match ripe {
                Some(s) => (s, state.offset.incrementing, None, true),
                None => return Ok(()),
            }
        }
    };

    let mut conditions: Vec<String> = Vec::new();
    if config.mode != Mode::Bulk {
        if let Some(prev) = &state.offset.snapshot {
            conditions.push(prev.not_visible_sql());
        }
    }
    if restrict {
        conditions.push(poll_snapshot.visible_sql());
    }
    if let Some(after) = after {
        conditions.push(format!("ctid > '({},{})'::tid", after.0, after.1));
    }
    let ts_expr = if config.timestamp_columns.len() == 1 {
        pg::quote_ident(&config.timestamp_columns[0])
    } else {
        let cols: Vec<String> = config
            .timestamp_columns
            .iter()
            .map(|c| pg::quote_ident(c))
            .collect();
        format!("COALESCE({})", cols.join(", "))
    };
    if matches!(config.mode, Mode::Timestamp | Mode::TimestampIncrementing) {
        conditions.push(format!("{ts_expr} IS NOT NULL"));
        if let Some(initial) = config.timestamp_initial.filter(|t| *t >= 0) {
            let ts_col = columns
                .iter()
                .find(|c| c.name == config.timestamp_columns[0]);
            let literal = if ts_col.map(|c| c.type_name == "timestamp").unwrap_or(false) {
                format!(
                    "(to_timestamp({initial} / 1000.0) AT TIME ZONE {})",
                    pg::quote_literal(&config.db_timezone)
                )
            } else {
                format!("to_timestamp({initial} / 1000.0)")
            };
            conditions.push(format!("{ts_expr} > {literal}"));
        }
    }
    if config.mode == Mode::Incrementing {
        let inc = pg::quote_ident(config.incrementing_column.as_deref().unwrap_or(""));
        match (incrementing_floor, &state.offset.snapshot) {
            // New ids, or rows of transactions in flight at the last poll (which may
            // carry ids below the largest one seen).
            (Some(floor), Some(prev)) if !prev.xip.is_empty() => conditions.push(format!(
                "({inc} > {floor} OR xmin = ANY({}))",
                prev.xip_array()
            )),
            (Some(floor), _) => conditions.push(format!("{inc} > {floor}")),
            (None, _) => conditions.push(format!("{inc} IS NOT NULL")),
        }
    }
    let select: Vec<&str> = columns.iter().map(|c| c.select.as_str()).collect();
    let mut sql = format!(
        "SELECT ctid, {} FROM {}",
        select.join(", "),
        state.table.quoted()
    );
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    if !config.query_suffix.is_empty() {
        sql.push(' ');
        sql.push_str(&config.query_suffix);
    }
    let copy = format!("COPY ({sql}) TO STDOUT (FORMAT binary)");

    let mut progress = Progress {
        ctid: after,
        max_ts_us: state
            .offset
            .timestamp
            .map(|(ms, nanos)| ms * 1000 + (nanos / 1000) % 1000),
        max_inc: state.offset.incrementing,
    };
    let inflight = |p: &Progress| {
        Some((
            poll_snapshot.clone(),
            incrementing_floor,
            p.ctid.unwrap_or((0, 0)),
        ))
    };
    let delivered = copy_rows(
        ctx,
        config,
        client,
        state,
        columns,
        schema,
        &copy,
        1,
        &inflight,
        &mut progress,
    )
    .await?;
    // The poll is complete: its snapshot becomes the watermark.
    state.offset.inflight = None;
    state.offset.snapshot = Some(poll_snapshot.clone());
    progress.record(&mut state.offset);
    state.save(ctx).await?;
    if delivered > 0 {
        tracing::debug!(connector = %ctx.connector, table = %state.table.qualified(), rows = delivered, "poll delivered rows");
    }
    ctx.metrics.add_rows(delivered);
    Ok(())
}

/// The partition and idempotent-producer sequence of the next chunk.
fn chunk_target(state: &TableState, partitions: i32) -> (i32, i32) {
    let partition = (state.offset.chunks % partitions.max(1) as u64) as i32;
    (
        partition,
        state.offset.sequences.get(&partition).copied().unwrap_or(0),
    )
}

fn new_chunk(state: &TableState, writer: &TopicWriter) -> PendingBatch {
    let (_, seq) = chunk_target(state, writer.partitions);
    writer.batch(
        state
            .offset
            .producer_id
            .map(|producer_id| ProducerSequence {
                producer_id,
                producer_epoch: 0,
                base_sequence: seq,
            }),
    )
}

/// The current COPY tuple as a row for the producer: Avro bodies are written
/// straight from the COPY bytes, other converters get Connect values.
struct CopyRow<'a> {
    parser: &'a CopyParser,
    columns: &'a [Column],
}

impl SourceRow for CopyRow<'_> {
    fn values(&self) -> Result<Vec<Value>, TaskError> {
        Ok(self.parser.values(self.columns)?)
    }
    fn avro_body(&self, _schema: &StructSchema, out: &mut Vec<u8>) -> Result<(), TaskError> {
        Ok(self.parser.avro_body(self.columns, out)?)
    }
}

/// How far a poll got: the last row id (table mode), the largest timestamp (µs since
/// the epoch) and incrementing value delivered.
struct Progress {
    ctid: Option<Ctid>,
    max_ts_us: Option<i64>,
    max_inc: Option<i64>,
}

impl Progress {
    /// Confluent's offset fields: `timestamp` (ms) and `timestamp_nanos` (nanos of
    /// the second), `incrementing`.
    fn record(&self, offset: &mut TableOffset) {
        offset.timestamp = self
            .max_ts_us
            .map(|us| (us.div_euclid(1000), us.rem_euclid(1_000_000) * 1000));
        offset.incrementing = self.max_inc;
    }

    fn observe(
        &mut self,
        watched: &WatchedColumns,
        columns: &[Column],
        parser: &CopyParser,
    ) -> Result<(), TaskError> {
        // COALESCE: the first non-null timestamp column.
        let ts = watched
            .timestamps
            .iter()
            .find_map(|&i| parser.column(i).map(|b| (i, b)));
        if let Some((i, b)) = ts {
            if let Some(us) = pg::timestamp_micros(&columns[i], b) {
                self.max_ts_us = Some(self.max_ts_us.map_or(us, |m| m.max(us)));
            }
        }
        if let Some(i) = watched.incrementing {
            let v = match parser
                .column(i)
                .map(|b| pg::decode(&columns[i], b))
                .transpose()?
            {
                Some(Value::Int16(n)) => Some(n as i64),
                Some(Value::Int32(n)) => Some(n as i64),
                Some(Value::Int64(n)) => Some(n),
                Some(Value::Decimal(n)) => i64::try_from(n).ok(),
                _ => None,
            };
            if let Some(v) = v {
                self.max_inc = Some(self.max_inc.map_or(v, |m| m.max(v)));
            }
        }
        Ok(())
    }
}

/// Positions of the watermark columns, looked up once per poll rather than per row.
struct WatchedColumns {
    /// timestamp.column.name, in COALESCE order (empty unless a timestamp mode).
    timestamps: Vec<usize>,
    incrementing: Option<usize>,
}

impl WatchedColumns {
    fn new(config: &JdbcSourceConfig, columns: &[Column]) -> Self {
        let position = |n: &String| columns.iter().position(|c| &c.name == n);
        let timestamps = if matches!(config.mode, Mode::Timestamp | Mode::TimestampIncrementing) {
            config
                .timestamp_columns
                .iter()
                .filter_map(position)
                .collect()
        } else {
            Vec::new()
        };
        WatchedColumns {
            timestamps,
            incrementing: config.incrementing_column.as_ref().and_then(position),
        }
    }
}

type InflightOf<'a> = dyn Fn(&Progress) -> Option<(Snapshot, Option<i64>, Ctid)> + Send + Sync + 'a;

/// Streams `copy` (leading bookkeeping fields, then `columns`) into the table's
/// topic in chunks of batch.max.rows; after each chunk the offset records `progress`
/// (and, in table mode, the unfinished poll). Returns the rows delivered.
#[allow(clippy::too_many_arguments)]
async fn copy_rows(
    ctx: &SourceContext,
    config: &JdbcSourceConfig,
    client: &Client,
    state: &mut TableState,
    columns: &[Column],
    schema: &StructSchema,
    copy: &str,
    leading: usize,
    inflight: &InflightOf<'_>,
    progress: &mut Progress,
) -> Result<u64, TaskError> {
    let writer = ctx.producer.open_topic(&state.topic, schema).await?;
    let partitions = writer.partitions;
    if state.offset.producer_id.is_none() {
        state.offset.producer_id = ctx.producer.init_producer_id().await?;
    }
    let source = state.source_name();
    let stream = client.copy_out(copy).await.map_err(|e| {
        TaskError(format!(
            "reading {source} failed: {}",
            describe_pg_error(&e)
        ))
    })?;
    futures::pin_mut!(stream);
    let mut parser = CopyParser::new(leading);
    let watched = WatchedColumns::new(config, columns);
    let mut chunk: Option<PendingBatch> = None;
    let mut delivered = 0u64;
    loop {
        let more = match stream.next().await {
            Some(Ok(bytes)) => {
                parser.feed(&bytes);
                true
            }
            Some(Err(e)) => {
                return Err(TaskError(format!(
                    "reading {source} failed: {}",
                    describe_pg_error(&e)
                )))
            }
            None => false,
        };
        while parser.advance_tuple(columns.len())? {
            if leading > 0 {
                let ctid = parser.ctid()?;
                if let Some(prev) = progress.ctid {
                    if ctid <= prev {
                        return Err(TaskError(format!(
                            "rows of {source} did not arrive in heap order ({ctid:?} after {prev:?}); creek's exactly-once resume needs a sequential scan"
                        )));
                    }
                }
                progress.ctid = Some(ctid);
            }
            progress.observe(&watched, columns, &parser)?;
            let builder = chunk.get_or_insert_with(|| new_chunk(state, &writer));
            let row = CopyRow {
                parser: &parser,
                columns,
            };
            writer.append(builder, &row)?;
            if builder.len() >= config.batch_max_rows {
                delivered += builder.len() as u64;
                let full = chunk.take().expect("just filled");
                flush_chunk(ctx, state, partitions, full, inflight(progress), progress).await?;
            }
        }
        if !more {
            break;
        }
    }
    if !parser.finished() {
        return Err(TaskError(format!("the COPY of {source} ended early")));
    }
    if let Some(rest) = chunk.take() {
        delivered += rest.len() as u64;
        flush_chunk(ctx, state, partitions, rest, inflight(progress), progress).await?;
    }
    Ok(delivered)
}

/// Appends a chunk as one idempotent batch and records the progress as the
/// offset (in one transaction where the worker runs sources exactly once).
async fn flush_chunk(
    ctx: &SourceContext,
    state: &mut TableState,
    partitions: i32,
    chunk: PendingBatch,
    inflight: Option<(Snapshot, Option<i64>, Ctid)>,
    progress: &Progress,
) -> Result<(), TaskError> {
    let (partition, seq) = chunk_target(state, partitions);
    let n = chunk.len() as i32;
    let mut next = state.offset.clone();
    next.sequences
        .insert(partition, seq.wrapping_add(n) & i32::MAX);
    next.chunks += 1;
    next.inflight = inflight;
    progress.record(&mut next);
    ctx.deliver(
        (&state.topic, partition),
        chunk,
        &state.partition_json,
        &next.to_json(),
    )
    .await?;
    state.offset = next;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_text_round_trips() {
        let s = Snapshot::parse("100:105:101,103").unwrap();
        assert_eq!(s.xip, vec![101, 103]);
        assert_eq!(s.text(), "100:105:101,103");
        assert_eq!(Snapshot::parse("7:7:").unwrap().xip, Vec::<u64>::new());
        assert!(Snapshot::parse("x").is_none());
    }

    #[test]
    fn visibility_sql_uses_32_bit_xids() {
        let s = Snapshot::parse(&format!(
            "{}:{}:{}",
            (1u64 << 32) + 5,
            (1u64 << 32) + 9,
            (1u64 << 32) + 6
        ))
        .unwrap();
        assert_eq!(
            s.not_visible_sql(),
            "(age(xmin) <= age('9'::xid) OR xmin = ANY('{6}'::xid[]))"
        );
        assert_eq!(
            s.visible_sql(),
            "(age(xmin) > age('9'::xid) AND xmin <> ALL('{6}'::xid[]))"
        );
    }

    #[test]
    fn offsets_round_trip_through_json() {
        let mut o = TableOffset {
            timestamp: Some((1_618_269_963_655, 0)),
            incrementing: Some(42),
            snapshot: Snapshot::parse("10:12:11"),
            inflight: Some((Snapshot::parse("12:14:").unwrap(), Some(40), (3, 7))),
            producer_id: Some(9),
            ..Default::default()
        };
        o.sequences.insert(0, 300);
        o.chunks = 3;
        assert_eq!(TableOffset::from_json(&o.to_json()), o);
    }
}
