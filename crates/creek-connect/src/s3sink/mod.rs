//! Confluent's S3 sink connector (`io.confluent.connect.s3.S3SinkConnector`):
//! Confluent's keys and defaults, delivering topics into a lake — a local folder
//! (`store.url=file:///DIR`, the embedded default) or any S3-compatible store —
//! as Parquet, JSON, Avro or raw files, with Confluent's object layout.
//!
//! [`task`] explains the exactly-once rule: objects are named by their first
//! offset and written before the consumer offset moves, so a replay rewrites the
//! same objects.

pub mod connector;
pub mod partitioner;
pub mod task;

use std::collections::BTreeMap;
use std::time::Duration;

use creek_lake::{FormatConfig, FormatKind, Lake};

use crate::config::{
    flag, get, key, list, sink_keys, ConfigProblem, KeyTable, KeyType, PrefixRule, Support,
};
use partitioner::{joda_to_chrono, path_flaw, Partitioner, TimestampExtractor};

pub const CLASS: &str = "io.confluent.connect.s3.S3SinkConnector";
pub const ALIASES: &[&str] = &["S3SinkConnector", "S3Sink", "LakeSink"];
pub const VERSION: &str = "10.5.17-creek";

const FORMATS: &[(&str, FormatKind)] = &[
    (
        "io.confluent.connect.s3.format.parquet.ParquetFormat",
        FormatKind::Parquet,
    ),
    (
        "io.confluent.connect.s3.format.json.JsonFormat",
        FormatKind::Json,
    ),
    (
        "io.confluent.connect.s3.format.avro.AvroFormat",
        FormatKind::Avro,
    ),
    (
        "io.confluent.connect.s3.format.bytearray.ByteArrayFormat",
        FormatKind::ByteArray,
    ),
];

const PARTITIONERS: &[&str] = &[
    "io.confluent.connect.storage.partitioner.DefaultPartitioner",
    "io.confluent.connect.storage.partitioner.FieldPartitioner",
    "io.confluent.connect.storage.partitioner.TimeBasedPartitioner",
    "io.confluent.connect.storage.partitioner.DailyPartitioner",
    "io.confluent.connect.storage.partitioner.HourlyPartitioner",
];

const NO_HIVE: &str = "creek has no Hive integration";
const STORE_CLIENT: &str = "creek's store client has its own retry and connection settings";
const STORE_SIDE: &str = "encryption, tags and ACLs are left to the bucket's own settings";

