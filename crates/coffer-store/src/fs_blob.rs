//! `FsBlobStore`: blobs as files under the data directory, sharded by id prefix, written to a
//! temporary name, fsynced and renamed into place on commit.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;

use crate::blob::{BlobId, BlobReader, BlobStore, BlobWriter, ListedBlob};
use crate::blocking::run_blocking;
use crate::error::{StoreError, StoreResult};

/// Blobs as files: `<root>/blobs/<first two chars>/<id>`, written first under `<root>/tmp`.
///
/// Durability order: write → fsync file → rename into place → fsync the target directory.
/// Only after that does the caller commit a record that names the blob.
pub struct FsBlobStore {
    blobs: PathBuf,
    tmp: PathBuf,
}

impl FsBlobStore {
    pub fn open(root: &Path) -> io::Result<Self> {
        let blobs = root.join("blobs");
        let tmp = root.join("tmp");
        private_dir(&tmp)?;
        // Every shard exists, durably, before the first write: a writer never creates a
        // directory whose entry another writer's committed blob would depend on.
        for shard in 0..=255u8 {
            private_dir(&blobs.join(format!("{shard:02x}")))?;
        }
        sync_dir(&blobs)?;
        sync_dir(root)?;
        if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
        Ok(Self { blobs, tmp })
    }

    fn path_of(&self, id: &BlobId) -> PathBuf {
        self.blobs.join(&id.as_str()[..2]).join(id.as_str())
    }
}

/// Blobs are ciphertext, but their sizes and count are the owner's business alone.
fn private_dir(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn create(&self) -> StoreResult<Box<dyn BlobWriter>> {
        let id = BlobId::random();
        let tmp_path = self.tmp.join(id.as_str());
        let file = run_blocking(|| {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp_path)
        })?;
        Ok(Box::new(FsBlobWriter {
            id,
            file: Some(BufWriter::with_capacity(1 << 20, file)),
            tmp_path,
            final_dir: self.blobs.clone(),
        }))
    }

    async fn open(&self, id: &BlobId, len: u64) -> StoreResult<Box<dyn BlobReader>> {
        let (file, actual) = run_blocking(|| -> io::Result<(File, u64)> {
            let file = File::open(self.path_of(id))?;
            let actual = file.metadata()?.len();
            Ok((file, actual))
        })
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::NoSuchBlob(id.clone()),
            _ => StoreError::Io(e),
        })?;
        if actual != len {
            return Err(StoreError::Corrupt(format!(
                "blob {id} holds {actual} bytes, its record says {len}"
            )));
        }
        // An open file stays readable after it is unlinked: a reader keeps its blob even if
        // an overwrite releases it meanwhile.
        Ok(Box::new(FsBlobReader {
            file,
            len,
            id: id.clone(),
        }))
    }

    async fn delete(&self, id: &BlobId) -> StoreResult<()> {
        match run_blocking(|| fs::remove_file(self.path_of(id))) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Ids are spread over shards by their first two characters, so id order is shard order
    /// and then name order within a shard: a page reads one shard directory at a time, and
    /// holds at most one shard's names (a 256th of the store) besides the page itself.
    async fn list_page(
        &self,
        after: Option<&BlobId>,
        limit: usize,
    ) -> StoreResult<Vec<ListedBlob>> {
        Ok(run_blocking(|| self.list_page_blocking(after, limit))?)
    }

    async fn clear_unfinished(&self) -> StoreResult<usize> {
        Ok(run_blocking(|| -> io::Result<usize> {
            let mut n = 0;
            for entry in fs::read_dir(&self.tmp)? {
                fs::remove_file(entry?.path())?;
                n += 1;
            }
            Ok(n)
        })?)
    }
}

impl FsBlobStore {
    fn list_page_blocking(
        &self,
        after: Option<&BlobId>,
        limit: usize,
    ) -> io::Result<Vec<ListedBlob>> {
        let first_shard =
            after.map_or(0, |a| u8::from_str_radix(&a.as_str()[..2], 16).unwrap_or(0));
        let mut out = Vec::new();
        for shard in first_shard..=255u8 {
            if out.len() >= limit {
                break;
            }
            let dir = self.blobs.join(format!("{shard:02x}"));
            let mut ids: Vec<BlobId> = Vec::new();
            for entry in fs::read_dir(&dir)? {
                if let Some(id) = entry?.file_name().to_str().and_then(BlobId::parse)
                    && after.is_none_or(|a| id > *a)
                {
                    ids.push(id);
                }
            }
            ids.sort();
            for id in ids {
                if out.len() >= limit {
                    break;
                }
                let created = match fs::metadata(self.path_of(&id)) {
                    Ok(m) => m.modified()?,
                    // Deleted since the directory was read: not part of the store any more.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                };
                out.push(ListedBlob { id, created });
            }
        }
        Ok(out)
    }
}

struct FsBlobWriter {
    id: BlobId,
    file: Option<BufWriter<File>>,
    tmp_path: PathBuf,
    final_dir: PathBuf,
}

#[async_trait]
impl BlobWriter for FsBlobWriter {
    fn id(&self) -> &BlobId {
        &self.id
    }

