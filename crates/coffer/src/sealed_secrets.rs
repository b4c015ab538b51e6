//! Where secrets sealed under the root key are kept (today the audit signing key): a seam a
//! shared backend can implement, so that every gateway signs with the same key, instead of a
//! path in one machine's data directory.

use std::path::PathBuf;

/// Secrets already sealed under the root key, by name. An implementation never sees a secret
/// in the clear.
pub trait SealedSecrets: Send + Sync {
    /// The sealed bytes kept under `name`, if any.
    fn load(&self, name: &str) -> Result<Option<Vec<u8>>, String>;
    /// Keeps `sealed` under `name` if nothing is kept there yet, and returns what is kept
    /// afterwards: another process that created the secret first wins, and every process
    /// then uses its secret.
    fn create(&self, name: &str, sealed: &[u8]) -> Result<Vec<u8>, String>;
}

/// Sealed secrets as files of a private folder (the embedded default: `<data>/audit`),
/// created mode 0600 and never overwritten.
pub struct FileSecrets {
    pub dir: PathBuf,
}

impl FileSecrets {
    fn path(&self, name: &str) -> Result<PathBuf, String> {
        // Names are the server's own constants; refuse anything that could leave the folder.
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
            || name.starts_with('.')
        {
            return Err(format!("not a secret's name: {name:?}"));
        }
        Ok(self.dir.join(name))
    }
}

impl SealedSecrets for FileSecrets {
    fn load(&self, name: &str) -> Result<Option<Vec<u8>>, String> {
        let path = self.path(name)?;
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    fn create(&self, name: &str, sealed: &[u8]) -> Result<Vec<u8>, String> {
        let path = self.path(name)?;
        crate::private_files::create_private_dir(&self.dir)?;
        match crate::config::write_private(&path, sealed) {
            Ok(()) => Ok(sealed.to_vec()),
            // Created meanwhile (write_private never overwrites): the first one wins.
            Err(_) if path.exists() => self
                .load(name)?
                .ok_or_else(|| format!("{} vanished", path.display())),
            Err(e) => Err(e),
        }
    }
}

/// Sealed secrets in the metadata store, as KMS records under `secret/<name>` created only
/// where none exists (a compare-and-swap expecting no record): what gateways sharing a
/// store use, so that all of them sign the trail with one key. `coffer admin migrate`
/// carries them with the other KMS records.
pub struct StoreSecrets {
    pub meta: std::sync::Arc<dyn coffer_store::MetaStore>,
}

impl StoreSecrets {
    fn id(name: &str) -> String {
        format!("secret/{name}")
    }
}

impl SealedSecrets for StoreSecrets {
    fn load(&self, name: &str) -> Result<Option<Vec<u8>>, String> {
        self.meta
            .get_kms_record(&Self::id(name))
            .map(|found| found.map(|(_, sealed)| sealed))
            .map_err(|e| format!("sealed secret {name}: {e}"))
    }

    fn create(&self, name: &str, sealed: &[u8]) -> Result<Vec<u8>, String> {
        let write = coffer_store::KmsWrite::Put {
            id: Self::id(name),
            record: sealed.to_vec(),
            expected: None,
        };
        match self.meta.write_kms_records(vec![write]) {
            Ok(()) => Ok(sealed.to_vec()),
            // Another gateway created it first: its secret is the one.
            Err(coffer_store::StoreError::KmsConflict(_)) => self
                .load(name)?
                .ok_or_else(|| format!("sealed secret {name} vanished")),
            Err(e) => Err(format!("sealed secret {name}: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_the_store_the_first_secret_created_is_the_one_kept() {
        let dir = tempfile::tempdir().unwrap();
        let meta: std::sync::Arc<dyn coffer_store::MetaStore> = std::sync::Arc::new(
            coffer_store::RedbMetaStore::open(&dir.path().join("m.redb")).unwrap(),
        );
        let [a, b] = [
            StoreSecrets { meta: meta.clone() },
            StoreSecrets { meta: meta.clone() },
        ];
        assert_eq!(a.load("audit-signing-key").unwrap(), None);
        assert_eq!(a.create("audit-signing-key", b"one").unwrap(), b"one");
        assert_eq!(b.create("audit-signing-key", b"two").unwrap(), b"one");
        assert_eq!(b.load("audit-signing-key").unwrap().unwrap(), b"one");
    }

    #[test]
    fn the_first_secret_created_is_the_one_kept() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = FileSecrets {
            dir: dir.path().join("audit"),
        };
        assert_eq!(secrets.load("k.sealed").unwrap(), None);
        assert_eq!(secrets.create("k.sealed", b"one").unwrap(), b"one");
        assert_eq!(secrets.create("k.sealed", b"two").unwrap(), b"one");
        assert_eq!(secrets.load("k.sealed").unwrap().unwrap(), b"one");
        assert!(secrets.load("../escape").is_err());
        assert!(secrets.create("", b"x").is_err());
    }
}
