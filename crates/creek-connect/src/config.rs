//! Connector configuration definitions and validation, in Kafka Connect's shapes:
//! a `ConfigDef` of typed keys with defaults, checked before a connector starts, and
//! the `/config/validate` answer listing every key with its errors.

use std::collections::BTreeMap;

use serde_json::{json, Value as Json};

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
    }
}

/// The keys every connector accepts (Connect's `ConnectorConfig`).
pub fn common_keys() -> Vec<ConfigKey> {
    use KeyType::*;
    vec![
        key(
            "name",
            String,
            None,
            "Common",
            "Globally unique name to use for this connector.",
        ),
        key(
            "connector.class",
            String,
            None,
            "Common",
            "Name or alias of the class for this connector.",
        ),
        key(
            "tasks.max",
            Int,
            Some("1"),
            "Common",
            "Maximum number of tasks to use for this connector.",
        ),
        key(
            "key.converter",
            Class,
            Some(""),
            "Common",
            "Converter class for record keys.",
        ),
        key(
            "value.converter",
            Class,
            Some(""),
            "Common",
            "Converter class for record values.",
        ),
        key(
            "header.converter",
            Class,
            Some(""),
            "Common",
            "HeaderConverter class for record headers.",
        ),
        key(
            "errors.tolerance",
            String,
            Some("none"),
            "Error Handling",
            "none: any error fails the task; all: skip problematic records.",
        ),
        key(
            "errors.log.enable",
            Boolean,
            Some("false"),
            "Error Handling",
            "Log errors and failed operations.",
        ),
        key(
            "errors.log.include.messages",
            Boolean,
            Some("false"),
            "Error Handling",
            "Include records in the error log.",
        ),
        key(
            "errors.retry.timeout",
            Long,
            Some("0"),
            "Error Handling",
            "Maximum time a failed operation is retried.",
        ),
        key(
            "errors.retry.delay.max.ms",
            Long,
            Some("60000"),
            "Error Handling",
            "Maximum delay between retries.",
        ),
    ]
}

/// Prefixes whose sub-keys are passed to a component and so are not "unknown".
const PASSTHROUGH_PREFIXES: &[&str] = &["key.converter.", "value.converter.", "header.converter."];

/// Keys and prefixes of Connect features creek does not implement yet: rejected with
/// a clear message rather than silently ignored.
const UNSUPPORTED_PREFIXES: &[(&str, &str)] = &[
    ("transforms", "single message transforms (transforms)"),
    ("predicates", "predicates"),
    ("producer.override.", "producer overrides"),
    ("consumer.override.", "consumer overrides"),
    ("admin.override.", "admin client overrides"),
    ("topic.creation.", "topic.creation settings"),
    (
        "exactly.once.support",
        "exactly.once.support (creek's sources are exactly-once without it)",
    ),
    ("transaction.boundary", "transaction.boundary"),
];

/// A problem with one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub key: String,
    pub message: String,
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

/// Checks presence, types, allowed values and unknown keys. Returns every problem.
pub fn check(keys: &[ConfigKey], config: &BTreeMap<String, String>) -> Vec<ConfigProblem> {
    let mut problems = Vec::new();
    for k in keys {
        match config.get(k.name) {
            None if k.default.is_none() => problems.push(ConfigProblem {
                key: k.name.into(),
                message: format!(
                    "Missing required configuration \"{}\" which has no default value.",
                    k.name
                ),
            }),
            None => {}
            Some(v) => {
                if let Err(m) = check_value(k, v) {
                    problems.push(ConfigProblem {
                        key: k.name.into(),
                        message: m,
                    })
                }
            }
        }
    }
    for name in config.keys() {
        if keys.iter().any(|k| k.name == name) {
            continue;
        }
        if let Some((_, what)) = UNSUPPORTED_PREFIXES
            .iter()
            .find(|(p, _)| name.starts_with(p))
        {
            problems.push(ConfigProblem {
                key: name.clone(),
                message: format!("not supported yet: {what}"),
            });
            continue;
        }
        if PASSTHROUGH_PREFIXES.iter().any(|p| name.starts_with(p)) {
            continue;
        }
        problems.push(ConfigProblem {
            key: name.clone(),
            message: format!("Unknown configuration \"{name}\": this connector does not define it"),
        });
    }
    problems
}

