//! Confluent's JDBC source connector (`io.confluent.connect.jdbc.JdbcSourceConnector`),
//! PostgreSQL dialect: Confluent's config keys and defaults, table discovery, and
//! tasks that copy new rows into `<topic.prefix><table>`.
//!
//! The watermark is where creek differs: see [`task`] for why no row is lost or
//! doubled when transactions commit out of order or share timestamps.

pub mod connector;
pub mod pg;
pub mod task;
pub mod url;

use std::collections::BTreeMap;
use std::time::Duration;

use tokio_postgres::{Client, NoTls};

use crate::config::{
    flag, get, key, list, source_keys, ConfigProblem, KeyTable, KeyType, PrefixRule, Support,
};
use pg::{quote_literal, NumericMapping, TableId};
use url::PgUrl;

pub const CLASS: &str = "io.confluent.connect.jdbc.JdbcSourceConnector";
pub const ALIASES: &[&str] = &["JdbcSourceConnector", "JdbcSource"];
pub const VERSION: &str = "10.7.6-creek";

const MODES: &[&str] = &[
    "bulk",
    "timestamp",
    "incrementing",
    "timestamp+incrementing",
];
const NUMERIC_MAPPINGS: &[&str] = &[
    "none",
    "precision_only",
    "best_fit",
    "best_fit_eager_double",
];

