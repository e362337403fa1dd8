//! Rendering ksqlDB REST entities the way ksqlDB's CLI prints them.
//!
//! Tables are ` A | B ` rows under a dashed line and closed by another dashed
//! line (comfy-table with a custom preset); push-query rows are fixed-width
//! `|cell |cell |` lines under a `+-----+-----+` header.

use std::borrow::Cow;

use comfy_table::{Cell, Table};
use serde_json::Value;

/// A cell's text on one line, with no terminal control: a newline, tab or
/// other control character in a value is shown escaped (`\n`, `\t`,
/// `\u001B`), so values can neither break a table's rows nor send escape
/// sequences to the terminal.
pub fn escape_cell(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// comfy-table preset (one character per `TableComponent`, space = not drawn):
/// no outer borders, `|` between columns, a dashed header line and bottom border.
const KSQL_PRESET: &str = "   - -- |     -    ";

/// A table in ksqlDB's CLI layout. `rows` may be empty.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut t = Table::new();
    t.load_preset(KSQL_PRESET);
    t.set_header(headers.iter().map(|h| Cell::new(escape_cell(h))));
    for row in rows {
        t.add_row(row.iter().map(|c| Cell::new(escape_cell(c))));
    }
    let mut text = t.to_string();
    if rows.is_empty() {
        // comfy-table draws no header line without rows; ksqlDB draws both lines.
        let width = text.lines().next().map_or(0, |l| l.chars().count());
        let line = "-".repeat(width);
        let header = text.lines().next().unwrap_or_default().to_string();
        text = format!("{header}\n{line}\n{line}");
    }
    text.push('\n');
    // Like ksqlDB, the dashed lines stop at the terminal's width (rows do not).
    match Table::new().width().map(usize::from) {
        Some(w) if w > 0 => cap_separators(&text, w),
        _ => text,
    }
}

fn cap_separators(text: &str, width: usize) -> String {
    text.lines()
        .map(|l| {
            if !l.is_empty() && l.bytes().all(|b| b == b'-') && l.len() > width {
                &l[..width]
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn s(v: &Value, key: &str) -> String {
    match v.get(key) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(x)) => x.clone(),
        Some(other) => other.to_string(),
    }
}

fn arr<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn strs(v: &Value, key: &str) -> Vec<String> {
    arr(v, key)
        .iter()
        .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
        .collect()
}

fn b(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_bool)
        .unwrap_or(false)
        .to_string()
}

/// A value as Java's `Objects.toString` shows the Jackson-decoded column value.
pub fn cell_text(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(cell_text).collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Object(map) => {
            let parts: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k}={}", cell_text(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        other => other.to_string(),
    }
}

/// ksqlDB's `SchemaInfo.toTypeString`.
pub fn type_string(schema: &Value) -> String {
    let ty = s(schema, "type");
    match ty.as_str() {
        "STRING" => "VARCHAR(STRING)".into(),
        "ARRAY" => format!(
            "ARRAY<{}>",
            schema
                .get("memberSchema")
                .map_or_else(String::new, type_string)
        ),
        "MAP" => format!(
            "MAP<STRING, {}>",
            schema
                .get("memberSchema")
                .map_or_else(String::new, type_string)
        ),
        "STRUCT" => {
            let fields: Vec<String> = arr(schema, "fields")
                .iter()
                .map(|f| {
                    format!(
                        "{} {}",
                        s(f, "name"),
                        f.get("schema").map_or_else(String::new, type_string)
                    )
                })
                .collect();
            format!("STRUCT<{}>", fields.join(", "))
        }
        "DECIMAL" => {
            let p = schema.get("parameters");
            let get = |k| p.and_then(|p| p.get(k)).map_or_else(String::new, cell_text);
            format!("DECIMAL({}, {})", get("precision"), get("scale"))
        }
        _ => ty,
    }
}

fn field_type(f: &Value, window_type: &str, is_table: bool) -> String {
    let schema = f.get("schema").map_or_else(String::new, type_string);
    match f.get("type").and_then(Value::as_str) {
        Some("KEY") => {
            let key = if is_table { "(primary key)" } else { "(key)" };
            let wt = if window_type.is_empty() {
                String::new()
            } else {
                format!(" (Window type: {window_type})")
            };
            format!("{schema:<16} {key}{wt}")
        }
        Some("HEADER") => {
            let h = match f.get("headerKey").and_then(Value::as_str) {
                Some(k) => format!("(header('{k}'))"),
                None => "(headers)".into(),
            };
            format!("{schema:<16} {h}")
        }
        _ => schema,
    }
}

fn kv(label: &str, value: impl std::fmt::Display) -> String {
    format!("{label:<20} : {value}\n")
}

fn schema_table(fields: &[Value], window_type: &str, is_table: bool) -> String {
    if fields.is_empty() {
        return String::new();
    }
    let rows: Vec<Vec<String>> = fields
        .iter()
        .map(|f| vec![s(f, "name"), field_type(f, window_type, is_table)])
        .collect();
    table(&["Field", "Type"], &rows)
}

