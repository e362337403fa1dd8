//! Connector configuration definitions and validation, in Kafka Connect's shapes:
//! a `ConfigDef` of typed keys with defaults, checked before a connector starts, and
//! the `/config/validate` answer listing every key with its errors.
//!
//! ## The key policy
//!
//! Every connector has one key table (its `config_keys()`): Connect's worker-level
//! connector keys ([`common_keys`], [`sink_keys`], [`source_keys`]) plus the keys
//! Confluent documents for that connector. Each key says how creek treats it
//! ([`Support`]):
//!
//! - [`Support::Implemented`]: behaves as Confluent documents.
//! - [`Support::NoEffect`]: tuning, operational, or irrelevant for creek (e.g.
//!   `s3.part.size` on a local folder, `s3.ssea.name`, `schema.generator.class`,
//!   client overrides): accepted, with the warning "accepted but not implemented
//!   yet: … (no effect)" when set to something other than its default.
//! - [`Support::Refused`]: a feature whose absence would silently change the data
//!   (`transforms`, `predicates`, a dead letter queue, `hive.integration`): refused
//!   with a 400 "not supported yet: …" when set to anything but its default.
//!
//! Values of known keys are type-checked whatever their support (an invalid value is
//! a 400 naming the key). Unknown keys are accepted as Kafka Connect accepts them,
//! with a warning, and "did you mean …?" when one edit or two away from a known key.
//! Warnings go to the connector's log (connect.log) and to `/config/validate`, where
//! each config value carries an extra `warnings` list (Connect has no warning field;
//! `errors` and `error_count` keep Connect's meaning, so clients see warnings without
//! them counting as errors).

use std::collections::BTreeMap;

use serde_json::{json, Value as Json};

/// What a secret is shown as (and, sent back in a PUT, keeps the stored value).
pub const HIDDEN: &str = "[hidden]";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    String,
    Int,
    Long,
    Boolean,
    List,
    Password,
    Class,
}

impl KeyType {
    fn name(self) -> &'static str {
        match self {
            KeyType::String => "STRING",
            KeyType::Int => "INT",
            KeyType::Long => "LONG",
            KeyType::Boolean => "BOOLEAN",
            KeyType::List => "LIST",
            KeyType::Password => "PASSWORD",
            KeyType::Class => "CLASS",
        }
    }
}

/// How creek treats a key it knows (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    Implemented,
    /// Accepted without effect; the text says what creek does instead.
    NoEffect(&'static str),
    /// Refused unless at its default; the text names the missing feature.
    Refused(&'static str),
}

/// One configuration key a connector understands.
#[derive(Debug, Clone)]
pub struct ConfigKey {
    pub name: &'static str,
    pub ty: KeyType,
    /// `None`: required.
    pub default: Option<&'static str>,
    /// Allowed values (case-insensitive), when the key is an enumeration.
    pub allowed: &'static [&'static str],
    pub group: &'static str,
    pub doc: &'static str,
    pub support: Support,
}

impl ConfigKey {
    /// Accepted, but setting it has no effect in creek yet (`why`: what creek does).
    pub const fn no_effect(mut self, why: &'static str) -> Self {
        self.support = Support::NoEffect(why);
        self
    }

    /// Refused when set to anything but its default (`what`: the missing feature).
    pub const fn refused(mut self, what: &'static str) -> Self {
        self.support = Support::Refused(what);
        self
    }

    pub const fn allowed(mut self, values: &'static [&'static str]) -> Self {
        self.allowed = values;
        self
    }

    /// Whether `v` is the key's default (then its support does not matter).
    fn is_default(&self, v: &str) -> bool {
        let v = v.trim();
        match self.default {
            Some(d) => v.eq_ignore_ascii_case(d) || (v.is_empty() && d.is_empty()),
            None => false,
        }
    }
}

pub const fn key(
    name: &'static str,
    ty: KeyType,
    default: Option<&'static str>,
    group: &'static str,
    doc: &'static str,
) -> ConfigKey {
    ConfigKey {
        name,
        ty,
        default,
        allowed: &[],
        group,
        doc,
        support: Support::Implemented,
    }
}

/// A family of keys named by a prefix (`transforms.<alias>.type`, driver properties).
#[derive(Debug, Clone, Copy)]
pub struct PrefixRule {
    pub prefix: &'static str,
    pub support: Support,
}

