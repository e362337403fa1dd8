//! The Confluent Schema Registry REST API over a [`Registry`].
//!
//! Handlers are thin: parse the path, query and body the way Confluent's server does,
//! call one `Registry` method, shape the answer. Every answer is JSON with content
//! type `application/vnd.schemaregistry.v1+json`; every error is Confluent's
//! `{"error_code": N, "message": "..."}` with the matching HTTP status. Request bodies
//! are accepted whatever their content type (clients send the registry's media types
//! or `application/json`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::compat::CompatibilityLevel;
use crate::error::RegistryError;
use crate::registry::{Deleted, Registry, SubjectVersion, VersionRef};

pub const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

type Shared = State<Arc<Registry>>;
type Reply = Result<Response, ApiError>;

/// All REST routes of the registry.
pub fn router(registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/", get(root))
        .route("/schemas", get(list_schemas))
        .route("/schemas/types", get(schema_types))
        .route("/schemas/ids/{id}", get(schema_by_id))
        .route("/schemas/ids/{id}/schema", get(raw_schema_by_id))
        .route("/schemas/ids/{id}/subjects", get(subjects_by_id))
        .route("/schemas/ids/{id}/versions", get(versions_by_id))
        .route("/subjects", get(list_subjects))
        .route(
            "/subjects/{subject}",
            axum::routing::post(lookup).delete(delete_subject),
        )
        .route(
            "/subjects/{subject}/versions",
            get(list_versions).post(register),
        )
        .route(
            "/subjects/{subject}/versions/{version}",
            get(get_version).delete(delete_version),
        )
        .route(
            "/subjects/{subject}/versions/{version}/schema",
            get(raw_schema_by_version),
        )
        .route(
            "/subjects/{subject}/versions/{version}/referencedby",
            get(referenced_by),
        )
        .route(
            "/compatibility/subjects/{subject}/versions",
            axum::routing::post(test_compatibility_all),
        )
        .route(
            "/compatibility/subjects/{subject}/versions/{version}",
            axum::routing::post(test_compatibility_version),
        )
        .route(
            "/config",
            get(get_global_config)
                .put(put_global_config)
                .delete(delete_global_config),
        )
        .route(
            "/config/{subject}",
            get(get_subject_config)
                .put(put_subject_config)
                .delete(delete_subject_config),
        )
        .route("/mode", get(get_global_mode).put(put_global_mode))
        .route("/mode/{subject}", get(get_subject_mode))
        .route("/contexts", get(contexts))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(registry)
}

// ---------------------------------------------------------------- plumbing

/// An error answer: a registry error, or a plain HTTP one (unknown route, ...).
#[derive(Debug)]
pub enum ApiError {
    Registry(RegistryError),
    Http(StatusCode, String),
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        ApiError::Registry(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = match self {
            ApiError::Registry(e) => {
                let status = StatusCode::from_u16(e.http_status())
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                if status.is_server_error() {
                    tracing::error!(error = %e, "schema registry request failed");
                }
                (status, e.error_code(), e.to_string())
            }
            ApiError::Http(status, message) => (status, status.as_u16() as i32, message),
        };
        respond(status, &json!({"error_code": code, "message": message}))
    }
}

fn respond(status: StatusCode, body: &Value) -> Response {
    raw(status, body.to_string())
}

/// A body that is already JSON text (a schema string is returned as itself).
fn raw(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response()
}

fn ok(body: Value) -> Reply {
    Ok(respond(StatusCode::OK, &body))
}

async fn not_found() -> ApiError {
    ApiError::Http(StatusCode::NOT_FOUND, "HTTP 404 Not Found".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::Http(
        StatusCode::METHOD_NOT_ALLOWED,
        "HTTP 405 Method Not Allowed".into(),
    )
}

/// Path segments, percent-decoded; a bad segment is a JSON error like any other.
struct Segments<T>(T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Segments<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(t)) => Ok(Segments(t)),
            Err(e) => Err(ApiError::Http(e.status(), e.body_text())),
        }
    }
}

/// Query parameters; booleans accept any case (`deleted=True` from Python clients).
struct Params(HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<HashMap<String, String>>::from_request_parts(parts, state).await {
            Ok(Query(q)) => Ok(Params(q)),
            Err(e) => Err(ApiError::Http(StatusCode::BAD_REQUEST, e.body_text())),
        }
    }
}

