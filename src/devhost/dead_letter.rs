//! Dead letters: one JSON file per failed event under
//! `<data-dir>/deadletter/<kind>/<name>/<id>.json`, plus the entries the app keeps in its own
//! store container ([`AppDeadLetters`]), for a person to list and replay. A listing never fails
//! because of one bad entry: it is listed as [`Entry::Corrupt`]. A replay first *claims* its
//! dead letter (an atomic rename, or an ETag-guarded mark in the store), so two concurrent
//! replays of one dead letter send it once.

use std::path::{Path, PathBuf};

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::store::{ETag, PartitionKey, Query, Store, StoreError};

/// What produced the dead letter, and so where a replay sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeadLetterKind {
    /// An Event Grid delivery to one subscription; `payload` is the event.
    EventGrid,
    /// An Event Hubs event a trigger could not process; `payload` is an array of one event.
    EventHubs,
    /// A change-feed document a `cosmosDBTrigger` could not process; `payload` is an array of
    /// one document.
    CosmosDb,
    /// A timer run that failed after its retries; `payload` is the timer value it was given.
    Timer,
    /// An event the app itself set aside (kept in a store container, see [`AppDeadLetters`]);
    /// `payload` is the event body.
    App,
    /// A change-feed document an app function set aside itself (kept in a store container);
    /// `payload` names it (`container`, `partitionKey`, `id`, `version`) and a replay hands its
    /// current version to the function again.
    Document,
}

impl DeadLetterKind {
    pub fn folder(self) -> &'static str {
        match self {
            Self::EventGrid => "eventgrid",
            Self::EventHubs => "eventhubs",
            Self::CosmosDb => "cosmosdb",
            Self::Timer => "timer",
            Self::App => "app",
            Self::Document => "document",
        }
    }

    /// The kinds kept as files.
    const FILES: [Self; 4] = [
        Self::EventGrid,
        Self::EventHubs,
        Self::CosmosDb,
        Self::Timer,
    ];
}

/// One dead-lettered event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    pub id: String,
    pub kind: DeadLetterKind,
    /// Subscription (Event Grid), hub (Event Hubs, app), container (Cosmos DB) or function (timer).
    pub source: String,
    /// The function that failed to process it.
    pub function: String,
    pub reason: String,
    pub attempts: u32,
    pub dead_lettered_at: String,
    pub payload: Value,
    /// A replay holds it right now.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replaying: bool,
}

