//! `creek ksql`: a ksqlDB-CLI-compatible client for ksqlDB's REST API.
//!
//! Statements go to `POST /ksql` one at a time; `SELECT` and `PRINT` stream from
//! `POST /query`. Like ksqlDB's CLI, session state is kept here: `SET`/`UNSET`
//! properties travel as `streamsProperties`, `DEFINE`/`UNDEFINE` variables as
//! `sessionVariables` (and are substituted locally), `RUN SCRIPT` runs a file.

mod render;
mod split;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use rustyline::error::ReadlineError;
use serde_json::{json, Value};

use split::{leading_words, split_statements, tokens, Token};

#[derive(Args, Debug)]
pub struct KsqlArgs {
    /// The ksqlDB server's address.
    #[arg(default_value = "http://localhost:8088")]
    pub url: String,
    /// Run these statements (separated by `;`) and exit (default: an interactive session).
    #[arg(
        short = 'e',
        long = "execute",
        value_name = "STATEMENTS",
        allow_hyphen_values = true
    )]
    pub execute: Option<String>,
    /// Run the statements in this file and exit (default: an interactive session).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Define a session variable, NAME=VALUE (repeatable), as DEFINE does (default: none).
    #[arg(short = 'd', long = "define", value_name = "NAME=VALUE")]
    pub define: Vec<String>,
    /// User name for HTTP basic authentication (default: none).
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// Password for HTTP basic authentication (default: none).
    #[arg(short = 'p', long = "password")]
    pub password: Option<String>,
    /// Output format: TABULAR or JSON.
    #[arg(long = "output", default_value = "TABULAR")]
    pub output: String,
    /// A properties file (`key=value` lines) sent as `streamsProperties`, as if SET (default: none).
    #[arg(long = "config-file", value_name = "FILE")]
    pub config_file: Option<PathBuf>,
    /// End SELECT/PRINT after this many rows, closing the query (default: no limit).
    #[arg(long = "query-row-limit", value_name = "ROWS")]
    pub query_row_limit: Option<u64>,
    /// End SELECT/PRINT after this many milliseconds, closing the query (default: no limit).
    #[arg(long = "query-timeout", value_name = "MS")]
    pub query_timeout: Option<u64>,
    /// Seconds to wait for a `/ksql` answer.
    #[arg(long, default_value_t = 60)]
    pub request_timeout: u64,
}

pub fn run(args: KsqlArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let mut cli = Cli::new(&args, runtime)?;
    if args.execute.is_some() || args.file.is_some() {
        // The file first (like RUN SCRIPT), then the -e statements.
        let mut ok = true;
        if let Some(file) = &args.file {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            ok = cli.run_text(&text, true);
        }
        if let Some(e) = args.execute.as_deref().filter(|_| ok) {
            ok = cli.run_text(e, true);
        }
        std::io::stdout().flush().ok();
        if !ok {
            std::process::exit(1);
        }
        return Ok(());
    }
    cli.interactive()
}

/// What a statement turned out to be.
enum Outcome {
    Ok,
    Failed,
    Exit,
}

struct Cli {
    url: String,
    http: reqwest::Client,
    stream_http: reqwest::Client,
    runtime: tokio::runtime::Runtime,
    properties: BTreeMap<String, String>,
    variables: Vec<(String, String)>,
    script_depth: usize,
    output: Output,
    auth: Option<(String, Option<String>)>,
    /// The highest `commandSequenceNumber` seen: later requests wait for it, so a
    /// statement sees what the ones before it did (as ksqlDB's CLI does).
    last_command: std::cell::Cell<Option<i64>>,
    row_limit: Option<u64>,
    query_timeout: Option<Duration>,
}