impl Params {
    fn flag(&self, name: &str) -> bool {
        self.0
            .get(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Confluent's pagination of list answers: `offset` (default 0) and `limit`
    /// (default -1, everything).
    fn page<T>(&self, items: Vec<T>) -> Result<Vec<T>, ApiError> {
        let number = |name: &str, default: i64| match self.get(name) {
            None => Ok(default),
            Some(v) => v.parse::<i64>().map_err(|_| {
                ApiError::Http(
                    StatusCode::BAD_REQUEST,
                    format!("{name}={v} is not a number"),
                )
            }),
        };
        let offset = number("offset", 0)?.max(0) as usize;
        let limit = number("limit", -1)?;
        let items = items.into_iter().skip(offset);
        Ok(if limit < 0 {
            items.collect()
        } else {
            items.take(limit as usize).collect()
        })
    }

    /// `deleted` / `deletedOnly` as a filter.
    fn deleted(&self) -> Deleted {
        if self.flag("deletedOnly") {
            Deleted::Only
        } else if self.flag("deleted") {
            Deleted::Include
        } else {
            Deleted::Exclude
        }
    }
}

/// Parses a JSON request body like Confluent's server: unparsable or mistyped JSON
/// is a 400 with error code 400.
fn parse_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| RegistryError::BadRequest(format!("Invalid request body: {e}")).into())
}

/// The body of register, lookup and compatibility requests.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SchemaRequest {
    schema: Option<String>,
    schema_type: Option<String>,
    references: Option<Vec<Value>>,
    metadata: Option<Value>,
    rule_set: Option<Value>,
    version: Option<i32>,
    id: Option<i32>,
}

fn is_set(v: &Option<Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Object(m)) => !m.is_empty(),
        Some(_) => true,
    }
}

impl SchemaRequest {
    /// The Avro schema text, after refusing what this registry does not implement.
    fn avro(&self) -> Result<&str, ApiError> {
        match self
            .schema_type
            .as_deref()
            .map(str::to_ascii_uppercase)
            .as_deref()
        {
            None | Some("AVRO") => {}
            Some("JSON") => {
                return Err(RegistryError::UnsupportedSchemaType {
                    schema_type: "JSON".into(),
                    what: "JSON Schema",
                }
                .into())
            }
            Some("PROTOBUF") => {
                return Err(RegistryError::UnsupportedSchemaType {
                    schema_type: "PROTOBUF".into(),
                    what: "Protobuf",
                }
                .into())
            }
            Some(other) => {
                return Err(
                    RegistryError::InvalidSchema(format!("unknown schema type {other}")).into(),
                )
            }
        }
        if self.references.as_ref().is_some_and(|r| !r.is_empty()) {
            return Err(RegistryError::UnsupportedFeature("Schema references are").into());
        }
        if is_set(&self.metadata) || is_set(&self.rule_set) {
            return Err(RegistryError::UnsupportedFeature(
                "Schema metadata and rule sets (data contracts) are",
            )
            .into());
        }
        match self.schema.as_deref() {
            Some(s) if !s.trim().is_empty() => Ok(s),
            _ => Err(RegistryError::InvalidSchema("Empty schema".into()).into()),
        }
    }
}

fn subject_version_json(sv: &SubjectVersion) -> Value {
    json!({
        "subject": sv.subject,
        "version": sv.version,
        "id": sv.schema.id,
        "schema": sv.schema.schema_json,
    })
}

fn schema_id(id: &str) -> Result<i32, ApiError> {
    id.parse()
        .map_err(|_| ApiError::Http(StatusCode::NOT_FOUND, "HTTP 404 Not Found".into()))
}

// ------------------------------------------------------------------ schemas

async fn root() -> Reply {
    ok(json!({}))
}

async fn schema_types() -> Reply {
    ok(json!(["AVRO"]))
}

async fn contexts() -> Reply {
    ok(json!(["."]))
}

async fn list_schemas(State(reg): Shared, q: Params) -> Reply {
    let all = reg.all_versions(
        q.get("subjectPrefix").unwrap_or(""),
        q.deleted(),
        q.flag("latestOnly"),
    );
    ok(Value::Array(
        q.page(all)?.iter().map(subject_version_json).collect(),
    ))
}