const fn prefix(prefix: &'static str, support: Support) -> PrefixRule {
    PrefixRule { prefix, support }
}

/// A connector's whole key table: exact keys and key families.
#[derive(Debug, Clone)]
pub struct KeyTable {
    pub keys: Vec<ConfigKey>,
    pub prefixes: Vec<PrefixRule>,
}

impl KeyTable {
    pub fn find(&self, name: &str) -> Option<&ConfigKey> {
        self.keys.iter().find(|k| k.name == name)
    }

    fn find_prefix(&self, name: &str) -> Option<&PrefixRule> {
        self.prefixes.iter().find(|p| name.starts_with(p.prefix))
    }

    /// Replaces the support of a common key for one connector.
    pub fn set_support(&mut self, name: &str, support: Support) {
        if let Some(k) = self.keys.iter_mut().find(|k| k.name == name) {
            k.support = support;
        }
    }
}

const CLIENTS_IN_PROCESS: &str =
    "creek's tasks read and write the log in-process, without Kafka clients to configure";
const NO_CONFIG_PROVIDERS: &str = "creek has no config providers, so there is nothing to reload";

/// The keys every connector accepts (Connect's `ConnectorConfig`).
pub fn common_keys() -> KeyTable {
    use KeyType::*;
    KeyTable {
        keys: vec![
            key("name", String, None, "Common", "Globally unique name to use for this connector."),
            key("connector.class", String, None, "Common", "Name or alias of the class for this connector."),
            key("tasks.max", Int, Some("1"), "Common", "Maximum number of tasks to use for this connector."),
            key("tasks.max.enforce", Boolean, Some("true"), "Common", "(Deprecated) Whether to enforce tasks.max.")
                .no_effect("creek never starts more than tasks.max tasks"),
            key("connector.plugin.version", String, Some(""), "Common", "Version of the connector.")
                .no_effect("creek has one version of each connector"),
            key("key.converter", Class, Some(""), "Common", "Converter class for record keys."),
            key("value.converter", Class, Some(""), "Common", "Converter class for record values."),
            key("header.converter", Class, Some("org.apache.kafka.connect.storage.SimpleHeaderConverter"), "Common", "HeaderConverter class for record headers.")
                .no_effect("creek reads and writes headers as SimpleHeaderConverter does"),
            key("key.converter.plugin.version", String, Some(""), "Common", "Version of the key converter.")
                .no_effect("creek has one version of each converter"),
            key("value.converter.plugin.version", String, Some(""), "Common", "Version of the value converter.")
                .no_effect("creek has one version of each converter"),
            key("header.converter.plugin.version", String, Some(""), "Common", "Version of the header converter.")
                .no_effect("creek has one version of each converter"),
            key("config.action.reload", String, Some("restart"), "Common", "What to do when external config providers change: restart or none.")
                .allowed(&["restart", "none"])
                .no_effect(NO_CONFIG_PROVIDERS),
            key("transforms", List, Some(""), "Transforms", "Aliases for the transformations to apply to records.")
                .refused("single message transforms (transforms); remove the key or leave it empty"),
            key("predicates", List, Some(""), "Predicates", "Aliases for the predicates used by transformations.")
                .refused("predicates; remove the key or leave it empty"),
            key("errors.tolerance", String, Some("none"), "Error Handling", "none: any error fails the task; all: skip problematic records.")
                .allowed(&["none", "all"]),
            key("errors.log.enable", Boolean, Some("false"), "Error Handling", "Log errors and failed operations.")
                .no_effect("creek always logs skipped records to connect.log"),
            key("errors.log.include.messages", Boolean, Some("false"), "Error Handling", "Include records in the error log.")
                .no_effect("creek logs the topic, partition and offset of a skipped record, never its contents"),
            key("errors.retry.timeout", Long, Some("0"), "Error Handling", "Maximum time a failed operation is retried.")
                .no_effect("a failed task is FAILED at once and retried by the task itself (see connection.backoff.ms / retry.backoff.ms)"),
            key("errors.retry.delay.max.ms", Long, Some("60000"), "Error Handling", "Maximum delay between retries.")
                .no_effect("a failed task is FAILED at once and retried by the task itself (see connection.backoff.ms / retry.backoff.ms)"),
        ],
        prefixes: vec![
            // Converter settings are checked by the converter itself.
            prefix("key.converter.", Support::Implemented),
            prefix("value.converter.", Support::Implemented),
            prefix("header.converter.", Support::NoEffect("creek reads and writes headers as SimpleHeaderConverter does")),
            // Only read for the aliases listed in transforms/predicates, which are refused.
            prefix("transforms.", Support::NoEffect("used only by the transforms listed in transforms, which creek does not run yet")),
            prefix("predicates.", Support::NoEffect("used only by the predicates listed in predicates, which creek does not run yet")),
            prefix("admin.override.", Support::NoEffect(CLIENTS_IN_PROCESS)),
        ],
    }
}