impl Cli {
    fn new(args: &KsqlArgs, runtime: tokio::runtime::Runtime) -> anyhow::Result<Self> {
        let url = args.url.trim_end_matches('/').to_string();
        let url = if url.contains("://") {
            url
        } else {
            format!("http://{url}")
        };
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(args.request_timeout.max(1)))
            .build()?;
        let stream_http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()?;
        let mut variables = Vec::new();
        for d in &args.define {
            let Some((name, value)) = d.split_once('=') else {
                bail!("--define expects NAME=VALUE, got '{d}'");
            };
            variables.push((name.trim().to_string(), value.to_string()));
        }
        let mut properties = BTreeMap::new();
        if let Some(file) = &args.config_file {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            properties = parse_properties(&text);
        }
        let output = match args.output.to_ascii_uppercase().as_str() {
            "TABULAR" => Output::Tabular,
            "JSON" => Output::Json,
            other => bail!("Invalid output format: '{other}' (valid formats: JSON, TABULAR)"),
        };
        Ok(Cli {
            url,
            http,
            stream_http,
            runtime,
            properties,
            variables,
            script_depth: 0,
            output,
            auth: args.user.clone().map(|u| (u, args.password.clone())),
            last_command: std::cell::Cell::new(None),
            row_limit: args.query_row_limit,
            query_timeout: args.query_timeout.map(Duration::from_millis),
        })
    }

    // ------------------------------------------------------------ interactive

    fn interactive(&mut self) -> anyhow::Result<()> {
        self.banner();
        let mut rl: rustyline::Editor<KsqlHelper, rustyline::history::DefaultHistory> =
            rustyline::Editor::new()?;
        rl.set_helper(Some(KsqlHelper));
        let history = history_path();
        if let Some(h) = &history {
            if let Some(dir) = h.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let _ = rl.load_history(h);
        }
        let mut buffer = String::new();
        loop {
            let prompt = if buffer.is_empty() { "ksql> " } else { "> " };
            let line = match rl.readline(prompt) {
                Ok(line) => line,
                Err(ReadlineError::Interrupted) => {
                    // Ctrl-C at the prompt drops what was typed.
                    buffer.clear();
                    continue;
                }
                Err(ReadlineError::Eof) => break,
                Err(e) => return Err(e.into()),
            };
            if buffer.is_empty() {
                if line.trim().is_empty() {
                    continue;
                }
                // CLI commands need no `;`.
                if let Some(cmd) = cli_command(&line) {
                    let _ = rl.add_history_entry(line.trim());
                    if let Some(h) = &history {
                        let _ = rl.append_history(h);
                    }
                    if cmd == CliCommand::History {
                        for (i, entry) in rl.history().iter().enumerate() {
                            println!("{:>5}  {entry}", i + 1);
                        }
                        continue;
                    }
                    match self.cli_command(&cmd) {
                        Outcome::Exit => break,
                        _ => continue,
                    }
                }
            }
            let (text, continued) = match line.strip_suffix('\\') {
                Some(t) => (t, true),
                None => (line.as_str(), false),
            };
            if !buffer.is_empty() {
                buffer.push('\n');
            }
            buffer.push_str(text);
            if continued {
                continue;
            }
            let split = split_statements(&buffer);
            if !split.is_complete() {
                continue;
            }
            let _ = rl.add_history_entry(buffer.trim());
            if let Some(h) = &history {
                let _ = rl.append_history(h);
            }
            buffer.clear();
            // Like ksqlDB, the statements after a failed one on the same input are skipped.
            let mut exit = false;
            for stmt in split.statements {
                match self.statement(&stmt) {
                    Outcome::Ok => {}
                    Outcome::Failed => break,
                    Outcome::Exit => {
                        exit = true;
                        break;
                    }
                }
            }
            if exit {
                break;
            }
        }
        println!("Exiting ksqlDB.");
        Ok(())
    }

    fn banner(&self) {
        let version = env!("CARGO_PKG_VERSION");
        print!("{BANNER}");
        println!();
        match self.runtime.block_on(self.info()) {
            Ok(info) => {
                let i = info.get("KsqlServerInfo").unwrap_or(&info);
                let get = |k| {
                    i.get(k)
                        .and_then(Value::as_str)
                        .unwrap_or("<unknown>")
                        .to_string()
                };
                println!(
                    "CLI v{version}, Server v{} located at {}",
                    get("version"),
                    self.url
                );
                println!("Server Status: {}", get("serverStatus"));
            }
            Err(e) => {
                println!("CLI v{version}, Server v<unknown> located at {}", self.url);
                println!("Server Status: <unknown>");
                println!();
                println!("**************** ERROR ********************");
                println!(
                    "Remote server at {} does not appear to be a valid ksqlDB server.",
                    self.url
                );
                println!("Please ensure that the URL provided is for an active ksqlDB server.");
                println!();
                println!("The server responded with the following error: ");
                println!("{e:#}");
                println!("*******************************************");
            }
        }
        println!();
        println!(
            "Having trouble? Type 'help' (case-insensitive) for a rundown of how things work!"
        );
        println!();
    }

    fn cli_command(&mut self, cmd: &CliCommand) -> Outcome {
        match cmd {
            CliCommand::Exit => Outcome::Exit,
            CliCommand::Help => {
                print!("{HELP}");
                Outcome::Ok
            }
            CliCommand::Clear => {
                // Escape codes only go to a terminal.
                if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                    print!("\x1b[2J\x1b[H");
                }
                Outcome::Ok
            }
            CliCommand::Version => {
                println!("Version: {}", env!("CARGO_PKG_VERSION"));
                Outcome::Ok
            }
            CliCommand::Server(None) => {
                println!("{}", self.url);
                Outcome::Ok
            }
            CliCommand::Server(Some(url)) => {
                self.url = url.trim_end_matches('/').to_string();
                self.banner();
                Outcome::Ok
            }
            // Interactive only (the history lives in the line editor).
            CliCommand::History => Outcome::Ok,
            CliCommand::Output(None) => {
                println!("Output format: {}", self.output.name());
                Outcome::Ok
            }
            CliCommand::Output(Some(f)) => {
                match f.to_ascii_uppercase().as_str() {
                    "JSON" => self.output = Output::Json,
                    "TABULAR" => self.output = Output::Tabular,
                    _ => {
                        println!("Invalid output format: '{f}' (valid formats: JSON, TABULAR)");
                        return Outcome::Failed;
                    }
                }
                println!("Output format set to {}", self.output.name());
                Outcome::Ok
            }
        }
    }

    // ------------------------------------------------------------- statements

    /// Run every statement in `text`; false when one failed (stops there when
    /// `stop_on_error`).
    fn run_text(&mut self, text: &str, stop_on_error: bool) -> bool {
        let split = split_statements(text);
        let mut ok = true;
        let mut stmts = split.statements;
        if !split.rest.is_empty() {
            // A CLI command or a last statement without its `;`.
            if split.open {
                eprintln!(
                    "Incomplete statement (unterminated quote or comment): {}",
                    split.rest
                );
                return false;
            }
            stmts.push(split.rest.clone());
        }
        for stmt in stmts {
            let outcome = match cli_command(&stmt) {
                Some(cmd) => self.cli_command(&cmd),
                None => self.statement(&stmt),
            };
            match outcome {
                Outcome::Ok => {}
                Outcome::Exit => break,
                Outcome::Failed => {
                    ok = false;
                    if stop_on_error {
                        break;
                    }
                }
            }
        }
        ok
    }

    fn statement(&mut self, stmt: &str) -> Outcome {
        let variables = self.variables.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        let text = match creek_sql::variables::substitute(stmt, variables) {
            Ok(text) => text,
            Err(e) => {
                print_error(&e);
                return Outcome::Failed;
            }
        };
        let words = leading_words(&text, 2);
        let first = words.first().map(String::as_str).unwrap_or("");
        let second = words.get(1).map(String::as_str).unwrap_or("");
        let result = match (first, second) {
            ("SET", _) => self.set(&text),
            ("UNSET", _) => self.unset(&text),
            ("DEFINE", _) => self.define(&text),
            ("UNDEFINE", _) => self.undefine(&text),
            ("SHOW" | "LIST", "VARIABLES") => {
                self.show_variables();
                Ok(())
            }
            ("RUN", "SCRIPT") => self.run_script(&text),
            ("SELECT", _) => self.query(&text, false),
            ("PRINT", _) => self.query(&text, true),
            ("EXIT" | "QUIT", _) => return Outcome::Exit,
            _ => self.ksql(&text),
        };
        std::io::stdout().flush().ok();
        match result {
            Ok(()) => Outcome::Ok,
            Err(e) => {
                print_error(&format!("{e:#}"));
                Outcome::Failed
            }
        }
    }

    fn set(&mut self, stmt: &str) -> anyhow::Result<()> {
        match tokens(stmt).map_err(anyhow::Error::msg)?.as_slice() {
            [Token::Word(_), Token::Str(name), Token::Eq, Token::Str(value)] => {
                let old = self.properties.insert(name.clone(), value.clone());
                match old {
                    Some(old) => println!(
                        "Successfully changed local property '{name}' from '{old}' to '{value}'."
                    ),
                    None => println!(
                        "Successfully changed local property '{name}' to '{value}'. Use the UNSET command to revert your change."
                    ),
                }
                Ok(())
            }
            _ => bail!("Syntax error: expected SET '<property>'='<value>';"),
        }
    }

    fn unset(&mut self, stmt: &str) -> anyhow::Result<()> {
        match tokens(stmt).map_err(anyhow::Error::msg)?.as_slice() {
            [Token::Word(_), Token::Str(name)] => {
                match self.properties.remove(name) {
                    Some(old) => {
                        println!("Successfully unset local property '{name}' (value was '{old}').")
                    }
                    None => bail!(
                        "Cannot unset local property '{name}' which was never set in the first place"
                    ),
                }
                Ok(())
            }
            _ => bail!("Syntax error: expected UNSET '<property>';"),
        }
    }

    fn define(&mut self, stmt: &str) -> anyhow::Result<()> {
        match tokens(stmt).map_err(anyhow::Error::msg)?.as_slice() {
            [Token::Word(_), Token::Word(name), Token::Eq, Token::Str(value)] => {
                if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    || name.starts_with(|c: char| c.is_ascii_digit())
                {
                    bail!("Illegal variable name: {name}");
                }
                self.variables
                    .retain(|(k, _)| !k.eq_ignore_ascii_case(name));
                self.variables.push((name.clone(), value.clone()));
                Ok(())
            }
            _ => bail!("Syntax error: expected DEFINE <name> = '<value>';"),
        }
    }

    fn undefine(&mut self, stmt: &str) -> anyhow::Result<()> {
        match tokens(stmt).map_err(anyhow::Error::msg)?.as_slice() {
            [Token::Word(_), Token::Word(name)] => {
                let before = self.variables.len();
                self.variables
                    .retain(|(k, _)| !k.eq_ignore_ascii_case(name));
                if before == self.variables.len() {
                    println!("Variable '{name}' is undefined");
                }
                Ok(())
            }
            _ => bail!("Syntax error: expected UNDEFINE <name>;"),
        }
    }

    fn show_variables(&self) {
        if self.output == Output::Json {
            let vars: Vec<Value> = self
                .variables
                .iter()
                .map(|(k, v)| json!({"name": k, "value": v}))
                .collect();
            let e = json!([{"@type": "variables", "statementText": "SHOW VARIABLES;",
                            "variables": vars, "warnings": []}]);
            println!("{}", serde_json::to_string_pretty(&e).unwrap_or_default());
            return;
        }
        let rows: Vec<Vec<String>> = self
            .variables
            .iter()
            .map(|(k, v)| vec![k.clone(), v.clone()])
            .collect();
        print!("\n{}", render::table(&["Variable Name", "Value"], &rows));
    }

    fn run_script(&mut self, stmt: &str) -> anyhow::Result<()> {
        let toks = tokens(stmt).map_err(anyhow::Error::msg)?;
        let path = match toks.as_slice() {
            [Token::Word(_), Token::Word(_), Token::Str(p)] => p.clone(),
            [Token::Word(_), Token::Word(_), Token::Word(p)] => p.clone(),
            _ => bail!("Syntax error: expected RUN SCRIPT '<file>';"),
        };
        if self.script_depth >= 8 {
            bail!("RUN SCRIPT nested too deeply");
        }
        let text = std::fs::read_to_string(Path::new(&path))
            .with_context(|| format!("Failed to read file: {path}"))?;
        self.script_depth += 1;
        let ok = self.run_text(&text, true);
        self.script_depth -= 1;
        if ok {
            Ok(())
        } else {
            bail!("RUN SCRIPT '{path}' stopped at a failed statement")
        }
    }

    fn request_body(&self, stmt: &str) -> Value {
        let vars: serde_json::Map<String, Value> = self
            .variables
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        let mut body = json!({
            "ksql": stmt,
            "streamsProperties": self.properties,
            "sessionVariables": vars,
        });
        if let Some(seq) = self.last_command.get() {
            body["commandSequenceNumber"] = json!(seq);
        }
        body
    }

    // ------------------------------------------------------------------ HTTP

    fn request(
        &self,
        client: &reqwest::Client,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        let req = client.request(method, format!("{}{path}", self.url));
        match &self.auth {
            Some((user, password)) => req.basic_auth(user, password.as_ref()),
            None => req,
        }
    }

    async fn info(&self) -> anyhow::Result<Value> {
        let resp = self
            .request(&self.http, reqwest::Method::GET, "/info")
            .header("Accept", "application/vnd.ksql.v1+json")
            .send()
            .await
            .map_err(|e| request_error("GET", "/info", e))?;
        let status = resp.status();
        let body = resp.text().await?;
        if !status.is_success() {
            bail!(
                "Error issuing GET to KSQL server. path:/info\n{}",
                render::error_message(status.as_u16(), &body)
            );
        }
        Ok(serde_json::from_str(&body)?)
    }

    /// Run `fut` until it finishes (`Some`) or Ctrl-C (SIGINT) arrives (`None`).
    fn interruptible<F: std::future::Future>(&self, fut: F) -> anyhow::Result<Option<F::Output>> {
        self.runtime.block_on(async {
            let mut sigint =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
            Ok(tokio::select! {
                r = fut => Some(r),
                _ = sigint.recv() => None,
            })
        })
    }

    fn ksql(&self, stmt: &str) -> anyhow::Result<()> {
        let body = self.request_body(stmt);
        let request = async {
            let resp = self
                .request(&self.http, reqwest::Method::POST, "/ksql")
                .header(
                    "Content-Type",
                    "application/vnd.ksql.v1+json; charset=utf-8",
                )
                .header("Accept", "application/vnd.ksql.v1+json")
                .json(&body)
                .send()
                .await
                .map_err(|e| request_error("POST", "/ksql", e))?;
            let status = resp.status();
            let text = resp.text().await?;
            if !status.is_success() {
                if let Ok(v) = serde_json::from_str::<Value>(&text) {
                    // ksqlDB prints the entities that ran before the failing one.
                    if let Some(list) = v.get("entities").and_then(Value::as_array) {
                        if !list.is_empty() {
                            print!("{}", render::entities(list));
                        }
                    }
                }
                let message = render::error_message(status.as_u16(), &text);
                bail!("{}", with_syntax_detail(&message, stmt));
            }
            let v: Value = serde_json::from_str(&text)
                .with_context(|| format!("unexpected response from /ksql: {text}"))?;
            Ok(match v {
                Value::Array(list) => list,
                other => vec![other],
            })
        };
        let Some(entities) = self.interruptible(request)? else {
            bail!("Request cancelled");
        };
        let entities: Vec<Value> = entities?;
        for e in &entities {
            if let Some(seq) = e.get("commandSequenceNumber").and_then(Value::as_i64) {
                if seq >= 0 && self.last_command.get().is_none_or(|last| seq > last) {
                    self.last_command.set(Some(seq));
                }
            }
        }
        match self.output {
            Output::Tabular => print!("{}", render::entities(&entities)),
            Output::Json => println!("{}", serde_json::to_string_pretty(&entities)?),
        }
        Ok(())
    }

    /// SELECT / PRINT over `/query`, printing as rows arrive; Ctrl-C ends it.
    fn query(&self, stmt: &str, print: bool) -> anyhow::Result<()> {
        let body = self.request_body(stmt);
        let width = render::term_width();
        // A pipe or file has no screen to fit: values are printed whole there.
        let whole = !std::io::IsTerminal::is_terminal(&std::io::stdout());
        let query_id = std::sync::Mutex::new(None::<String>);
        // The server may end with "Query terminated" itself: said once.
        let server_terminated = std::sync::atomic::AtomicBool::new(false);
        let stream = async {
            let mut resp = self
                .request(&self.stream_http, reqwest::Method::POST, "/query")
                .header(
                    "Content-Type",
                    "application/vnd.ksql.v1+json; charset=utf-8",
                )
                .header("Accept", "application/vnd.ksql.v1+json")
                .json(&body)
                .send()
                .await
                .map_err(|e| request_error("POST", "/query", e))?;
            let status = resp.status();
            if !status.is_success() {
                let text = resp.text().await.unwrap_or_default();
                let message = render::error_message(status.as_u16(), &text);
                bail!("{}", with_syntax_detail(&message, stmt));
            }
            let mut objects = render::ObjectStream::default();
            let mut cell = 0usize;
            let mut failed: Option<String> = None;
            let mut pending: Vec<u8> = Vec::new();
            let mut rows = 0u64;
            let limit = self.row_limit.unwrap_or(u64::MAX);
            loop {
                let chunk = match resp.chunk().await {
                    Ok(Some(c)) => c,
                    Ok(None) => break,
                    Err(e) => bail!("Error reading query results: {e}"),
                };
                let mut out = std::io::stdout().lock();
                if print {
                    // PRINT answers text lines; blank ones (keep-alives) are skipped.
                    pending.extend_from_slice(&chunk);
                    while let Some(i) = pending.iter().position(|&b| b == b'\n') {
                        let line: Vec<u8> = pending.drain(..=i).collect();
                        let text = String::from_utf8_lossy(&line);
                        if !text.trim().is_empty() {
                            writeln!(out, "{}", text.trim_end())?;
                            if text.starts_with("rowtime:") {
                                rows += 1;
                                if rows >= limit {
                                    out.flush()?;
                                    return Ok(true);
                                }
                            }
                        }
                    }
                    out.flush()?;
                    continue;
                }
                for obj in objects.push(&chunk) {
                    let obj = match obj {
                        Ok(o) => o,
                        Err(e) => bail!("Malformed query result: {e}"),
                    };
                    if self.output == Output::Json && obj.get("errorMessage").is_none() {
                        if let Some(h) = obj.get("header") {
                            *query_id.lock().unwrap() =
                                h.get("queryId").and_then(Value::as_str).map(str::to_string);
                        }
                        writeln!(out, "{}", serde_json::to_string_pretty(&obj)?)?;
                        out.flush()?;
                        continue;
                    }
                    if let Some(h) = obj.get("header") {
                        *query_id.lock().unwrap() =
                            h.get("queryId").and_then(Value::as_str).map(str::to_string);
                        let cols = render::schema_columns(
                            h.get("schema").and_then(Value::as_str).unwrap_or(""),
                        );
                        cell = render::cell_width(width, cols.len());
                        writeln!(out, "{}", render::tabular_row(&cols, cell, true, whole))?;
                    } else if let Some(names) = obj.get("columnNames").and_then(Value::as_array) {
                        *query_id.lock().unwrap() = obj
                            .get("queryId")
                            .and_then(Value::as_str)
                            .map(str::to_string);
                        let cols: Vec<String> = names.iter().map(render::cell_text).collect();
                        cell = render::cell_width(width, cols.len());
                        writeln!(out, "{}", render::tabular_row(&cols, cell, true, whole))?;
                    } else if let Some(row) = obj.get("row") {
                        let tombstone = row.get("tombstone").and_then(Value::as_bool) == Some(true);
                        let cols: Vec<String> = row
                            .get("columns")
                            .and_then(Value::as_array)
                            .map(Vec::as_slice)
                            .unwrap_or(&[])
                            .iter()
                            .map(|v| {
                                if tombstone && v.is_null() {
                                    "<TOMBSTONE>".to_string()
                                } else {
                                    render::cell_text(v)
                                }
                            })
                            .collect();
                        if cell == 0 {
                            cell = render::cell_width(width, cols.len());
                        }
                        writeln!(out, "{}", render::tabular_row(&cols, cell, false, whole))?;
                        rows += 1;
                        if rows >= limit {
                            out.flush()?;
                            return Ok(true);
                        }
                    } else if let Some(msg) = obj.get("finalMessage").and_then(Value::as_str) {
                        if msg == "Query terminated" {
                            server_terminated.store(true, std::sync::atomic::Ordering::Relaxed);
                        }
                        writeln!(out, "{msg}")?;
                    } else if let Some(err) = obj.get("errorMessage") {
                        let msg = err
                            .get("message")
                            .and_then(Value::as_str)
                            .map_or_else(|| err.to_string(), str::to_string);
                        failed = Some(msg);
                    } else if obj.get("message").is_some() && obj.get("error_code").is_some() {
                        failed = Some(render::error_message(200, &obj.to_string()));
                    }
                    out.flush()?;
                }
            }
            let tail = String::from_utf8_lossy(&pending);
            if !tail.trim().is_empty() {
                println!("{}", tail.trim_end());
            }
            if let Some(msg) = failed {
                bail!("{msg}");
            }
            // false: the server ended the query; true: the CLI ends it (row limit).
            Ok::<bool, anyhow::Error>(false)
        };
        let bounded = async {
            match self.query_timeout {
                Some(t) => tokio::time::timeout(t, stream).await.unwrap_or(Ok(true)),
                None => stream.await,
            }
        };
        // Ctrl-C ends the query (and only the query): the stream is dropped, which
        // closes its connection.
        let cancelled = match self.interruptible(bounded)? {
            Some(result) => result?,
            None => true,
        };
        let query_id = query_id.into_inner().unwrap();
        if cancelled {
            // The response is dropped (its connection closed); also ask the server
            // to close the query in case it outlives the connection.
            if let Some(id) = query_id {
                let _ = self.runtime.block_on(async {
                    self.request(&self.http, reqwest::Method::POST, "/close-query")
                        .timeout(Duration::from_secs(3))
                        .json(&json!({ "queryId": id }))
                        .send()
                        .await
                });
            }
        }
        if print {
            if cancelled {
                println!("Topic printing ceased");
            }
        } else if !server_terminated.load(std::sync::atomic::Ordering::Relaxed) {
            println!("Query terminated");
        }
        Ok(())
    }
}