fn check_value(k: &ConfigKey, v: &str) -> Result<(), String> {
    let bad = |what: &str| {
        Err(format!(
            "Invalid value {v} for configuration {}: {what}",
            k.name
        ))
    };
    let well_typed = match k.ty {
        KeyType::Int => v.trim().parse::<i32>().is_ok(),
        KeyType::Long => v.trim().parse::<i64>().is_ok(),
        KeyType::Boolean => v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false"),
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
    keys: &'a [ConfigKey],
    config: &'a BTreeMap<String, String>,
    name: &str,
) -> Option<&'a str> {
    config
        .get(name)
        .map(String::as_str)
        .or_else(|| keys.iter().find(|k| k.name == name).and_then(|k| k.default))
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
    v.map(|v| v.eq_ignore_ascii_case("true")).unwrap_or(default)
}

/// True for keys whose values must never be shown.
pub fn is_secret(keys: &[ConfigKey], name: &str) -> bool {
    keys.iter()
        .any(|k| k.name == name && k.ty == KeyType::Password)
        || name.contains("password")
        || name.ends_with("secret.access.key")
        || name.ends_with(".secret")
}

/// Kafka Connect's `ConfigInfos` answer for `/connector-plugins/{class}/config/validate`.
pub fn validate_response(
    class: &str,
    keys: &[ConfigKey],
    config: &BTreeMap<String, String>,
    problems: &[ConfigProblem],
) -> Json {
    let mut groups: Vec<&str> = Vec::new();
    for k in keys {
        if !groups.contains(&k.group) {
            groups.push(k.group);
        }
    }
    let mut configs: Vec<Json> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let errors: Vec<&str> = problems
                .iter()
                .filter(|p| p.key == k.name)
                .map(|p| p.message.as_str())
                .collect();
            let value = config.get(k.name).map(|v| {
                if k.ty == KeyType::Password {
                    "[hidden]".to_string()
                } else {
                    v.clone()
                }
            });
            json!({
                "definition": {
                    "name": k.name, "type": k.ty.name(), "required": k.default.is_none(),
                    "default_value": k.default, "importance": if k.default.is_none() { "HIGH" } else { "MEDIUM" },
                    "documentation": k.doc, "group": k.group, "width": "NONE",
                    "display_name": k.name, "dependents": [], "order": i + 1,
                },
                "value": {
                    "name": k.name, "value": value.or(k.default.map(str::to_string)),
                    "recommended_values": k.allowed, "errors": errors, "visible": true,
                },
            })
        })
        .collect();
    // Unknown and unsupported keys get an entry of their own so the error is visible.
    for p in problems
        .iter()
        .filter(|p| !keys.iter().any(|k| k.name == p.key))
    {
        configs.push(json!({
            "definition": {"name": p.key, "type": "STRING", "required": false, "default_value": null,
                "importance": "LOW", "documentation": "", "group": null, "width": "NONE",
                "display_name": p.key, "dependents": [], "order": -1},
            "value": {"name": p.key, "value": config.get(&p.key), "recommended_values": [],
                "errors": [p.message], "visible": true},
        }));
    }
    json!({"name": class, "error_count": problems.len(), "groups": groups, "configs": configs})
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
mod tests {
    use super::*;

    #[test]
    fn finds_missing_bad_and_unknown_keys() {
        let keys = common_keys();
        let cfg: BTreeMap<String, String> = [
            ("tasks.max", "x"),
            ("value.converter.schemas.enable", "false"),
            ("bogus.key", "1"),
            ("transforms", "a"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let problems = check(&keys, &cfg);
        let keys_with_problems: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert!(keys_with_problems.contains(&"name"));
        assert!(keys_with_problems.contains(&"connector.class"));
        assert!(keys_with_problems.contains(&"tasks.max"));
        assert!(keys_with_problems.contains(&"bogus.key"));
        assert!(keys_with_problems.contains(&"transforms"));
        assert!(!keys_with_problems.contains(&"value.converter.schemas.enable"));
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
