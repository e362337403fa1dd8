//! The canonical string of an Avro schema: what the registry stores, returns, and
//! compares to decide whether a schema is "the same" (same id, idempotent register).
//!
//! Confluent compares `AvroSchema.canonicalString()`, which is Java Avro's
//! `Schema.toString()`: compact JSON in a fixed key order, `{"type":"int"}` written as
//! `"int"`, namespaces written only where they change, named types referenced by
//! (relative) name after their definition. Unlike Avro's *Parsing* Canonical Form it
//! keeps docs, defaults, aliases and custom properties (`logicalType`,
//! `connect.name`, ...), because two schemas differing in a default are different
//! schemas for evolution. We produce the same layout; custom properties are sorted by
//! name so the string never depends on the input's key order.
//!
//! A safety net: the result is re-parsed and must describe the same schema as the
//! input (compared through apache-avro's own serialization); if it does not — an
//! exotic construct we do not rewrite faithfully — the input is kept as compact JSON.

use std::collections::HashSet;

use apache_avro::Schema;
use serde_json::Value;

const PRIMITIVES: [&str; 8] = [
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];
/// Keys Java Avro treats as structure rather than custom properties of a schema.
const SCHEMA_RESERVED: [&str; 10] = [
    "doc",
    "fields",
    "items",
    "name",
    "namespace",
    "size",
    "symbols",
    "values",
    "type",
    "aliases",
];
const FIELD_RESERVED: [&str; 6] = ["default", "doc", "name", "order", "type", "aliases"];

/// Parses `schema_json` as an Avro schema and returns its canonical string with the
/// parsed schema (parsed from the canonical string, so both always agree).
pub fn parse_avro(schema_json: &str) -> Result<(String, Schema), String> {
    let value: Value =
        serde_json::from_str(schema_json).map_err(|e| format!("not valid JSON: {e}"))?;
    let parsed = Schema::parse(&value).map_err(|e| e.to_string())?;
    if let Some(canonical) = rewrite(&value) {
        if let Ok(reparsed) = Schema::parse_str(&canonical) {
            if same_schema(&parsed, &reparsed) {
                return Ok((canonical, reparsed));
            }
        }
    }
    tracing::debug!("schema kept as compact JSON: canonical rewrite did not round-trip");
    let mut compact = String::new();
    write_sorted_json(&value, &mut compact);
    let reparsed = Schema::parse_str(&compact).map_err(|e| e.to_string())?;
    Ok((compact, reparsed))
}

/// Whether two parsed schemas are identical, docs, defaults and properties included.
fn same_schema(a: &Schema, b: &Schema) -> bool {
    match (serde_json::to_value(a), serde_json::to_value(b)) {
        (Ok(mut a), Ok(mut b)) => {
            drop_default_order(&mut a);
            drop_default_order(&mut b);
            a == b
        }
        _ => false,
    }
}

/// apache-avro keeps a field's `"order"` as a custom attribute; `"ascending"` is the
/// default, which the canonical form (like Java's) leaves out.
fn drop_default_order(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if m.contains_key("name") && m.get("order") == Some(&Value::from("ascending")) {
                m.remove("order");
            }
            m.values_mut().for_each(drop_default_order);
        }
        Value::Array(a) => a.iter_mut().for_each(drop_default_order),
        _ => {}
    }
}

/// The canonical layout of a schema JSON value; `None` for shapes we do not rewrite.
fn rewrite(value: &Value) -> Option<String> {
    let mut w = Writer {
        defined: HashSet::new(),
        out: String::new(),
    };
    w.schema(value, "")?;
    Some(w.out)
}

struct Writer {
    /// Full names of the named types defined so far (later mentions are references).
    defined: HashSet<String>,
    out: String,
}

