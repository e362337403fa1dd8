//! Compatibility levels and the Avro compatibility check.
//!
//! BACKWARD: the new schema can read data written with the old one (consumers upgrade
//! first). FORWARD: the old schema can read data written with the new one (producers
//! upgrade first). FULL: both. The `_TRANSITIVE` variants check against every live
//! version of the subject, the others against the latest live version only.
//!
//! The reader/writer check is apache-avro's `SchemaCompatibility`, with two
//! adaptations that make it agree with Java Avro (which Confluent uses): a `Partial`
//! answer (reader missing some enum symbols or union branches) is incompatible, and
//! named types referenced by name are inlined first, so a type defined in one field
//! and referenced in another compares by structure, not by where it was defined.

use std::collections::HashMap;
use std::fmt;

use apache_avro::error::CompatibilityError;
use apache_avro::schema::{Name, UnionSchema};
use apache_avro::schema_compatibility::{Compatibility, SchemaCompatibility};
use apache_avro::Schema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompatibilityLevel {
    None,
    Backward,
    BackwardTransitive,
    Forward,
    ForwardTransitive,
    Full,
    FullTransitive,
}

impl CompatibilityLevel {
    /// Confluent's default.
    pub const DEFAULT: CompatibilityLevel = CompatibilityLevel::Backward;

    pub fn as_str(self) -> &'static str {
        use CompatibilityLevel::*;
        match self {
            None => "NONE",
            Backward => "BACKWARD",
            BackwardTransitive => "BACKWARD_TRANSITIVE",
            Forward => "FORWARD",
            ForwardTransitive => "FORWARD_TRANSITIVE",
            Full => "FULL",
            FullTransitive => "FULL_TRANSITIVE",
        }
    }

    /// Parses a level name, case-insensitively (Confluent upper-cases too).
    pub fn parse(s: &str) -> Option<CompatibilityLevel> {
        use CompatibilityLevel::*;
        Some(match s.to_ascii_uppercase().as_str() {
            "NONE" => None,
            "BACKWARD" => Backward,
            "BACKWARD_TRANSITIVE" => BackwardTransitive,
            "FORWARD" => Forward,
            "FORWARD_TRANSITIVE" => ForwardTransitive,
            "FULL" => Full,
            "FULL_TRANSITIVE" => FullTransitive,
            _ => return Option::None,
        })
    }

    pub fn is_transitive(self) -> bool {
        use CompatibilityLevel::*;
        matches!(
            self,
            BackwardTransitive | ForwardTransitive | FullTransitive
        )
    }

    /// Whether the new schema must read the old schemas' data.
    fn new_reads_old(self) -> bool {
        use CompatibilityLevel::*;
        matches!(self, Backward | BackwardTransitive | Full | FullTransitive)
    }

    /// Whether the old schemas must read the new schema's data.
    fn old_reads_new(self) -> bool {
        use CompatibilityLevel::*;
        matches!(self, Forward | ForwardTransitive | Full | FullTransitive)
    }
}

impl fmt::Display for CompatibilityLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A live version the candidate is checked against.
pub struct PreviousVersion<'a> {
    pub version: i32,
    pub schema_json: &'a str,
    pub avro: &'a Schema,
}