/// One line of a listing: a dead letter, or a stored entry that cannot be read as one (listed
/// with its error so a person can look at it; it is never skipped silently).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Entry {
    Letter(DeadLetter),
    Corrupt(CorruptEntry),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CorruptEntry {
    pub id: String,
    pub kind: DeadLetterKind,
    /// Where it is: a path under the data directory, or `<container>/<partition>/<id>`.
    pub location: String,
    /// Why it cannot be read.
    pub corrupt: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    #[error("dead letter `{0}` does not exist")]
    NotFound(String),
    #[error("dead letter `{0}` is being replayed")]
    Busy(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a dead letter: {source}")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("dead letter `{id}` cannot be replayed: {reason}")]
    NotReplayable { id: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

const KEY_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x7b0f_52d4_1c8e_4a39_9e60_d2c4_85a1_3f07);

/// The suffix of a file held by a replay (`<id>.json.replaying`).
const CLAIMED: &str = "replaying";

/// The dead letters of one data directory: files, plus the app's own store containers when the
/// app keeps some ([`DeadLetters::with_app`]).
#[derive(Clone)]
pub struct DeadLetters {
    root: PathBuf,
    apps: Vec<AppDeadLetters>,
}

impl std::fmt::Debug for DeadLetters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetters")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

/// Keeps a name usable as one path segment.
fn segment(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A dead-letter file: its id (the file stem), kind, and whether a replay holds it.
struct File {
    path: PathBuf,
    id: String,
    kind: DeadLetterKind,
    claimed: bool,
}

/// What a new dead letter records: the event and why it failed for good.
#[derive(Debug)]
pub struct Failed<'a> {
    pub kind: DeadLetterKind,
    /// The container, hub or subscription the event came from.
    pub source: &'a str,
    pub function: &'a str,
    pub reason: &'a str,
    pub attempts: u32,
    pub payload: Value,
}

impl DeadLetters {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            root: data_dir.join("deadletter"),
            apps: Vec::new(),
        }
    }

    /// Also lists and replays the dead letters the app keeps in `app`.
    pub fn with_app(mut self, app: AppDeadLetters) -> Self {
        self.apps.push(app);
        self
    }

    fn app_of(&self, id: &str) -> Option<&AppDeadLetters> {
        self.apps.iter().find(|app| app.owns(id))
    }

    /// Writes a new dead letter durably (temp file, fsync, rename) and returns it.
    pub fn write(&self, failed: Failed<'_>) -> Result<DeadLetter, DeadLetterError> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        self.write_as(&id, failed)
    }

    /// As [`DeadLetters::write`], under an id derived from `key` (what identifies the event:
    /// its position in the feed or log): an event dead-lettered again after a crash replaced
    /// the checkpoint's move is one dead letter, not two.
    pub fn write_once(&self, key: &str, failed: Failed<'_>) -> Result<DeadLetter, DeadLetterError> {
        let id = uuid::Uuid::new_v5(&KEY_NAMESPACE, key.as_bytes())
            .simple()
            .to_string();
        self.write_as(&id, failed)
    }

    fn write_as(
        &self,
        unique: &str,
        Failed {
            kind,
            source,
            function,
            reason,
            attempts,
            payload,
        }: Failed<'_>,
    ) -> Result<DeadLetter, DeadLetterError> {
        let letter = DeadLetter {
            id: format!("{}-{unique}", kind.folder()),
            kind,
            source: source.to_owned(),
            function: function.to_owned(),
            reason: reason.to_owned(),
            attempts,
            dead_lettered_at: Utc::now().to_rfc3339(),
            payload,
            replaying: false,
        };
        let dir = self.root.join(kind.folder()).join(segment(source));
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| DeadLetterError::Io { path, source }
        };
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let path = dir.join(format!("{}.json", letter.id));
        let temp = dir.join(format!(".{}.tmp", letter.id));
        let text =
            serde_json::to_vec_pretty(&letter).map_err(|source| DeadLetterError::Corrupt {
                path: path.clone(),
                source,
            })?;
        {
            use std::io::Write as _;
            let mut file = std::fs::File::create(&temp).map_err(io(&temp))?;
            file.write_all(&text).map_err(io(&temp))?;
            file.sync_all().map_err(io(&temp))?;
        }
        std::fs::rename(&temp, &path).map_err(io(&path))?;
        tracing::warn!(id = %letter.id, kind = kind.folder(), source, function, reason, "dead-lettered");
        Ok(letter)
    }

    /// Every dead-letter file, claimed or not; unreadable folders are skipped (nothing in them
    /// can be listed either).
    fn files(&self) -> Vec<File> {
        let mut files = Vec::new();
        for kind in DeadLetterKind::FILES {
            let dir = self.root.join(kind.folder());
            let Ok(sources) = std::fs::read_dir(&dir) else {
                continue;
            };
            for source in sources.filter_map(Result::ok) {
                let Ok(entries) = std::fs::read_dir(source.path()) else {
                    continue;
                };
                for entry in entries.filter_map(Result::ok) {
                    let path = entry.path();
                    let name = entry.file_name().to_string_lossy().into_owned();
                    let (id, claimed) = if let Some(id) = name.strip_suffix(".json") {
                        (id.to_owned(), false)
                    } else if let Some(id) = name.strip_suffix(&format!(".json.{CLAIMED}")) {
                        (id.to_owned(), true)
                    } else {
                        continue;
                    };
                    if id.starts_with('.') {
                        continue;
                    }
                    files.push(File {
                        path,
                        id,
                        kind,
                        claimed,
                    });
                }
            }
        }
        files
    }

    fn read(path: &Path) -> Result<DeadLetter, DeadLetterError> {
        let bytes = std::fs::read(path).map_err(|source| DeadLetterError::Io {
            path: path.to_owned(),
            source,
        })?;
        serde_json::from_slice(&bytes).map_err(|source| DeadLetterError::Corrupt {
            path: path.to_owned(),
            source,
        })
    }

    fn entry(&self, file: &File) -> Entry {
        match Self::read(&file.path) {
            Ok(mut letter) if letter.id == file.id => {
                letter.replaying = file.claimed;
                Entry::Letter(letter)
            }
            Ok(letter) => self.corrupt(file, format!("the file holds dead letter `{}`", letter.id)),
            Err(error) => self.corrupt(file, error.to_string()),
        }
    }

    fn corrupt(&self, file: &File, reason: String) -> Entry {
        let location = file
            .path
            .strip_prefix(self.root.parent().unwrap_or(&self.root))
            .unwrap_or(&file.path)
            .display()
            .to_string();
        Entry::Corrupt(CorruptEntry {
            id: file.id.clone(),
            kind: file.kind,
            location,
            corrupt: reason,
        })
    }

    /// The readable dead-letter files, oldest first (see [`DeadLetters::entries`] for all).
    pub fn list(&self) -> Result<Vec<DeadLetter>, DeadLetterError> {
        let mut letters: Vec<DeadLetter> = self
            .files()
            .iter()
            .filter_map(|file| match self.entry(file) {
                Entry::Letter(letter) => Some(letter),
                Entry::Corrupt(_) => None,
            })
            .collect();
        letters.sort_by(|a, b| a.dead_lettered_at.cmp(&b.dead_lettered_at));
        Ok(letters)
    }

    /// Everything there is to list — files and the app's store entries, readable or not —
    /// readable ones oldest first, then the unreadable ones. Never fails because of one entry.
    pub async fn entries(&self) -> Result<Vec<Entry>, DeadLetterError> {
        let mut entries: Vec<Entry> = self.files().iter().map(|file| self.entry(file)).collect();
        for app in &self.apps {
            entries.extend(app.entries().await?);
        }
        entries.sort_by(|a, b| match (a, b) {
            (Entry::Letter(a), Entry::Letter(b)) => a.dead_lettered_at.cmp(&b.dead_lettered_at),
            (Entry::Letter(_), Entry::Corrupt(_)) => std::cmp::Ordering::Less,
            (Entry::Corrupt(_), Entry::Letter(_)) => std::cmp::Ordering::Greater,
            (Entry::Corrupt(a), Entry::Corrupt(b)) => a.id.cmp(&b.id),
        });
        Ok(entries)
    }

    fn file(&self, id: &str) -> Result<File, DeadLetterError> {
        self.files()
            .into_iter()
            .find(|file| file.id == id)
            .ok_or_else(|| DeadLetterError::NotFound(id.to_owned()))
    }

    /// One dead letter (file or app entry).
    pub async fn get(&self, id: &str) -> Result<DeadLetter, DeadLetterError> {
        if let Some(app) = self.app_of(id) {
            return app.get(id).await;
        }
        let file = self.file(id)?;
        let mut letter = Self::read(&file.path)?;
        letter.replaying = file.claimed;
        Ok(letter)
    }

    /// Takes dead letter `id` for a replay: only one replay can hold it at a time (a second
    /// gets [`DeadLetterError::Busy`]); [`Claim::done`] removes it, [`Claim::release`] puts it
    /// back. A claim left by a crash is released by [`DeadLetters::recover`].
    pub async fn claim(&self, id: &str) -> Result<Claim, DeadLetterError> {
        if let Some(app) = self.app_of(id) {
            return app.claim(id).await;
        }
        let file = self.file(id)?;
        if file.claimed {
            return Err(DeadLetterError::Busy(id.to_owned()));
        }
        let held = file.path.with_extension(format!("json.{CLAIMED}"));
        // rename is atomic: of two concurrent claims, one finds the file gone.
        match std::fs::rename(&file.path, &held) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(DeadLetterError::Busy(id.to_owned()));
            }
            Err(source) => {
                return Err(DeadLetterError::Io {
                    path: file.path,
                    source,
                });
            }
        }
        let letter = match Self::read(&held) {
            Ok(letter) => letter,
            Err(error) => {
                let _ = std::fs::rename(&held, &file.path);
                return Err(error);
            }
        };
        Ok(Claim {
            letter,
            hold: Hold::File {
                held,
                original: file.path,
            },
        })
    }

    /// Releases the claims a crashed replay left (call once at start-up, while no replay runs).
    pub async fn recover(&self) -> Result<usize, DeadLetterError> {
        let mut released = 0;
        for file in self.files().into_iter().filter(|f| f.claimed) {
            let original = file.path.with_extension("");
            std::fs::rename(&file.path, &original).map_err(|source| DeadLetterError::Io {
                path: file.path.clone(),
                source,
            })?;
            released += 1;
        }
        for app in &self.apps {
            released += app.recover().await?;
        }
        Ok(released)
    }

    /// Discards dead letter `id` (file or app entry, readable or not) without replaying it;
    /// one a replay holds is [`DeadLetterError::Busy`].
    pub async fn discard(&self, id: &str) -> Result<(), DeadLetterError> {
        if let Some(app) = self.app_of(id) {
            return app.discard(id).await;
        }
        let file = self.file(id)?;
        if file.claimed {
            return Err(DeadLetterError::Busy(id.to_owned()));
        }
        match std::fs::remove_file(&file.path) {
            Ok(()) => Ok(()),
            // Claimed (renamed) or removed meanwhile.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                Err(DeadLetterError::Busy(id.to_owned()))
            }
            Err(source) => Err(DeadLetterError::Io {
                path: file.path,
                source,
            }),
        }
    }

    /// Deletes a dead-letter file.
    pub fn remove(&self, id: &str) -> Result<(), DeadLetterError> {
        let file = self.file(id)?;
        std::fs::remove_file(&file.path).map_err(|source| DeadLetterError::Io {
            path: file.path,
            source,
        })
    }
}

