//! `Registry`: the registry's state, rebuilt from `_schemas` on open and changed only
//! by appending records to it.
//!
//! Every mutation follows the same path: take the writer lock, decide on the new
//! records from the current state (validation, compatibility, id and version
//! assignment), append them to the log in one batch, and only then apply them to the
//! in-memory state with the same `State::apply` the replay uses. So an acknowledged
//! change is in the log (it survives kill -9), and what a restart rebuilds is exactly
//! what was served before it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

use creek_avro::{Node, Schema, SchemaError};
use creek_store::{InternalTopic, LogStore, OffsetSpec, ProducerRecord};
use parking_lot::RwLock;

use crate::canonical::parse_avro;
use crate::compat::{self, CompatibilityLevel, PreviousVersion};
use crate::error::{RegistryError, Result};
use crate::records::{Record, SchemaValue, TOPIC};

/// A schema known to the registry under a global id.
#[derive(Debug)]
pub struct RegisteredSchema {
    pub id: i32,
    /// The canonical string, as stored and as returned to clients.
    pub schema_json: String,
    /// Parsed once, so encoders and decoders on the hot path never re-parse.
    pub avro: Schema,
    /// The decoding plan, compiled on first use and then shared by every reader
    /// of this id.
    plan: OnceLock<Result<Arc<Node>, SchemaError>>,
}

impl RegisteredSchema {
    pub fn new(id: i32, schema_json: String, avro: Schema) -> RegisteredSchema {
        RegisteredSchema {
            id,
            schema_json,
            avro,
            plan: OnceLock::new(),
        }
    }

    /// The schema compiled for decoding and encoding ([`creek_avro::compile`]), once
    /// per registered schema.
    pub fn plan(&self) -> Result<&Arc<Node>, &SchemaError> {
        self.plan
            .get_or_init(|| creek_avro::compile(&self.avro).map(Arc::new))
            .as_ref()
    }
}

/// One version of a subject.
#[derive(Debug, Clone)]
pub struct SubjectVersion {
    pub subject: String,
    pub version: i32,
    pub schema: Arc<RegisteredSchema>,
    /// Soft-deleted: hidden unless asked for, still readable by id.
    pub deleted: bool,
}

/// A version as addressed in the REST API: a number or "latest" (also `-1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionRef {
    Latest,
    Number(i32),
}

impl VersionRef {
    pub fn parse(s: &str) -> Result<VersionRef> {
        if s.eq_ignore_ascii_case("latest") {
            return Ok(VersionRef::Latest);
        }
        match s.parse::<i32>() {
            Ok(-1) => Ok(VersionRef::Latest),
            Ok(v) if v >= 1 => Ok(VersionRef::Number(v)),
            _ => Err(RegistryError::InvalidVersion(s.to_string())),
        }
    }
}

/// Which versions of a subject a listing includes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// Live versions only (the default everywhere).
    Exclude,
    /// Live and soft-deleted (`?deleted=true`).
    Include,
    /// Soft-deleted only (`?deletedOnly=true`).
    Only,
}

impl Deleted {
    fn admits(self, deleted: bool) -> bool {
        match self {
            Deleted::Exclude => !deleted,
            Deleted::Include => true,
            Deleted::Only => deleted,
        }
    }
}

#[derive(Debug, Clone)]
struct VersionEntry {
    schema: Arc<RegisteredSchema>,
    deleted: bool,
}

#[derive(Default)]
struct State {
    by_id: HashMap<i32, Arc<RegisteredSchema>>,
    /// Canonical string -> id: the same schema under any subject gets the same id.
    id_by_canonical: HashMap<String, i32>,
    /// How many subject-versions (soft-deleted included) hold each id; an id whose
    /// last holder is permanently deleted is forgotten.
    holders: HashMap<i32, usize>,
    subjects: BTreeMap<String, BTreeMap<i32, VersionEntry>>,
    /// Highest id ever assigned (forgotten ids are not reused).
    max_id: i32,
    /// `None`: the default, BACKWARD.
    global_level: Option<CompatibilityLevel>,
    subject_levels: HashMap<String, CompatibilityLevel>,
}

impl State {
    /// Applies one `_schemas` record. `parsed` is the schema a live registration has
    /// already parsed, so it is not parsed twice.
    fn apply(
        &mut self,
        record: &Record,
        parsed: Option<Arc<RegisteredSchema>>,
    ) -> std::result::Result<(), String> {
        match record {
            Record::Schema {
                subject,
                version,
                value: Some(value),
            } => {
                let schema = match self.by_id.get(&value.id) {
                    Some(s) => s.clone(),
                    None => {
                        let schema = match parsed {
                            Some(p) if p.id == value.id => p,
                            _ => {
                                let (canonical, avro) = parse_avro(&value.schema)
                                    .map_err(|e| format!("stored schema does not parse: {e}"))?;
                                // A string stored by an older canonicalizer is still
                                // found by today's canonical form of it.
                                if canonical != value.schema {
                                    self.id_by_canonical.insert(canonical, value.id);
                                }
                                Arc::new(RegisteredSchema::new(
                                    value.id,
                                    value.schema.clone(),
                                    avro,
                                ))
                            }
                        };
                        self.by_id.insert(value.id, schema.clone());
                        self.id_by_canonical
                            .insert(schema.schema_json.clone(), value.id);
                        schema
                    }
                };
                self.max_id = self.max_id.max(value.id);
                let previous = self.subjects.entry(subject.clone()).or_default().insert(
                    *version,
                    VersionEntry {
                        schema,
                        deleted: value.deleted,
                    },
                );
                *self.holders.entry(value.id).or_default() += 1;
                if let Some(previous) = previous {
                    self.release(previous.schema.id);
                }
            }
            Record::Schema {
                subject,
                version,
                value: None,
            } => {
                let Some(versions) = self.subjects.get_mut(subject) else {
                    return Ok(());
                };
                let removed = versions.remove(version);
                if versions.is_empty() {
                    self.subjects.remove(subject);
                }
                if let Some(removed) = removed {
                    self.release(removed.schema.id);
                }
            }
            Record::Config {
                subject: None,
                level,
            } => self.global_level = *level,
            Record::Config {
                subject: Some(subject),
                level,
            } => match level {
                Some(l) => {
                    self.subject_levels.insert(subject.clone(), *l);
                }
                None => {
                    self.subject_levels.remove(subject);
                }
            },
        }
        Ok(())
    }

