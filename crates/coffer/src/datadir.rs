//! Opening a data directory: metadata, blobs, the root key, the master keyring and the KMS,
//! in that order (the root key binds to the directory before anything sealed under it is
//! read).

use std::path::Path;
use std::sync::Arc;

use coffer_audit::{AuditLog, Cadence, ChainKey, Layout, SigningKey, StoreAnchors};
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
    let meta = Arc::new(meta);
    // Shared: the keyring finds master-key versions another gateway made in this store.
    let keyring = MasterKeyring::open_shared(meta.clone(), root.clone())
        .map_err(|e| OpenError::Other(e.to_string()))?;
    Ok(DataDir {
        meta,
        blobs,
        keyring,
        root,
    })
}

/// What the audit chain's MAC key is derived from the root key for.
const CHAIN_KEY_LABEL: &str = "coffer audit chain";
/// Where the audit signing key is kept, sealed under the root key.
const SIGNING_KEY_FILE: &str = "audit/signing-key.sealed";
const SIGNING_KEY_LABEL: &str = "coffer audit signing key v1";

impl DataDir {
    /// Opens the audit trail: its signing key is generated on first start and kept sealed
    /// under the root key; only its public half is stored in the clear.
    pub fn open_audit(
        &self,
        data_dir: &Path,
        identity: &ServerIdentity,
        cadence: Cadence,
    ) -> Result<Arc<AuditLog>, String> {
        let path = data_dir.join(SIGNING_KEY_FILE);
        let pkcs8 = match std::fs::read(&path) {
            Ok(sealed) => self
                .root
                .open_secret(&sealed, SIGNING_KEY_LABEL)
                .map_err(|e| format!("audit signing key: {e}"))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let pkcs8 = SigningKey::generate()?;
                let sealed = self
                    .root
                    .seal_secret(&pkcs8, SIGNING_KEY_LABEL)
                    .map_err(|e| e.to_string())?;
                crate::private_files::create_private_dir(&data_dir.join("audit"))?;
                crate::config::write_private(&path, &sealed)?;
                pkcs8
            }
            Err(e) => return Err(format!("audit signing key: {e}")),
        };
        let key = SigningKey::from_pkcs8(&pkcs8)?;
        let chain = ChainKey::new(&self.root.derive_key(CHAIN_KEY_LABEL));
        let layout = Layout::new(data_dir, &identity.account_id, &identity.region);
        // The chain's anchor and the lookup index live in the metadata store.
        let index: Arc<dyn coffer_store::AuditStore> = self.meta.clone();
        let anchors = Arc::new(StoreAnchors(index.clone()));
        Ok(Arc::new(AuditLog::open(
            layout,
            key,
            chain,
            anchors,
            Some(index),
            cadence,
        )?))
    }

    /// The S3 service and the KMS it calls, over this directory.
    pub fn into_services(
        self,
        users: UserDirectory,
        identity: ServerIdentity,
        audit: Option<Arc<AuditLog>>,
    ) -> Result<(CofferS3, Arc<BuiltinKms>), String> {
        let mut kms = BuiltinKms::new(
            self.meta.clone(),
            self.root,
            KmsIdentity {
                account_id: identity.account_id.clone(),
                region: identity.region.clone(),
            },
        );
        if let Some(a) = audit {
            kms = kms.with_audit(a);
        }
        // KMS changes committed just before a crash get their records before anything else.
        kms.replay_audit_outbox()
            .map_err(|e| format!("cannot replay the audit outbox: {e}"))?;
        let kms = Arc::new(kms);
        let s3 = CofferS3::new(
            self.meta,
            Arc::new(self.blobs),
            Arc::new(users),
            identity,
            Arc::new(self.keyring),
        )
        .with_kms(kms.clone());
        Ok((s3, kms))
    }
}