/// A dead letter held by one replay.
pub struct Claim {
    pub letter: DeadLetter,
    hold: Hold,
}

enum Hold {
    File {
        held: PathBuf,
        original: PathBuf,
    },
    App {
        app: AppDeadLetters,
        pk: PartitionKey,
        doc_id: String,
        etag: Option<ETag>,
    },
}

impl Claim {
    /// The replay succeeded: the dead letter is gone. Returns `false` when an app entry was
    /// written again meanwhile (the replayed event failed again and is back in the list).
    pub async fn done(self) -> Result<bool, DeadLetterError> {
        match self.hold {
            Hold::File { held, .. } => {
                std::fs::remove_file(&held)
                    .map_err(|source| DeadLetterError::Io { path: held, source })?;
                Ok(true)
            }
            Hold::App {
                app,
                pk,
                doc_id,
                etag,
            } => {
                match app
                    .store
                    .delete(&app.container, &pk, &doc_id, etag.as_ref())
                    .await
                {
                    Ok(()) => Ok(true),
                    Err(e) if e.is_precondition_failed() || e.is_not_found() => Ok(false),
                    Err(e) => Err(e.into()),
                }
            }
        }
    }

    /// The replay failed: the dead letter is listed as before.
    pub async fn release(self) -> Result<(), DeadLetterError> {
        match self.hold {
            Hold::File { held, original } => std::fs::rename(&held, &original)
                .map_err(|source| DeadLetterError::Io { path: held, source }),
            Hold::App {
                app,
                pk,
                doc_id,
                etag,
            } => app.unmark(&pk, &doc_id, etag).await,
        }
    }
}