/// The JDBC source's key table: Connect's source keys and Confluent's JDBC source keys
/// (10.7), with how creek treats each (see [`crate::config`]).
pub fn config_keys() -> KeyTable {
    use KeyType::*;
    let mut table = source_keys();
    table.set_support(
        "errors.tolerance",
        Support::NoEffect("a row that cannot be converted fails the task"),
    );
    let mut mode = key("mode", String, None, "Mode", "The mode for updating a table each time it is polled: bulk, timestamp, incrementing or timestamp+incrementing.");
    mode.allowed = MODES;
    let mut numeric = key(
        "numeric.mapping",
        String,
        Some("none"),
        "Database",
        "Map NUMERIC values by precision and optionally scale to integral or decimal types.",
    );
    numeric.allowed = NUMERIC_MAPPINGS;
    table.keys.extend([
        key(
            "connection.url",
            String,
            None,
            "Database",
            "JDBC connection URL, e.g. jdbc:postgresql://localhost:5432/postgres.",
        ),
        key(
            "connection.user",
            String,
            Some(""),
            "Database",
            "JDBC connection user.",
        ),
        key(
            "connection.password",
            Password,
            Some(""),
            "Database",
            "JDBC connection password.",
        ),
        key(
            "connection.attempts",
            Int,
            Some("3"),
            "Database",
            "Maximum number of attempts to retrieve a valid JDBC connection.",
        ),
        key(
            "connection.backoff.ms",
            Long,
            Some("10000"),
            "Database",
            "Backoff time in milliseconds between connection attempts.",
        ),
        key(
            "catalog.pattern",
            String,
            Some(""),
            "Database",
            "Catalog pattern to fetch table metadata from the database.",
        )
        .no_effect("a PostgreSQL connection sees one catalog, the database in connection.url"),
        key(
            "table.whitelist",
            List,
            Some(""),
            "Database",
            "List of tables to include in copying.",
        ),
        key(
            "table.include.list",
            List,
            Some(""),
            "Database",
            "List of tables to include in copying (alias of table.whitelist).",
        ),
        key(
            "table.blacklist",
            List,
            Some(""),
            "Database",
            "List of tables to exclude from copying.",
        ),
        key(
            "table.exclude.list",
            List,
            Some(""),
            "Database",
            "List of tables to exclude from copying (alias of table.blacklist).",
        ),
        key(
            "schema.pattern",
            String,
            Some(""),
            "Database",
            "Schema pattern (SQL LIKE) to fetch table metadata from the database.",
        ),
        key(
            "numeric.precision.mapping",
            Boolean,
            Some("false"),
            "Database",
            "Deprecated: use numeric.mapping.",
        ),
        numeric,
        key(
            "dialect.name",
            String,
            Some(""),
            "Database",
            "The database dialect; only PostgreSqlDatabaseDialect is available.",
        ),
        key(
            "table.types",
            List,
            Some("TABLE"),
            "Database",
            "Table types to include: TABLE, VIEW, MATERIALIZED VIEW, PARTITIONED TABLE.",
        ),
        mode,
        key(
            "incrementing.column.name",
            String,
            Some(""),
            "Mode",
            "The name of the strictly incrementing column to use to detect new rows.",
        ),
        key(
            "timestamp.column.name",
            List,
            Some(""),
            "Mode",
            "Comma separated list of timestamp columns; several are combined with COALESCE.",
        ),
        key(
            "timestamp.initial",
            Long,
            Some(""),
            "Mode",
            "Epoch ms to start reading from; -1 for the current time.",
        ),
        key(
            "validate.non.null",
            Boolean,
            Some("true"),
            "Mode",
            "Check that the timestamp and incrementing columns are NOT NULL.",
        ),
        key(
            "query",
            String,
            Some(""),
            "Mode",
            "Custom query instead of copying whole tables.",
        ),
        key(
            "query.suffix",
            String,
            Some(""),
            "Mode",
            "Suffix to append at the end of the generated query.",
        ),
        key(
            "quote.sql.identifiers",
            String,
            Some("always"),
            "Mode",
            "When to quote identifiers; creek always quotes.",
        ),
        key(
            "transaction.isolation.mode",
            String,
            Some("DEFAULT"),
            "Mode",
            "Isolation level of the polling transactions.",
        )
        .allowed(&[
            "DEFAULT",
            "READ_UNCOMMITTED",
            "READ_COMMITTED",
            "REPEATABLE_READ",
            "SERIALIZABLE",
            "SQL_SERVER_SNAPSHOT",
        ])
        .no_effect("creek always reads from a repeatable-read snapshot"),
        key(
            "table.monitoring.startup.polling.limit.ms",
            Long,
            Some("10000"),
            "Connector",
            "How long to wait for the table list at startup.",
        )
        .no_effect("creek lists the tables when a task starts"),
        key(
            "poll.interval.ms",
            Int,
            Some("5000"),
            "Connector",
            "Frequency in ms to poll for new data in each table.",
        ),
        key(
            "batch.max.rows",
            Int,
            Some("100"),
            "Connector",
            "Maximum number of rows to include in a single batch.",
        ),
        key(
            "table.poll.interval.ms",
            Long,
            Some("60000"),
            "Connector",
            "Frequency in ms to poll for new or removed tables.",
        ),
        key(
            "topic.prefix",
            String,
            None,
            "Connector",
            "Prefix prepended to table names to generate the topic names.",
        ),
        key(
            "timestamp.delay.interval.ms",
            Long,
            Some("0"),
            "Connector",
            "How long to wait after a row with a timestamp appears before including it.",
        ),
        key(
            "db.timezone",
            String,
            Some("UTC"),
            "Connector",
            "Time zone of naive timestamps in the database.",
        ),
        key(
            "query.retry.attempts",
            Int,
            Some("-1"),
            "Connector",
            "Number of times to retry SQL failures; -1 retries forever.",
        ),
        key(
            "timestamp.granularity",
            String,
            Some("connect_logical"),
            "Connector",
            "How timestamps are represented; creek uses Connect's logical Timestamp.",
        ),
    ]);
    // Confluent passes connection.* keys it does not define to the JDBC driver.
    table.prefixes.push(PrefixRule {
        prefix: "connection.",
        support: Support::NoEffect(
            "JDBC driver properties: creek speaks PostgreSQL's protocol itself; put options in connection.url",
        ),
    });
    table
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Bulk,
    Timestamp,
    Incrementing,
    TimestampIncrementing,
}

/// A parsed, checked JDBC source configuration.
#[derive(Debug, Clone)]
pub struct JdbcSourceConfig {
    pub url: PgUrl,
    pub user: Option<String>,
    pub password: Option<String>,
    pub connection_attempts: u32,
    pub connection_backoff: Duration,
    pub mode: Mode,
    pub timestamp_columns: Vec<String>,
    pub incrementing_column: Option<String>,
    /// `None`: from the beginning; `Some(-1)`: from now on.
    pub timestamp_initial: Option<i64>,
    pub timestamp_delay: Duration,
    pub validate_non_null: bool,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub schema_pattern: Option<String>,
    pub table_types: Vec<String>,
    /// A custom query copied instead of tables (Confluent's `query` mode).
    pub query: Option<String>,
    pub query_suffix: String,
    pub topic_prefix: String,
    pub poll_interval: Duration,
    pub batch_max_rows: usize,
    pub table_poll_interval: Duration,
    pub numeric_mapping: NumericMapping,
    pub db_timezone: String,
    pub tasks_max: usize,
    /// SQL failures retried before the task stays FAILED (-1: forever).
    pub query_retry_attempts: i64,
}