/// Checks `candidate` against `previous` (oldest first) under `level`. Returns
/// Confluent-style messages describing the first incompatibility found (checking
/// the newest version first), or an empty list when compatible.
pub fn check(
    level: CompatibilityLevel,
    candidate: &Schema,
    previous: &[PreviousVersion<'_>],
) -> Vec<String> {
    if level == CompatibilityLevel::None || previous.is_empty() {
        return Vec::new();
    }
    let to_check: &[PreviousVersion<'_>] = if level.is_transitive() {
        previous
    } else {
        &previous[previous.len() - 1..]
    };
    let candidate = inline_named_refs(candidate);
    for old in to_check.iter().rev() {
        let old_avro = inline_named_refs(old.avro);
        let mut problems = Vec::new();
        if level.new_reads_old() {
            if let Err(p) = can_read(&old_avro, &candidate) {
                problems
                    .push(p.describe("the new schema cannot read data written with the old one"));
            }
        }
        if level.old_reads_new() {
            if let Err(p) = can_read(&candidate, &old_avro) {
                problems
                    .push(p.describe("the old schema cannot read data written with the new one"));
            }
        }
        if !problems.is_empty() {
            problems.push(format!("{{oldSchemaVersion: {}}}", old.version));
            problems.push(format!("{{oldSchema: '{}'}}", old.schema_json));
            problems.push(format!("{{compatibility: '{level}'}}"));
            return problems;
        }
    }
    Vec::new()
}

/// One incompatibility, in the shape of Java Avro's SchemaIncompatibilityType.
struct Incompatibility {
    error_type: &'static str,
    description: String,
}

impl Incompatibility {
    fn describe(&self, direction: &str) -> String {
        format!(
            "{{errorType:'{}', description:'{}: {}'}}",
            self.error_type, direction, self.description
        )
    }
}

fn can_read(writer: &Schema, reader: &Schema) -> Result<(), Incompatibility> {
    match SchemaCompatibility::can_read(writer, reader) {
        Ok(Compatibility::Full) => Ok(()),
        Ok(Compatibility::Partial) => Err(Incompatibility {
            error_type: "MISSING_ENUM_SYMBOLS_OR_UNION_BRANCH",
            description: "the reader lacks some of the writer's enum symbols (and has no \
                          enum default) or union branches"
                .into(),
        }),
        Err(e) => Err(explain(&e, "")),
    }
}

fn explain(e: &CompatibilityError, path: &str) -> Incompatibility {
    use CompatibilityError::*;
    let at = if path.is_empty() {
        String::new()
    } else {
        format!(" at field '{path}'")
    };
    match e {
        FieldTypeMismatch(field, inner) => {
            let nested = if path.is_empty() {
                field.clone()
            } else {
                format!("{path}.{field}")
            };
            explain(inner, &nested)
        }
        MissingDefaultValue(field) => Incompatibility {
            error_type: "READER_FIELD_MISSING_DEFAULT_VALUE",
            description: format!(
                "the reader's field '{}' has no default value and is missing in the writer's schema",
                if path.is_empty() { field.clone() } else { format!("{path}.{field}") }
            ),
        },
        WrongType {
            writer_schema_type,
            reader_schema_type,
        } => Incompatibility {
            error_type: "TYPE_MISMATCH",
            description: format!(
                "reader type {} does not match writer type {}{at}",
                short_type(reader_schema_type),
                short_type(writer_schema_type)
            ),
        },
        TypeExpected { .. } | DecimalMismatch { .. } | Inconclusive(_) => Incompatibility {
            error_type: "TYPE_MISMATCH",
            description: format!("{e}{at}"),
        },
        MissingSymbols => Incompatibility {
            error_type: "MISSING_ENUM_SYMBOLS",
            description: format!("the reader's enum has none of the writer's symbols{at}"),
        },
        MissingUnionElements | SchemaMismatchAllUnionElements => Incompatibility {
            error_type: "MISSING_UNION_BRANCH",
            description: format!("no reader union branch matches the writer's type{at}"),
        },
        FixedMismatch => Incompatibility {
            error_type: "FIXED_SIZE_MISMATCH",
            description: format!("fixed sizes differ{at}"),
        },
        NameMismatch {
            writer_name,
            reader_name,
        } => Incompatibility {
            error_type: "NAME_MISMATCH",
            description: format!(
                "reader name '{reader_name}' does not match writer name '{writer_name}'{at}"
            ),
        },
    }
}

/// apache-avro's WrongType message carries a pretty-printed Debug dump of both
/// schemas; keep just the leading type name ("Record", "Int", ...).
fn short_type(debug: &str) -> String {
    debug
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .find(|s| !s.is_empty())
        .unwrap_or(debug)
        .to_lowercase()
}

/// Replaces references to named types with their definitions, except recursive
/// references (a type inside its own definition), which stay references.
fn inline_named_refs(schema: &Schema) -> Schema {
    let mut defs = HashMap::new();
    let mut open = Vec::new();
    inline(schema, &mut defs, &mut open)
}

fn inline(schema: &Schema, defs: &mut HashMap<Name, Schema>, open: &mut Vec<Name>) -> Schema {
    match schema {
        Schema::Ref { name } => {
            if open.contains(name) {
                return schema.clone();
            }
            match defs.get(name) {
                Some(def) => def.clone(),
                None => schema.clone(),
            }
        }
        Schema::Record(r) => {
            open.push(r.name.clone());
            let mut r = r.clone();
            for f in &mut r.fields {
                f.schema = inline(&f.schema, defs, open);
            }
            open.pop();
            let out = Schema::Record(r);
            if let Some(n) = out.name() {
                defs.insert(n.clone(), out.clone());
            }
            out
        }
        Schema::Array(a) => {
            let mut a = a.clone();
            a.items = Box::new(inline(&a.items, defs, open));
            Schema::Array(a)
        }
        Schema::Map(m) => {
            let mut m = m.clone();
            m.types = Box::new(inline(&m.types, defs, open));
            Schema::Map(m)
        }
        Schema::Union(u) => {
            let variants = u.variants().iter().map(|v| inline(v, defs, open)).collect();
            match UnionSchema::new(variants) {
                Ok(u) => Schema::Union(u),
                Err(_) => schema.clone(),
            }
        }
        other => {
            if let Some(n) = other.name() {
                defs.insert(n.clone(), other.clone());
            }
            other.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CompatibilityLevel::*;

    fn s(json: &str) -> Schema {
        Schema::parse_str(json).unwrap()
    }

    fn compatible(level: CompatibilityLevel, history: &[&str], candidate: &str) -> bool {
        let parsed: Vec<Schema> = history.iter().map(|h| s(h)).collect();
        let previous: Vec<PreviousVersion<'_>> = parsed
            .iter()
            .zip(history)
            .enumerate()
            .map(|(i, (avro, json))| PreviousVersion {
                version: i as i32 + 1,
                schema_json: json,
                avro,
            })
            .collect();
        check(level, &s(candidate), &previous).is_empty()
    }

    const V1: &str = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#;
    /// Adds a field with a default: readable both ways.
    const V2_ADD_DEFAULT: &str = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"string","default":"x"}]}"#;
    /// Adds a field without a default: old can read new, new cannot read old.
    const V2_ADD_REQUIRED: &str = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"string"}]}"#;
    /// Drops the field: new can read old (ignores a), old cannot read new.
    const V2_DROP: &str = r#"{"type":"record","name":"R","fields":[]}"#;
    /// int -> long promotion: new can read old only.
    const V2_WIDEN: &str = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"long"}]}"#;

    #[test]
    fn matrix_against_latest() {
        let cases = [
            // (candidate, BACKWARD, FORWARD, FULL)
            (V2_ADD_DEFAULT, true, true, true),
            (V2_ADD_REQUIRED, false, true, false),
            (V2_DROP, true, false, false),
            (V2_WIDEN, true, false, false),
        ];
        for (candidate, backward, forward, full) in cases {
            assert_eq!(
                compatible(Backward, &[V1], candidate),
                backward,
                "{candidate}"
            );
            assert_eq!(
                compatible(Forward, &[V1], candidate),
                forward,
                "{candidate}"
            );
            assert_eq!(compatible(Full, &[V1], candidate), full, "{candidate}");
            assert!(compatible(None, &[V1], candidate));
        }
        assert!(!compatible(Backward, &[V1], r#""string""#));
    }

    #[test]
    fn transitive_levels_check_every_version() {
        // v1 {a: string}, v2 {} (drops a), v3 {a: int = 0}: only v1 conflicts with v3.
        let v1 = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"string"}]}"#;
        let v2 = r#"{"type":"record","name":"R","fields":[]}"#;
        let v3 = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":0}]}"#;
        // Against v2 alone, v3 is backward compatible (a has a default).
        assert!(compatible(Backward, &[v1, v2], v3));
        // Against v1 too, it is not: string data cannot be read as int.
        assert!(!compatible(BackwardTransitive, &[v1, v2], v3));
        assert!(compatible(ForwardTransitive, &[v2], v3));
        assert!(!compatible(FullTransitive, &[v1, v2], v3));
    }

    #[test]
    fn partial_enum_and_union_matches_are_incompatible() {
        let ab = r#"{"type":"enum","name":"E","symbols":["A","B"]}"#;
        let a = r#"{"type":"enum","name":"E","symbols":["A"]}"#;
        let a_default = r#"{"type":"enum","name":"E","symbols":["A"],"default":"A"}"#;
        assert!(!compatible(Backward, &[ab], a));
        assert!(compatible(Backward, &[ab], a_default));
        assert!(compatible(Backward, &[a], ab));
        assert!(!compatible(
            Backward,
            &[r#"["null","int","string"]"#],
            r#"["null","int"]"#
        ));
        assert!(compatible(
            Backward,
            &[r#"["null","int"]"#],
            r#"["null","int","string"]"#
        ));
    }

    #[test]
    fn named_references_compare_by_structure() {
        let v1 = r#"{"type":"record","name":"R","fields":[
            {"name":"x","type":{"type":"record","name":"P","fields":[{"name":"v","type":"int"}]}},
            {"name":"y","type":"P"}]}"#;
        let v2 = r#"{"type":"record","name":"R","fields":[
            {"name":"y","type":{"type":"record","name":"P","fields":[{"name":"v","type":"int"}]}},
            {"name":"x","type":"P"}]}"#;
        assert!(compatible(FullTransitive, &[v1], v2));
        let list = r#"{"type":"record","name":"L","fields":[{"name":"next","type":["null","L"],"default":null}]}"#;
        assert!(compatible(Full, &[list], list));
    }

    #[test]
    fn messages_name_the_problem_and_version() {
        let old = s(V1);
        let prev = [PreviousVersion {
            version: 7,
            schema_json: V1,
            avro: &old,
        }];
        let msgs = check(Backward, &s(V2_ADD_REQUIRED), &prev);
        assert!(
            msgs[0].contains("READER_FIELD_MISSING_DEFAULT_VALUE"),
            "{msgs:?}"
        );
        assert!(msgs[0].contains("'b'"), "{msgs:?}");
        assert!(msgs.contains(&"{oldSchemaVersion: 7}".to_string()));
        assert!(msgs.contains(&"{compatibility: 'BACKWARD'}".to_string()));
        let msgs = check(Backward, &s(r#""string""#), &prev);
        assert!(msgs[0].contains("TYPE_MISMATCH"), "{msgs:?}");
        assert!(msgs[0].len() < 300, "no schema dumps: {msgs:?}");
    }

    #[test]
    fn level_names() {
        for l in [
            None,
            Backward,
            BackwardTransitive,
            Forward,
            ForwardTransitive,
            Full,
            FullTransitive,
        ] {
            assert_eq!(CompatibilityLevel::parse(l.as_str()), Some(l));
            assert_eq!(
                CompatibilityLevel::parse(&l.as_str().to_lowercase()),
                Some(l)
            );
        }
        assert_eq!(CompatibilityLevel::parse("SIDEWAYS"), Option::None);
    }
}