/// Java-properties-style `key=value` (or `key: value`) lines; `#`/`!` comments.
fn parse_properties(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .filter_map(|l| {
            let i = l.find(['=', ':'])?;
            Some((l[..i].trim().to_string(), l[i + 1..].trim().to_string()))
        })
        .collect()
}

/// Tab completion of SQL keywords and CLI commands (in the case being typed).
struct KsqlHelper;

const KEYWORDS: &[&str] = &[
    "ADD",
    "ALL",
    "ALTER",
    "AND",
    "ARRAY",
    "AS",
    "ASSERT",
    "AVRO",
    "BEGINNING",
    "BETWEEN",
    "BIGINT",
    "BOOLEAN",
    "BY",
    "BYTES",
    "CASE",
    "CAST",
    "CHANGES",
    "CLEAR",
    "COLUMNS",
    "CONNECTOR",
    "CONNECTORS",
    "CREATE",
    "DATE",
    "DECIMAL",
    "DEFINE",
    "DELIMITED",
    "DESCRIBE",
    "DISTINCT",
    "DOUBLE",
    "DROP",
    "ELSE",
    "EMIT",
    "END",
    "EXISTS",
    "EXIT",
    "EXPLAIN",
    "EXTENDED",
    "FALSE",
    "FINAL",
    "FROM",
    "FULL",
    "FUNCTION",
    "FUNCTIONS",
    "GRACE",
    "GROUP",
    "HAVING",
    "HEADER",
    "HEADERS",
    "HELP",
    "HISTORY",
    "HOPPING",
    "IF",
    "IN",
    "INNER",
    "INSERT",
    "INT",
    "INTEGER",
    "INTERVAL",
    "INTO",
    "IS",
    "JOIN",
    "JSON",
    "JSON_SR",
    "KAFKA",
    "KEY",
    "LEFT",
    "LIKE",
    "LIMIT",
    "LIST",
    "MAP",
    "NOT",
    "NULL",
    "ON",
    "OR",
    "OUTER",
    "OUTPUT",
    "PARTITION",
    "PARTITIONS",
    "PRIMARY",
    "PRINT",
    "PROPERTIES",
    "PROTOBUF",
    "QUERIES",
    "QUERY",
    "QUIT",
    "REPLACE",
    "RETENTION",
    "RIGHT",
    "RUN",
    "SCRIPT",
    "SELECT",
    "SERVER",
    "SESSION",
    "SET",
    "SHOW",
    "SINK",
    "SIZE",
    "SOURCE",
    "STREAM",
    "STREAMS",
    "STRING",
    "STRUCT",
    "TABLE",
    "TABLES",
    "TERMINATE",
    "THEN",
    "TIME",
    "TIMESTAMP",
    "TOPIC",
    "TOPICS",
    "TRUE",
    "TUMBLING",
    "TYPE",
    "TYPES",
    "UNDEFINE",
    "UNSET",
    "VALUES",
    "VARCHAR",
    "VARIABLES",
    "VERSION",
    "WHEN",
    "WHERE",
    "WINDOW",
    "WITH",
    "WITHIN",
];