impl JdbcSourceConfig {
    /// Parses a config whose keys and types `crate::config::check` has already accepted;
    /// reports the cross-key rules Confluent's connector enforces.
    pub fn parse(
        config: &BTreeMap<String, String>,
    ) -> Result<JdbcSourceConfig, Vec<ConfigProblem>> {
        let keys = config_keys();
        let g = |k: &str| get(&keys, config, k).filter(|v| !v.is_empty());
        let mut problems = Vec::new();
        let mut problem = |key: &str, message: String| {
            problems.push(ConfigProblem {
                key: key.to_string(),
                message,
            })
        };
        let url = match PgUrl::parse(g("connection.url").unwrap_or("")) {
            Ok(u) => Some(u),
            Err(e) => {
                problem(
                    "connection.url",
                    format!(
                        "Invalid value for configuration connection.url: {}",
                        crate::config::mask_url(&e)
                    ),
                );
                None
            }
        };
        let mode = match g("mode").unwrap_or("").to_ascii_lowercase().as_str() {
            "bulk" => Mode::Bulk,
            "timestamp" => Mode::Timestamp,
            "incrementing" => Mode::Incrementing,
            "timestamp+incrementing" => Mode::TimestampIncrementing,
            other => {
                problem(
                    "mode",
                    format!(
                        "Invalid value {other} for configuration mode: String must be one of: {}",
                        MODES.join(", ")
                    ),
                );
                Mode::Bulk
            }
        };
        let timestamp_columns = list(g("timestamp.column.name"));
        let incrementing_column = g("incrementing.column.name").map(str::to_string);
        if matches!(mode, Mode::Timestamp | Mode::TimestampIncrementing)
            && timestamp_columns.is_empty()
        {
            problem(
                "timestamp.column.name",
                format!(
                    "Missing required configuration \"timestamp.column.name\": mode {} needs it",
                    g("mode").unwrap_or("")
                ),
            );
        }
        if matches!(mode, Mode::Incrementing | Mode::TimestampIncrementing)
            && incrementing_column.is_none()
        {
            problem(
                "incrementing.column.name",
                format!(
                    "Missing required configuration \"incrementing.column.name\": mode {} needs it",
                    g("mode").unwrap_or("")
                ),
            );
        }
        let include = [list(g("table.whitelist")), list(g("table.include.list"))].concat();
        let exclude = [list(g("table.blacklist")), list(g("table.exclude.list"))].concat();
        if !include.is_empty() && !exclude.is_empty() {
            problem(
                "table.blacklist",
                "table.whitelist and table.blacklist are exclusive: set only one".into(),
            );
        }
        if g("query").is_some() && (!include.is_empty() || !exclude.is_empty()) {
            problem(
                "query",
                "query cannot be combined with table.whitelist or table.blacklist: a connector copies either a query or tables".into(),
            );
        }
        if let Some(d) = g("dialect.name") {
            if d != "PostgreSqlDatabaseDialect" {
                problem("dialect.name", format!("not supported yet: dialect {d}; creek's JDBC source speaks PostgreSqlDatabaseDialect"));
            }
        }
        let numeric_mapping = match g("numeric.mapping")
            .unwrap_or("none")
            .to_ascii_lowercase()
            .as_str()
        {
            "precision_only" => NumericMapping::PrecisionOnly,
            "best_fit" => NumericMapping::BestFit,
            "best_fit_eager_double" => NumericMapping::BestFitEagerDouble,
            _ if g("numeric.precision.mapping") == Some("true") => NumericMapping::PrecisionOnly,
            _ => NumericMapping::None,
        };
        let num = |k: &str| g(k).and_then(|v| v.trim().parse::<i64>().ok());
        let positive = |k: &str, min: i64, problem: &mut dyn FnMut(&str, String)| {
            let v = num(k).unwrap_or(min);
            if v < min {
                problem(
                    k,
                    format!(
                        "Invalid value {v} for configuration {k}: Value must be at least {min}"
                    ),
                );
            }
            v.max(min)
        };
        let attempts = positive("connection.attempts", 1, &mut problem);
        let backoff = positive("connection.backoff.ms", 0, &mut problem);
        let poll = positive("poll.interval.ms", 1, &mut problem);
        let batch = positive("batch.max.rows", 1, &mut problem);
        let table_poll = positive("table.poll.interval.ms", 1, &mut problem);
        let delay = positive("timestamp.delay.interval.ms", 0, &mut problem);
        let tasks = positive("tasks.max", 1, &mut problem);
        let tz = g("db.timezone").unwrap_or("UTC").to_string();
        if let Some(v) = g("timestamp.granularity").filter(|v| *v != "connect_logical") {
            problem("timestamp.granularity", format!("not supported yet: timestamp.granularity={v} (creek writes Connect's logical Timestamp, connect_logical)"));
        }
        if let Some(v) = g("quote.sql.identifiers").filter(|v| !v.eq_ignore_ascii_case("always")) {
            problem("quote.sql.identifiers", format!("Invalid value {v} for configuration quote.sql.identifiers: creek always quotes identifiers from configs"));
        }
        let table_types: Vec<String> = list(g("table.types"))
            .into_iter()
            .map(|t| t.to_ascii_uppercase())
            .collect();
        for t in &table_types {
            if !["TABLE", "VIEW", "MATERIALIZED VIEW", "PARTITIONED TABLE"].contains(&t.as_str()) {
                problem("table.types", format!("Invalid value {t} for configuration table.types: use TABLE, VIEW, MATERIALIZED VIEW or PARTITIONED TABLE"));
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(JdbcSourceConfig {
            url: url.expect("checked above"),
            user: g("connection.user").map(str::to_string),
            password: g("connection.password").map(str::to_string),
            connection_attempts: attempts as u32,
            connection_backoff: Duration::from_millis(backoff as u64),
            mode,
            timestamp_columns,
            incrementing_column,
            timestamp_initial: num("timestamp.initial"),
            timestamp_delay: Duration::from_millis(delay as u64),
            validate_non_null: flag(g("validate.non.null"), true),
            include,
            exclude,
            schema_pattern: g("schema.pattern").map(str::to_string),
            table_types: if table_types.is_empty() {
                vec!["TABLE".into()]
            } else {
                table_types
            },
            query: g("query").map(str::to_string),
            query_suffix: g("query.suffix").unwrap_or("").to_string(),
            topic_prefix: g("topic.prefix").unwrap_or("").to_string(),
            poll_interval: Duration::from_millis(poll as u64),
            batch_max_rows: batch as usize,
            table_poll_interval: Duration::from_millis(table_poll as u64),
            numeric_mapping,
            db_timezone: tz,
            tasks_max: tasks as usize,
            query_retry_attempts: g("query.retry.attempts")
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(-1),
        })
    }

    pub async fn connect(&self) -> Result<Client, tokio_postgres::Error> {
        let (client, connection) = self
            .url
            .to_config(self.user.as_deref(), self.password.as_deref())
            .connect(NoTls)
            .await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "jdbc source connection closed");
            }
        });
        Ok(client)
    }

    pub fn topic_for(&self, table: &TableId) -> String {
        format!("{}{}", self.topic_prefix, table.table)
    }
}