/// Connect's `SinkConnectorConfig` keys, on top of [`common_keys`].
pub fn sink_keys() -> KeyTable {
    use KeyType::*;
    let mut t = common_keys();
    t.keys.extend([
        key("topics", List, Some(""), "Common", "Topics to deliver (or topics.regex)."),
        key("topics.regex", String, Some(""), "Common", "Regular expression of the topics to deliver."),
        key("errors.deadletterqueue.topic.name", String, Some(""), "Error Handling", "Topic to send records that cannot be delivered to.")
            .refused("a dead letter queue (errors.deadletterqueue.topic.name); records that fail are skipped with errors.tolerance=all, or fail the task"),
        key("errors.deadletterqueue.topic.replication.factor", Int, Some("3"), "Error Handling", "Replication factor of the dead letter queue topic.")
            .no_effect("creek has no dead letter queue yet"),
        key("errors.deadletterqueue.context.headers.enable", Boolean, Some("false"), "Error Handling", "Add error context headers to dead letter queue records.")
            .no_effect("creek has no dead letter queue yet"),
        // Which records a sink sees: a silent change if ignored.
        key("consumer.override.auto.offset.reset", String, Some("earliest"), "Common", "Where a sink without committed offsets starts; creek's sinks start at the earliest offset.")
            .refused("consumer.override.auto.offset.reset other than earliest (creek's sinks start at the earliest offset)"),
    ]);
    t.prefixes.push(prefix(
        "consumer.override.",
        Support::NoEffect(CLIENTS_IN_PROCESS),
    ));
    t
}

/// Connect's `SourceConnectorConfig` keys, on top of [`common_keys`].
pub fn source_keys() -> KeyTable {
    use KeyType::*;
    let mut t = common_keys();
    t.keys.extend([
        key(
            "exactly.once.support",
            String,
            Some("requested"),
            "Exactly Once Support",
            "requested or required; creek's JDBC source is always exactly-once.",
        )
        .allowed(&["requested", "required"]),
        key(
            "transaction.boundary",
            String,
            Some("poll"),
            "Exactly Once Support",
            "poll, interval or connector.",
        )
        .allowed(&["poll", "interval", "connector"])
        .no_effect("creek appends each chunk of batch.max.rows rows as one idempotent batch"),
        key(
            "transaction.boundary.interval.ms",
            Long,
            Some(""),
            "Exactly Once Support",
            "Interval of transaction.boundary=interval.",
        )
        .no_effect("creek appends each chunk of batch.max.rows rows as one idempotent batch"),
        key(
            "offsets.storage.topic",
            String,
            Some(""),
            "Offsets",
            "A connector-specific offsets topic.",
        )
        .no_effect("creek keeps every source offset in connect-offsets"),
        key(
            "topic.creation.groups",
            List,
            Some(""),
            "Topic Creation",
            "Groups of topic creation settings.",
        )
        .no_effect("creek creates a source's topics with the broker's defaults"),
    ]);
    t.prefixes.extend([
        prefix(
            "topic.creation.",
            Support::NoEffect("creek creates a source's topics with the broker's defaults"),
        ),
        prefix("producer.override.", Support::NoEffect(CLIENTS_IN_PROCESS)),
    ]);
    t
}

/// A problem (or a warning) about one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub key: String,
    pub message: String,
}

/// What [`check`] found: errors refuse the config, warnings are shown and logged.
#[derive(Debug, Clone, Default)]
pub struct Review {
    pub errors: Vec<ConfigProblem>,
    pub warnings: Vec<ConfigProblem>,
}