/// The S3 sink's key table: Connect's sink keys and Confluent's S3 sink keys (10.5,
/// storage-common and partitioner keys included), with how creek treats each (see
/// [`crate::config`]).
pub fn config_keys() -> KeyTable {
    use KeyType::*;
    let mut table = sink_keys();
    table.keys.extend([
        key("format.class", Class, None, "Connector", "The output format: ParquetFormat, JsonFormat, AvroFormat or ByteArrayFormat."),
        key("flush.size", Int, None, "Connector", "Number of records written to store before invoking file commits."),
        key("rotate.interval.ms", Long, Some("-1"), "Connector", "Commit files when the record time span of a file reaches this (record timestamps via timestamp.extractor)."),
        key("rotate.schedule.interval.ms", Long, Some("-1"), "Connector", "Commit files on this wall-clock schedule, idle partitions included."),
        key("schema.cache.size", Int, Some("1000"), "Connector", "The size of the schema cache used in the Avro converter.")
            .no_effect("creek caches every schema it has seen"),
        key("enhanced.avro.schema.support", Boolean, Some("false"), "Connector", "Enhanced Avro schema support (enum symbols, package names).")
            .no_effect("creek writes the registered Avro schema as it is"),
        key("connect.meta.data", Boolean, Some("true"), "Connector", "Allow the Connect converter to add its metadata to the output schema.")
            .no_effect("creek writes the registered Avro schema as it is"),
        key("allow.optional.map.keys", Boolean, Some("false"), "Connector", "Allow optional string map key when converting from Connect Schema to Avro Schema.")
            .no_effect("creek writes the registered Avro schema as it is"),
        key("s3.schema.partition.affix.type", String, Some("NONE"), "Connector", "Append the record schema name to the path as a PREFIX or SUFFIX.")
            .allowed(&["NONE", "PREFIX", "SUFFIX"])
            .refused("s3.schema.partition.affix.type other than NONE (objects would land under other paths)"),
        key("s3.elastic.buffer.enable", Boolean, Some("false"), "S3", "Elastic buffer for the S3 part uploads.")
            .no_effect(STORE_CLIENT),
        key("s3.elastic.buffer.init.capacity", Int, Some("131072"), "S3", "Initial capacity of the elastic buffer.")
            .no_effect(STORE_CLIENT),
        key("tombstone.encoded.partition", String, Some("tombstone"), "Connector", "Output partition of tombstones with behavior.on.null.values=write.")
            .no_effect("behavior.on.null.values=write is not supported yet"),
        key("partitioner.class", Class, Some("io.confluent.connect.storage.partitioner.DefaultPartitioner"), "Partitioner", "The partitioner to use when writing data to the store."),
        key("partition.field.name", List, Some(""), "Partitioner", "FieldPartitioner: the record fields to partition by."),
        key("path.format", String, Some(""), "Partitioner", "TimeBasedPartitioner: the directory pattern, e.g. 'year'=YYYY/'month'=MM/'day'=dd."),
        key("partition.duration.ms", Long, Some("-1"), "Partitioner", "TimeBasedPartitioner: the duration of a partition in ms."),
        key("locale", String, Some(""), "Partitioner", "TimeBasedPartitioner: the locale of path.format."),
        key("timezone", String, Some(""), "Partitioner", "TimeBasedPartitioner: the time zone of path.format, e.g. UTC or America/Sao_Paulo."),
        key("timestamp.extractor", String, Some("Wallclock"), "Partitioner", "Wallclock, Record or RecordField."),
        key("timestamp.field", String, Some("timestamp"), "Partitioner", "RecordField: the field holding the record's time."),
        key("schema.generator.class", Class, Some(""), "Partitioner", "The schema generator used with partitioners (for Hive).")
            .no_effect(NO_HIVE),
        key("topics.dir", String, Some("topics"), "Storage", "Top-level directory of the delivered objects."),
        key("directory.delim", String, Some("/"), "Storage", "Directory delimiter pattern."),
        key("file.delim", String, Some("+"), "Storage", "File delimiter pattern."),
        key("filename.offset.zero.pad.width", Int, Some("10"), "Storage", "Width to zero-pad offsets in file names to."),
        key("storage.class", Class, Some("io.confluent.connect.s3.storage.S3Storage"), "Storage", "The storage backend."),
        key("store.url", String, Some(""), "Storage", "An S3-compatible endpoint (http[s]://host:port) or file:///DIR for a local folder; empty for AWS S3."),
        key("s3.bucket.name", String, None, "S3", "The bucket (under store.url for a local folder)."),
        key("s3.region", String, Some("us-west-2"), "S3", "The AWS region."),
        key("s3.part.size", Int, Some("26214400"), "S3", "The part size of multipart uploads."),
        key("s3.object.tagging", Boolean, Some("false"), "S3", "Tag objects with their start and end offsets and record count.")
            .no_effect("creek does not tag objects"),
        key("s3.object.tagging.key.value.pairs", List, Some(""), "S3", "Extra object tags, key:value pairs.")
            .no_effect("creek does not tag objects"),
        key("s3.send.digest", Boolean, Some("false"), "S3", "Send the Content-MD5 header with uploads.")
            .no_effect("creek's store client sets its own integrity headers"),
        key("s3.object.behavior.on.tagging.error", String, Some("ignore"), "S3", "What to do when tagging an object fails: ignore or fail.")
            .allowed(&["ignore", "fail"])
            .no_effect("creek does not tag objects"),
        key("s3.ssea.name", String, Some(""), "S3", "The S3 server-side encryption algorithm: AES256 or aws:kms.")
            .allowed(&["", "AES256", "aws:kms"])
            .no_effect(STORE_SIDE),
        key("s3.sse.customer.key", Password, Some(""), "S3", "The S3 server-side encryption customer-provided key (SSE-C).")
            .no_effect(STORE_SIDE),
        key("s3.sse.kms.key.id", String, Some(""), "S3", "The KMS key id for server-side encryption with aws:kms.")
            .no_effect(STORE_SIDE),
        key("s3.acl.canned", String, Some(""), "S3", "An S3 canned ACL header value to apply when writing objects.")
            .no_effect(STORE_SIDE),
        key("s3.credentials.provider.class", Class, Some("com.amazonaws.auth.DefaultAWSCredentialsProviderChain"), "S3", "Credentials provider or provider chain to use for authentication to AWS.")
            .no_effect("creek uses aws.access.key.id / aws.secret.access.key, else the AWS_* environment variables and instance credentials"),
        key("s3.wan.mode", Boolean, Some("false"), "S3", "Use S3 accelerated endpoint.")
            .no_effect(STORE_CLIENT),
        key("s3.path.style.access.enabled", Boolean, Some("true"), "S3", "Path-style access to the store.")
            .no_effect("creek uses path-style requests"),
        key("s3.http.send.expect.continue", Boolean, Some("true"), "S3", "Send 'Expect: 100-continue' with uploads.")
            .no_effect(STORE_CLIENT),
        key("s3.retry.backoff.ms", Long, Some("200"), "S3", "Backoff between S3 request retries.")
            .no_effect(STORE_CLIENT),
        key("s3.part.retries", Int, Some("3"), "S3", "Retries of a failed part upload.")
            .no_effect(STORE_CLIENT),
        key("s3.proxy.url", String, Some(""), "S3", "S3 proxy settings encoded in a URL syntax.")
            .no_effect(STORE_CLIENT),
        key("s3.proxy.user", String, Some(""), "S3", "S3 proxy user.")
            .no_effect(STORE_CLIENT),
        key("s3.proxy.password", Password, Some(""), "S3", "S3 proxy password.")
            .no_effect(STORE_CLIENT),
        key("retry.backoff.ms", Long, Some("5000"), "S3", "Backoff before retrying after a failure."),
        key("aws.access.key.id", String, Some(""), "S3", "AWS access key (else the usual AWS environment variables)."),
        key("aws.secret.access.key", Password, Some(""), "S3", "AWS secret key."),
        key("parquet.codec", String, Some("snappy"), "Format", "Parquet compression: none, snappy, gzip, lz4, zstd, brotli."),
        key("avro.codec", String, Some("null"), "Format", "Avro container compression: null, deflate, snappy."),
        key("s3.compression.type", String, Some("none"), "Format", "Compression of JSON and ByteArray objects: none or gzip."),
        key("s3.compression.level", Int, Some("-1"), "Format", "gzip level (-1: the default)."),
        key("json.decimal.format", String, Some("BASE64"), "Format", "JsonFormat: decimals as BASE64 bytes or NUMERIC."),
        key("format.bytearray.separator", String, Some(""), "Format", "Separator between records of ByteArrayFormat (default: a line separator)."),
        key("format.bytearray.extension", String, Some(".bin"), "Format", "Extension of ByteArrayFormat objects."),
        key("creek.parquet.infer.schema", Boolean, Some("true"), "Format", "creek: schemaless JSON records become Parquet with a schema inferred from each file's records."),
        key("schema.compatibility", String, Some("NONE"), "Format", "Schema evolution: NONE starts a new file on every schema change; BACKWARD/FULL project older records to the newest schema seen; FORWARD projects newer records to the older one."),
        key("behavior.on.null.values", String, Some("fail"), "Format", "What to do with null (tombstone) values: fail or ignore.")
            .allowed(&["fail", "ignore", "write"]),
        key("store.kafka.keys", Boolean, Some("false"), "Format", "Also write record keys to .keys files beside the values."),
        key("keys.format.class", Class, Some("io.confluent.connect.s3.format.avro.AvroFormat"), "Format", "Format of the key files."),
        key("store.kafka.headers", Boolean, Some("false"), "Format", "Also write record headers to .headers files."),
        key("headers.format.class", Class, Some("io.confluent.connect.s3.format.avro.AvroFormat"), "Format", "Format of the header files."),
        key("hive.integration", Boolean, Some("false"), "Hive", "Integration with Hive.")
            .refused("Hive integration (hive.integration)"),
        key("hive.metastore.uris", String, Some(""), "Hive", "The Hive metastore URIs.").no_effect(NO_HIVE),
        key("hive.conf.dir", String, Some(""), "Hive", "Hive configuration directory.").no_effect(NO_HIVE),
        key("hive.home", String, Some(""), "Hive", "Hive home directory.").no_effect(NO_HIVE),
        key("hive.database", String, Some("default"), "Hive", "The database to use when Hive integration is enabled.").no_effect(NO_HIVE),
    ]);
    // AwsAssumeRoleCredentialsProvider's settings (sts.role.arn, …).
    table.prefixes.push(PrefixRule {
        prefix: "s3.credentials.provider.",
        support: Support::NoEffect(
            "creek uses aws.access.key.id / aws.secret.access.key, else the AWS_* environment variables and instance credentials",
        ),
    });
    table
}

