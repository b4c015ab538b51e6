//! [`TrailFiles`] over a folder of the data directory (`<data>/audit`): what every trail
//! used before there was a trait, byte for byte and fsync for fsync.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::trail_files::{StagedFile, TrailFiles};

/// The trail's files under a local folder: files 0600, folders 0700; every write is a
/// temporary file, fsync, rename, fsync of its folder.
#[derive(Debug, Clone)]
pub struct LocalTrailFiles {
    root: PathBuf,
}

impl LocalTrailFiles {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// Creates `dir` (and missing parents) readable by the owner only: the trail names users,
/// keys and objects.
pub(crate) fn private_dir(dir: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Makes a rename or removal in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes `bytes` to `path` durably: a temporary file, fsync, rename, fsync of the directory.
pub(crate) fn write_durably(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::other("a file needs a directory"))?;
    private_dir(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().unwrap_or_default().to_string_lossy()
    ));
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    sync_dir(dir)
}

/// Every file under `dir` whose path ends with `suffix`, sorted by path.
fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(suffix) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

impl TrailFiles for LocalTrailFiles {
    fn read(&self, name: &str) -> io::Result<Option<Vec<u8>>> {
        match std::fs::read(self.root.join(name)) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn exists(&self, name: &str) -> io::Result<bool> {
        self.root.join(name).try_exists()
    }

    fn write_durably(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        write_durably(&self.root.join(name), bytes)
    }

    fn swap(&self, name: &str, expected: Option<&[u8]>, bytes: &[u8]) -> io::Result<bool> {
        // One process owns a data directory (the database's lock): a lock in the process
        // makes the comparison and the write one step.
        static SWAPS: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one = SWAPS.lock().unwrap_or_else(|p| p.into_inner());
        if self.read(name)?.as_deref() != expected {
            return Ok(false);
        }
        write_durably(&self.root.join(name), bytes)?;
        Ok(true)
    }

    fn put_new(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        // A file on disk is as durable written once as rewritten: the same steps.
        write_durably(&self.root.join(name), bytes)
    }

    fn stage(&self, scratch: &str) -> io::Result<Box<dyn StagedFile>> {
        let tmp = self.root.join(scratch);
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        Ok(Box::new(LocalStaged {
            file,
            tmp,
            root: self.root.clone(),
        }))
    }

    fn list(&self, prefix: &str, suffix: &str) -> io::Result<Vec<String>> {
        // A folder that cannot be read lists as empty, as it always has: what is missing
        // is for the verification to name, by what should be there.
        Ok(files_ending(&self.root.join(prefix), suffix)
            .iter()
            .map(|p| {
                p.strip_prefix(&self.root)
                    .unwrap_or(p)
                    .to_string_lossy()
                    .into_owned()
            })
            .collect())
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        match std::fs::remove_file(self.root.join(name)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// A log file written to a scratch file under the root, renamed into its folder once named.
struct LocalStaged {
    file: File,
    tmp: PathBuf,
    root: PathBuf,
}

impl Write for LocalStaged {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl StagedFile for LocalStaged {
    fn finish(&mut self) -> io::Result<()> {
        self.file.sync_all()
    }

    fn commit(self: Box<Self>, name: &str) -> io::Result<()> {
        let full = self.root.join(name);
        let dir = full
            .parent()
            .ok_or_else(|| io::Error::other("a log file needs a directory"))?;
        private_dir(dir)?;
        std::fs::rename(&self.tmp, &full)?;
        sync_dir(dir)
    }

    fn discard(self: Box<Self>) -> io::Result<()> {
        std::fs::remove_file(&self.tmp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn files_are_private_listed_in_order_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("audit");
        let files = LocalTrailFiles::new(&root);
        assert_eq!(files.read("head.json").unwrap(), None);
        files.put_new("A/b/2026/01/02/y.json.gz", b"2").unwrap();
        files.put_new("A/b/2026/01/01/x.json.gz", b"1").unwrap();
        files.put_new("A/b/2026/01/01/x.json.gz.sig", b"s").unwrap();
        files.write_durably("head.json", b"h").unwrap();
        let mut staged = files.stage(".scratch.tmp").unwrap();
        staged.write_all(b"3").unwrap();
        staged.finish().unwrap();
        staged.commit("A/b/2026/01/03/z.json.gz").unwrap();
        assert_eq!(
            files.list("A/b/", ".json.gz").unwrap(),
            [
                "A/b/2026/01/01/x.json.gz",
                "A/b/2026/01/02/y.json.gz",
                "A/b/2026/01/03/z.json.gz"
            ]
        );
        assert_eq!(files.read("head.json").unwrap().unwrap(), b"h");
        assert!(!root.join(".scratch.tmp").exists());
        assert_eq!(mode(&root), 0o700);
        assert_eq!(mode(&root.join("A/b/2026/01/03")), 0o700);
        assert_eq!(mode(&root.join("head.json")), 0o600);
        assert_eq!(mode(&root.join("A/b/2026/01/03/z.json.gz")), 0o600);
        files.remove("head.json").unwrap();
        files.remove("head.json").unwrap();
        assert!(!files.exists("head.json").unwrap());
        let staged = files.stage(".scratch.tmp").unwrap();
        staged.discard().unwrap();
        assert!(!root.join(".scratch.tmp").exists());
    }
}