/// Dead letters the app keeps itself in a store container (in Azure nothing else would keep
/// them). Two shapes: an event the update processor set aside holds the event `body`, the
/// `reason`, the `eventHub` it came from and the `function` that set it aside, and a replay
/// appends the body to that hub again ([`DeadLetterKind::App`]); a change-feed document a relay
/// set aside holds `container`, `documentId`, `documentPartitionKey`, `version`, `reason` and
/// `function`, and a replay hands the document's current version to that function again
/// ([`DeadLetterKind::Document`]).
#[derive(Clone)]
pub struct AppDeadLetters {
    store: Store,
    container: String,
    /// What listing ids of this container start with.
    prefix: String,
}

/// Ids of app entries in a listing: `<prefix><document id>`, or
/// `<prefix><partition>-<document id>` when the partition key is not the id.
const APP_PREFIX: &str = "app-";

impl AppDeadLetters {
    /// Entries listed as `app-…`.
    pub fn new(store: Store, container: &str) -> Self {
        Self::with_prefix(store, container, APP_PREFIX)
    }

    /// Entries listed as `<prefix>…` (each container its own prefix, ending in `-`).
    pub fn with_prefix(store: Store, container: &str, prefix: &str) -> Self {
        Self {
            store,
            container: container.to_owned(),
            prefix: prefix.to_owned(),
        }
    }