    fn release(&mut self, id: i32) {
        let Some(n) = self.holders.get_mut(&id) else {
            return;
        };
        *n -= 1;
        if *n == 0 {
            self.holders.remove(&id);
            if let Some(schema) = self.by_id.remove(&id) {
                self.id_by_canonical.retain(|_, v| *v != schema.id);
            }
        }
    }

    fn effective_level(&self, subject: &str) -> CompatibilityLevel {
        self.subject_levels
            .get(subject)
            .copied()
            .or(self.global_level)
            .unwrap_or(CompatibilityLevel::DEFAULT)
    }

    /// The subject's versions, or `SubjectNotFound` when it has none that `deleted`
    /// admits (a fully soft-deleted subject is "not found" by default).
    fn versions(&self, subject: &str, deleted: Deleted) -> Result<&BTreeMap<i32, VersionEntry>> {
        match self.subjects.get(subject) {
            Some(v) if v.values().any(|e| deleted.admits(e.deleted)) => Ok(v),
            _ => Err(RegistryError::SubjectNotFound(subject.to_string())),
        }
    }

    fn live_versions(&self, subject: &str) -> Vec<(i32, &VersionEntry)> {
        self.subjects
            .get(subject)
            .map(|v| {
                v.iter()
                    .filter(|(_, e)| !e.deleted)
                    .map(|(n, e)| (*n, e))
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn previous<'a>(versions: &[(i32, &'a VersionEntry)]) -> Vec<PreviousVersion<'a>> {
    versions
        .iter()
        .map(|(v, e)| PreviousVersion {
            version: *v,
            schema_json: &e.schema.schema_json,
            avro: &e.schema.avro,
        })
        .collect()
}

fn incompatible(subject: &str, messages: &[String]) -> RegistryError {
    RegistryError::IncompatibleSchema(format!(
        "Schema being registered is incompatible with an earlier schema for subject \"{subject}\", details: [{}]",
        messages.join(", ")
    ))
}

fn parse(schema_json: &str) -> Result<(String, Schema)> {
    if schema_json.trim().is_empty() {
        return Err(RegistryError::InvalidSchema("Empty schema".into()));
    }
    parse_avro(schema_json).map_err(RegistryError::InvalidSchema)
}

/// A Confluent-compatible schema registry over a `LogStore`. Cheap to share:
/// `Arc<Registry>`.
pub struct Registry {
    store: Arc<dyn LogStore>,
    state: RwLock<State>,
    /// Serializes mutations, so ids and versions are assigned from a state that no
    /// other writer changes before the records are in the log.
    writer: tokio::sync::Mutex<()>,
    /// The next `_schemas` offset the state accounts for. Registries of other
    /// workers on the same cluster append there too: [`Registry::catch_up`]
    /// applies what they wrote.
    read_to: tokio::sync::Mutex<i64>,
    /// Where the log stood when the current writer decided (see `commit`).
    decided_at: parking_lot::Mutex<i64>,
}

/// Records as one batch for `_schemas`.
fn encode(records: &[Record]) -> Vec<ProducerRecord> {
    records
        .iter()
        .map(|r| {
            let (key, value) = r.encode();
            ProducerRecord {
                key: Some(key),
                value,
                ..Default::default()
            }
        })
        .collect()
}

/// What must follow `ours` in `_schemas` when `theirs` (another registry's,
/// appended between our decision and our append) took one of our subject
/// versions (their value again, so it stays the latest) or gave one of our
/// schema ids to another schema (a tombstone for our version, which replays
/// then drop). Empty when nothing collides.
fn compensation(ours: &[Record], theirs: &[Record]) -> Vec<Record> {
    let mut fixes = Vec::new();
    for our in ours {
        let Record::Schema {
            subject,
            version,
            value: Some(value),
        } = our
        else {
            continue;
        };
        let same_key = theirs.iter().rev().find(|t| {
            matches!(t, Record::Schema { subject: s, version: v, .. } if s == subject && v == version)
        });
        let id_taken = theirs.iter().any(|t| {
            matches!(t, Record::Schema { value: Some(tv), .. }
                if tv.id == value.id && tv.schema != value.schema)
        });
        match same_key {
            Some(t) if t != our => fixes.push(t.clone()),
            Some(_) => {}
            None if id_taken => fixes.push(Record::Schema {
                subject: subject.clone(),
                version: *version,
                value: None,
            }),
            None => {}
        }
    }
    fixes
}

/// Applies one `_schemas` record to the state; whether it applied.
fn apply_stored(state: &mut State, r: &creek_store::ConsumerRecord) -> bool {
    let Some(key) = r.key.as_deref() else {
        tracing::warn!(offset = r.offset, "_schemas: record without a key skipped");
        return false;
    };
    let outcome = Record::decode(key, r.value.as_deref())
        .and_then(|rec| rec.map_or(Ok(()), |rec| state.apply(&rec, None)));
    match outcome {
        Ok(()) => true,
        // Records are validated before they are written; one that does not
        // decode came from elsewhere (a Kafka client writing to _schemas).
        // Skipping it keeps the registry up with everything else intact.
        Err(reason) => {
            tracing::warn!(offset = r.offset, %reason, "_schemas: record skipped");
            false
        }
    }
}

