//! The deploy package: the layout the Functions host scans — `host.json` and one folder per
//! function at the root, plus the custom-handler executable with its exec bit — written as a
//! zip (for zip deploy) or a staged folder (for `func start --script-root`).

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use zip::write::SimpleFileOptions;

use super::manifest::Manifest;
use super::progress::{Progress, Silent};

/// Mode of the executable inside the package; publish paths that drop it break the app.
const EXECUTABLE_MODE: u32 = 0o755;
const FILE_MODE: u32 = 0o644;

/// One file of the package: where it goes and where its bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageEntry {
    /// Path inside the package, `/`-separated.
    pub path: String,
    pub source: PathBuf,
    pub mode: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("executable `{}` not found; build it first (cargo build --release --target x86_64-unknown-linux-musl) or pass --binary", .0.display())]
    MissingBinary(PathBuf),
    #[error("`{}` is not a file", .0.display())]
    NotAFile(PathBuf),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("writing the zip: {0}")]
    Zip(#[from] zip::result::ZipError),
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> PackageError {
    let context = context.into();
    move |source| PackageError::Io { context, source }
}

/// Lists the package's files: `host.json`, every file of every `functions/<Name>/` folder moved
/// to `<Name>/`, and `binary` under the name host.json's `defaultExecutablePath` expects.
pub fn plan(
    manifest: &Manifest,
    binary: &Path,
    executable_name: &str,
) -> Result<Vec<PackageEntry>, PackageError> {
    if !binary.exists() {
        return Err(PackageError::MissingBinary(binary.to_owned()));
    }
    if !binary.is_file() {
        return Err(PackageError::NotAFile(binary.to_owned()));
    }
    let mut entries = vec![PackageEntry {
        path: "host.json".to_owned(),
        source: manifest.root.join("host.json"),
        mode: FILE_MODE,
    }];
    for function in &manifest.functions {
        let folder = manifest.root.join("functions").join(&function.name);
        let mut files = Vec::new();
        collect_files(&folder, &folder, &mut files)?;
        files.sort();
        entries.extend(files.into_iter().map(|relative| PackageEntry {
            path: format!("{}/{}", function.name, relative),
            source: folder.join(&relative),
            mode: FILE_MODE,
        }));
    }
    entries.push(PackageEntry {
        path: executable_name.to_owned(),
        source: binary.to_owned(),
        mode: EXECUTABLE_MODE,
    });
    Ok(entries)
}

fn collect_files(base: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), PackageError> {
    let listing = fs::read_dir(dir).map_err(io(format!("reading {}", dir.display())))?;
    for item in listing {
        let path = item
            .map_err(io(format!("reading {}", dir.display())))?
            .path();
        if path.is_dir() {
            collect_files(base, &path, out)?;
        } else if let Ok(relative) = path.strip_prefix(base) {
            let parts: Vec<_> = relative
                .components()
                .map(|part| part.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.push(parts.join("/"));
        }
    }
    Ok(())
}

/// Writes the entries as a zip with fixed timestamps, so the same inputs give the same bytes.
pub fn write_zip(entries: &[PackageEntry], out: &Path) -> Result<(), PackageError> {
    write_zip_with(entries, out, &Silent)
}

/// [`write_zip`], reporting one step per file to `progress`.
pub fn write_zip_with(
    entries: &[PackageEntry],
    out: &Path,
    progress: &dyn Progress,
) -> Result<(), PackageError> {
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(io(format!("creating {}", parent.display())))?;
    }
    let partial = out.with_extension("zip.partial");
    let file = fs::File::create(&partial).map_err(io(format!("creating {}", partial.display())))?;
    let mut zip = zip::ZipWriter::new(file);
    progress.begin("package", Some(entries.len() as u64));
    for entry in entries {
        let options = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(entry.mode);
        zip.start_file(entry.path.as_str(), options)?;
        let bytes =
            fs::read(&entry.source).map_err(io(format!("reading {}", entry.source.display())))?;
        zip.write_all(&bytes)
            .map_err(io(format!("writing {}", entry.path)))?;
        progress.advance(1);
    }
    zip.finish()?;
    progress.finish();
    fs::rename(&partial, out).map_err(io(format!("moving the zip to {}", out.display())))
}

/// Copies the entries into `dir` (emptied first), with their modes.
pub fn write_dir(entries: &[PackageEntry], dir: &Path) -> Result<(), PackageError> {
    write_dir_with(entries, dir, &Silent)
}

/// [`write_dir`], reporting one step per file to `progress`.
pub fn write_dir_with(
    entries: &[PackageEntry],
    dir: &Path,
    progress: &dyn Progress,
) -> Result<(), PackageError> {
    use std::os::unix::fs::PermissionsExt as _;
    if dir.exists() {
        fs::remove_dir_all(dir).map_err(io(format!("emptying {}", dir.display())))?;
    }
    progress.begin("package", Some(entries.len() as u64));
    for entry in entries {
        let target = dir.join(&entry.path);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(io(format!("creating {}", parent.display())))?;
        }
        fs::copy(&entry.source, &target).map_err(io(format!(
            "copying {} to {}",
            entry.source.display(),
            target.display()
        )))?;
        fs::set_permissions(&target, fs::Permissions::from_mode(entry.mode))
            .map_err(io(format!("setting the mode of {}", target.display())))?;
        progress.advance(1);
    }
    progress.finish();
    Ok(())
}