impl Writer {
    /// Writes one schema; `ns` is the namespace of the most tightly enclosing named type.
    fn schema(&mut self, v: &Value, ns: &str) -> Option<()> {
        match v {
            Value::String(s) if PRIMITIVES.contains(&s.as_str()) => self.string(s),
            Value::String(s) => self.reference(s, ns)?,
            Value::Array(branches) => {
                self.out.push('[');
                for (i, b) in branches.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    self.schema(b, ns)?;
                }
                self.out.push(']');
            }
            Value::Object(m) => {
                let t = m.get("type")?.as_str()?;
                match t {
                    "record" | "error" | "enum" | "fixed" => self.named(m, t, ns)?,
                    "array" | "map" => {
                        let child = if t == "array" { "items" } else { "values" };
                        self.out.push_str(r#"{"type":"#);
                        self.string(t);
                        self.out.push_str(&format!(r#","{child}":"#));
                        self.schema(m.get(child)?, ns)?;
                        self.props(m, &SCHEMA_RESERVED);
                        self.out.push('}');
                    }
                    p if PRIMITIVES.contains(&p) => {
                        if m.keys().all(|k| SCHEMA_RESERVED.contains(&k.as_str())) {
                            self.string(p);
                        } else {
                            self.out.push_str(r#"{"type":"#);
                            self.string(p);
                            self.props(m, &SCHEMA_RESERVED);
                            self.out.push('}');
                        }
                    }
                    // {"type": "com.example.Named"} is a reference in object form.
                    other if m.len() == 1 => self.reference(other, ns)?,
                    _ => return None,
                }
            }
            _ => return None,
        }
        Some(())
    }

    fn named(&mut self, m: &serde_json::Map<String, Value>, t: &str, ns: &str) -> Option<()> {
        let name = m.get("name")?.as_str()?;
        let (space, simple) = match name.rfind('.') {
            Some(i) => (name[..i].to_string(), &name[i + 1..]),
            None => match m.get("namespace") {
                Some(Value::String(s)) => (s.clone(), name),
                Some(Value::Null) | None => (ns.to_string(), name),
                Some(_) => return None,
            },
        };
        self.defined.insert(full_name(&space, simple));
        self.out.push_str(r#"{"type":"#);
        self.string(t);
        self.out.push_str(r#","name":"#);
        self.string(simple);
        if space != ns {
            self.out.push_str(r#","namespace":"#);
            self.string(&space);
        }
        if let Some(doc) = m.get("doc") {
            self.out.push_str(r#","doc":"#);
            write_sorted_json(doc, &mut self.out);
        }
        let mut reserved: Vec<&str> = SCHEMA_RESERVED.to_vec();
        match t {
            "record" | "error" => {
                self.out.push_str(r#","fields":["#);
                for (i, f) in m.get("fields")?.as_array()?.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    self.field(f.as_object()?, &space)?;
                }
                self.out.push(']');
            }
            "enum" => {
                self.out.push_str(r#","symbols":"#);
                write_sorted_json(m.get("symbols")?, &mut self.out);
                if let Some(default) = m.get("default") {
                    self.out.push_str(r#","default":"#);
                    write_sorted_json(default, &mut self.out);
                }
                reserved.push("default");
            }
            _ => {
                self.out.push_str(r#","size":"#);
                write_sorted_json(m.get("size")?, &mut self.out);
            }
        }
        self.props(m, &reserved);
        self.aliases(m);
        self.out.push('}');
        Some(())
    }

    fn field(&mut self, f: &serde_json::Map<String, Value>, ns: &str) -> Option<()> {
        self.out.push_str(r#"{"name":"#);
        self.string(f.get("name")?.as_str()?);
        self.out.push_str(r#","type":"#);
        self.schema(f.get("type")?, ns)?;
        if let Some(doc) = f.get("doc") {
            self.out.push_str(r#","doc":"#);
            write_sorted_json(doc, &mut self.out);
        }
        if let Some(default) = f.get("default") {
            self.out.push_str(r#","default":"#);
            write_sorted_json(default, &mut self.out);
        }
        match f.get("order") {
            None => {}
            Some(Value::String(o)) if o == "ascending" => {}
            Some(o) => {
                self.out.push_str(r#","order":"#);
                write_sorted_json(o, &mut self.out);
            }
        }
        self.aliases(f);
        self.props(f, &FIELD_RESERVED);
        self.out.push('}');
        Some(())
    }

    /// A named-type reference, written relative to the enclosing namespace.
    fn reference(&mut self, name: &str, ns: &str) -> Option<()> {
        let full = if name.contains('.') {
            name.to_string()
        } else if self.defined.contains(&full_name(ns, name)) {
            full_name(ns, name)
        } else {
            name.to_string()
        };
        if !self.defined.contains(&full) {
            return None;
        }
        match full.rfind('.') {
            Some(i) if full[..i] == *ns => self.string(&full[i + 1..]),
            _ => self.string(&full),
        }
        Some(())
    }

    fn aliases(&mut self, m: &serde_json::Map<String, Value>) {
        match m.get("aliases") {
            Some(Value::Array(a)) if a.is_empty() => {}
            Some(a) => {
                self.out.push_str(r#","aliases":"#);
                write_sorted_json(a, &mut self.out);
            }
            None => {}
        }
    }

    /// Custom properties, sorted by name.
    fn props(&mut self, m: &serde_json::Map<String, Value>, reserved: &[&str]) {
        let mut keys: Vec<&String> = m
            .keys()
            .filter(|k| !reserved.contains(&k.as_str()))
            .collect();
        keys.sort();
        for k in keys {
            self.out.push(',');
            self.string(k);
            self.out.push(':');
            write_sorted_json(&m[k], &mut self.out);
        }
    }

    fn string(&mut self, s: &str) {
        write_sorted_json(&Value::String(s.to_string()), &mut self.out);
    }
}

fn full_name(space: &str, name: &str) -> String {
    if space.is_empty() {
        name.to_string()
    } else {
        format!("{space}.{name}")
    }
}

/// Compact JSON with object keys sorted, independent of serde_json's map ordering
/// feature (which another crate in the build could switch on).
pub(crate) fn write_sorted_json(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_sorted_json(&m[k], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_sorted_json(x, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The canonical string, asserting it came from the rewrite, not the fallback.
    fn canon(s: &str) -> String {
        let out = parse_avro(s).unwrap().0;
        let rewritten = rewrite(&serde_json::from_str(s).unwrap());
        assert_eq!(
            rewritten.as_deref(),
            Some(out.as_str()),
            "fell back for {s}"
        );
        out
    }

    #[test]
    fn primitives_collapse_to_their_name() {
        assert_eq!(canon(r#""string""#), r#""string""#);
        assert_eq!(canon(r#"{"type": "string"}"#), r#""string""#);
        assert_eq!(
            canon(r#"{"logicalType":"timestamp-millis", "type":"long"}"#),
            r#"{"type":"long","logicalType":"timestamp-millis"}"#
        );
    }

    #[test]
    fn records_use_java_key_order_and_drop_whitespace() {
        let a = r#"{
            "fields": [ {"type": "int", "name": "id"},
                        {"default": "x", "name": "s", "type": {"type": "string"}, "doc": "d", "order": "ascending"} ],
            "namespace": "com.acme", "name": "User", "type": "record", "doc": "a user"
        }"#;
        let expected = r#"{"type":"record","name":"User","namespace":"com.acme","doc":"a user","fields":[{"name":"id","type":"int"},{"name":"s","type":"string","doc":"d","default":"x"}]}"#;
        assert_eq!(canon(a), expected);
        // Full name in "name" instead of a namespace: the same schema.
        let b = r#"{"type":"record","name":"com.acme.User","doc":"a user","fields":[{"name":"id","type":"int"},{"name":"s","type":"string","doc":"d","default":"x"}]}"#;
        assert_eq!(canon(b), expected);
    }

    #[test]
    fn defaults_and_properties_are_kept() {
        let with_default = canon(
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":0}]}"#,
        );
        let without = canon(r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#);
        assert_ne!(with_default, without);
        let props = canon(
            r#"{"type":"record","name":"R","zeta":1,"alpha":{"b":1,"a":2},"fields":[{"name":"a","type":{"type":"long","connect.name":"ts"}}]}"#,
        );
        assert_eq!(
            props,
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":{"type":"long","connect.name":"ts"}}],"alpha":{"a":2,"b":1},"zeta":1}"#
        );
    }

    #[test]
    fn nested_named_types_and_references() {
        let s = r#"{"type":"record","name":"Order","namespace":"shop","fields":[
            {"name":"ship","type":{"type":"record","name":"Address","fields":[{"name":"city","type":"string"}]}},
            {"name":"bill","type":"shop.Address"},
            {"name":"status","type":{"type":"enum","name":"Status","namespace":"other","symbols":["A","B"],"default":"A"}},
            {"name":"again","type":["null","other.Status"],"default":null},
            {"name":"hash","type":{"type":"fixed","name":"MD5","size":16}}
        ]}"#;
        assert_eq!(
            canon(s),
            r#"{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"ship","type":{"type":"record","name":"Address","fields":[{"name":"city","type":"string"}]}},{"name":"bill","type":"Address"},{"name":"status","type":{"type":"enum","name":"Status","namespace":"other","symbols":["A","B"],"default":"A"}},{"name":"again","type":["null","other.Status"],"default":null},{"name":"hash","type":{"type":"fixed","name":"MD5","size":16}}]}"#
        );
    }

    #[test]
    fn canonical_form_is_a_fixed_point() {
        for s in [
            r#"{"type":"array","items":{"type":"map","values":["null","double"]}}"#,
            r#"{"type":"record","name":"L","fields":[{"name":"next","type":["null","L"],"default":null}]}"#,
            r#"{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}"#,
            // Kafka Connect / Debezium style: connect.* properties on primitives.
            r#"{"type":"record","name":"Value","namespace":"pg.public.customers","fields":[
                {"name":"id","type":"int"},
                {"name":"created","type":["null",{"type":"long","connect.version":1,"connect.name":"io.debezium.time.MicroTimestamp"}],"default":null},
                {"name":"balance","type":{"type":"bytes","scale":2,"precision":12,"connect.version":1,"connect.parameters":{"scale":"2","connect.decimal.precision":"12"},"connect.name":"org.apache.kafka.connect.data.Decimal","logicalType":"decimal"}}
            ],"connect.name":"pg.public.customers.Value"}"#,
        ] {
            let once = canon(s);
            assert_eq!(canon(&once), once, "{s}");
        }
    }

    #[test]
    fn invalid_schemas_are_rejected() {
        assert!(parse_avro("{").unwrap_err().contains("not valid JSON"));
        assert!(parse_avro(r#""strin""#).is_err());
        assert!(parse_avro(r#"{"type":"record","name":"R"}"#).is_err());
        assert!(parse_avro(
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"Nope"}]}"#
        )
        .is_err());
    }
}