/// The completions for the word ending at `pos`: (start of the word, candidates).
fn complete_word(line: &str, pos: usize) -> (usize, Vec<String>) {
    let head = &line[..pos];
    let start = head
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .map_or(0, |i| i + 1);
    let prefix = &head[start..];
    if prefix.is_empty() {
        return (start, Vec::new());
    }
    let upper = prefix.to_ascii_uppercase();
    let lower = !prefix.chars().any(|c| c.is_ascii_uppercase());
    let found = KEYWORDS
        .iter()
        .filter(|k| k.starts_with(&upper))
        .map(|k| {
            if lower {
                k.to_ascii_lowercase()
            } else {
                k.to_string()
            }
        })
        .collect();
    (start, found)
}

impl rustyline::completion::Completer for KsqlHelper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        Ok(complete_word(line, pos))
    }
}

impl rustyline::hint::Hinter for KsqlHelper {
    type Hint = String;
}
impl rustyline::highlight::Highlighter for KsqlHelper {}
impl rustyline::validate::Validator for KsqlHelper {}
impl rustyline::Helper for KsqlHelper {}

/// An error on stderr, in red when stderr is a terminal and colour is wanted.
fn print_error(msg: &str) {
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal() && colour_wanted() {
        eprintln!("\x1b[31m{msg}\x1b[0m");
    } else {
        eprintln!("{msg}");
    }
}

