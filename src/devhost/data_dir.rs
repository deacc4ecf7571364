//! The data directory's lock: one `cosmospark dev` per directory. The lock is an exclusive
//! advisory lock on `<data-dir>/.lock`, taken before anything in the directory is read, reset
//! or opened, and released by the OS when the process exits (even on `kill -9`).

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use super::server::DevError;

/// The lock file's name inside the data directory (kept by a reset).
pub const LOCK_FILE: &str = ".lock";

/// An exclusive lock on a data directory, held until dropped.
#[derive(Debug)]
pub struct DataDirLock {
    dir: PathBuf,
    _file: File,
}

impl DataDirLock {
    /// Locks `dir` (which must exist), or fails with [`DevError::Locked`] when another process
    /// holds it.
    pub fn acquire(dir: &Path) -> Result<Self, DevError> {
        let path = dir.join(LOCK_FILE);
        let io = |source| DevError::DataDir {
            path: path.clone(),
            source,
        };
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => Ok(Self {
                dir: dir.to_owned(),
                _file: file,
            }),
            Err(TryLockError::WouldBlock) => Err(DevError::Locked(dir.to_owned())),
            Err(TryLockError::Error(source)) => Err(io(source)),
        }
    }

    /// Deletes everything in the directory but the lock file (`dev --reset`).
    pub fn clear(&self) -> Result<(), DevError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| DevError::DataDir { path, source }
        };
        for entry in std::fs::read_dir(&self.dir).map_err(io(&self.dir))? {
            let entry = entry.map_err(io(&self.dir))?;
            let path = entry.path();
            if entry.file_name() == LOCK_FILE {
                continue;
            }
            let removed = if entry.file_type().map_err(io(&path))?.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            removed.map_err(io(&path))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_and_reset_keeps_only_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("store")).unwrap();
        std::fs::write(dir.path().join("store/data.redb"), b"x").unwrap();
        let held = DataDirLock::acquire(dir.path()).unwrap();
        assert!(matches!(
            DataDirLock::acquire(dir.path()),
            Err(DevError::Locked(_))
        ));
        held.clear().unwrap();
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from(LOCK_FILE)]);
        drop(held);
        assert!(DataDirLock::acquire(dir.path()).is_ok());
    }
}
