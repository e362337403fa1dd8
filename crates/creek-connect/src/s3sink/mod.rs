//! Confluent's S3 sink connector (`io.confluent.connect.s3.S3SinkConnector`):
//! Confluent's keys and defaults, delivering topics into a lake — a local folder
//! (`store.url=file:///DIR`, the embedded default) or any S3-compatible store —
//! as Parquet, JSON, Avro or raw files, with Confluent's object layout.
//!
//! [`task`] explains the exactly-once rule: objects are named by their first
//! offset and written before the consumer offset moves, so a replay rewrites the
//! same objects.

pub mod partitioner;
pub mod task;

use std::collections::BTreeMap;
use std::time::Duration;

use creek_lake::{FormatConfig, FormatKind, Lake};
use tracing::warn;

use crate::config::{common_keys, flag, get, key, list, ConfigKey, ConfigProblem, KeyType};
use partitioner::{joda_to_chrono, Partitioner, TimestampExtractor};

pub const CLASS: &str = "io.confluent.connect.s3.S3SinkConnector";
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

/// Keys creek accepts without acting on them because ignoring them cannot lose or
/// misplace data (server-side encryption and object tags are the store's business).
const HARMLESS: &[&str] = &[
    "s3.ssea.name",
    "s3.sse.customer.key",
    "s3.object.tagging",
    "s3.acl.canned",
];

pub fn config_keys() -> Vec<ConfigKey> {
    use KeyType::*;
    let mut keys = common_keys();
    keys.extend([
        key("topics", List, Some(""), "Common", "Topics to deliver (or topics.regex)."),
        key("topics.regex", String, Some(""), "Common", "Regular expression of the topics to deliver."),
        key("format.class", Class, None, "Connector", "The output format: ParquetFormat, JsonFormat, AvroFormat or ByteArrayFormat."),
        key("flush.size", Int, None, "Connector", "Number of records written to store before invoking file commits."),
        key("rotate.interval.ms", Long, Some("-1"), "Connector", "Commit files when the record time span of a file reaches this (record timestamps via timestamp.extractor)."),
        key("rotate.schedule.interval.ms", Long, Some("-1"), "Connector", "Commit files on this wall-clock schedule, idle partitions included."),
        key("partitioner.class", Class, Some("io.confluent.connect.storage.partitioner.DefaultPartitioner"), "Partitioner", "The partitioner to use when writing data to the store."),
        key("partition.field.name", List, Some(""), "Partitioner", "FieldPartitioner: the record fields to partition by."),
        key("path.format", String, Some(""), "Partitioner", "TimeBasedPartitioner: the directory pattern, e.g. 'year'=YYYY/'month'=MM/'day'=dd."),
        key("partition.duration.ms", Long, Some("-1"), "Partitioner", "TimeBasedPartitioner: the duration of a partition in ms."),
        key("locale", String, Some(""), "Partitioner", "TimeBasedPartitioner: the locale of path.format."),
        key("timezone", String, Some(""), "Partitioner", "TimeBasedPartitioner: the time zone of path.format, e.g. UTC or America/Sao_Paulo."),
        key("timestamp.extractor", String, Some("Wallclock"), "Partitioner", "Wallclock, Record or RecordField."),
        key("timestamp.field", String, Some("timestamp"), "Partitioner", "RecordField: the field holding the record's time."),
        key("topics.dir", String, Some("topics"), "Storage", "Top-level directory of the delivered objects."),
        key("directory.delim", String, Some("/"), "Storage", "Directory delimiter pattern."),
        key("file.delim", String, Some("+"), "Storage", "File delimiter pattern."),
        key("filename.offset.zero.pad.width", Int, Some("10"), "Storage", "Width to zero-pad offsets in file names to."),
        key("storage.class", Class, Some("io.confluent.connect.s3.storage.S3Storage"), "Storage", "The storage backend."),
        key("s3.bucket.name", String, None, "S3", "The bucket (under store.url for a local folder)."),
        key("s3.region", String, Some("us-west-2"), "S3", "The AWS region."),
        key("store.url", String, Some(""), "S3", "An S3-compatible endpoint (http[s]://host:port) or file:///DIR for a local folder; empty for AWS S3."),
        key("s3.part.size", Int, Some("26214400"), "S3", "The part size of multipart uploads."),
        key("s3.retry.backoff.ms", Long, Some("200"), "S3", "Backoff between S3 request retries."),
        key("s3.part.retries", Int, Some("3"), "S3", "Retries of a failed part upload."),
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
        key("behavior.on.null.values", String, Some("fail"), "Format", "What to do with null (tombstone) values: fail or ignore."),
        key("store.kafka.keys", Boolean, Some("false"), "Format", "Also write record keys to .keys files beside the values."),
        key("keys.format.class", Class, Some("io.confluent.connect.s3.format.avro.AvroFormat"), "Format", "Format of the key files."),
        key("store.kafka.headers", Boolean, Some("false"), "Format", "Also write record headers to .headers files."),
        key("headers.format.class", Class, Some("io.confluent.connect.s3.format.avro.AvroFormat"), "Format", "Format of the header files."),
    ]);
    for h in HARMLESS {
        keys.push(key(
            h,
            String,
            Some(""),
            "S3",
            "Accepted and ignored by creek (does not affect what is written).",
        ));
    }
    keys
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
                    Ok(format) if !path.is_empty() => Partitioner::Time {
                        format,
                        duration_ms: duration,
                        timezone: tz,
                        extractor: extractor.clone(),
                    },
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
        for h in HARMLESS {
            if g(h).is_some() {
                warn!(key = h, "accepted but not applied by creek's lake sink");
            }
        }
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
            topics_dir: g("topics.dir").unwrap_or("topics").to_string(),
            directory_delim: g("directory.delim").unwrap_or("/").to_string(),
            file_delim: g("file.delim").unwrap_or("+").to_string(),
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

    fn cfg(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

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
}
