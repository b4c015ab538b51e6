//! Opening a data directory: metadata, blobs, the root key, the master keyring and the KMS,
//! in that order (the root key binds to the directory before anything sealed under it is
//! read).

use std::path::Path;
use std::sync::Arc;

use coffer_kms::{BuiltinKms, KmsIdentity, MasterKeyring, RootKey};
use coffer_s3::{CofferS3, ServerIdentity, UserDirectory};
use coffer_store::{FsBlobStore, RedbMetaStore};

pub struct DataDir {
    pub meta: Arc<RedbMetaStore>,
    pub blobs: FsBlobStore,
    pub keyring: MasterKeyring,
    root: Arc<RootKey>,
}

pub enum OpenError {
    /// Another process (a running server) holds the database.
    InUse,
    Other(String),
}

impl From<OpenError> for String {
    fn from(e: OpenError) -> String {
        match e {
            OpenError::InUse => "the data directory is in use by another coffer process".into(),
            OpenError::Other(m) => m,
        }
    }
}

pub fn open(data_dir: &Path) -> Result<DataDir, OpenError> {
    let meta = RedbMetaStore::open(&data_dir.join("meta.redb")).map_err(|e| {
        let text = e.to_string();
        if text.contains("already open") {
            OpenError::InUse
        } else {
            OpenError::Other(format!("cannot open metadata database: {text}"))
        }
    })?;
    let blobs = FsBlobStore::open(&data_dir.join("objects"))
        .map_err(|e| OpenError::Other(format!("cannot open blob store: {e}")))?;
    let root = Arc::new(RootKey::load(data_dir).map_err(|e| OpenError::Other(e.to_string()))?);
    root.check_against(&meta)
        .map_err(|e| OpenError::Other(e.to_string()))?;
    let keyring =
        MasterKeyring::open(&meta, root.clone()).map_err(|e| OpenError::Other(e.to_string()))?;
    Ok(DataDir {
        meta: Arc::new(meta),
        blobs,
        keyring,
        root,
    })
}

impl DataDir {
    /// The S3 service and the KMS it calls, over this directory.
    pub fn into_services(
        self,
        users: UserDirectory,
        identity: ServerIdentity,
    ) -> (CofferS3, Arc<BuiltinKms>) {
        let kms = Arc::new(BuiltinKms::new(
            self.meta.clone(),
            self.root,
            KmsIdentity {
                account_id: identity.account_id.clone(),
                region: identity.region.clone(),
            },
        ));
        let s3 = CofferS3::new(
            self.meta,
            Arc::new(self.blobs),
            Arc::new(users),
            identity,
            Arc::new(self.keyring),
        )
        .with_kms(kms.clone());
        (s3, kms)
    }
}