/// https://no-color.org: a non-empty `NO_COLOR` turns colour off.
fn colour_wanted() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// A syntax error's message with the parser's detail. ksqlDB's `/query`
/// answers only `line L:C: Syntax Error` and the statement; when creek's own
/// parser fails at that same place, its detail (what was expected, the hint)
/// is put under that line.
fn with_syntax_detail(message: &str, statement: &str) -> String {
    let mut lines = message.lines();
    let first = lines.next().unwrap_or_default();
    let has_detail = lines.next().is_some_and(|l| !l.trim().is_empty());
    if !first.ends_with("Syntax Error") || has_detail {
        return message.to_string();
    }
    let Err(e) = creek_sql::parse_script(statement) else {
        return message.to_string();
    };
    let full = e.to_string();
    let mut full_lines = full.lines();
    if full_lines.next() != Some(first) {
        return message.to_string();
    }
    let detail: Vec<&str> = full_lines.collect();
    if detail.is_empty() {
        return message.to_string();
    }
    let rest = &message[first.len()..];
    format!("{first}\n{}{rest}", detail.join("\n"))
}

fn request_error(method: &str, path: &str, e: reqwest::Error) -> anyhow::Error {
    let mut cause = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    anyhow::anyhow!("Error issuing {method} to KSQL server. path:{path}\nCaused by: {cause}")
}