/// Warnings that depend on other keys: settings of S3 that a local folder ignores.
pub fn warnings(config: &BTreeMap<String, String>) -> Vec<ConfigProblem> {
    let local = config
        .get("store.url")
        .is_some_and(|u| u.trim().starts_with("file://"));
    if !local {
        return Vec::new();
    }
    ["s3.region", "s3.part.size", "aws.access.key.id"]
        .iter()
        .filter(|k| config.contains_key(**k))
        .map(|k| ConfigProblem {
            key: k.to_string(),
            message: format!(
                "accepted with no effect: {k} does not apply when store.url is a local folder"
            ),
        })
        .collect()
}

/// Confluent's `schema.compatibility`: what a schema change in a partition does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaCompatibility {
    /// Any change commits the open files and starts new ones.
    None,
    /// BACKWARD and FULL: a newer schema starts new files; records with an older
    /// schema are projected to the current one (new readers read old data).
    Backward,
    /// FORWARD: an older schema starts new files; records with a newer schema are
    /// projected to the current one.
    Forward,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NullValues {
    Fail,
    Ignore,
}

/// Which topics a sink reads.
#[derive(Debug, Clone)]
pub enum TopicSelection {
    List(Vec<String>),
    Regex(regex::Regex),
}

impl TopicSelection {
    pub fn matches(&self, topic: &str) -> bool {
        match self {
            TopicSelection::List(l) => l.iter().any(|t| t == topic),
            TopicSelection::Regex(r) => r.is_match(topic),
        }
    }
}

