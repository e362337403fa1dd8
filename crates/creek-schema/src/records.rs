//! The records of the `_schemas` topic: the registry's whole state, replayed on open.
//!
//! Keys and values are JSON, shaped like Confluent's own `_schemas` records, and
//! compaction-safe: the latest value per key is the current state of that key, and a
//! null value (tombstone) means "gone".
//!
//! | key | value |
//! |---|---|
//! | `{"keytype":"SCHEMA","subject":S,"version":V,"magic":1}` | `{"subject":S,"version":V,"id":ID,"schema":CANONICAL,"deleted":BOOL}`; `deleted` = soft-deleted; tombstone = permanently deleted |
//! | `{"keytype":"CONFIG","subject":S or null,"magic":0}` | `{"compatibilityLevel":"FULL"}` (null subject = global); tombstone = back to the default (global) or unset (subject) |
//!
//! Soft-deleting a subject rewrites each of its versions with `deleted: true` in one
//! batch, so a subject delete is atomic in the log. Other key types (Confluent's
//! `NOOP`, `MODE`, `DELETE_SUBJECT`, ...) are skipped on replay.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::compat::CompatibilityLevel;

pub const TOPIC: &str = "_schemas";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordKey {
    Schema { subject: String, version: i32 },
    Config { subject: Option<String> },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaValue {
    pub subject: String,
    pub version: i32,
    pub id: i32,
    pub schema: String,
    #[serde(default)]
    pub deleted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigValue {
    #[serde(rename = "compatibilityLevel")]
    pub compatibility_level: String,
}

/// One decoded record: a key and its new value (`None`: tombstone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Schema {
        subject: String,
        version: i32,
        value: Option<SchemaValue>,
    },
    Config {
        subject: Option<String>,
        level: Option<CompatibilityLevel>,
    },
}

#[derive(Serialize, Deserialize)]
struct WireKey {
    keytype: String,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    version: Option<i32>,
    magic: i32,
}

impl Record {
    pub fn key(&self) -> RecordKey {
        match self {
            Record::Schema {
                subject, version, ..
            } => RecordKey::Schema {
                subject: subject.clone(),
                version: *version,
            },
            Record::Config { subject, .. } => RecordKey::Config {
                subject: subject.clone(),
            },
        }
    }

    /// The record's key and value bytes for the log.
    pub fn encode(&self) -> (Bytes, Option<Bytes>) {
        let key = match self.key() {
            RecordKey::Schema { subject, version } => WireKey {
                keytype: "SCHEMA".into(),
                subject: Some(subject),
                version: Some(version),
                magic: 1,
            },
            RecordKey::Config { subject } => WireKey {
                keytype: "CONFIG".into(),
                subject,
                version: None,
                magic: 0,
            },
        };
        let value = match self {
            Record::Schema { value, .. } => value.as_ref().map(to_bytes),
            Record::Config { level, .. } => level.map(|l| {
                to_bytes(&ConfigValue {
                    compatibility_level: l.as_str().to_string(),
                })
            }),
        };
        (to_bytes(&key), value)
    }

    /// Decodes a record read back from the log; `Ok(None)` for key types this
    /// registry does not use.
    pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<Option<Record>, String> {
        let key: WireKey =
            serde_json::from_slice(key).map_err(|e| format!("unreadable key: {e}"))?;
        match key.keytype.as_str() {
            "SCHEMA" => {
                let subject = key.subject.ok_or("SCHEMA key without a subject")?;
                let version = key.version.ok_or("SCHEMA key without a version")?;
                let value = match value {
                    None => None,
                    Some(v) => {
                        let v: SchemaValue = serde_json::from_slice(v)
                            .map_err(|e| format!("unreadable SCHEMA value: {e}"))?;
                        if v.subject != subject || v.version != version {
                            return Err(format!(
                                "SCHEMA value for {}/{} under key {subject}/{version}",
                                v.subject, v.version
                            ));
                        }
                        Some(v)
                    }
                };
                Ok(Some(Record::Schema {
                    subject,
                    version,
                    value,
                }))
            }
            "CONFIG" => {
                let level = match value {
                    None => None,
                    Some(v) => {
                        let v: ConfigValue = serde_json::from_slice(v)
                            .map_err(|e| format!("unreadable CONFIG value: {e}"))?;
                        Some(
                            CompatibilityLevel::parse(&v.compatibility_level).ok_or_else(|| {
                                format!("unknown compatibility level {}", v.compatibility_level)
                            })?,
                        )
                    }
                };
                Ok(Some(Record::Config {
                    subject: key.subject,
                    level,
                }))
            }
            _ => Ok(None),
        }
    }
}

fn to_bytes<T: Serialize>(v: &T) -> Bytes {
    Bytes::from(serde_json::to_vec(v).expect("plain structs serialize"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_with_confluent_shaped_keys() {
        let r = Record::Schema {
            subject: "orders-value".into(),
            version: 2,
            value: Some(SchemaValue {
                subject: "orders-value".into(),
                version: 2,
                id: 5,
                schema: r#""string""#.into(),
                deleted: false,
            }),
        };
        let (k, v) = r.encode();
        assert_eq!(
            &k[..],
            br#"{"keytype":"SCHEMA","subject":"orders-value","version":2,"magic":1}"#
        );
        assert_eq!(Record::decode(&k, v.as_deref()).unwrap(), Some(r));

        let c = Record::Config {
            subject: None,
            level: Some(CompatibilityLevel::FullTransitive),
        };
        let (k, v) = c.encode();
        assert_eq!(&k[..], br#"{"keytype":"CONFIG","subject":null,"magic":0}"#);
        assert_eq!(
            v.as_deref(),
            Some(&br#"{"compatibilityLevel":"FULL_TRANSITIVE"}"#[..])
        );
        assert_eq!(Record::decode(&k, v.as_deref()).unwrap(), Some(c));

        let tomb = Record::Config {
            subject: Some("s".into()),
            level: None,
        };
        let (k, v) = tomb.encode();
        assert_eq!(Record::decode(&k, v.as_deref()).unwrap(), Some(tomb));
    }

    #[test]
    fn foreign_and_broken_records() {
        assert_eq!(
            Record::decode(br#"{"keytype":"NOOP","magic":0}"#, None).unwrap(),
            None
        );
        assert!(Record::decode(b"garbage", None).is_err());
        assert!(Record::decode(
            br#"{"keytype":"SCHEMA","subject":"a","version":1,"magic":1}"#,
            Some(br#"{"subject":"b","version":1,"id":1,"schema":"\"int\""}"#)
        )
        .is_err());
    }
}