    fn owns(&self, id: &str) -> bool {
        id.starts_with(&self.prefix)
    }

    fn listing_id(&self, doc: &Value) -> Option<String> {
        let prefix = &self.prefix;
        let partition = doc.get("partitionKey")?.as_str()?;
        let id = doc.get("id")?.as_str()?;
        Some(if partition == id {
            format!("{prefix}{id}")
        } else {
            format!("{prefix}{partition}-{id}")
        })
    }

    async fn entries(&self) -> Result<Vec<Entry>, DeadLetterError> {
        let docs = self
            .store
            .query(&self.container, None, &Query::new())
            .await?;
        Ok(docs.iter().map(|doc| self.entry(doc)).collect())
    }

    fn entry(&self, doc: &Value) -> Entry {
        let id = self.listing_id(doc).unwrap_or_else(|| {
            format!(
                "{}?-{}",
                self.prefix,
                doc.get("id").and_then(Value::as_str).unwrap_or("?")
            )
        });
        match Self::letter(&id, doc) {
            Ok(letter) => Entry::Letter(letter),
            Err(reason) => Entry::Corrupt(CorruptEntry {
                id,
                kind: DeadLetterKind::App,
                location: format!(
                    "{}/{}",
                    self.container,
                    doc.get("id").and_then(Value::as_str).unwrap_or("?")
                ),
                corrupt: reason,
            }),
        }
    }