fn history_path() -> Option<PathBuf> {
    let home = std::env::var_os("HOME")?;
    Some(PathBuf::from(home).join(".creek").join("ksql_history"))
}

#[derive(Debug, PartialEq, Eq)]
enum CliCommand {
    Help,
    Exit,
    Clear,
    Version,
    History,
    Server(Option<String>),
    Output(Option<String>),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Output {
    Tabular,
    Json,
}

impl Output {
    fn name(self) -> &'static str {
        match self {
            Output::Tabular => "TABULAR",
            Output::Json => "JSON",
        }
    }
}

/// CLI-only commands, which need no `;`.
fn cli_command(line: &str) -> Option<CliCommand> {
    let t = line.trim().trim_end_matches(';').trim();
    let words: Vec<&str> = t.split_whitespace().collect();
    let first = words.first()?.to_ascii_lowercase();
    Some(match (first.as_str(), words.len()) {
        ("help", 1) => CliCommand::Help,
        ("exit" | "quit", 1) => CliCommand::Exit,
        ("clear", 1) => CliCommand::Clear,
        ("version", 1) => CliCommand::Version,
        ("history", 1) => CliCommand::History,
        ("server", 1) => CliCommand::Server(None),
        ("server", 2) => CliCommand::Server(Some(words[1].to_string())),
        ("output", 1) => CliCommand::Output(None),
        ("output", 2) => CliCommand::Output(Some(words[1].to_string())),
        _ => return None,
    })
}