/// A parsed, checked S3 sink configuration.
#[derive(Debug, Clone)]
pub struct S3SinkConfig {
    pub topics: TopicSelection,
    pub tasks_max: usize,
    pub format: FormatConfig,
    /// store.kafka.keys: the format of the key files written beside the values.
    pub keys_format: Option<FormatConfig>,
    /// store.kafka.headers: the format of the header files written beside the values.
    pub headers_format: Option<FormatConfig>,
    pub flush_size: usize,
    pub rotate_interval_ms: i64,
    pub rotate_schedule_interval_ms: i64,
    pub partitioner: Partitioner,
    pub extractor: TimestampExtractor,
    pub topics_dir: String,
    pub directory_delim: String,
    pub file_delim: String,
    pub offset_pad_width: usize,
    pub bucket: String,
    pub region: String,
    pub store_url: String,
    pub part_size: usize,
    pub access_key: Option<String>,
    pub secret_key: Option<String>,
    pub null_values: NullValues,
    pub schema_compatibility: SchemaCompatibility,
    pub tolerate_errors: bool,
    pub retry_backoff: Duration,
}

fn format_kind(class: &str) -> Option<FormatKind> {
    FORMATS
        .iter()
        .find(|(c, _)| *c == class || c.rsplit('.').next() == Some(class))
        .map(|(_, k)| *k)
}