    async fn write(&mut self, data: Bytes) -> StoreResult<()> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("blob writer already finished"))?;
        run_blocking(|| {
            coffer_faults::io_step("blob.write")?;
            file.write_all(&data)
        })?;
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> StoreResult<BlobId> {
        let file = self
            .file
            .take()
            .ok_or_else(|| io::Error::other("blob writer already finished"))?;
        let final_path = self
            .final_dir
            .join(&self.id.as_str()[..2])
            .join(self.id.as_str());
        let result = run_blocking(|| {
            let result = self.make_durable(file, &final_path);
            if result.is_err() {
                // A failed flush, fsync or rename (a full or failing disk) must not leave
                // the file behind, under either name: no record will ever name it.
                let _ = fs::remove_file(&self.tmp_path);
                let _ = fs::remove_file(&final_path);
            }
            result
        });
        result?;
        Ok(self.id.clone())
    }
}

impl FsBlobWriter {
    fn make_durable(&self, file: BufWriter<File>, final_path: &Path) -> io::Result<()> {
        let file = file.into_inner().map_err(|e| e.into_error())?;
        coffer_faults::io_step("blob.fsync")?;
        file.sync_all()?;
        drop(file);
        coffer_faults::io_step("blob.rename")?;
        fs::rename(&self.tmp_path, final_path)?;
        sync_dir(final_path.parent().unwrap_or(&self.final_dir))
    }
}

impl Drop for FsBlobWriter {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            // An abandoned write: its temporary file is garbage. If removal fails here, the
            // start-up sweep of tmp/ removes it.
            let _ = fs::remove_file(&self.tmp_path);
        }
    }
}

struct FsBlobReader {
    file: File,
    len: u64,
    id: BlobId,
}

#[async_trait]
impl BlobReader for FsBlobReader {
    async fn read_at(&mut self, offset: u64, len: usize) -> StoreResult<Bytes> {
        if offset
            .checked_add(len as u64)
            .is_none_or(|end| end > self.len)
        {
            return Err(StoreError::Corrupt(format!(
                "blob {}: {len} bytes at {offset} pass its end ({} bytes)",
                self.id, self.len
            )));
        }
        // Into memory that is not zeroed first: `read_to_end` fills a vector's spare
        // capacity as it is, where `read_exact_at` needs it initialised, and zeroing each
        // chunk cost an eighth of the server's CPU in a 64 MiB GET profile (a few more
        // reads, as std grows each one, cost far less).
        let mut buf = Vec::with_capacity(len);
        run_blocking(|| {
            let mut file = &self.file;
            file.seek(SeekFrom::Start(offset))?;
            file.take(len as u64).read_to_end(&mut buf)
        })
        .map_err(StoreError::Io)?;
        if buf.len() < len {
            // Shorter than when it was opened: truncated underneath us.
            return Err(StoreError::Corrupt(format!(
                "blob {}: truncated while read",
                self.id
            )));
        }
        Ok(Bytes::from(buf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{FreshBlobs, run_blob_contract};
    use std::sync::Arc;

    /// Two handles opened separately on the same directory.
    fn fresh() -> FreshBlobs {
        let dir = tempfile::tempdir().unwrap();
        let a = FsBlobStore::open(dir.path()).unwrap();
        let b = FsBlobStore::open(dir.path()).unwrap();
        FreshBlobs {
            handles: [Arc::new(a), Arc::new(b)],
            keep: Box::new(dir),
        }
    }

    #[test]
    fn meets_the_blob_store_contract() {
        run_blob_contract(&fresh);
    }

    #[tokio::test]
    async fn an_abandoned_write_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        let mut abandoned = store.create().await.unwrap();
        abandoned
            .write(Bytes::from_static(b"partial"))
            .await
            .unwrap();
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 1);
        drop(abandoned);
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn blob_ids_cannot_name_paths() {
        assert!(BlobId::parse("../../etc/passwd").is_none());
        assert!(BlobId::parse(&"A".repeat(32)).is_none());
        assert!(BlobId::parse(BlobId::random().as_str()).is_some());
    }
}