    fn letter(id: &str, doc: &Value) -> Result<DeadLetter, String> {
        let text = |field: &str| {
            doc.get(field)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| format!("`{field}` is missing or not a string"))
        };
        let dead_lettered_at = doc
            .get("deadLetteredAt")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let replaying = doc.get("replaying").and_then(Value::as_bool) == Some(true);
        if doc.get("documentId").is_some() {
            let container = text("container")?;
            return Ok(DeadLetter {
                id: id.to_owned(),
                kind: DeadLetterKind::Document,
                source: container.clone(),
                function: text("function")?,
                reason: text("reason")?,
                attempts: 1,
                dead_lettered_at,
                payload: serde_json::json!({
                    "container": container,
                    "partitionKey": doc.get("documentPartitionKey").cloned().unwrap_or(Value::Null),
                    "id": doc["documentId"],
                    "version": doc.get("version").cloned().unwrap_or(Value::Null),
                }),
                replaying,
            });
        }
        if doc.get("truncated").and_then(Value::as_bool) == Some(true) {
            return Err(
                "the event body was truncated when it was set aside; it cannot be replayed".into(),
            );
        }
        Ok(DeadLetter {
            id: id.to_owned(),
            kind: DeadLetterKind::App,
            source: text("eventHub")?,
            function: text("function")?,
            reason: text("reason")?,
            attempts: doc.get("attempts").and_then(Value::as_u64).unwrap_or(1) as u32,
            dead_lettered_at,
            payload: Value::String(text("body")?),
            replaying,
        })
    }

    /// (partition key, document id) of a listing id.
    fn locate(&self, id: &str) -> Result<(PartitionKey, String), DeadLetterError> {
        let rest = id
            .strip_prefix(self.prefix.as_str())
            .ok_or_else(|| DeadLetterError::NotFound(id.to_owned()))?;
        // Document ids are uuids without dashes, so the last `-` splits them off.
        let (partition, doc_id) = rest.rsplit_once('-').unwrap_or((rest, rest));
        Ok((PartitionKey::from(partition), doc_id.to_owned()))
    }

    async fn read(&self, id: &str) -> Result<(PartitionKey, String, Value), DeadLetterError> {
        let (pk, doc_id) = self.locate(id)?;
        let doc = self
            .store
            .read(&self.container, &pk, &doc_id)
            .await?
            .ok_or_else(|| DeadLetterError::NotFound(id.to_owned()))?;
        Ok((pk, doc_id, doc))
    }

    async fn get(&self, id: &str) -> Result<DeadLetter, DeadLetterError> {
        let (_, _, doc) = self.read(id).await?;
        Self::letter(id, &doc).map_err(|reason| DeadLetterError::NotReplayable {
            id: id.to_owned(),
            reason,
        })
    }

    /// Marks the entry `replaying` under its ETag: of two concurrent claims one gets a 412.
    async fn claim(&self, id: &str) -> Result<Claim, DeadLetterError> {
        let (pk, doc_id, mut doc) = self.read(id).await?;
        let letter = Self::letter(id, &doc).map_err(|reason| DeadLetterError::NotReplayable {
            id: id.to_owned(),
            reason,
        })?;
        if letter.replaying {
            return Err(DeadLetterError::Busy(id.to_owned()));
        }
        let etag = ETag::of(&doc);
        doc["replaying"] = Value::Bool(true);
        let written = match self
            .store
            .replace(&self.container, &pk, doc, etag.as_ref())
            .await
        {
            Ok(written) => written,
            Err(e) if e.is_precondition_failed() => {
                return Err(DeadLetterError::Busy(id.to_owned()));
            }
            Err(e) if e.is_not_found() => return Err(DeadLetterError::NotFound(id.to_owned())),
            Err(e) => return Err(e.into()),
        };
        Ok(Claim {
            letter,
            hold: Hold::App {
                app: self.clone(),
                pk,
                doc_id,
                etag: ETag::of(&written),
            },
        })
    }

    async fn unmark(
        &self,
        pk: &PartitionKey,
        doc_id: &str,
        etag: Option<ETag>,
    ) -> Result<(), DeadLetterError> {
        let Some(mut doc) = self.store.read(&self.container, pk, doc_id).await? else {
            return Ok(());
        };
        if ETag::of(&doc) != etag {
            return Ok(()); // written again meanwhile: that version is the one to keep
        }
        if let Some(object) = doc.as_object_mut() {
            object.remove("replaying");
        }
        match self
            .store
            .replace(&self.container, pk, doc, etag.as_ref())
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_precondition_failed() || e.is_not_found() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn discard(&self, id: &str) -> Result<(), DeadLetterError> {
        let (pk, doc_id, doc) = self.read(id).await?;
        if doc.get("replaying").and_then(Value::as_bool) == Some(true) {
            return Err(DeadLetterError::Busy(id.to_owned()));
        }
        match self
            .store
            .delete(&self.container, &pk, &doc_id, ETag::of(&doc).as_ref())
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if e.is_precondition_failed() => Err(DeadLetterError::Busy(id.to_owned())),
            Err(e) if e.is_not_found() => Err(DeadLetterError::NotFound(id.to_owned())),
            Err(e) => Err(e.into()),
        }
    }

    async fn recover(&self) -> Result<usize, DeadLetterError> {
        let query = Query::new().eq("/replaying", true);
        let held = self.store.query(&self.container, None, &query).await?;
        let mut released = 0;
        for doc in held {
            let (Some(partition), Some(doc_id)) = (
                doc.get("partitionKey").and_then(Value::as_str),
                doc.get("id").and_then(Value::as_str),
            ) else {
                continue;
            };
            self.unmark(&PartitionKey::from(partition), doc_id, ETag::of(&doc))
                .await?;
            released += 1;
        }
        Ok(released)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn letter(letters: &DeadLetters) -> DeadLetter {
        letters
            .write(Failed {
                kind: DeadLetterKind::EventGrid,
                source: "evgs-usercreated",
                function: "UserCreated",
                reason: "500",
                attempts: 3,
                payload: json!({"id": "e1"}),
            })
            .unwrap()
    }

    #[tokio::test]
    async fn write_list_get_remove() {
        let dir = tempfile::tempdir().unwrap();
        let letters = DeadLetters::new(dir.path());
        let letter = letter(&letters);
        assert!(
            dir.path()
                .join("deadletter/eventgrid/evgs-usercreated")
                .join(format!("{}.json", letter.id))
                .is_file()
        );
        assert_eq!(letters.list().unwrap(), vec![letter.clone()]);
        assert_eq!(
            letters.get(&letter.id).await.unwrap().payload,
            json!({"id": "e1"})
        );
        letters.remove(&letter.id).unwrap();
        assert!(letters.list().unwrap().is_empty());
        assert!(matches!(
            letters.get(&letter.id).await,
            Err(DeadLetterError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn a_corrupt_entry_is_listed_as_such_beside_the_readable_ones() {
        let dir = tempfile::tempdir().unwrap();
        let letters = DeadLetters::new(dir.path());
        let good = letter(&letters);
        let folder = dir.path().join("deadletter/cosmosdb/Commands");
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(
            folder.join("cosmosdb-broken.json"),
            b"{\"id\": \"cosmosdb-br",
        )
        .unwrap();
        let entries = letters.entries().await.unwrap();
        assert_eq!(entries.len(), 2, "{entries:?}");
        assert_eq!(entries[0], Entry::Letter(good));
        let Entry::Corrupt(corrupt) = &entries[1] else {
            panic!("{entries:?}");
        };
        assert_eq!(corrupt.id, "cosmosdb-broken");
        assert_eq!(corrupt.kind, DeadLetterKind::CosmosDb);
        assert!(
            corrupt.location.ends_with("cosmosdb-broken.json"),
            "{corrupt:?}"
        );
        assert!(corrupt.corrupt.contains("not a dead letter"), "{corrupt:?}");
        let listed = serde_json::to_value(&entries).unwrap();
        assert_eq!(listed[1]["id"], "cosmosdb-broken");
        assert!(listed[1]["corrupt"].is_string());
    }

    #[tokio::test]
    async fn a_claim_is_single_flight_released_on_failure_and_recovered_after_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let letters = DeadLetters::new(dir.path());
        let letter = letter(&letters);
        let claim = letters.claim(&letter.id).await.unwrap();
        assert!(matches!(
            letters.claim(&letter.id).await,
            Err(DeadLetterError::Busy(_))
        ));
        let listed = letters.list().unwrap();
        assert!(listed[0].replaying, "a held dead letter is still listed");
        claim.release().await.unwrap();
        let claim = letters.claim(&letter.id).await.unwrap();
        drop(claim); // a crash: nothing released it
        assert_eq!(letters.recover().await.unwrap(), 1);
        let claim = letters.claim(&letter.id).await.unwrap();
        assert!(claim.done().await.unwrap());
        assert!(letters.entries().await.unwrap().is_empty());
        assert!(matches!(
            letters.claim(&letter.id).await,
            Err(DeadLetterError::NotFound(_))
        ));
    }
}