fn running_queries(out: &mut String, queries: &[Value], ty: &str, op: &str) {
    if queries.is_empty() {
        return;
    }
    out.push_str(&format!(
        "\nQueries that {op} from this {ty}\n-----------------------------------\n"
    ));
    for q in queries {
        let state = q.get("state").and_then(Value::as_str).unwrap_or("N/A");
        out.push_str(&format!(
            "{} ({state}) : {}\n",
            s(q, "id"),
            s(q, "queryString").replace('\n', " ")
        ));
    }
    out.push_str("\nFor query topology and execution plan please run: EXPLAIN <QueryId>\n");
}

/// DESCRIBE [EXTENDED] output.
pub fn source_description(d: &Value) -> String {
    let ty = s(d, "type");
    let is_table = ty.eq_ignore_ascii_case("TABLE");
    let window_type = s(d, "windowType");
    let fields = arr(d, "fields");
    let mut out = kv("Name", s(d, "name"));
    let extended = d.get("extended").and_then(Value::as_bool).unwrap_or(false);
    if !extended {
        out.push_str(&schema_table(fields, &window_type, is_table));
        out.push_str(
            "For runtime statistics and query details run: DESCRIBE <Stream,Table> EXTENDED;\n",
        );
        return out;
    }
    out.push_str(&kv("Type", &ty));
    let ts = s(d, "timestamp");
    out.push_str(&kv(
        "Timestamp field",
        if ts.is_empty() {
            "Not set - using <ROWTIME>"
        } else {
            &ts
        },
    ));
    out.push_str(&kv("Key format", s(d, "keyFormat")));
    out.push_str(&kv("Value format", s(d, "valueFormat")));
    let topic = s(d, "topic");
    if !topic.is_empty() {
        let partitions = d.get("partitions").and_then(Value::as_i64).unwrap_or(0);
        let mut line = format!("{:<20} : {topic}", "Kafka topic");
        if partitions != 0 {
            line.push_str(&format!(
                " (partitions: {partitions}, replication: {})",
                d.get("replication").and_then(Value::as_i64).unwrap_or(0)
            ));
        }
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str(&kv("Statement", s(d, "statement")));
    out.push('\n');
    out.push_str(&schema_table(fields, &window_type, is_table));
    let constraints = strs(d, "sourceConstraints");
    if !constraints.is_empty() {
        out.push_str("\nSources that have a DROP constraint on this source\n");
        out.push_str("--------------------------------------------------\n");
        for c in constraints {
            out.push_str(&c);
            out.push('\n');
        }
    }
    running_queries(&mut out, arr(d, "readQueries"), &ty, "read");
    running_queries(&mut out, arr(d, "writeQueries"), &ty, "write");
    out.push_str("\nLocal runtime statistics\n------------------------\n");
    out.push_str(&s(d, "statistics"));
    out.push('\n');
    out.push_str(&s(d, "errorStats"));
    out.push('\n');
    out.push_str(&format!(
        "(Statistics of the local KSQL server interaction with the Kafka topic {topic})\n"
    ));
    out
}

/// EXPLAIN <query id> output.
pub fn query_description(q: &Value) -> String {
    let mut out = kv("ID", s(q, "id"));
    out.push_str(&kv("Query Type", s(q, "queryType")));
    let sql = s(q, "statementText");
    if !sql.is_empty() {
        out.push_str(&kv("SQL", sql));
    }
    if let Some(status) = q.get("ksqlHostQueryStatus").and_then(Value::as_object) {
        if !status.is_empty() {
            let parts: Vec<String> = status
                .iter()
                .map(|(k, v)| format!("{k}={}", cell_text(v)))
                .collect();
            out.push_str(&kv(
                "Host Query Status",
                format!("{{{}}}", parts.join(", ")),
            ));
        }
    }
    out.push('\n');
    out.push_str(&schema_table(arr(q, "fields"), &s(q, "windowType"), false));
    for (key, title, hint) in [
        (
            "sources",
            "Sources that this query reads from: ",
            "For source description please run: DESCRIBE [EXTENDED] <SourceId>",
        ),
        (
            "sinks",
            "Sinks that this query writes to: ",
            "For sink description please run: DESCRIBE [EXTENDED] <SinkId>",
        ),
    ] {
        let items = strs(q, key);
        if !items.is_empty() {
            out.push_str(&format!("\n{title}\n-----------------------------------\n"));
            for i in items {
                out.push_str(&i);
                out.push('\n');
            }
            out.push_str(&format!("\n{hint}\n"));
        }
    }
    for (key, title) in [
        ("executionPlan", "Execution plan"),
        ("topology", "Processing topology"),
    ] {
        let text = s(q, key);
        if !text.is_empty() {
            out.push_str(&format!("\n{title}\n{}\n{text}\n", "-".repeat(title.len())));
        }
    }
    if let Some(props) = q.get("overriddenProperties").and_then(Value::as_object) {
        if !props.is_empty() {
            let mut rows: Vec<Vec<String>> = props
                .iter()
                .map(|(k, v)| vec![k.clone(), cell_text(v)])
                .collect();
            rows.sort();
            out.push_str("\nOverridden Properties\n---------------------\n");
            out.push_str(&table(&["Property", "Value"], &rows));
        }
    }
    out
}

/// The terminal's width (stdout a terminal), else $COLUMNS, else 80.
pub fn term_width() -> usize {
    Table::new()
        .width()
        .map(usize::from)
        .or_else(|| std::env::var("COLUMNS").ok()?.parse().ok())
        .unwrap_or(80)
}

/// ksqlDB's `splitLongLine`: break at spaces so lines stay within `max` chars.
fn wrap(text: &str, max: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for (i, para) in text.split('\n').enumerate() {
        if i > 0 {
            lines.push(String::new());
        }
        for word in para.split_inclusive(' ') {
            let cur = lines.last_mut().expect("non-empty");
            if !cur.is_empty() && cur.chars().count() + word.chars().count() > max {
                lines.push(String::new());
            }
            lines.last_mut().expect("non-empty").push_str(word);
        }
    }
    lines
}

/// `label: text` with the text wrapped under itself (`tab` indents the label).
fn described(label: &str, text: &str, tab: bool) -> String {
    let prefix = format!("{}{label:<12}: ", if tab { "\t" } else { "" });
    let label_len = prefix.replace('\t', "  ").chars().count();
    let width = term_width().max(80) - label_len;
    let indent = " ".repeat(label_len);
    let lines = wrap(text.trim(), width);
    let mut out = prefix;
    out.push_str(&lines.join(&format!("\n{indent}")));
    out.push('\n');
    out
}

fn describe_function(f: &Value) -> String {
    let name = s(f, "name").to_uppercase();
    let mut out = format!("{:<12}: {name}\n", "Name");
    for (label, key) in [("Author", "author"), ("Version", "version")] {
        let v = s(f, key);
        if !v.trim().is_empty() {
            out.push_str(&format!("{label:<12}: {v}\n"));
        }
    }
    let desc = s(f, "description");
    if !desc.trim().is_empty() {
        out.push_str(&described("Overview", &desc, false));
    }
    out.push_str(&format!("{:<12}: {}\n", "Type", s(f, "type")));
    out.push_str(&format!("{:<12}: {}\n", "Jar", s(f, "path")));
    out.push_str(&format!("{:<12}: \n", "Variations"));
    for v in arr(f, "functions") {
        let args: Vec<String> = arr(v, "arguments")
            .iter()
            .map(|a| {
                let mut ty = s(a, "type");
                if a.get("isVariadic").and_then(Value::as_bool) == Some(true) {
                    ty.push_str("[]");
                }
                let n = s(a, "name");
                if n.is_empty() {
                    ty
                } else {
                    format!("{n} {ty}")
                }
            })
            .collect();
        out.push_str(&format!(
            "\n\t{:<12}: {name}({})\n",
            "Variation",
            args.join(", ")
        ));
        out.push_str(&format!("\t{:<12}: {}\n", "Returns", s(v, "returnType")));
        let d = s(v, "description");
        if !d.trim().is_empty() {
            out.push_str(&described("Description", &d, true));
        }
        for a in arr(v, "arguments") {
            let d = s(a, "description");
            if !d.trim().is_empty() {
                out.push_str(&described(&s(a, "name"), &d, true));
            }
        }
    }
    out
}

fn connector_description(d: &Value) -> String {
    let status = d.get("status").cloned().unwrap_or(Value::Null);
    let conn = status.get("connector").cloned().unwrap_or(Value::Null);
    let mut out = kv("Name", s(&status, "name"));
    out.push_str(&kv("Class", s(d, "connectorClass")));
    out.push_str(&kv("Type", s(&status, "type")));
    out.push_str(&kv("State", s(&conn, "state")));
    out.push_str(&kv("WorkerId", s(&conn, "worker_id")));
    let trace = s(&conn, "trace");
    if !trace.is_empty() {
        out.push_str(&kv("Trace", trace));
    }
    let tasks = arr(&status, "tasks");
    if !tasks.is_empty() {
        out.push('\n');
        let rows: Vec<Vec<String>> = tasks
            .iter()
            .map(|t| vec![s(t, "id"), s(t, "state"), s(t, "trace")])
            .collect();
        out.push_str(&table(&["Task ID", "State", "Error Trace"], &rows));
    }
    let sources = arr(d, "sources");
    if !sources.is_empty() {
        out.push('\n');
        let rows: Vec<Vec<String>> = sources
            .iter()
            .map(|x| vec![s(x, "name"), s(x, "topic"), s(x, "type")])
            .collect();
        out.push_str(&table(&["KSQL Source Name", "Kafka Topic", "Type"], &rows));
    }
    let topics = strs(d, "topics");
    if !topics.is_empty() {
        out.push('\n');
        let rows: Vec<Vec<String>> = topics.into_iter().map(|t| vec![t]).collect();
        out.push_str(&table(&["Related Topics"], &rows));
    }
    out
}

fn message(msg: &str) -> String {
    table(
        &["Message"],
        &[vec![msg.split('\n').next().unwrap_or_default().to_string()]],
    )
}

fn replicas(info: &[Value]) -> String {
    let nums: Vec<String> = info.iter().map(cell_text).collect();
    if nums.windows(2).all(|w| w[0] == w[1]) {
        nums.first().cloned().unwrap_or_default()
    } else {
        nums.join(", ")
    }
}

/// One entity of a `/ksql` response, as ksqlDB's CLI prints it in TABULAR mode.
pub fn entity(e: &Value) -> String {
    let ty = e.get("@type").and_then(Value::as_str).unwrap_or("");
    let mut out = match ty {
        "currentStatus" => message(&s(
            e.get("commandStatus").unwrap_or(&Value::Null),
            "message",
        )),
        "streams" | "tables" => {
            let list = arr(e, ty);
            let mut rows: Vec<Vec<String>> = list
                .iter()
                .map(|x| {
                    vec![
                        s(x, "name"),
                        s(x, "topic"),
                        s(x, "keyFormat"),
                        s(x, "valueFormat"),
                        b(x, "isWindowed"),
                    ]
                })
                .collect();
            rows.sort();
            let name = if ty == "streams" {
                "Stream Name"
            } else {
                "Table Name"
            };
            table(
                &[
                    name,
                    "Kafka Topic",
                    "Key Format",
                    "Value Format",
                    "Windowed",
                ],
                &rows,
            )
        }
        "kafka_topics" | "kafka_topics_extended" => {
            let extended = ty == "kafka_topics_extended";
            let rows: Vec<Vec<String>> = arr(e, "topics")
                .iter()
                .map(|t| {
                    let info = arr(t, "replicaInfo");
                    let mut row = vec![s(t, "name"), info.len().to_string(), replicas(info)];
                    if extended {
                        row.push(s(t, "consumerCount"));
                        row.push(s(t, "consumerGroupCount"));
                    }
                    row
                })
                .collect();
            if extended {
                table(
                    &[
                        "Kafka Topic",
                        "Partitions",
                        "Partition Replicas",
                        "Consumers",
                        "ConsumerGroups",
                    ],
                    &rows,
                )
            } else {
                table(&["Kafka Topic", "Partitions", "Partition Replicas"], &rows)
            }
        }
        "queries" => {
            let rows: Vec<Vec<String>> = arr(e, "queries")
                .iter()
                .map(|q| {
                    let state = q.get("state").and_then(Value::as_str).unwrap_or("N/A");
                    vec![
                        s(q, "id"),
                        state.to_string(),
                        strs(q, "sinks").join(","),
                        strs(q, "sinkKafkaTopics").join(","),
                        s(q, "queryString").replace('\n', " "),
                    ]
                })
                .collect();
            let mut t = table(
                &[
                    "Query ID",
                    "Status",
                    "Sink Name",
                    "Sink Kafka Topic",
                    "Query String",
                ],
                &rows,
            );
            t.push_str("For detailed information on a Query run: EXPLAIN <Query ID>;\n");
            t
        }
        "properties" => {
            let overwritten = strs(e, "overwrittenProperties");
            let defaults = strs(e, "defaultProperties");
            let mut rows: Vec<Vec<String>> = arr(e, "properties")
                .iter()
                .map(|p| {
                    let name = s(p, "name");
                    let over = if overwritten.contains(&name) {
                        "SESSION"
                    } else if defaults.contains(&name) {
                        ""
                    } else {
                        "SERVER"
                    };
                    let value = match p.get("value") {
                        None | Some(Value::Null) => "NULL".to_string(),
                        Some(v) => cell_text(v),
                    };
                    vec![name, s(p, "scope"), over.to_string(), value]
                })
                .collect();
            rows.sort();
            table(
                &["Property", "Scope", "Default override", "Effective Value"],
                &rows,
            )
        }
        "function_names" => {
            let mut funcs: Vec<(String, String, String)> = arr(e, "functions")
                .iter()
                .map(|f| (s(f, "category"), s(f, "name"), s(f, "type").to_uppercase()))
                .collect();
            let mut rows = Vec::new();
            if funcs.first().is_none_or(|f| f.0.is_empty()) {
                funcs.sort_by(|a, b| a.1.cmp(&b.1));
                rows.extend(funcs.into_iter().map(|(_, n, t)| vec![n, t]));
            } else {
                funcs.sort();
                let mut prev = funcs[0].0.clone();
                for (cat, name, _) in funcs {
                    if cat != prev {
                        rows.push(vec![" ".into(), " ".into()]);
                    }
                    prev = cat.clone();
                    rows.push(vec![name, cat]);
                }
            }
            let mut t = table(&["Function Name", "Category"], &rows);
            t.push_str(
                "For detailed information about a function, run: DESCRIBE FUNCTION <Function Name>;\n",
            );
            t
        }
        "describe_function" => describe_function(e),
        "connector_list" => {
            let rows: Vec<Vec<String>> = arr(e, "connectors")
                .iter()
                .map(|c| {
                    let t = s(c, "type");
                    vec![
                        s(c, "name"),
                        if t.is_empty() {
                            "UNKNOWN".into()
                        } else {
                            t.to_uppercase()
                        },
                        s(c, "className"),
                        s(c, "state"),
                    ]
                })
                .collect();
            table(&["Connector Name", "Type", "Class", "Status"], &rows)
        }
        "connector_description" => connector_description(e),
        "connector_plugins_list" => {
            let rows: Vec<Vec<String>> = arr(e, "connectorsPlugins")
                .iter()
                .map(|p| {
                    let t = s(p, "type");
                    vec![
                        s(p, "className"),
                        if t.is_empty() {
                            "UNKNOWN".into()
                        } else {
                            t.to_uppercase()
                        },
                        s(p, "version"),
                    ]
                })
                .collect();
            table(&["Class", "Type", "Version"], &rows)
        }
        "connector_info" => {
            let name = e.get("info").map(|i| s(i, "name")).unwrap_or_default();
            message(&format!("Created connector {name}"))
        }
        "drop_connector" => message(&format!("Dropped connector \"{}\"", s(e, "connectorName"))),
        "sourceDescription" => source_description(e.get("sourceDescription").unwrap_or(e)),
        "source_descriptions" => arr(e, "sourceDescriptions")
            .iter()
            .map(|d| source_description(d) + "\n")
            .collect(),
        "queryDescription" => query_description(e.get("queryDescription").unwrap_or(e)),
        "query_descriptions" => arr(e, "queryDescriptions")
            .iter()
            .map(|d| query_description(d) + "\n")
            .collect(),
        "topic_description" => table(
            &["Table Name", "Kafka Topic", "Type", "Schema"],
            &[vec![
                s(e, "name"),
                s(e, "kafkaTopic"),
                s(e, "format"),
                s(e, "schemaString"),
            ]],
        ),
        "type_list" => {
            let mut rows: Vec<Vec<String>> = e
                .get("types")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| vec![k.clone(), type_string(v)])
                        .collect()
                })
                .unwrap_or_default();
            rows.sort();
            table(&["Type Name", "Schema"], &rows)
        }
        "variables" => {
            let rows: Vec<Vec<String>> = arr(e, "variables")
                .iter()
                .map(|v| vec![s(v, "name"), s(v, "value")])
                .collect();
            table(&["Variable Name", "Value"], &rows)
        }
        "warning_entity" => message(&s(e, "message")),
        "terminate_query" => message(
            if e.get("wasTerminated").and_then(Value::as_bool) == Some(false) {
                "Query not terminated."
            } else {
                "Query terminated."
            },
        ),
        "pause_query" | "resume_query" => message(&s(e, "message")),
        "queryPlan" | "executionPlan" => table(&["Execution Plan"], &[vec![s(e, "executionPlan")]]),
        "assert_topic" => format!(
            "Topic {}{}.\n",
            s(e, "topicName"),
            if e.get("exists").and_then(Value::as_bool) == Some(true) {
                " exists"
            } else {
                " does not exist"
            }
        ),
        "assert_schema" => {
            let subject = s(e, "subject");
            let id = s(e, "id");
            format!(
                "Schema with{}{}{}.\n",
                if subject.is_empty() {
                    String::new()
                } else {
                    format!(" subject {subject}")
                },
                if id.is_empty() {
                    String::new()
                } else {
                    format!(" id {id}")
                },
                if e.get("exists").and_then(Value::as_bool) == Some(true) {
                    " exists"
                } else {
                    " does not exist"
                }
            )
        }
        _ => serde_json::to_string_pretty(e).unwrap_or_default() + "\n",
    };
    for w in arr(e, "warnings") {
        out.push_str(&format!("WARNING: {}\n", s(w, "message")));
    }
    out
}