impl Registry {
    /// Opens the registry: creates `_schemas` (one partition) unless it exists, then
    /// replays it.
    /// The `_schemas` topic as the registry creates it when it is missing.
    pub fn internal_topic() -> InternalTopic {
        // Compaction-safe records (latest value per key); fsync every batch,
        // since registrations are rare and ids must survive power loss too.
        InternalTopic::new(TOPIC, 1)
            .with("cleanup.policy", "compact")
            .with("flush.messages", "1")
    }

    pub async fn open(store: Arc<dyn LogStore>) -> Result<Arc<Registry>> {
        Self::internal_topic().ensure(store.as_ref()).await?;
        let mut state = State::default();
        let start = store
            .list_offset(TOPIC, 0, OffsetSpec::Earliest)
            .await?
            .unwrap_or(0);
        let end = store
            .list_offset(TOPIC, 0, OffsetSpec::Latest)
            .await?
            .unwrap_or(0);
        let mut applied = 0usize;
        let mut apply = |r: creek_store::ConsumerRecord| {
            if apply_stored(&mut state, &r) {
                applied += 1;
            }
        };
        let next = store
            .read_to_end(TOPIC, 0, start, Some(end), &mut apply)
            .await?;
        if next < end {
            tracing::warn!(
                offset = next,
                end,
                "_schemas: nothing readable before the end of the log"
            );
        }
        tracing::info!(
            records = applied,
            subjects = state.subjects.len(),
            schemas = state.by_id.len(),
            "schema registry state rebuilt from _schemas"
        );
        Ok(Arc::new(Registry {
            store,
            state: RwLock::new(state),
            writer: tokio::sync::Mutex::new(()),
            read_to: tokio::sync::Mutex::new(next.max(start)),
            decided_at: parking_lot::Mutex::new(next.max(start)),
        }))
    }

    /// Catches up before a write decides, remembering where the log stood.
    async fn begin_write(&self) -> Result<()> {
        self.catch_up().await?;
        *self.decided_at.lock() = *self.read_to.lock().await;
        Ok(())
    }

    /// Applies what other registries sharing `_schemas` (creek workers on one
    /// cluster) appended since this one last read it.
    pub async fn catch_up(&self) -> Result<()> {
        let mut read_to = self.read_to.lock().await;
        let end = self
            .store
            .list_offset(TOPIC, 0, OffsetSpec::Latest)
            .await?
            .unwrap_or(0);
        if end <= *read_to {
            return Ok(());
        }
        let mut records = Vec::new();
        let next = self
            .store
            .read_to_end(TOPIC, 0, *read_to, Some(end), &mut |r| records.push(r))
            .await?;
        let mut state = self.state.write();
        for r in &records {
            apply_stored(&mut state, r);
        }
        *read_to = next.max(*read_to);
        Ok(())
    }