const BANNER: &str = r"
                  ===========================================
                  =                            _            =
                  =          ___ _ __ ___  ___| | __        =
                  =         / __| '__/ _ \/ _ \ |/ /        =
                  =        | (__| | |  __/  __/   <         =
                  =         \___|_|  \___|\___|_|\_\        =
                  =                                         =
                  =     ksqlDB-compatible streaming SQL     =
                  =     with Kafka, Schema Registry and     =
                  =          Connect in one binary          =
                  ===========================================
";

const HELP: &str = "
Description:
  creek ksql: a command-line client for creek's (and ksqlDB's) SQL engine.
  Statements end with ';' and may span several lines (end a line with '\\' to
  continue it explicitly). The following commands need no ';':

    help                Show this message.
    clear               Clear the screen.
    history             Show previous lines.
    version             Show the CLI version.
    server [<url>]      Show or change the server this CLI talks to.
    output [JSON|TABULAR]  Show or set how results are printed.
    exit | quit         Leave the CLI (Ctrl-D works too).

  Session statements, handled by the CLI:

    SET '<property>'='<value>';    Set a property sent with every later request.
    UNSET '<property>';            Remove it again.
    DEFINE <name> = '<value>';     Define a variable, used as ${<name>}.
    UNDEFINE <name>;               Remove a variable.
    SHOW VARIABLES;                List the variables.
    RUN SCRIPT '<file>';           Run the statements in a file.

  SELECT ... EMIT CHANGES and PRINT <topic> stream results until Ctrl-C (or
  their LIMIT). Everything else (SHOW STREAMS, CREATE, DESCRIBE, ...) is sent
  to the server's /ksql endpoint.