/// Connector configs arrive as JSON objects whose values may be numbers or booleans
/// (the seed writes `"tasks.max": 1`); Connect treats them as strings.
pub fn normalize(
    config: &serde_json::Map<String, Json>,
) -> Result<BTreeMap<String, String>, ConfigProblem> {
    let mut out = BTreeMap::new();
    for (k, v) in config {
        let s = match v {
            Json::String(s) => s.clone(),
            Json::Number(n) => n.to_string(),
            Json::Bool(b) => b.to_string(),
            Json::Null => continue,
            other => {
                return Err(ConfigProblem {
                    key: k.clone(),
                    message: format!("Invalid value {other} for configuration {k}: must be a string, number or boolean"),
                })
            }
        };
        out.insert(k.clone(), s);
    }
    Ok(out)
}

fn no_effect_message(name: &str, why: &str) -> String {
    format!("accepted but not implemented yet: {name} ({why}; no effect)")
}

/// Checks presence, types, allowed values and support; warns about unknown keys and
/// keys without effect.
pub fn check(table: &KeyTable, config: &BTreeMap<String, String>) -> Review {
    let mut review = Review::default();
    for k in &table.keys {
        match config.get(k.name) {
            None if k.default.is_none() => review.errors.push(ConfigProblem {
                key: k.name.into(),
                message: format!(
                    "Missing required configuration \"{}\" which has no default value.",
                    k.name
                ),
            }),
            None => {}
            Some(v) => {
                if let Err(m) = check_value(k, v) {
                    review.errors.push(ConfigProblem {
                        key: k.name.into(),
                        message: m,
                    });
                    continue;
                }
                if k.is_default(v) {
                    continue;
                }
                match k.support {
                    Support::Implemented => {}
                    Support::NoEffect(why) => review.warnings.push(ConfigProblem {
                        key: k.name.into(),
                        message: no_effect_message(k.name, why),
                    }),
                    Support::Refused(what) => review.errors.push(ConfigProblem {
                        key: k.name.into(),
                        message: format!("not supported yet: {what}"),
                    }),
                }
            }
        }
    }
    for name in config.keys() {
        if table.find(name).is_some() {
            continue;
        }
        let hint = suggestion(table, name)
            .map(|s| format!("; did you mean {s}?"))
            .unwrap_or_default();
        match table.find_prefix(name).map(|p| p.support) {
            Some(Support::Implemented) => {
                if !hint.is_empty() {
                    review.warnings.push(ConfigProblem {
                        key: name.clone(),
                        message: format!("{name} is passed on as is{hint}"),
                    });
                }
            }
            Some(Support::NoEffect(why)) => review.warnings.push(ConfigProblem {
                key: name.clone(),
                message: format!("{}{hint}", no_effect_message(name, why)),
            }),
            Some(Support::Refused(what)) => review.errors.push(ConfigProblem {
                key: name.clone(),
                message: format!("not supported yet: {what}"),
            }),
            None => review.warnings.push(ConfigProblem {
                key: name.clone(),
                message: format!(
                    "Unknown configuration \"{name}\": accepted and ignored, as Kafka Connect does{hint}"
                ),
            }),
        }
    }
    review
}

/// The known key closest to an unknown `name`, when it is likely a typo.
pub fn suggestion(table: &KeyTable, name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    let limit = if name.len() <= 8 { 1 } else { 2 };
    table
        .keys
        .iter()
        .map(|k| (edit_distance(&lower, k.name), k.name))
        .filter(|(d, k)| *d <= limit && *k != name)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance, counting a swap of two neighbours as one edit.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

fn check_value(k: &ConfigKey, v: &str) -> Result<(), String> {
    let bad = |what: &str| {
        Err(format!(
            "Invalid value {v} for configuration {}: {what}",
            k.name
        ))
    };
    // An empty number means "unset" for keys whose default is empty.
    let empty_ok = v.trim().is_empty() && k.default == Some("");
    let well_typed = empty_ok
        || match k.ty {
            KeyType::Int => v.trim().parse::<i32>().is_ok(),
            KeyType::Long => v.trim().parse::<i64>().is_ok(),
            KeyType::Boolean => {
                v.trim().eq_ignore_ascii_case("true") || v.trim().eq_ignore_ascii_case("false")
            }
            _ => true,
        };
    if !well_typed {
        return bad(match k.ty {
            KeyType::Int => "Not a number of type INT",
            KeyType::Long => "Not a number of type LONG",
            _ => "Expected value to be either true or false",
        });
    }
    if !k.allowed.is_empty() && !k.allowed.iter().any(|a| a.eq_ignore_ascii_case(v.trim())) {
        return bad(&format!("String must be one of: {}", k.allowed.join(", ")));
    }
    Ok(())
}

/// A value of `key`, or its default.
pub fn get<'a>(
    table: &'a KeyTable,
    config: &'a BTreeMap<String, String>,
    name: &str,
) -> Option<&'a str> {
    config
        .get(name)
        .map(String::as_str)
        .or_else(|| table.find(name).and_then(|k| k.default))
}

