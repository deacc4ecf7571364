//! Dead letters on disk: one JSON file per failed event or batch under
//! `<data-dir>/deadletter/<kind>/<name>/<id>.json`, for a person to inspect and replay.

use std::path::{Path, PathBuf};

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What produced the dead letter, and so where a replay sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeadLetterKind {
    /// An Event Grid delivery to one subscription; `payload` is the event.
    EventGrid,
    /// An Event Hubs batch a trigger could not process; `payload` is the array of events.
    EventHubs,
    /// A change-feed batch a `cosmosDBTrigger` could not process; `payload` is the documents.
    CosmosDb,
}

impl DeadLetterKind {
    pub fn folder(self) -> &'static str {
        match self {
            Self::EventGrid => "eventgrid",
            Self::EventHubs => "eventhubs",
            Self::CosmosDb => "cosmosdb",
        }
    }

    const ALL: [Self; 3] = [Self::EventGrid, Self::EventHubs, Self::CosmosDb];
}

/// One dead-lettered event or batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    pub id: String,
    pub kind: DeadLetterKind,
    /// Subscription (Event Grid), hub (Event Hubs) or container (Cosmos DB).
    pub source: String,
    /// The function that failed to process it.
    pub function: String,
    pub reason: String,
    pub attempts: u32,
    pub dead_lettered_at: String,
    pub payload: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    #[error("dead letter `{0}` does not exist")]
    NotFound(String),
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
}

/// The dead-letter folder of one data directory.
#[derive(Debug, Clone)]
pub struct DeadLetters {
    root: PathBuf,
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

impl DeadLetters {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            root: data_dir.join("deadletter"),
        }
    }

    /// Writes a new dead letter durably (temp file, fsync, rename) and returns it.
    pub fn write(
        &self,
        kind: DeadLetterKind,
        source: &str,
        function: &str,
        reason: &str,
        attempts: u32,
        payload: Value,
    ) -> Result<DeadLetter, DeadLetterError> {
        let letter = DeadLetter {
            id: format!("{}-{}", kind.folder(), uuid::Uuid::new_v4().simple()),
            kind,
            source: source.to_owned(),
            function: function.to_owned(),
            reason: reason.to_owned(),
            attempts,
            dead_lettered_at: Utc::now().to_rfc3339(),
            payload,
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

    fn files(&self) -> Result<Vec<PathBuf>, DeadLetterError> {
        let mut files = Vec::new();
        for kind in DeadLetterKind::ALL {
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
                    if path.extension().is_some_and(|ext| ext == "json") {
                        files.push(path);
                    }
                }
            }
        }
        Ok(files)
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

    /// Every dead letter, oldest first.
    pub fn list(&self) -> Result<Vec<DeadLetter>, DeadLetterError> {
        let mut letters = self
            .files()?
            .iter()
            .map(|path| Self::read(path))
            .collect::<Result<Vec<_>, _>>()?;
        letters.sort_by(|a, b| a.dead_lettered_at.cmp(&b.dead_lettered_at));
        Ok(letters)
    }

    fn path_of(&self, id: &str) -> Result<PathBuf, DeadLetterError> {
        self.files()?
            .into_iter()
            .find(|path| path.file_stem().is_some_and(|stem| stem == id))
            .ok_or_else(|| DeadLetterError::NotFound(id.to_owned()))
    }

    pub fn get(&self, id: &str) -> Result<DeadLetter, DeadLetterError> {
        Self::read(&self.path_of(id)?)
    }

    /// Deletes a dead letter (after a successful replay).
    pub fn remove(&self, id: &str) -> Result<(), DeadLetterError> {
        let path = self.path_of(id)?;
        std::fs::remove_file(&path).map_err(|source| DeadLetterError::Io { path, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn write_list_get_remove() {
        let dir = tempfile::tempdir().unwrap();
        let letters = DeadLetters::new(dir.path());
        let letter = letters
            .write(
                DeadLetterKind::EventGrid,
                "evgs-usercreated",
                "UserCreated",
                "500",
                3,
                json!({"id": "e1"}),
            )
            .unwrap();
        assert!(
            dir.path()
                .join("deadletter/eventgrid/evgs-usercreated")
                .join(format!("{}.json", letter.id))
                .is_file()
        );
        assert_eq!(letters.list().unwrap(), vec![letter.clone()]);
        assert_eq!(
            letters.get(&letter.id).unwrap().payload,
            json!({"id": "e1"})
        );
        letters.remove(&letter.id).unwrap();
        assert!(letters.list().unwrap().is_empty());
        assert!(matches!(
            letters.get(&letter.id),
            Err(DeadLetterError::NotFound(_))
        ));
    }
}