/// Tables matching the include/exclude lists, schema pattern and table types.
/// A list entry matches `table`, `schema.table` or `database.schema.table`.
pub async fn discover_tables(
    client: &Client,
    config: &JdbcSourceConfig,
) -> Result<Vec<TableId>, tokio_postgres::Error> {
    let kinds: Vec<&str> = config
        .table_types
        .iter()
        .map(|t| match t.as_str() {
            "VIEW" => "v",
            "MATERIALIZED VIEW" => "m",
            "PARTITIONED TABLE" => "p",
            _ => "r",
        })
        .collect();
    let kinds = kinds
        .iter()
        .map(|k| quote_literal(k))
        .collect::<Vec<_>>()
        .join(",");
    let rows = client
        .query(
            &format!(
                "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind IN ({kinds}) AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
                 AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%' \
                 AND ($1::text IS NULL OR n.nspname LIKE $1::text) ORDER BY 1, 2"
            ),
            &[&config.schema_pattern],
        )
        .await?;
    let db = config.url.database.clone();
    let matches = |list: &[String], t: &TableId| {
        list.iter().any(|e| {
            e == &t.table || *e == t.qualified() || *e == format!("{db}.{}", t.qualified())
        })
    };
    Ok(rows
        .iter()
        .map(|r| TableId {
            schema: r.get(0),
            table: r.get(1),
        })
        .filter(|t| config.include.is_empty() || matches(&config.include, t))
        .filter(|t| !matches(&config.exclude, t))
        .collect())
}