    /// Keeps the state current with `_schemas` as other registries append to
    /// it, until `shutdown`: waits on the log's wake-up (an idle registry costs
    /// nothing), then catches up; a failed read is retried after a pause.
    pub fn follow(self: &Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let registry = self.clone();
        tokio::spawn(async move {
            loop {
                let at = *registry.read_to.lock().await;
                let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
                let position = [(0, at)];
                let waited = tokio::select! {
                    w = registry.store.wait_for_records(TOPIC, &position, deadline) => w,
                    _ = shutdown.wait_for(|s| *s) => return,
                };
                let caught_up = match waited {
                    Ok(true) => registry.catch_up().await,
                    Ok(false) => Ok(()),
                    Err(e) => Err(e.into()),
                };
                if let Err(e) = caught_up {
                    tracing::warn!("following _schemas: {e}; retrying");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        });
    }

    /// [`Registry::ensure_ids`] for the Confluent-framed keys and values of
    /// `records` (magic byte 0, then the schema id).
    pub async fn ensure_ids_of(&self, records: &[creek_store::ConsumerRecord]) -> Result<()> {
        // Records of a batch mostly share their ids: a few distinct ones.
        let mut ids: Vec<i32> = Vec::new();
        for payload in records
            .iter()
            .flat_map(|r| [r.key.as_deref(), r.value.as_deref()])
            .flatten()
        {
            if let Ok((id, _)) = creek_avro::wire::split(payload) {
                if ids.last() != Some(&id) && !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        self.ensure_ids(ids).await
    }

    /// Makes sure every schema id in `ids` is known, reading `_schemas` once
    /// more if one is not: another worker may have registered it a moment
    /// before its records arrived here. An id still unknown afterwards is
    /// for the caller to report.
    pub async fn ensure_ids(&self, ids: impl IntoIterator<Item = i32>) -> Result<()> {
        if ids.into_iter().any(|id| self.schema_by_id(id).is_none()) {
            self.catch_up().await?;
        }
        Ok(())
    }

    /// Appends records as one batch, then applies them to the state. Another
    /// worker's registry may have appended between this writer's decision and
    /// its append: if those records took the same schema id or subject version,
    /// this writer's records lose (later records fixing them up are appended,
    /// so every replay agrees) and the write answers `Raced`, to be decided again.
    async fn commit(
        &self,
        records: Vec<Record>,
        parsed: Option<Arc<RegisteredSchema>>,
    ) -> Result<()> {
        let n = records.len() as i64;
        let decided_at = *self.decided_at.lock();
        // The follower waits: what came in between is looked at here first.
        let mut read_to = self.read_to.lock().await;
        let base = self.store.produce(TOPIC, 0, encode(&records)).await?;
        if decided_at < base {
            let mut between = Vec::new();
            self.store
                .read_to_end(TOPIC, 0, decided_at, Some(base), &mut |r| between.push(r))
                .await?;
            let theirs: Vec<Record> = between
                .iter()
                .filter_map(|r| Record::decode(r.key.as_deref()?, r.value.as_deref()).ok()?)
                .collect();
            let fixes = compensation(&records, &theirs);
            if !fixes.is_empty() {
                self.store.produce(TOPIC, 0, encode(&fixes)).await?;
                // Everything from where the state stood, in log order.
                let mut rest = Vec::new();
                let next = self
                    .store
                    .read_to_end(TOPIC, 0, *read_to, None, &mut |r| rest.push(r))
                    .await?;
                let mut state = self.state.write();
                for r in &rest {
                    apply_stored(&mut state, r);
                }
                *read_to = next;
                return Err(RegistryError::Raced);
            }
        }
        // Others' records before ours (those the follower has not applied).
        if *read_to < base {
            let mut others = Vec::new();
            self.store
                .read_to_end(TOPIC, 0, *read_to, Some(base), &mut |r| others.push(r))
                .await?;
            let mut state = self.state.write();
            for r in &others {
                apply_stored(&mut state, r);
            }
        }
        *read_to = (*read_to).max(base + n);
        let mut state = self.state.write();
        for r in &records {
            if let Err(reason) = state.apply(r, parsed.clone()) {
                // Cannot happen for records built here; the log has them, so a restart
                // would replay them the same way.
                tracing::error!(%reason, "registry could not apply its own record");
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------------ schemas

    /// Registers (or finds) an Avro schema under a subject; returns the global id.
    /// Enforces the subject's compatibility level.
    pub async fn register(&self, subject: &str, schema_json: &str) -> Result<i32> {
        self.register_version(subject, schema_json, None).await
    }

    /// `register`, optionally insisting on the version number the new schema gets
    /// (the `version` of Confluent's register request).
    pub async fn register_version(
        &self,
        subject: &str,
        schema_json: &str,
        expected_version: Option<i32>,
    ) -> Result<i32> {
        self.register_inner(subject, schema_json, expected_version, None)
            .await
    }

    /// Registers a schema under a chosen id (Confluent's import mode; used to
    /// replay schemas whose ids other systems already refer to). The id must
    /// be free or already belong to this schema.
    pub async fn register_with_id(&self, subject: &str, schema_json: &str, id: i32) -> Result<i32> {
        self.register_inner(subject, schema_json, None, Some(id))
            .await
    }

    /// Registers, deciding again when another worker's registry took the id
    /// or version at the same moment (see `commit`).
    async fn register_inner(
        &self,
        subject: &str,
        schema_json: &str,
        expected_version: Option<i32>,
        requested_id: Option<i32>,
    ) -> Result<i32> {
        let mut attempts = 0;
        loop {
            match self
                .register_once(subject, schema_json, expected_version, requested_id)
                .await
            {
                Err(RegistryError::Raced) if attempts < 5 => attempts += 1,
                other => return other,
            }
        }
    }

    async fn register_once(
        &self,
        subject: &str,
        schema_json: &str,
        expected_version: Option<i32>,
        requested_id: Option<i32>,
    ) -> Result<i32> {
        let (canonical, avro) = parse(schema_json)?;
        let _writer = self.writer.lock().await;
        // Decide on the newest state: another worker's registry may have written.
        self.begin_write().await?;
        let (record, parsed, id) = {
            let state = self.state.read();
            let known_id = state.id_by_canonical.get(&canonical).copied();
            let live = state.live_versions(subject);
            // Registering a schema the subject already has is idempotent, whatever
            // the compatibility rules say now.
            if let Some(id) = known_id {
                if let Some((version, _)) = live.iter().find(|(_, e)| e.schema.id == id) {
                    if expected_version.is_some_and(|v| v != *version) {
                        return Err(RegistryError::InvalidSchema(format!(
                            "the schema is already version {version} of subject '{subject}'"
                        )));
                    }
                    return Ok(id);
                }
            }
            let level = state.effective_level(subject);
            let messages = compat::check(level, &avro, &previous(&live));
            if !messages.is_empty() {
                return Err(incompatible(subject, &messages));
            }
            let version = state
                .subjects
                .get(subject)
                .and_then(|v| v.keys().next_back())
                .map_or(1, |v| v + 1);
            if let Some(expected) = expected_version {
                if expected != version {
                    return Err(RegistryError::InvalidSchema(format!(
                        "version {expected} requested, but the next version of subject '{subject}' is {version}"
                    )));
                }
            }
            let (id, schema_json, parsed) = match known_id.and_then(|id| state.by_id.get(&id)) {
                Some(existing) => (existing.id, existing.schema_json.clone(), None),
                None => {
                    let id = match requested_id {
                        Some(id) if state.by_id.contains_key(&id) => {
                            return Err(RegistryError::OperationNotPermitted(format!(
                                "schema id {id} is taken by another schema"
                            )))
                        }
                        Some(id) => id,
                        None => state.max_id.checked_add(1).ok_or_else(|| {
                            RegistryError::OperationNotPermitted("schema ids exhausted".into())
                        })?,
                    };
                    let parsed = Arc::new(RegisteredSchema::new(id, canonical, avro));
                    (id, parsed.schema_json.clone(), Some(parsed))
                }
            };
            let record = Record::Schema {
                subject: subject.to_string(),
                version,
                value: Some(SchemaValue {
                    subject: subject.to_string(),
                    version,
                    id,
                    schema: schema_json,
                    deleted: false,
                }),
            };
            (record, parsed, id)
        };
        self.commit(vec![record], parsed).await?;
        tracing::debug!(subject, id, "schema registered");
        Ok(id)
    }

    /// The schema with a global id (soft-deleted versions keep their ids readable).
    pub fn schema_by_id(&self, id: i32) -> Option<Arc<RegisteredSchema>> {
        self.state.read().by_id.get(&id).cloned()
    }

    /// The latest live version of a subject and its schema.
    pub fn latest(&self, subject: &str) -> Option<(i32, Arc<RegisteredSchema>)> {
        let state = self.state.read();
        state
            .live_versions(subject)
            .last()
            .map(|(v, e)| (*v, e.schema.clone()))
    }

    /// The highest id assigned so far (0 when none).
    pub fn max_id(&self) -> i32 {
        self.state.read().max_id
    }

    /// Subject-versions holding a schema id, in subject then version order.
    pub fn versions_of_id(&self, id: i32, deleted: Deleted) -> Result<Vec<(String, i32)>> {
        let state = self.state.read();
        if !state.by_id.contains_key(&id) {
            return Err(RegistryError::SchemaIdNotFound(id));
        }
        Ok(state
            .subjects
            .iter()
            .flat_map(|(s, versions)| {
                versions
                    .iter()
                    .filter(|(_, e)| e.schema.id == id && deleted.admits(e.deleted))
                    .map(move |(v, _)| (s.clone(), *v))
            })
            .collect())
    }

    /// Every subject-version (for `GET /schemas`), optionally the latest per subject.
    pub fn all_versions(
        &self,
        subject_prefix: &str,
        deleted: Deleted,
        latest_only: bool,
    ) -> Vec<SubjectVersion> {
        let state = self.state.read();
        let mut out = Vec::new();
        for (subject, versions) in state.subjects.range(subject_prefix.to_string()..) {
            if !subject.starts_with(subject_prefix) {
                break;
            }
            let mut admitted = versions.iter().filter(|(_, e)| deleted.admits(e.deleted));
            let chosen: Vec<_> = if latest_only {
                admitted.next_back().into_iter().collect()
            } else {
                admitted.collect()
            };
            out.extend(chosen.into_iter().map(|(v, e)| SubjectVersion {
                subject: subject.clone(),
                version: *v,
                schema: e.schema.clone(),
                deleted: e.deleted,
            }));
        }
        out
    }

    // ----------------------------------------------------------------- subjects

    /// Subject names, sorted.
    pub fn subjects(&self, subject_prefix: &str, deleted: Deleted) -> Vec<String> {
        let state = self.state.read();
        state
            .subjects
            .iter()
            .filter(|(s, v)| {
                s.starts_with(subject_prefix) && v.values().any(|e| deleted.admits(e.deleted))
            })
            .map(|(s, _)| s.clone())
            .collect()
    }

    /// Version numbers of a subject, ascending.
    pub fn versions(&self, subject: &str, deleted: Deleted) -> Result<Vec<i32>> {
        let state = self.state.read();
        Ok(state
            .versions(subject, deleted)?
            .iter()
            .filter(|(_, e)| deleted.admits(e.deleted))
            .map(|(v, _)| *v)
            .collect())
    }

    /// One version of a subject; `include_deleted` makes soft-deleted ones visible.
    pub fn version(
        &self,
        subject: &str,
        version: VersionRef,
        include_deleted: bool,
    ) -> Result<SubjectVersion> {
        let state = self.state.read();
        let filter = if include_deleted {
            Deleted::Include
        } else {
            Deleted::Exclude
        };
        let versions = state.versions(subject, filter)?;
        let found = match version {
            VersionRef::Latest => versions
                .iter()
                .rev()
                .find(|(_, e)| filter.admits(e.deleted)),
            VersionRef::Number(n) => versions
                .get_key_value(&n)
                .filter(|(_, e)| filter.admits(e.deleted)),
        };
        let (v, e) = found.ok_or_else(|| RegistryError::VersionNotFound {
            subject: subject.to_string(),
            version: match version {
                VersionRef::Number(n) => n,
                VersionRef::Latest => -1,
            },
        })?;
        Ok(SubjectVersion {
            subject: subject.to_string(),
            version: *v,
            schema: e.schema.clone(),
            deleted: e.deleted,
        })
    }

    /// Finds the version of a subject holding a schema (`POST /subjects/{s}`).
    pub fn lookup(
        &self,
        subject: &str,
        schema_json: &str,
        include_deleted: bool,
    ) -> Result<SubjectVersion> {
        let (canonical, _) = parse(schema_json)?;
        let state = self.state.read();
        let filter = if include_deleted {
            Deleted::Include
        } else {
            Deleted::Exclude
        };
        let versions = state.versions(subject, filter)?;
        let id = state
            .id_by_canonical
            .get(&canonical)
            .ok_or(RegistryError::SchemaNotFound)?;
        // A live version wins over a soft-deleted one holding the same schema.
        let matching = |deleted: bool| {
            versions
                .iter()
                .rev()
                .find(|(_, e)| e.schema.id == *id && e.deleted == deleted)
        };
        let found = matching(false).or_else(|| include_deleted.then(|| matching(true)).flatten());
        let (v, e) = found.ok_or(RegistryError::SchemaNotFound)?;
        Ok(SubjectVersion {
            subject: subject.to_string(),
            version: *v,
            schema: e.schema.clone(),
            deleted: e.deleted,
        })
    }

    /// Deletes a subject: soft (its versions are hidden; ids stay readable) or, after
    /// a soft delete, permanent (its versions and subject-level config are gone).
    /// Returns the versions deleted.
    pub async fn delete_subject(&self, subject: &str, permanent: bool) -> Result<Vec<i32>> {
        let _writer = self.writer.lock().await;
        // Decide on the newest state: another worker's registry may have written.
        self.begin_write().await?;
        let (records, deleted) = {
            let state = self.state.read();
            let versions = state
                .subjects
                .get(subject)
                .ok_or_else(|| RegistryError::SubjectNotFound(subject.to_string()))?;
            let any_live = versions.values().any(|e| !e.deleted);
            if permanent {
                if any_live {
                    return Err(RegistryError::SubjectNotSoftDeleted(subject.to_string()));
                }
                let mut records: Vec<Record> = versions
                    .keys()
                    .map(|v| Record::Schema {
                        subject: subject.to_string(),
                        version: *v,
                        value: None,
                    })
                    .collect();
                if state.subject_levels.contains_key(subject) {
                    records.push(Record::Config {
                        subject: Some(subject.to_string()),
                        level: None,
                    });
                }
                (records, versions.keys().copied().collect::<Vec<_>>())
            } else {
                if !any_live {
                    return Err(RegistryError::SubjectSoftDeleted(subject.to_string()));
                }
                let live: Vec<(i32, &VersionEntry)> = state.live_versions(subject);
                let records = live
                    .iter()
                    .map(|(v, e)| soft_deleted(subject, *v, &e.schema))
                    .collect();
                (records, live.iter().map(|(v, _)| *v).collect())
            }
        };
        self.commit(records, None).await?;
        Ok(deleted)
    }

    /// Deletes one version: soft, or (after a soft delete) permanent. Returns it.
    pub async fn delete_version(
        &self,
        subject: &str,
        version: VersionRef,
        permanent: bool,
    ) -> Result<i32> {
        let _writer = self.writer.lock().await;
        // Decide on the newest state: another worker's registry may have written.
        self.begin_write().await?;
        let (record, number) = {
            let state = self.state.read();
            let versions = state
                .subjects
                .get(subject)
                .ok_or_else(|| RegistryError::SubjectNotFound(subject.to_string()))?;
            let found = match version {
                // The latest live version for a soft delete; the latest at all for a
                // permanent one (which must have been soft-deleted first).
                VersionRef::Latest if permanent => versions.iter().next_back(),
                VersionRef::Latest => versions.iter().rev().find(|(_, e)| !e.deleted),
                VersionRef::Number(n) => versions.get_key_value(&n),
            };
            let Some((number, entry)) = found else {
                return Err(match version {
                    VersionRef::Number(n) => RegistryError::VersionNotFound {
                        subject: subject.to_string(),
                        version: n,
                    },
                    VersionRef::Latest => RegistryError::SubjectNotFound(subject.to_string()),
                });
            };
            let record = match (permanent, entry.deleted) {
                (false, false) => soft_deleted(subject, *number, &entry.schema),
                (false, true) => {
                    return Err(RegistryError::VersionSoftDeleted {
                        subject: subject.to_string(),
                        version: *number,
                    })
                }
                (true, false) => {
                    return Err(RegistryError::VersionNotSoftDeleted {
                        subject: subject.to_string(),
                        version: *number,
                    })
                }
                (true, true) => Record::Schema {
                    subject: subject.to_string(),
                    version: *number,
                    value: None,
                },
            };
            (record, *number)
        };
        self.commit(vec![record], None).await?;
        Ok(number)
    }

    // ------------------------------------------------------------ compatibility

    /// The global compatibility level.
    pub fn global_compatibility(&self) -> CompatibilityLevel {
        self.state
            .read()
            .global_level
            .unwrap_or(CompatibilityLevel::DEFAULT)
    }

    /// The subject-level compatibility level, if one is set.
    pub fn subject_compatibility(&self, subject: &str) -> Option<CompatibilityLevel> {
        self.state.read().subject_levels.get(subject).copied()
    }

    /// The level registrations under `subject` are checked with.
    pub fn effective_compatibility(&self, subject: &str) -> CompatibilityLevel {
        self.state.read().effective_level(subject)
    }

    /// Sets the global level (`subject: None`) or a subject's level.
    pub async fn set_compatibility(
        &self,
        subject: Option<&str>,
        level: CompatibilityLevel,
    ) -> Result<()> {
        let _writer = self.writer.lock().await;
        // Decide on the newest state: another worker's registry may have written.
        self.begin_write().await?;
        let record = Record::Config {
            subject: subject.map(str::to_string),
            level: Some(level),
        };
        self.commit(vec![record], None).await
    }

    /// Removes a subject's level (or resets the global one to the default); returns
    /// the level that was in force.
    pub async fn delete_compatibility(&self, subject: Option<&str>) -> Result<CompatibilityLevel> {
        let _writer = self.writer.lock().await;
        // Decide on the newest state: another worker's registry may have written.
        self.begin_write().await?;
        let previous = match subject {
            None => self.global_compatibility(),
            Some(s) => self
                .subject_compatibility(s)
                .ok_or_else(|| RegistryError::SubjectCompatibilityNotConfigured(s.to_string()))?,
        };
        let record = Record::Config {
            subject: subject.map(str::to_string),
            level: None,
        };
        self.commit(vec![record], None).await?;
        Ok(previous)
    }

    /// Tests a schema against one version (`Some`) or, following the subject's level,
    /// against the latest or all live versions (`None`). Returns the reasons it is
    /// incompatible; empty means compatible.
    pub fn test_compatibility(
        &self,
        subject: &str,
        schema_json: &str,
        version: Option<VersionRef>,
    ) -> Result<Vec<String>> {
        let (_, avro) = parse(schema_json)?;
        let state = self.state.read();
        let level = state.effective_level(subject);
        let live = state.live_versions(subject);
        let against: Vec<(i32, &VersionEntry)> = match version {
            None => live,
            // A subject without versions has nothing to be incompatible with.
            Some(VersionRef::Latest) => live.last().copied().into_iter().collect(),
            Some(VersionRef::Number(n)) => {
                // An unknown subject is 40401, a missing version of a known one 40402.
                state.versions(subject, Deleted::Exclude)?;
                let entry = live.iter().find(|(v, _)| *v == n).ok_or_else(|| {
                    RegistryError::VersionNotFound {
                        subject: subject.to_string(),
                        version: n,
                    }
                })?;
                vec![*entry]
            }
        };
        Ok(compat::check(level, &avro, &previous(&against)))
    }
}

fn soft_deleted(subject: &str, version: i32, schema: &RegisteredSchema) -> Record {
    Record::Schema {
        subject: subject.to_string(),
        version,
        value: Some(SchemaValue {
            subject: subject.to_string(),
            version,
            id: schema.id,
            schema: schema.schema_json.clone(),
            deleted: true,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use creek_log::{EmbeddedLog, Log, LogConfig};

    const V1: &str = r#"{"type":"record","name":"User","fields":[{"name":"id","type":"long"}]}"#;
    const V2: &str = r#"{"type":"record","name":"User","fields":[{"name":"id","type":"long"},{"name":"email","type":["null","string"],"default":null}]}"#;
    /// Not backward compatible with V1: a new field without a default.
    const V2_BAD: &str = r#"{"type":"record","name":"User","fields":[{"name":"id","type":"long"},{"name":"email","type":"string"}]}"#;

    fn store(dir: &std::path::Path) -> Arc<dyn LogStore> {
        Arc::new(EmbeddedLog::new(
            Log::open(dir, LogConfig::default()).unwrap(),
        ))
    }

    #[tokio::test]
    async fn a_write_that_raced_another_registry_loses_and_every_replay_agrees() {
        let dir = tempfile::tempdir().unwrap();
        let log = store(dir.path());
        // Two workers' registries on one `_schemas`.
        let a = Registry::open(log.clone()).await.unwrap();
        let b = Registry::open(log.clone()).await.unwrap();
        // b decides on an empty log; a registers before b appends.
        b.begin_write().await.unwrap();
        assert_eq!(a.register("a-value", V1).await.unwrap(), 1);
        let (canonical, _) = parse(V2).unwrap();
        let raced = b
            .commit(
                vec![Record::Schema {
                    subject: "b-value".into(),
                    version: 1,
                    value: Some(SchemaValue {
                        subject: "b-value".into(),
                        version: 1,
                        id: 1,
                        schema: canonical,
                        deleted: false,
                    }),
                }],
                None,
            )
            .await;
        assert!(matches!(raced, Err(RegistryError::Raced)), "{raced:?}");
        // b's state is the log's: id 1 is a's schema, b's version is gone.
        assert!(b.latest("b-value").is_none());
        assert!(!b.schema_by_id(1).unwrap().schema_json.contains("email"));
        // Decided again, b's schema gets the next id; a replay agrees.
        assert_eq!(b.register("b-value", V2).await.unwrap(), 2);
        let replayed = Registry::open(log).await.unwrap();
        assert_eq!(replayed.latest("a-value").unwrap().1.id, 1);
        assert_eq!(replayed.latest("b-value").unwrap().1.id, 2);
        a.catch_up().await.unwrap();
        assert_eq!(a.latest("b-value").unwrap().1.id, 2);
    }

    #[test]
    fn compensation_restores_their_version_or_drops_ours() {
        let record = |subject: &str, version, id, schema: &str| Record::Schema {
            subject: subject.into(),
            version,
            value: Some(SchemaValue {
                subject: subject.into(),
                version,
                id,
                schema: schema.into(),
                deleted: false,
            }),
        };
        let ours = vec![record("s", 2, 7, "X")];
        // Nothing collides: another subject, another id.
        assert!(compensation(&ours, &[record("t", 1, 8, "Y")]).is_empty());
        // The same registration made twice at once collides with nothing.
        assert!(compensation(&ours, &[record("s", 2, 7, "X")]).is_empty());
        // Their value for our subject version comes again after ours.
        let theirs = record("s", 2, 8, "Y");
        assert_eq!(
            compensation(&ours, std::slice::from_ref(&theirs)),
            vec![theirs]
        );
        // Our id went to another schema: our version is dropped.
        assert_eq!(
            compensation(&ours, &[record("t", 1, 7, "Y")]),
            vec![Record::Schema {
                subject: "s".into(),
                version: 2,
                value: None
            }]
        );
    }

    #[tokio::test]
    async fn register_is_idempotent_for_the_same_canonical_schema() {
        let dir = tempfile::tempdir().unwrap();
        let reg = Registry::open(store(dir.path())).await.unwrap();
        let id = reg.register("users-value", V1).await.unwrap();
        assert_eq!(id, 1);
        let spaced = r#"{ "type" : "record", "fields" : [ {"type": "long", "name": "id"} ], "name": "User" }"#;
        assert_eq!(reg.register("users-value", spaced).await.unwrap(), id);
        assert_eq!(
            reg.versions("users-value", Deleted::Exclude).unwrap(),
            vec![1]
        );
        // The same schema under another subject: same id, that subject's version 1.
        assert_eq!(reg.register("other-value", spaced).await.unwrap(), id);
        assert_eq!(reg.versions_of_id(id, Deleted::Exclude).unwrap().len(), 2);
        let (v, schema) = reg.latest("users-value").unwrap();
        assert_eq!((v, schema.id), (1, id));
        assert_eq!(schema.schema_json, V1);
        assert!(reg.schema_by_id(id).is_some());
        assert!(reg.schema_by_id(99).is_none());
    }

    #[tokio::test]
    async fn compatibility_is_enforced_per_level() {
        let dir = tempfile::tempdir().unwrap();
        let reg = Registry::open(store(dir.path())).await.unwrap();
        reg.register("s", V1).await.unwrap();
        let err = reg.register("s", V2_BAD).await.unwrap_err();
        assert_eq!(err.error_code(), 409, "{err}");
        assert!(
            err.to_string()
                .contains("READER_FIELD_MISSING_DEFAULT_VALUE"),
            "{err}"
        );
        assert_eq!(reg.register("s", V2).await.unwrap(), 2);
        // FORWARD: the old schemas must read the new data; V2_BAD adds a field, fine.
        reg.set_compatibility(Some("s"), CompatibilityLevel::Forward)
            .await
            .unwrap();
        assert_eq!(reg.register("s", V2_BAD).await.unwrap(), 3);
        reg.set_compatibility(Some("s"), CompatibilityLevel::None)
            .await
            .unwrap();
        assert_eq!(reg.register("s", r#""string""#).await.unwrap(), 4);
        assert_eq!(
            reg.versions("s", Deleted::Exclude).unwrap(),
            vec![1, 2, 3, 4]
        );
        let err = reg.register("s", r#"{"type":"recor"}"#).await.unwrap_err();
        assert_eq!(err.error_code(), 42201);
    }

    #[tokio::test]
    async fn state_is_replayed_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let reg = Registry::open(store(dir.path())).await.unwrap();
            reg.register("a", V1).await.unwrap();
            reg.register("a", V2).await.unwrap();
            reg.register("b", r#""int""#).await.unwrap();
            reg.register("c", r#""long""#).await.unwrap();
            reg.set_compatibility(None, CompatibilityLevel::Full)
                .await
                .unwrap();
            reg.set_compatibility(Some("a"), CompatibilityLevel::None)
                .await
                .unwrap();
            reg.delete_version("a", VersionRef::Number(1), false)
                .await
                .unwrap();
            reg.delete_subject("c", false).await.unwrap();
            reg.delete_subject("c", true).await.unwrap();
        }
        let reg = Registry::open(store(dir.path())).await.unwrap();
        assert_eq!(reg.versions("a", Deleted::Exclude).unwrap(), vec![2]);
        assert_eq!(reg.versions("a", Deleted::Include).unwrap(), vec![1, 2]);
        assert_eq!(reg.subjects("", Deleted::Exclude), vec!["a", "b"]);
        assert_eq!(reg.global_compatibility(), CompatibilityLevel::Full);
        assert_eq!(
            reg.subject_compatibility("a"),
            Some(CompatibilityLevel::None)
        );
        // Soft-deleted: still readable by id. Permanently deleted: gone.
        assert!(reg.schema_by_id(1).is_some());
        assert!(reg.schema_by_id(4).is_none());
        // Ids keep counting from the highest ever assigned.
        assert_eq!(reg.register("d", r#""double""#).await.unwrap(), 5);
        assert_eq!(reg.register("e", r#""int""#).await.unwrap(), 3);
    }

    #[tokio::test]
    async fn deletes_follow_the_soft_then_permanent_rules() {
        let dir = tempfile::tempdir().unwrap();
        let reg = Registry::open(store(dir.path())).await.unwrap();
        reg.register("s", V1).await.unwrap();
        reg.register("s", V2).await.unwrap();
        fn code<T: std::fmt::Debug>(r: Result<T>) -> i32 {
            r.unwrap_err().error_code()
        }
        assert_eq!(code(reg.delete_subject("s", true).await), 40405);
        assert_eq!(
            code(reg.delete_version("s", VersionRef::Number(2), true).await),
            40407
        );
        assert_eq!(
            reg.delete_version("s", VersionRef::Latest, false)
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            code(reg.delete_version("s", VersionRef::Number(2), false).await),
            40406
        );
        assert_eq!(
            code(reg.delete_version("s", VersionRef::Number(9), false).await),
            40402
        );
        assert_eq!(reg.delete_subject("s", false).await.unwrap(), vec![1]);
        assert_eq!(code(reg.delete_subject("s", false).await), 40404);
        assert_eq!(code(reg.versions("s", Deleted::Exclude)), 40401);
        // Re-registering a soft-deleted schema: a new version, the same id.
        assert_eq!(reg.register("s", V1).await.unwrap(), 1);
        assert_eq!(reg.versions("s", Deleted::Exclude).unwrap(), vec![3]);
        assert_eq!(reg.delete_subject("s", false).await.unwrap(), vec![3]);
        assert_eq!(reg.delete_subject("s", true).await.unwrap(), vec![1, 2, 3]);
        assert_eq!(code(reg.delete_subject("s", true).await), 40401);
        assert!(reg.schema_by_id(1).is_none());
        // After a permanent delete, versions restart at 1 and ids are not reused.
        assert_eq!(reg.register("s", V1).await.unwrap(), 3);
        assert_eq!(reg.versions("s", Deleted::Exclude).unwrap(), vec![1]);
    }

    #[tokio::test]
    async fn concurrent_registrations_never_share_an_id() {
        let dir = tempfile::tempdir().unwrap();
        let reg = Registry::open(store(dir.path())).await.unwrap();
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let reg = reg.clone();
                tokio::spawn(async move {
                    reg.register(
                        &format!("s{i}"),
                        &format!(r#"{{"type":"fixed","name":"F","size":{}}}"#, i + 1),
                    )
                    .await
                    .unwrap()
                })
            })
            .collect();
        let mut ids = Vec::new();
        for t in tasks {
            ids.push(t.await.unwrap());
        }
        ids.sort();
        assert_eq!(ids, (1..=20).collect::<Vec<_>>());
    }

    #[test]
    fn version_refs() {
        assert_eq!(VersionRef::parse("latest").unwrap(), VersionRef::Latest);
        assert_eq!(VersionRef::parse("-1").unwrap(), VersionRef::Latest);
        assert_eq!(VersionRef::parse("3").unwrap(), VersionRef::Number(3));
        for bad in ["0", "-2", "x", "2147483648"] {
            assert_eq!(VersionRef::parse(bad).unwrap_err().error_code(), 42202);
        }
    }
}