async fn schema_by_id(State(reg): Shared, Segments(id): Segments<String>, q: Params) -> Reply {
    let id = schema_id(&id)?;
    let schema = reg
        .schema_by_id(id)
        .ok_or(RegistryError::SchemaIdNotFound(id))?;
    let mut body = json!({"schema": schema.schema_json});
    if q.flag("fetchMaxId") {
        body["maxId"] = json!(reg.max_id());
    }
    ok(body)
}

async fn raw_schema_by_id(State(reg): Shared, Segments(id): Segments<String>) -> Reply {
    let id = schema_id(&id)?;
    let schema = reg
        .schema_by_id(id)
        .ok_or(RegistryError::SchemaIdNotFound(id))?;
    Ok(raw(StatusCode::OK, schema.schema_json.clone()))
}

async fn subjects_by_id(State(reg): Shared, Segments(id): Segments<String>, q: Params) -> Reply {
    let held = reg.versions_of_id(schema_id(&id)?, q.deleted())?;
    let mut subjects: Vec<String> = held.into_iter().map(|(s, _)| s).collect();
    subjects.dedup();
    ok(json!(q.page(subjects)?))
}

async fn versions_by_id(State(reg): Shared, Segments(id): Segments<String>, q: Params) -> Reply {
    let held = reg.versions_of_id(schema_id(&id)?, q.deleted())?;
    ok(Value::Array(
        q.page(held)?
            .into_iter()
            .map(|(subject, version)| json!({"subject": subject, "version": version}))
            .collect(),
    ))
}

// ----------------------------------------------------------------- subjects

async fn list_subjects(State(reg): Shared, q: Params) -> Reply {
    let subjects = reg.subjects(q.get("subjectPrefix").unwrap_or(""), q.deleted());
    ok(json!(q.page(subjects)?))
}

async fn list_versions(
    State(reg): Shared,
    Segments(subject): Segments<String>,
    q: Params,
) -> Reply {
    ok(json!(q.page(reg.versions(&subject, q.deleted())?)?))
}

async fn register(State(reg): Shared, Segments(subject): Segments<String>, body: Bytes) -> Reply {
    let req: SchemaRequest = parse_body(&body)?;
    let schema = req.avro()?;
    if req.id.is_some_and(|id| id >= 0) {
        return Err(RegistryError::OperationNotPermitted(
            "Registering a schema under a given id needs IMPORT mode, which is not supported yet"
                .into(),
        )
        .into());
    }
    let version = req.version.filter(|v| *v > 0);
    let id = reg.register_version(&subject, schema, version).await?;
    ok(json!({"id": id}))
}

async fn lookup(
    State(reg): Shared,
    Segments(subject): Segments<String>,
    q: Params,
    body: Bytes,
) -> Reply {
    let req: SchemaRequest = parse_body(&body)?;
    let found = reg.lookup(&subject, req.avro()?, q.flag("deleted"))?;
    ok(subject_version_json(&found))
}

async fn delete_subject(
    State(reg): Shared,
    Segments(subject): Segments<String>,
    q: Params,
) -> Reply {
    ok(json!(
        reg.delete_subject(&subject, q.flag("permanent")).await?
    ))
}

async fn get_version(
    State(reg): Shared,
    Segments((subject, version)): Segments<(String, String)>,
    q: Params,
) -> Reply {
    let sv = reg.version(&subject, VersionRef::parse(&version)?, q.flag("deleted"))?;
    ok(subject_version_json(&sv))
}

async fn raw_schema_by_version(
    State(reg): Shared,
    Segments((subject, version)): Segments<(String, String)>,
    q: Params,
) -> Reply {
    let sv = reg.version(&subject, VersionRef::parse(&version)?, q.flag("deleted"))?;
    Ok(raw(StatusCode::OK, sv.schema.schema_json.clone()))
}

/// Schemas referencing this one: none, since references are not supported.
async fn referenced_by(
    State(reg): Shared,
    Segments((subject, version)): Segments<(String, String)>,
) -> Reply {
    reg.version(&subject, VersionRef::parse(&version)?, false)?;
    ok(json!([]))
}

async fn delete_version(
    State(reg): Shared,
    Segments((subject, version)): Segments<(String, String)>,
    q: Params,
) -> Reply {
    let deleted = reg
        .delete_version(&subject, VersionRef::parse(&version)?, q.flag("permanent"))
        .await?;
    ok(json!(deleted))
}

// ------------------------------------------------------------ compatibility

fn compatibility_answer(messages: Vec<String>, verbose: bool) -> Reply {
    let mut body = json!({"is_compatible": messages.is_empty()});
    if verbose {
        body["messages"] = json!(messages);
    }
    ok(body)
}