/// Checks a config against the database when it is reachable: listed tables exist,
/// named columns exist (and are NOT NULL when validate.non.null). A database that
/// cannot be reached is not a config error: the task reports it in /status.
pub async fn validate_against_database(config: &JdbcSourceConfig) -> Vec<ConfigProblem> {
    let client = match tokio::time::timeout(Duration::from_secs(5), config.connect()).await {
        Ok(Ok(c)) => c,
        _ => return Vec::new(),
    };
    let mut problems = Vec::new();
    if let Some(query) = &config.query {
        match pg::query_columns(&client, query, config.numeric_mapping, &config.db_timezone).await {
            Err(e) => problems.push(ConfigProblem {
                key: "query".into(),
                message: format!(
                    "Invalid value for configuration query: PostgreSQL cannot run it: {}",
                    e.as_db_error()
                        .map(|d| d.message().to_string())
                        .unwrap_or_else(|| e.to_string())
                ),
            }),
            Ok(columns) => {
                let named = config
                    .timestamp_columns
                    .iter()
                    .map(|c| ("timestamp.column.name", c))
                    .chain(
                        config
                            .incrementing_column
                            .iter()
                            .map(|c| ("incrementing.column.name", c)),
                    );
                for (key, name) in named {
                    if !columns.iter().any(|c| &c.name == name) {
                        problems.push(ConfigProblem {
                            key: key.into(),
                            message: format!("Invalid value {name} for configuration {key}: the query returns no column {name}"),
                        });
                    }
                }
            }
        }
        return problems;
    }
    let tables = match discover_tables(&client, config).await {
        Ok(t) => t,
        Err(_) => return problems,
    };
    for entry in &config.include {
        let found = tables.iter().any(|t| {
            entry == &t.table
                || *entry == t.qualified()
                || *entry == format!("{}.{}", config.url.database, t.qualified())
        });
        if !found {
            problems.push(ConfigProblem {
                key: "table.whitelist".into(),
                message: format!("Invalid value {entry} for configuration table.whitelist: table {entry} does not exist in database {}", config.url.display()),
            });
        }
    }
    for t in &tables {
        let Ok(columns) =
            pg::table_columns(&client, t, config.numeric_mapping, &config.db_timezone).await
        else {
            continue;
        };
        let mut check = |key: &str, name: &str| {
            match columns.iter().find(|c| c.name == name) {
            None => problems.push(ConfigProblem {
                key: key.into(),
                message: format!("Invalid value {name} for configuration {key}: column {name} does not exist in table {}", t.qualified()),
            }),
            Some(c) if config.validate_non_null && !c.not_null => problems.push(ConfigProblem {
                key: key.into(),
                message: format!("Cannot make incremental queries using {key} column {name} on {} because this column is nullable (set validate.non.null=false to allow it)", t.qualified()),
            }),
            Some(_) => {}
        }
        };
        if matches!(config.mode, Mode::Timestamp | Mode::TimestampIncrementing) {
            for c in &config.timestamp_columns {
                check("timestamp.column.name", c);
            }
        }
        if matches!(
            config.mode,
            Mode::Incrementing | Mode::TimestampIncrementing
        ) {
            if let Some(c) = &config.incrementing_column {
                check("incrementing.column.name", c);
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::cfg;

    const SEED: &[(&str, &str)] = &[
        ("name", "postg-connector"),
        ("connector.class", CLASS),
        ("tasks.max", "1"),
        (
            "connection.url",
            "jdbc:postgresql://localhost:5432/postgres",
        ),
        ("connection.user", "postgres"),
        ("connection.password", "x"),
        ("mode", "timestamp"),
        ("timestamp.column.name", "dt_update"),
        ("table.whitelist", "public.customers"),
        ("topic.prefix", "psg-"),
        ("validate.non.null", "false"),
    ];

    #[test]
    fn the_seed_config_is_clean_and_typos_get_a_suggestion() {
        let table = config_keys();
        let review = crate::config::check(&table, &cfg(SEED));
        assert!(
            review.errors.is_empty() && review.warnings.is_empty(),
            "{review:?}"
        );
        let mut typo = cfg(SEED);
        typo.insert("poll.intervall.ms".into(), "100".into());
        typo.insert("connection.pasword".into(), "y".into());
        let review = crate::config::check(&table, &typo);
        assert!(review.errors.is_empty(), "{:?}", review.errors);
        let hint = |k: &str| {
            review
                .warnings
                .iter()
                .find(|w| w.key == k)
                .unwrap()
                .message
                .clone()
        };
        assert!(hint("poll.intervall.ms").contains("did you mean poll.interval.ms?"));
        // A connection.* key is a driver property for Confluent, so no error, but
        // the likely typo is named.
        assert!(hint("connection.pasword").contains("did you mean connection.password?"));
        // Errors handling on the source skips nothing: accepted with a warning.
        let mut tolerant = cfg(SEED);
        tolerant.insert("errors.tolerance".into(), "all".into());
        let review = crate::config::check(&table, &tolerant);
        assert_eq!(review.warnings.len(), 1, "{review:?}");
    }
}