/// A `currentStatus` without a message (what creek answers to INSERT ... VALUES,
/// where ksqlDB answers no entity at all): nothing to print.
fn is_empty_status(e: &Value) -> bool {
    e.get("@type").and_then(Value::as_str) == Some("currentStatus")
        && e.get("commandStatus")
            .and_then(|c| c.get("message"))
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
}

/// A whole `/ksql` response (an array of entities), as the CLI prints it.
pub fn entities(list: &[Value]) -> String {
    let show_statements = list.len() > 1;
    let mut out = String::new();
    for e in list.iter().filter(|e| !is_empty_status(e)) {
        out.push('\n');
        if show_statements {
            out.push_str(&s(e, "statementText"));
            out.push('\n');
        }
        out.push_str(&entity(e));
    }
    out
}

/// The error text of a failed request: the `message` of ksqlDB's error JSON.
pub fn error_message(status: u16, body: &str) -> String {
    match serde_json::from_str::<Value>(body) {
        Ok(v) if v.get("message").is_some() => s(&v, "message"),
        _ if body.trim().is_empty() => format!("Server returned HTTP {status}"),
        _ => format!("Server returned HTTP {status}: {}", body.trim()),
    }
}

// ---------------------------------------------------------------- push queries

/// Column names from a `/query` header schema such as "`ID` INTEGER, `S` STRUCT<`A` INT>".
pub fn schema_columns(schema: &str) -> Vec<String> {
    let mut cols = Vec::new();
    let mut depth = 0i32;
    let mut in_tick = false;
    let mut start = 0;
    let bytes: Vec<char> = schema.chars().collect();
    let mut parts = Vec::new();
    for (i, &c) in bytes.iter().enumerate() {
        match c {
            '`' => in_tick = !in_tick,
            '<' | '(' if !in_tick => depth += 1,
            '>' | ')' if !in_tick => depth -= 1,
            ',' if !in_tick && depth == 0 => {
                parts.push(bytes[start..i].iter().collect::<String>());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(bytes[start..].iter().collect::<String>());
    for p in parts {
        let p = p.trim();
        if p.is_empty() {
            continue;
        }
        if let Some(rest) = p.strip_prefix('`') {
            // `name` TYPE, with `` for a literal backtick
            let mut name = String::new();
            let mut chars = rest.chars().peekable();
            while let Some(c) = chars.next() {
                if c == '`' {
                    if chars.peek() == Some(&'`') {
                        chars.next();
                        name.push('`');
                        continue;
                    }
                    break;
                }
                name.push(c);
            }
            cols.push(name);
        } else {
            cols.push(p.split_whitespace().next().unwrap_or_default().to_string());
        }
    }
    cols
}

/// Cell width of push-query output: ksqlDB's `TabularRow`.
pub fn cell_width(term_width: usize, columns: usize) -> usize {
    if columns == 0 {
        return 5;
    }
    (term_width / columns).saturating_sub(2).max(5)
}

fn separator(width: usize, columns: usize) -> String {
    let mut out = String::from("+");
    for _ in 0..columns {
        out.push_str(&"-".repeat(width));
        out.push('+');
    }
    out
}

/// One push-query row; the header (`header = true`) is wrapped and framed by
/// `+---+` lines, other rows are clipped to one line with `...`. With `whole`
/// (output to a pipe or file, where no screen width applies) every value is
/// printed whole on its line, padded to `width`.
pub fn tabular_row(values: &[String], width: usize, header: bool, whole: bool) -> String {
    let values: Vec<Cow<'_, str>> = values.iter().map(|v| escape_cell(v)).collect();
    if whole {
        let mut line = String::from("|");
        for v in &values {
            line.push_str(&format!("{v:<width$}|"));
        }
        if !header {
            return line;
        }
        let sep = separator(width, values.len());
        return format!("{sep}\n{line}\n{sep}");
    }
    let split: Vec<Vec<String>> = values
        .iter()
        .map(|v| {
            let chars: Vec<char> = v.chars().collect();
            if chars.is_empty() {
                return vec![" ".repeat(width)];
            }
            chars
                .chunks(width)
                .map(|c| format!("{:<width$}", c.iter().collect::<String>()))
                .collect()
        })
        .collect();
    let lines = split.iter().map(Vec::len).max().unwrap_or(1);
    let shown = if header { lines } else { 1 };
    let mut out = String::new();
    if header {
        out.push_str(&separator(width, values.len()));
        out.push('\n');
    }
    for line in 0..shown {
        out.push('|');
        for col in &split {
            let blank = " ".repeat(width);
            let text = col.get(line).unwrap_or(&blank);
            let clipped = col.len() > shown && col[shown..].iter().any(|l| !l.trim().is_empty());
            if clipped {
                let keep: String = text.chars().take(width.saturating_sub(3)).collect();
                out.push_str(&keep);
                out.push_str("...");
            } else {
                out.push_str(text);
            }
            out.push('|');
        }
        if line + 1 < shown {
            out.push('\n');
        }
    }
    if header {
        out.push('\n');
        out.push_str(&separator(width, values.len()));
    }
    out
}

/// Pulls complete top-level JSON objects out of a streamed `/query` body, which
/// is a JSON array written one element at a time (`[{...},\n{...},\n...]`), or
/// newline-delimited objects.
#[derive(Default)]
pub struct ObjectStream {
    buf: Vec<u8>,
}

impl ObjectStream {
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Result<Value, String>> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        let mut consumed = 0;
        let mut i = 0;
        while i < self.buf.len() {
            let c = self.buf[i];
            if c != b'{' {
                // separators between elements: '[', ',', ']', whitespace
                i += 1;
                consumed = i;
                continue;
            }
            match object_end(&self.buf[i..]) {
                Some(len) => {
                    let text = &self.buf[i..i + len];
                    out.push(serde_json::from_slice(text).map_err(|e| e.to_string()));
                    i += len;
                    consumed = i;
                }
                None => break,
            }
        }
        self.buf.drain(..consumed);
        out
    }
}

/// Length of the JSON object starting at `b[0] == '{'`, if it is complete.
fn object_end(b: &[u8]) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_str = false;
    let mut escaped = false;
    for (i, &c) in b.iter().enumerate() {
        if in_str {
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_str = false;
            }
            continue;
        }
        match c {
            b'"' => in_str = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ksql_table_layout() {
        let t = table(
            &["Stream Name", "Kafka Topic"],
            &[vec!["ORDERS".into(), "orders_topic".into()]],
        );
        assert_eq!(
            t,
            " Stream Name | Kafka Topic  \n\
             ----------------------------\n \
             ORDERS      | orders_topic \n\
             ----------------------------\n"
        );
    }

    #[test]
    fn separators_stop_at_the_terminal_width() {
        assert_eq!(
            cap_separators(" long row \n----------\n", 4),
            " long row \n----\n"
        );
    }

    #[test]
    fn empty_table_has_both_lines() {
        let t = table(&["Message"], &[]);
        assert_eq!(t, " Message \n---------\n---------\n");
    }

    #[test]
    fn show_streams() {
        let e = json!({"@type": "streams", "statementText": "SHOW STREAMS;", "streams": [
            {"type": "STREAM", "name": "PAGEVIEWS", "topic": "pageviews",
             "keyFormat": "KAFKA", "valueFormat": "JSON", "isWindowed": false}
        ], "warnings": []});
        let out = entities(&[e]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "");
        assert_eq!(
            lines[1],
            " Stream Name | Kafka Topic | Key Format | Value Format | Windowed "
        );
        assert!(lines[2].chars().all(|c| c == '-'));
        assert_eq!(lines[2].len(), lines[1].len());
        assert_eq!(
            lines[3],
            " PAGEVIEWS   | pageviews   | KAFKA      | JSON         | false    "
        );
    }

    #[test]
    fn wraps_long_descriptions() {
        assert_eq!(wrap("aa bb cc", 6), ["aa bb ", "cc"]);
        assert_eq!(wrap("aa\nbb", 80), ["aa", "bb"]);
        let long = "word ".repeat(30);
        let out = described("Overview", &long, false);
        let lines: Vec<&str> = out.lines().collect();
        let max = term_width().max(80);
        assert!(
            lines.len() > 1 && lines.iter().all(|l| l.len() <= max),
            "{out}"
        );
        assert!(lines[1].starts_with(&" ".repeat(14)), "{out}");
    }

    #[test]
    fn asserts_and_plugins() {
        let e = json!({"@type": "assert_schema", "subject": "s-value", "id": null, "exists": true});
        assert_eq!(entity(&e), "Schema with subject s-value exists.\n");
        let e = json!({"@type": "assert_topic", "topicName": "t", "exists": false});
        assert_eq!(entity(&e), "Topic t does not exist.\n");
        let e = json!({"@type": "connector_plugins_list", "connectorsPlugins": [
            {"className": "io.x.S3SinkConnector", "type": "sink", "version": "1"}]});
        assert!(entity(&e).contains(" io.x.S3SinkConnector | SINK | 1       "));
    }

    #[test]
    fn empty_status_prints_nothing() {
        let e = json!({"@type": "currentStatus", "commandStatus": {"message": "", "status": "SUCCESS"}});
        assert_eq!(entities(&[e]), "");
        assert_eq!(entities(&[]), "");
    }

    #[test]
    fn current_status_message() {
        let e = json!({"@type": "currentStatus", "statementText": "CREATE ...",
            "commandId": "stream/X/create",
            "commandStatus": {"status": "SUCCESS", "message": "Created query with ID CSAS_X_0\nmore"},
            "commandSequenceNumber": 2, "warnings": [{"message": "careful"}]});
        assert_eq!(
            entity(&e),
            " Message                        \n\
             --------------------------------\n \
             Created query with ID CSAS_X_0 \n\
             --------------------------------\n\
             WARNING: careful\n"
        );
    }

    #[test]
    fn topics_and_queries() {
        let e = json!({"@type": "kafka_topics", "topics": [
            {"name": "orders", "replicaInfo": [1, 1, 1]}]});
        let out = entity(&e);
        assert!(out.starts_with(" Kafka Topic | Partitions | Partition Replicas \n"));
        assert!(out.contains(" orders      | 3          | 1                  \n"));

        let e = json!({"@type": "queries", "queries": [{"id": "CSAS_X_0", "state": "RUNNING",
            "sinks": ["X"], "sinkKafkaTopics": ["X"], "queryString": "CREATE STREAM X\nAS SELECT"}]});
        let out = entity(&e);
        assert!(out.contains(
            " CSAS_X_0 | RUNNING | X         | X                | CREATE STREAM X AS SELECT "
        ));
        assert!(out.ends_with("For detailed information on a Query run: EXPLAIN <Query ID>;\n"));
    }

    #[test]
    fn describe_source() {
        let e = json!({"@type": "sourceDescription", "sourceDescription": {
        "name": "ORDERS", "type": "STREAM", "extended": false, "windowType": null,
        "fields": [
            {"name": "ID", "schema": {"type": "INTEGER"}, "type": "KEY"},
            {"name": "ITEM", "schema": {"type": "STRING"}},
            {"name": "TAGS", "schema": {"type": "ARRAY", "memberSchema": {"type": "STRING"}}},
            {"name": "ADDR", "schema": {"type": "STRUCT", "fields": [
                {"name": "CITY", "schema": {"type": "STRING"}}]}},
            {"name": "PRICE", "schema": {"type": "DECIMAL", "parameters": {"precision": 10, "scale": 2}}}
        ]}});
        let out = entity(&e);
        assert!(
            out.starts_with("Name                 : ORDERS\n Field | Type "),
            "{out}"
        );
        assert!(out.contains(" ID    | INTEGER          (key) "), "{out}");
        assert!(out.contains(" ITEM  | VARCHAR(STRING) "), "{out}");
        assert!(out.contains(" TAGS  | ARRAY<VARCHAR(STRING)> "), "{out}");
        assert!(
            out.contains(" ADDR  | STRUCT<CITY VARCHAR(STRING)> "),
            "{out}"
        );
        assert!(out.contains(" PRICE | DECIMAL(10, 2) "), "{out}");
        assert!(out.ends_with("DESCRIBE <Stream,Table> EXTENDED;\n"));
    }

    #[test]
    fn error_messages() {
        let body = r#"{"@type":"statement_error","error_code":40001,"message":"Stream 'FOO' does not exist.","statementText":"DESCRIBE FOO;","entities":[]}"#;
        assert_eq!(error_message(400, body), "Stream 'FOO' does not exist.");
        assert_eq!(error_message(404, ""), "Server returned HTTP 404");
    }

    #[test]
    fn schema_column_names() {
        assert_eq!(
            schema_columns("`ID` INTEGER KEY, `S` STRUCT<`A` INTEGER, `B` STRING>, `M` MAP<STRING, INTEGER>, `D` DECIMAL(4, 2)"),
            ["ID", "S", "M", "D"]
        );
    }

    #[test]
    fn push_rows() {
        let w = cell_width(20, 2);
        assert_eq!(w, 8);
        let h = tabular_row(&["ID".into(), "NAME".into()], w, true, false);
        assert_eq!(
            h,
            "+--------+--------+\n|ID      |NAME    |\n+--------+--------+"
        );
        let r = tabular_row(&["1".into(), "a very long name".into()], w, false, false);
        assert_eq!(r, "|1       |a ver...|");
        let r = tabular_row(&["12345678".into(), "".into()], w, false, false);
        assert_eq!(r, "|12345678|        |");
        assert_eq!(cell_width(20, 10), 5);
    }

    #[test]
    fn whole_values_in_pipes() {
        let long = "x".repeat(200);
        let r = tabular_row(&["1".into(), long.clone()], 8, false, true);
        assert_eq!(r, format!("|1       |{long}|"));
        let h = tabular_row(&["ID".into(), "A_LONG_COLUMN_NAME".into()], 8, true, true);
        assert_eq!(
            h,
            "+--------+--------+\n|ID      |A_LONG_COLUMN_NAME|\n+--------+--------+"
        );
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape_cell("plain"), "plain");
        assert_eq!(escape_cell("a\nb\tc\r"), "a\\nb\\tc\\r");
        assert_eq!(escape_cell("\x1b[31mred"), "\\u001B[31mred");
        let r = tabular_row(&["line1\nline2".into()], 20, false, true);
        assert_eq!(r, "|line1\\nline2        |");
        let r = tabular_row(&["line1\nline2".into()], 8, false, false);
        assert!(!r.contains('\n'), "{r}");
        let t = table(&["A", "B"], &[vec!["x\ny".into(), "\x1b[2J".into()]]);
        assert_eq!(t.lines().count(), 4, "{t}");
        assert!(t.contains("x\\ny") && !t.contains('\x1b'), "{t}");
    }

    #[test]
    fn cell_values_like_java() {
        assert_eq!(cell_text(&json!(null)), "null");
        assert_eq!(cell_text(&json!([1, "a"])), "[1, a]");
        assert_eq!(
            cell_text(&json!({"A": 1, "B": {"C": null}})),
            "{A=1, B={C=null}}"
        );
        assert_eq!(cell_text(&json!(1.5)), "1.5");
    }

    #[test]
    fn object_stream_across_chunks() {
        let mut s = ObjectStream::default();
        let body = "[{\"header\":{\"queryId\":\"q1\",\"schema\":\"`ID` INTEGER\"}},\n{\"row\":{\"columns\":[1, \"}{\\\"\"]}},\n{\"finalMessage\":\"Limit Reached\"}]\n";
        let mut got = Vec::new();
        for chunk in body.as_bytes().chunks(7) {
            got.extend(s.push(chunk).into_iter().map(Result::unwrap));
        }
        assert_eq!(got.len(), 3);
        assert_eq!(got[0]["header"]["queryId"], "q1");
        assert_eq!(got[1]["row"]["columns"][1], "}{\"");
        assert_eq!(got[2]["finalMessage"], "Limit Reached");
    }
}