async fn test_compatibility_version(
    State(reg): Shared,
    Segments((subject, version)): Segments<(String, String)>,
    q: Params,
    body: Bytes,
) -> Reply {
    let version = VersionRef::parse(&version)?;
    let req: SchemaRequest = parse_body(&body)?;
    let messages = reg.test_compatibility(&subject, req.avro()?, Some(version))?;
    compatibility_answer(messages, q.flag("verbose"))
}

async fn test_compatibility_all(
    State(reg): Shared,
    Segments(subject): Segments<String>,
    q: Params,
    body: Bytes,
) -> Reply {
    let req: SchemaRequest = parse_body(&body)?;
    let messages = reg.test_compatibility(&subject, req.avro()?, None)?;
    compatibility_answer(messages, q.flag("verbose"))
}

// ------------------------------------------------------------------- config

/// `PUT /config` bodies: `{"compatibility": "FULL"}` (some clients send
/// `compatibilityLevel`).
fn requested_level(body: &Bytes) -> Result<CompatibilityLevel, ApiError> {
    let req: HashMap<String, Value> = parse_body(body)?;
    for (key, value) in &req {
        if !matches!(key.as_str(), "compatibility" | "compatibilityLevel") && !value.is_null() {
            return Err(RegistryError::OperationNotPermitted(format!(
                "Config '{key}' is not supported yet; creek's registry configures compatibility only"
            ))
            .into());
        }
    }
    let name = req
        .get("compatibility")
        .or_else(|| req.get("compatibilityLevel"))
        .and_then(Value::as_str)
        .unwrap_or("");
    CompatibilityLevel::parse(name)
        .ok_or_else(|| RegistryError::InvalidCompatibilityLevel(name.to_string()).into())
}

async fn get_global_config(State(reg): Shared) -> Reply {
    ok(json!({"compatibilityLevel": reg.global_compatibility().as_str()}))
}

async fn put_global_config(State(reg): Shared, body: Bytes) -> Reply {
    let level = requested_level(&body)?;
    reg.set_compatibility(None, level).await?;
    ok(json!({"compatibility": level.as_str()}))
}

async fn delete_global_config(State(reg): Shared) -> Reply {
    let previous = reg.delete_compatibility(None).await?;
    ok(json!({"compatibilityLevel": previous.as_str()}))
}

async fn get_subject_config(
    State(reg): Shared,
    Segments(subject): Segments<String>,
    q: Params,
) -> Reply {
    let level = match reg.subject_compatibility(&subject) {
        Some(l) => l,
        None if q.flag("defaultToGlobal") => reg.global_compatibility(),
        None => return Err(RegistryError::SubjectCompatibilityNotConfigured(subject).into()),
    };
    ok(json!({"compatibilityLevel": level.as_str()}))
}

async fn put_subject_config(
    State(reg): Shared,
    Segments(subject): Segments<String>,
    body: Bytes,
) -> Reply {
    let level = requested_level(&body)?;
    reg.set_compatibility(Some(&subject), level).await?;
    ok(json!({"compatibility": level.as_str()}))
}

async fn delete_subject_config(State(reg): Shared, Segments(subject): Segments<String>) -> Reply {
    let previous = reg.delete_compatibility(Some(&subject)).await?;
    ok(json!({"compatibilityLevel": previous.as_str()}))
}

// --------------------------------------------------------------------- mode

/// The registry is always READWRITE (no IMPORT or READONLY modes yet).
const MODE: &str = "READWRITE";

async fn get_global_mode() -> Reply {
    ok(json!({"mode": MODE}))
}

async fn put_global_mode(body: Bytes) -> Reply {
    #[derive(Deserialize)]
    struct ModeRequest {
        mode: Option<String>,
    }
    let req: ModeRequest = parse_body(&body)?;
    match req.mode.as_deref() {
        Some(m) if m.eq_ignore_ascii_case(MODE) => ok(json!({"mode": MODE})),
        other => Err(RegistryError::InvalidMode(other.unwrap_or("").to_string()).into()),
    }
}

async fn get_subject_mode(Segments(subject): Segments<String>, q: Params) -> Reply {
    if q.flag("defaultToGlobal") {
        ok(json!({"mode": MODE}))
    } else {
        Err(RegistryError::SubjectModeNotConfigured(subject).into())
    }
}