";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completes_keywords_in_the_typed_case() {
        assert_eq!(
            complete_word("SHOW STREAMS", 12),
            (5, vec!["STREAMS".to_string()])
        );
        assert_eq!(complete_word("SHOW STR", 8).1.len(), 4);
        assert_eq!(
            complete_word("show stream", 11),
            (5, vec!["stream".to_string(), "streams".to_string()])
        );
        assert_eq!(complete_word("SELECT (", 8), (8, vec![]));
    }

    #[test]
    fn parses_config_files() {
        let p = parse_properties("# c\nauto.offset.reset = earliest\n\nksql.x:1\n");
        assert_eq!(
            p.get("auto.offset.reset").map(String::as_str),
            Some("earliest")
        );
        assert_eq!(p.get("ksql.x").map(String::as_str), Some("1"));
        assert_eq!(p.len(), 2);
    }

    #[test]
    fn syntax_errors_get_the_parser_detail() {
        let stmt = "SELECT * FROM S1 ORDER BY MYKEY DESC;";
        let bare = "line 1:24: Syntax Error\n\nStatement: SELECT * FROM S1 ORDER BY MYKEY DESC;";
        assert_eq!(
            with_syntax_detail(bare, stmt),
            "line 1:24: Syntax Error\nExpecting ';'\n\nStatement: SELECT * FROM S1 ORDER BY MYKEY DESC;"
        );
        // A message with its detail, another position, or another error stays.
        let full = "line 1:1: Syntax Error\nUnknown statement 'SELEC'";
        assert_eq!(with_syntax_detail(full, "SELEC 1;"), full);
        let elsewhere = "line 1:3: Syntax Error";
        assert_eq!(with_syntax_detail(elsewhere, stmt), elsewhere);
        assert_eq!(
            with_syntax_detail("Source X does not exist.", stmt),
            "Source X does not exist."
        );
    }

    #[test]
    fn recognizes_cli_commands() {
        assert_eq!(cli_command(" HELP "), Some(CliCommand::Help));
        assert_eq!(cli_command("exit;"), Some(CliCommand::Exit));
        assert_eq!(cli_command("Quit"), Some(CliCommand::Exit));
        assert_eq!(
            cli_command("server http://h:1"),
            Some(CliCommand::Server(Some("http://h:1".into())))
        );
        assert_eq!(cli_command("SHOW STREAMS"), None);
        assert_eq!(cli_command("help me"), None);
    }
}