/// A LIST value: comma-separated, trimmed, empty items dropped.
pub fn list(v: Option<&str>) -> Vec<String> {
    v.unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// A BOOLEAN value (already type-checked), or `default` when unset.
pub fn flag(v: Option<&str>, default: bool) -> bool {
    v.map(|v| v.trim().eq_ignore_ascii_case("true"))
        .unwrap_or(default)
}

/// Name endings of secrets that are not in a connector's own table (converter and
/// client settings passed through): Confluent's and Kafka's PASSWORD-type keys.
const SECRET_SUFFIXES: &[&str] = &[
    "secret.access.key",
    ".secret",
    "sse.customer.key",
    "basic.auth.user.info",
    "bearer.auth.token",
    "sasl.jaas.config",
    "ssl.key.password",
    "ssl.keystore.key",
    "private.key",
];

/// True for keys whose values must never be shown.
pub fn is_secret(table: &KeyTable, name: &str) -> bool {
    table.find(name).is_some_and(|k| k.ty == KeyType::Password)
        || name.to_ascii_lowercase().contains("password")
        || SECRET_SUFFIXES.iter().any(|s| name.ends_with(s))
}

/// A URL with its embedded password (`user:pass@`, `password=…`) replaced by
/// `[hidden]`: JDBC URLs may carry one.
pub fn mask_url(url: &str) -> String {
    let hidden = HIDDEN;
    let mut out = url.to_string();
    // userinfo: scheme://user:pass@host
    if let Some(start) = out.find("://").map(|i| i + 3) {
        let end = out[start..]
            .find(['/', '?', ';'])
            .map_or(out.len(), |i| start + i);
        if let Some(at) = out[start..end].rfind('@').map(|i| start + i) {
            if let Some(colon) = out[start..at].find(':').map(|i| start + i) {
                out.replace_range(colon + 1..at, hidden);
            }
        }
    }
    // query or ;-properties: password=…
    let mut from = 0;
    while let Some(i) = out[from..].to_ascii_lowercase().find("password=") {
        let value = from + i + "password=".len();
        let end = out[value..]
            .find(['&', ';'])
            .map_or(out.len(), |j| value + j);
        out.replace_range(value..end, hidden);
        from = value + hidden.len();
    }
    out
}

/// Connect's `ConfigKeyInfo` of every key of the table, in order: its position in its
/// group is `order_in_group` (from 1), as Connect numbers the keys of each group.
pub fn definitions(table: &KeyTable) -> Vec<Json> {
    let mut in_group: BTreeMap<&str, i64> = BTreeMap::new();
    table
        .keys
        .iter()
        .map(|k| {
            let order = in_group.entry(k.group).or_insert(0);
            *order += 1;
            definition(k, *order)
        })
        .collect()
}

fn definition(k: &ConfigKey, order_in_group: i64) -> Json {
    json!({
        "name": k.name, "type": k.ty.name(), "required": k.default.is_none(),
        "default_value": k.default, "importance": if k.default.is_none() { "HIGH" } else { "MEDIUM" },
        "documentation": k.doc, "group": k.group, "order_in_group": order_in_group,
        "width": "NONE", "display_name": k.name, "dependents": [],
    })
}

/// The definition of a key outside the table (unknown, or of a key family).
fn loose_definition(name: &str) -> Json {
    json!({"name": name, "type": "STRING", "required": false, "default_value": null,
        "importance": "LOW", "documentation": "", "group": null, "order_in_group": -1,
        "width": "NONE", "display_name": name, "dependents": []})
}

/// Kafka Connect's `ConfigInfos` answer for `/connector-plugins/{class}/config/validate`,
/// with creek's warnings in an extra `warnings` list of each value.
pub fn validate_response(
    class: &str,
    table: &KeyTable,
    config: &BTreeMap<String, String>,
    review: &Review,
) -> Json {
    let mut groups: Vec<&str> = Vec::new();
    for k in &table.keys {
        if !groups.contains(&k.group) {
            groups.push(k.group);
        }
    }
    let about = |list: &[ConfigProblem], key: &str| -> Vec<String> {
        list.iter()
            .filter(|p| p.key == key)
            .map(|p| p.message.clone())
            .collect()
    };
    let shown = |name: &str, v: &String| {
        if is_secret(table, name) {
            HIDDEN.to_string()
        } else if name.ends_with("url") {
            mask_url(v)
        } else {
            v.clone()
        }
    };
    let mut configs: Vec<Json> = table
        .keys
        .iter()
        .zip(definitions(table))
        .map(|(k, definition)| {
            let value = config.get(k.name).map(|v| shown(k.name, v));
            json!({
                "definition": definition,
                "value": {
                    "name": k.name, "value": value.or(k.default.map(str::to_string)),
                    "recommended_values": k.allowed, "errors": about(&review.errors, k.name),
                    "warnings": about(&review.warnings, k.name), "visible": true,
                },
            })
        })
        .collect();
    // Keys outside the table (unknown, or of a key family) are listed too, so that
    // their errors and warnings are visible.
    for (name, v) in config.iter().filter(|(n, _)| table.find(n).is_none()) {
        configs.push(json!({
            "definition": loose_definition(name),
            "value": {"name": name, "value": shown(name, v), "recommended_values": [],
                "errors": about(&review.errors, name), "warnings": about(&review.warnings, name),
                "visible": true},
        }));
    }
    // Errors about keys not in the config (cross-key rules) still need a place.
    for p in review
        .errors
        .iter()
        .filter(|p| table.find(&p.key).is_none() && !config.contains_key(&p.key))
    {
        configs.push(json!({
            "definition": loose_definition(&p.key),
            "value": {"name": p.key, "value": null, "recommended_values": [],
                "errors": [p.message], "warnings": [], "visible": true},
        }));
    }
    json!({"name": class, "error_count": review.errors.len(), "groups": groups, "configs": configs})
}

/// Connect's 400 message for an invalid connector config.
pub fn invalid_message(class: &str, problems: &[ConfigProblem]) -> String {
    let mut m = format!(
        "Connector configuration is invalid and contains the following {} error(s):\n",
        problems.len()
    );
    for p in problems {
        m.push_str(&p.message);
        m.push('\n');
    }
    let short = class.rsplit('.').next().unwrap_or(class);
    m.push_str(&format!(
        "You can also find the above list of errors at the endpoint `/connector-plugins/{short}/config/validate`"
    ));
    m
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A connector config from literal pairs (shared by the connectors' tests).
    pub(crate) fn cfg(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn keys_of(list: &[ConfigProblem]) -> Vec<&str> {
        list.iter().map(|p| p.key.as_str()).collect()
    }

    #[test]
    fn finds_missing_bad_refused_and_unknown_keys() {
        let review = check(
            &sink_keys(),
            &cfg(&[
                ("tasks.max", "x"),
                ("value.converter.schemas.enable", "false"),
                ("bogus.key", "1"),
                ("transforms", "a"),
                ("errors.deadletterqueue.topic.name", "dlq"),
            ]),
        );
        let errors = keys_of(&review.errors);
        for k in [
            "name",
            "connector.class",
            "tasks.max",
            "transforms",
            "errors.deadletterqueue.topic.name",
        ] {
            assert!(errors.contains(&k), "{k} not in {errors:?}");
        }
        // Unknown keys are warnings, converter settings are passed on silently.
        assert!(!errors.contains(&"bogus.key"));
        assert_eq!(keys_of(&review.warnings), ["bogus.key"]);
        let transforms = review
            .errors
            .iter()
            .find(|p| p.key == "transforms")
            .unwrap();
        assert!(transforms.message.starts_with("not supported yet:"));
    }

    #[test]
    fn defaults_and_empty_values_of_refused_keys_are_fine() {
        let review = check(
            &sink_keys(),
            &cfg(&[
                ("name", "n"),
                ("connector.class", "c"),
                ("transforms", ""),
                ("predicates", " "),
                ("consumer.override.auto.offset.reset", "earliest"),
                ("errors.tolerance", "ALL"),
            ]),
        );
        assert!(review.errors.is_empty(), "{:?}", review.errors);
        assert!(review.warnings.is_empty(), "{:?}", review.warnings);
    }

    #[test]
    fn keys_without_effect_warn_only_when_they_differ_from_the_default() {
        let table = source_keys();
        let base = [("name", "n"), ("connector.class", "c")];
        let quiet = check(
            &table,
            &cfg(&[base[0], base[1], ("errors.log.enable", "false")]),
        );
        assert!(quiet.warnings.is_empty());
        let loud = check(
            &table,
            &cfg(&[
                base[0],
                base[1],
                ("errors.log.enable", "true"),
                ("producer.override.linger.ms", "5"),
                ("topic.creation.default.partitions", "3"),
            ]),
        );
        assert!(loud.errors.is_empty(), "{:?}", loud.errors);
        assert_eq!(loud.warnings.len(), 3, "{:?}", loud.warnings);
        for w in &loud.warnings {
            assert!(
                w.message.contains("accepted but not implemented yet"),
                "{w:?}"
            );
            assert!(w.message.contains("no effect"), "{w:?}");
        }
        // A key without effect still has its type checked.
        let bad = check(
            &table,
            &cfg(&[base[0], base[1], ("errors.log.enable", "yes")]),
        );
        assert_eq!(keys_of(&bad.errors), ["errors.log.enable"]);
    }

    #[test]
    fn suggests_the_nearest_known_key_for_typos() {
        let table = sink_keys();
        assert_eq!(suggestion(&table, "topcs"), Some("topics"));
        assert_eq!(
            suggestion(&table, "errors.tolerence"),
            Some("errors.tolerance")
        );
        assert_eq!(suggestion(&table, "Tasks.Max"), Some("tasks.max"));
        assert_eq!(suggestion(&table, "tasks.mxa"), Some("tasks.max"));
        assert_eq!(suggestion(&table, "completely.different"), None);
        let review = check(
            &table,
            &cfg(&[("name", "n"), ("connector.class", "c"), ("topcs", "t")]),
        );
        assert!(review.warnings[0].message.contains("did you mean topics?"));
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("ab", "ba"), 1);
    }

    #[test]
    fn secrets_are_recognised_by_type_and_name() {
        let table = common_keys();
        for k in [
            "connection.password",
            "aws.secret.access.key",
            "s3.sse.customer.key",
            "s3.proxy.password",
            "value.converter.basic.auth.user.info",
            "consumer.override.sasl.jaas.config",
            "my.secret",
        ] {
            assert!(is_secret(&table, k), "{k}");
        }
        for k in ["aws.access.key.id", "connection.user", "s3.sse.kms.key.id"] {
            assert!(!is_secret(&table, k), "{k}");
        }
    }

    #[test]
    fn passwords_inside_urls_are_hidden() {
        assert_eq!(
            mask_url("jdbc:postgresql://bob:s3cret@db:5432/app?ssl=true&password=other&x=1"),
            "jdbc:postgresql://bob:[hidden]@db:5432/app?ssl=true&password=[hidden]&x=1"
        );
        assert_eq!(
            mask_url("jdbc:postgresql://db/app?PASSWORD=p"),
            "jdbc:postgresql://db/app?PASSWORD=[hidden]"
        );
        let plain = "jdbc:postgresql://db:5432/app?user=bob";
        assert_eq!(mask_url(plain), plain);
    }

    #[test]
    fn validate_lists_warnings_without_counting_them() {
        let table = sink_keys();
        let config = cfg(&[
            ("name", "n"),
            ("connector.class", "c"),
            ("topcs", "t"),
            ("x.password", "p"),
        ]);
        let review = check(&table, &config);
        let v = validate_response("c", &table, &config, &review);
        assert_eq!(v["error_count"], 0);
        let entry = v["configs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["definition"]["name"] == "topcs")
            .unwrap();
        assert_eq!(entry["value"]["errors"], json!([]));
        assert!(entry["value"]["warnings"][0]
            .as_str()
            .unwrap()
            .contains("did you mean topics?"));
        assert!(!v.to_string().contains("\"p\""), "a secret leaked: {v}");
    }

    #[test]
    fn numbers_in_json_configs_become_strings() {
        let m = serde_json::json!({"tasks.max": 1, "validate.non.null": false, "x": null});
        let cfg = normalize(m.as_object().unwrap()).unwrap();
        assert_eq!(cfg["tasks.max"], "1");
        assert_eq!(cfg["validate.non.null"], "false");
        assert!(!cfg.contains_key("x"));
    }
}