impl S3SinkConfig {
    pub fn parse(config: &BTreeMap<String, String>) -> Result<S3SinkConfig, Vec<ConfigProblem>> {
        let keys = config_keys();
        let g = |k: &str| get(&keys, config, k).filter(|v| !v.is_empty());
        let mut problems = Vec::new();
        let mut problem = |key: &str, message: String| {
            problems.push(ConfigProblem {
                key: key.to_string(),
                message,
            })
        };
        let num = |k: &str| g(k).and_then(|v| v.trim().parse::<i64>().ok());

        let topic_list = list(g("topics"));
        let topics = match (topic_list.is_empty(), g("topics.regex")) {
            (false, None) => TopicSelection::List(topic_list),
            (true, Some(r)) => match regex::Regex::new(&format!("^(?:{r})$")) {
                Ok(re) => TopicSelection::Regex(re),
                Err(e) => {
                    problem(
                        "topics.regex",
                        format!("Invalid value {r} for configuration topics.regex: {e}"),
                    );
                    TopicSelection::List(Vec::new())
                }
            },
            (false, Some(_)) => {
                problem(
                    "topics.regex",
                    "topics and topics.regex are exclusive: set only one".into(),
                );
                TopicSelection::List(Vec::new())
            }
            (true, None) => {
                problem(
                    "topics",
                    "Must configure one of topics or topics.regex".into(),
                );
                TopicSelection::List(Vec::new())
            }
        };

        let format_class = g("format.class").unwrap_or("");
        let kind = format_kind(format_class).unwrap_or_else(|| {
            problem("format.class", format!("Invalid value {format_class} for configuration format.class: use ParquetFormat, JsonFormat, AvroFormat or ByteArrayFormat (io.confluent.connect.s3.format.*)"));
            FormatKind::Json
        });
        let separator = match config.get("format.bytearray.separator") {
            Some(s) => s
                .replace("\\n", "\n")
                .replace("\\r", "\r")
                .replace("\\t", "\t")
                .into_bytes(),
            None => b"\n".to_vec(),
        };
        let format = FormatConfig {
            kind,
            parquet_codec: g("parquet.codec").unwrap_or("snappy").to_ascii_lowercase(),
            compression: g("s3.compression.type")
                .unwrap_or("none")
                .to_ascii_lowercase(),
            avro_codec: g("avro.codec").unwrap_or("null").to_ascii_lowercase(),
            bytearray_separator: separator,
            bytearray_extension: g("format.bytearray.extension")
                .unwrap_or(".bin")
                .to_string(),
            compression_level: num("s3.compression.level").unwrap_or(-1) as i32,
            json_decimal_format: g("json.decimal.format")
                .unwrap_or("BASE64")
                .to_ascii_uppercase(),
            // Without errors.tolerance=all a bad record fails the task (and its
            // open files are dropped), so files need not survive a failed append.
            atomic_appends: g("errors.tolerance").is_some_and(|v| v.eq_ignore_ascii_case("all")),
            infer_schema: flag(g("creek.parquet.infer.schema"), true),
        };
        if let Err(e) = format.validate() {
            let key = match kind {
                FormatKind::Parquet => "parquet.codec",
                FormatKind::Avro => "avro.codec",
                _ => "s3.compression.type",
            };
            problem(key, e.to_string());
        }

        let flush_size = num("flush.size").unwrap_or(0);
        if flush_size < 1 {
            problem("flush.size", format!("Invalid value {flush_size} for configuration flush.size: Value must be at least 1"));
        }

        let extractor = match g("timestamp.extractor").unwrap_or("Wallclock") {
            "Wallclock" | "io.confluent.connect.storage.partitioner.TimeBasedPartitioner$WallclockTimestampExtractor" => TimestampExtractor::Wallclock,
            "Record" | "io.confluent.connect.storage.partitioner.TimeBasedPartitioner$RecordTimestampExtractor" => TimestampExtractor::Record,
            "RecordField" | "io.confluent.connect.storage.partitioner.TimeBasedPartitioner$RecordFieldTimestampExtractor" => {
                TimestampExtractor::RecordField(g("timestamp.field").unwrap_or("timestamp").to_string())
            }
            other => {
                problem("timestamp.extractor", format!("Invalid value {other} for configuration timestamp.extractor: use Wallclock, Record or RecordField"));
                TimestampExtractor::Wallclock
            }
        };

        let partitioner_class = g("partitioner.class").unwrap_or(PARTITIONERS[0]);
        let short = partitioner_class
            .rsplit('.')
            .next()
            .unwrap_or(partitioner_class);
        if !PARTITIONERS
            .iter()
            .any(|p| *p == partitioner_class || p.ends_with(&format!(".{short}")))
        {
            problem("partitioner.class", format!("Invalid value {partitioner_class} for configuration partitioner.class: use DefaultPartitioner, FieldPartitioner, TimeBasedPartitioner, DailyPartitioner or HourlyPartitioner"));
        }
        let timezone = g("timezone");
        // Month and day names are written in English; another locale with a pattern
        // that spells names would silently differ from Confluent's output.
        if let (Some(locale), Some(path)) = (g("locale"), g("path.format")) {
            let english = locale.to_ascii_lowercase().starts_with("en");
            let names = path.contains("MMM") || path.contains('E') || path.contains('a');
            if !english && names {
                problem("locale", format!("not supported yet: locale {locale} with month or day names in path.format (creek writes them in English; numeric patterns work in any locale)"));
            }
        }
        let time_partitioner =
            |path: String, duration: Option<i64>, problem: &mut dyn FnMut(&str, String)| {
                let Some(tz_name) = timezone else {
                    problem(
                        "timezone",
                        format!("Missing required configuration \"timezone\": {short} needs it"),
                    );
                    return Partitioner::Default;
                };
                let tz: chrono_tz::Tz = match tz_name.parse() {
                    Ok(tz) => tz,
                    Err(_) => {
                        problem("timezone", format!("Invalid value {tz_name} for configuration timezone: not a time zone id"));
                        return Partitioner::Default;
                    }
                };
                let Some(duration) = duration.filter(|d| *d > 0) else {
                    problem("partition.duration.ms", format!("Missing required configuration \"partition.duration.ms\": {short} needs a positive duration"));
                    return Partitioner::Default;
                };
                match joda_to_chrono(&path) {
                    Ok(format) if !path.is_empty() => {
                        // Rendered once so literal text cannot climb out of the store.
                        let sample = chrono::DateTime::from_timestamp_millis(1_700_000_000_000)
                            .expect("in range")
                            .with_timezone(&tz)
                            .format(&format)
                            .to_string();
                        if let Some(why) = path_flaw(&sample) {
                            problem("path.format", format!("Invalid value {path} for configuration path.format: it renders to {sample:?}, which {why}"));
                        }
                        Partitioner::Time {
                            format,
                            duration_ms: duration,
                            timezone: tz,
                            extractor: extractor.clone(),
                        }
                    }
                    Ok(_) => {
                        problem(
                            "path.format",
                            format!(
                                "Missing required configuration \"path.format\": {short} needs it"
                            ),
                        );
                        Partitioner::Default
                    }
                    Err(e) => {
                        problem("path.format", e);
                        Partitioner::Default
                    }
                }
            };
        let partitioner = match short {
            "FieldPartitioner" => {
                let fields = list(g("partition.field.name"));
                if fields.is_empty() {
                    problem("partition.field.name", "Missing required configuration \"partition.field.name\": FieldPartitioner needs it".into());
                }
                Partitioner::Field(fields)
            }
            "TimeBasedPartitioner" => time_partitioner(
                g("path.format").unwrap_or("").to_string(),
                num("partition.duration.ms"),
                &mut problem,
            ),
            "DailyPartitioner" => time_partitioner(
                "'year'=YYYY/'month'=MM/'day'=dd".into(),
                Some(86_400_000),
                &mut problem,
            ),
            "HourlyPartitioner" => time_partitioner(
                "'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH".into(),
                Some(3_600_000),
                &mut problem,
            ),
            _ => Partitioner::Default,
        };

        if let Some(s) = g("storage.class").filter(|s| !s.ends_with("S3Storage")) {
            problem("storage.class", format!("Invalid value {s} for configuration storage.class: creek's sink writes through io.confluent.connect.s3.storage.S3Storage"));
        }
        let schema_compatibility = match g("schema.compatibility")
            .unwrap_or("NONE")
            .to_ascii_uppercase()
            .as_str()
        {
            "NONE" => SchemaCompatibility::None,
            "BACKWARD" | "FULL" => SchemaCompatibility::Backward,
            "FORWARD" => SchemaCompatibility::Forward,
            other => {
                problem("schema.compatibility", format!("Invalid value {other} for configuration schema.compatibility: use NONE, BACKWARD, FORWARD or FULL"));
                SchemaCompatibility::None
            }
        };
        let null_values = match g("behavior.on.null.values")
            .unwrap_or("fail")
            .to_ascii_lowercase()
            .as_str()
        {
            "fail" => NullValues::Fail,
            "ignore" => NullValues::Ignore,
            other => {
                problem(
                    "behavior.on.null.values",
                    format!(
                        "not supported yet: behavior.on.null.values={other} (use fail or ignore)"
                    ),
                );
                NullValues::Fail
            }
        };
        // store.kafka.headers: `<name>.headers<ext>` files, each record's headers as
        // Confluent's view, an array of {key, value} strings.
        let headers_format = if flag(g("store.kafka.headers"), false) {
            let class = g("headers.format.class")
                .unwrap_or("io.confluent.connect.s3.format.avro.AvroFormat");
            match format_kind(class) {
                Some(FormatKind::ByteArray) | None => {
                    problem("headers.format.class", format!("Invalid value {class} for configuration headers.format.class: use ParquetFormat, JsonFormat or AvroFormat"));
                    None
                }
                Some(kind) => Some(FormatConfig {
                    kind,
                    ..format.clone()
                }),
            }
        } else {
            None
        };
        // store.kafka.keys: the keys go to `<name>.keys<ext>` files beside the values,
        // in keys.format.class (Confluent's default: Avro).
        let keys_format = if flag(g("store.kafka.keys"), false) {
            let class =
                g("keys.format.class").unwrap_or("io.confluent.connect.s3.format.avro.AvroFormat");
            match format_kind(class) {
                Some(kind) => Some(FormatConfig {
                    kind,
                    ..format.clone()
                }),
                None => {
                    problem("keys.format.class", format!("Invalid value {class} for configuration keys.format.class: use ParquetFormat, JsonFormat, AvroFormat or ByteArrayFormat"));
                    None
                }
            }
        } else {
            None
        };
        let tolerate_errors = match g("errors.tolerance")
            .unwrap_or("none")
            .to_ascii_lowercase()
            .as_str()
        {
            "none" => false,
            "all" => true,
            other => {
                problem(
                    "errors.tolerance",
                    format!(
                        "Invalid value {other} for configuration errors.tolerance: use none or all"
                    ),
                );
                false
            }
        };
        let pad = num("filename.offset.zero.pad.width").unwrap_or(10);
        if !(0..=19).contains(&pad) {
            problem("filename.offset.zero.pad.width", format!("Invalid value {pad} for configuration filename.offset.zero.pad.width: must be 0 to 19"));
        }
        let part_size = num("s3.part.size").unwrap_or(26_214_400);
        if part_size < 5 * 1024 * 1024 {
            problem("s3.part.size", format!("Invalid value {part_size} for configuration s3.part.size: Value must be at least 5242880"));
        }
        let tasks = num("tasks.max").unwrap_or(1);
        if tasks < 1 {
            problem(
                "tasks.max",
                format!(
                    "Invalid value {tasks} for configuration tasks.max: Value must be at least 1"
                ),
            );
        }
        let bucket = g("s3.bucket.name").unwrap_or("").to_string();
        // Path-forming settings must keep every object inside the bucket: each is
        // rendered as it appears in an object key and checked segment by segment.
        let topics_dir = g("topics.dir").unwrap_or("topics").to_string();
        let directory_delim = config.get("directory.delim").cloned().unwrap_or("/".into());
        let file_delim = config.get("file.delim").cloned().unwrap_or("+".into());
        let forms: [(&str, &str, String); 3] = [
            ("topics.dir", &topics_dir, topics_dir.clone()),
            (
                "directory.delim",
                &directory_delim,
                format!("a{directory_delim}b"),
            ),
            (
                "file.delim",
                &file_delim,
                format!("t{file_delim}0{file_delim}0"),
            ),
        ];
        for (k, v, rendered) in forms {
            let flaw = if v.is_empty() {
                Some("is empty".to_string())
            } else {
                path_flaw(&rendered)
            };
            if let Some(why) = flaw {
                problem(
                    k,
                    format!("Invalid value {v} for configuration {k}: the object path {why}"),
                );
            }
        }
        if let Partitioner::Field(fields) = &partitioner {
            for f in fields
                .iter()
                .filter(|f| f.contains(['/', '\\']) || f.as_str() == "..")
            {
                problem("partition.field.name", format!("Invalid value {f} for configuration partition.field.name: a field name is a path segment and cannot contain '/' or '\\'"));
            }
        }
        if let Some(dir) = g("store.url").and_then(|u| u.trim().strip_prefix("file://")) {
            if dir.split('/').any(|seg| seg == "..") {
                problem("store.url", format!("Invalid value file://{dir} for configuration store.url: write the folder without '..'"));
            }
        }
        if let Err(e) = creek_lake::check_bucket_name(&bucket) {
            problem("s3.bucket.name", e.to_string());
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(S3SinkConfig {
            topics,
            tasks_max: tasks as usize,
            format,
            keys_format,
            headers_format,
            flush_size: flush_size as usize,
            rotate_interval_ms: num("rotate.interval.ms").unwrap_or(-1),
            rotate_schedule_interval_ms: num("rotate.schedule.interval.ms").unwrap_or(-1),
            partitioner,
            extractor,
            topics_dir,
            directory_delim,
            file_delim,
            offset_pad_width: pad as usize,
            bucket,
            region: g("s3.region").unwrap_or("us-west-2").to_string(),
            store_url: g("store.url").unwrap_or("").to_string(),
            part_size: part_size as usize,
            access_key: g("aws.access.key.id").map(str::to_string),
            secret_key: g("aws.secret.access.key").map(str::to_string),
            null_values,
            schema_compatibility,
            tolerate_errors,
            retry_backoff: Duration::from_millis(
                num("retry.backoff.ms").unwrap_or(5000).max(0) as u64
            ),
        })
    }

    pub fn open_lake(&self) -> Result<Lake, creek_lake::LakeError> {
        Lake::open(
            &self.store_url,
            &self.bucket,
            &self.region,
            self.access_key.as_deref(),
            self.secret_key.as_deref(),
            self.part_size,
        )
    }
}

/// A malformed store.url is a config error; an unreachable store or a missing
/// bucket is not (the task reports it in /status and retries), as for the source.
pub async fn validate_destination(config: &S3SinkConfig) -> Vec<ConfigProblem> {
    match config.open_lake() {
        Ok(_) => Vec::new(),
        Err(e @ creek_lake::LakeError::Config { key, .. }) => vec![ConfigProblem {
            key: key.into(),
            message: e.to_string(),
        }],
        Err(e) => vec![ConfigProblem {
            key: "store.url".into(),
            message: format!(
                "Invalid value {} for configuration store.url: {e}",
                config.store_url
            ),
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::cfg;

    #[test]
    fn parses_a_confluent_parquet_config() {
        let c = S3SinkConfig::parse(&cfg(&[
            ("topics", "psg-customers"),
            (
                "format.class",
                "io.confluent.connect.s3.format.parquet.ParquetFormat",
            ),
            ("flush.size", "1000"),
            ("s3.bucket.name", "lake"),
            ("store.url", "file:///tmp/lake"),
            (
                "partitioner.class",
                "io.confluent.connect.storage.partitioner.DailyPartitioner",
            ),
            ("timezone", "UTC"),
        ]))
        .unwrap();
        assert!(matches!(
            c.partitioner,
            Partitioner::Time {
                duration_ms: 86_400_000,
                ..
            }
        ));
        assert_eq!(c.flush_size, 1000);
        assert_eq!(c.format.kind, FormatKind::Parquet);
    }

    #[test]
    fn reports_each_bad_key() {
        let problems = S3SinkConfig::parse(&cfg(&[
            ("format.class", "CsvFormat"),
            ("flush.size", "0"),
            ("partitioner.class", "TimeBasedPartitioner"),
        ]))
        .unwrap_err();
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        for k in ["topics", "format.class", "flush.size", "timezone"] {
            assert!(keys.contains(&k), "{k} missing from {keys:?}");
        }
    }

    /// The completed tutorial's two sinks, verbatim but for bucket, region and store.url.
    fn tutorial_sinks() -> [BTreeMap<String, String>; 2] {
        let common = [
            ("connector.class", "io.confluent.connect.s3.S3SinkConnector"),
            ("flush.size", "10"),
            ("s3.bucket.name", "lake"),
            ("s3.region", "us-east-1"),
            ("s3.object.tagging", "true"),
            ("s3.ssea.name", "AES256"),
            ("topics.dir", "raw-data/kafka"),
            ("storage.class", "io.confluent.connect.s3.storage.S3Storage"),
            ("tasks.max", "1"),
            ("store.url", "file:///tmp/lake"),
        ];
        let mut jovens = cfg(&common);
        jovens.extend(cfg(&[
            ("name", "s3-jovens-sink"),
            (
                "format.class",
                "io.confluent.connect.s3.format.parquet.ParquetFormat",
            ),
            ("schema.compatibility", "FULL"),
            ("topics", "jovens"),
        ]));
        let mut contagem = cfg(&common);
        contagem.extend(cfg(&[
            ("name", "s3-contagem-sink"),
            (
                "format.class",
                "io.confluent.connect.s3.format.json.JsonFormat",
            ),
            (
                "keys.format.class",
                "io.confluent.connect.s3.format.json.JsonFormat",
            ),
            (
                "schema.generator.class",
                "io.confluent.connect.storage.hive.schema.DefaultSchemaGenerator",
            ),
            ("schema.compatibility", "NONE"),
            ("topics", "idadecont"),
            ("store.kafka.keys", "true"),
        ]));
        [jovens, contagem]
    }

    #[test]
    fn the_tutorial_sinks_are_accepted_with_warnings() {
        let table = config_keys();
        let [jovens, contagem] = tutorial_sinks();
        for c in [&jovens, &contagem] {
            let review = crate::config::check(&table, c);
            assert!(review.errors.is_empty(), "{:?}", review.errors);
            let warned: Vec<&str> = review.warnings.iter().map(|w| w.key.as_str()).collect();
            assert!(warned.contains(&"s3.object.tagging"), "{warned:?}");
            assert!(warned.contains(&"s3.ssea.name"), "{warned:?}");
            S3SinkConfig::parse(c).unwrap();
        }
        let review = crate::config::check(&table, &contagem);
        let gen = review
            .warnings
            .iter()
            .find(|w| w.key == "schema.generator.class")
            .unwrap();
        assert!(
            gen.message.contains("accepted but not implemented yet"),
            "{gen:?}"
        );
        assert!(warnings(&contagem).iter().any(|w| w.key == "s3.region"));
    }

    #[test]
    fn path_settings_cannot_climb_out_of_the_bucket() {
        let base = [
            ("topics", "t"),
            ("format.class", "JsonFormat"),
            ("flush.size", "10"),
            ("s3.bucket.name", "b"),
            ("store.url", "file:///tmp/lake"),
        ];
        let time = [
            ("partitioner.class", "TimeBasedPartitioner"),
            ("timezone", "UTC"),
            ("partition.duration.ms", "3600000"),
        ];
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("topics.dir", "../x")], "topics.dir"),
            (&[("topics.dir", "a/../../x")], "topics.dir"),
            (&[("topics.dir", "/etc")], "topics.dir"),
            (&[("topics.dir", "a//b")], "topics.dir"),
            (&[("topics.dir", "a\\..\\b")], "topics.dir"),
            (&[("directory.delim", "/../")], "directory.delim"),
            (&[("directory.delim", "")], "directory.delim"),
            (&[("file.delim", "/../")], "file.delim"),
            (
                &[
                    ("partitioner.class", "FieldPartitioner"),
                    ("partition.field.name", "../x"),
                ],
                "partition.field.name",
            ),
            (
                &[("path.format", "'..'/YYYY"), time[0], time[1], time[2]],
                "path.format",
            ),
            (
                &[("path.format", "/YYYY"), time[0], time[1], time[2]],
                "path.format",
            ),
            (&[("store.url", "file:///tmp/../etc")], "store.url"),
            (&[("s3.bucket.name", "..")], "s3.bucket.name"),
        ];
        for (change, key) in cases {
            let mut c = cfg(&base);
            c.extend(cfg(change));
            let problems = S3SinkConfig::parse(&c).unwrap_err();
            assert!(
                problems.iter().any(|p| p.key == *key),
                "{change:?}: {problems:?}"
            );
        }
        // Dots inside names and nested relative folders are fine.
        let mut ok = cfg(&base);
        ok.extend(cfg(&[
            ("topics.dir", "raw-data/kafka.v1/x..y"),
            ("path.format", "'year'=YYYY/'month'=MM"),
            time[0],
            time[1],
            time[2],
        ]));
        S3SinkConfig::parse(&ok).unwrap();
    }
}
