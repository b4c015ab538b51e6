//! Opening a data directory: metadata, blobs, the root key, the master keyring and the KMS,
//! in that order (the root key binds to the directory before anything sealed under it is
//! read).

use std::path::Path;
use std::sync::Arc;

use coffer_audit::{AuditLog, Cadence, ChainKey, Layout, SigningKey, StoreAnchors, Stores};
use coffer_kms::{BuiltinKms, KmsIdentity, MasterKeyring, RootKey, RootKeySource};
use coffer_s3::{CofferS3, ServerIdentity, UserDirectory};
use coffer_store::{
    AuditFileStore, AuditJournalStore, BlobStore, FsBlobStore, IntentRecordingBlobStore, MetaStore,
    RedbMetaStore, StoreError,
};
use coffer_store_opendal::{OpendalBlobStore, S3Settings, Secret};
use coffer_store_postgres::PostgresMetaStore;

use crate::sealed_secrets::{FileSecrets, SealedSecrets, StoreSecrets};
use crate::storage_config::{BlobBackend, MetadataBackend, StorageConfig, redact_password};

/// The opened backends and the keys over them.
pub struct DataDir {
    pub meta: Arc<dyn MetaStore>,
    pub blobs: Arc<dyn BlobStore>,
    pub keyring: MasterKeyring,
    root: Arc<RootKey>,
    secrets: Arc<dyn SealedSecrets>,
    /// Where the audit trail is kept when several gateways share it (`None`: under
    /// `<data>/audit`).
    shared_audit: Option<SharedAudit>,
}

/// The stores of an audit trail that every gateway over a shared metadata store keeps
/// together: the journal and the small files in the database, log files and digests in the
/// object store (or the database, when blobs are local files).
#[derive(Clone)]
pub struct SharedAudit {
    pub journal: Arc<dyn AuditJournalStore>,
    pub small: Arc<dyn AuditFileStore>,
    pub bulk: Arc<dyn AuditFileStore>,
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

/// Opens the backends `storage` names (the embedded ones by default), then the root key,
/// which binds to the metadata before anything sealed under it is read, then the keyring.
pub async fn open(storage: &StorageConfig, data_dir: &Path) -> Result<DataDir, OpenError> {
    let Backends {
        meta,
        blobs,
        shared_audit,
    } = open_backends(storage, data_dir).await?;
    // The embedded metadata store keeps sealed secrets beside the trail, as files; a shared
    // one keeps them in the store, so that every gateway signs with the same key.
    let secrets: Arc<dyn SealedSecrets> = match storage.metadata.backend {
        MetadataBackend::Embedded => Arc::new(FileSecrets {
            dir: data_dir.join("audit"),
        }),
        MetadataBackend::Postgres => Arc::new(StoreSecrets { meta: meta.clone() }),
    };
    let root = Arc::new(
        RootKeySource::for_data_dir(data_dir)
            .load()
            .map_err(|e| OpenError::Other(e.to_string()))?,
    );
    root.check_against(meta.as_ref())
        .map_err(|e| OpenError::Other(e.to_string()))?;
    // Shared: the keyring finds master-key versions another gateway made in this store.
    let keyring = MasterKeyring::open_shared(meta.clone(), root.clone())
        .map_err(|e| OpenError::Other(e.to_string()))?;
    Ok(DataDir {
        meta,
        blobs,
        keyring,
        root,
        secrets,
        shared_audit,
    })
}

/// A metadata store and a blob store, opened.
pub struct Backends {
    pub meta: Arc<dyn MetaStore>,
    pub blobs: Arc<dyn BlobStore>,
    /// Set when the metadata store is shared: where the one audit trail lives.
    pub shared_audit: Option<SharedAudit>,
}

/// The metadata and blob backends alone, with no key opened and nothing written: what a
/// migration copies from and to.
pub async fn open_backends(
    storage: &StorageConfig,
    data_dir: &Path,
) -> Result<Backends, OpenError> {
    // Refuse an incomplete configuration before opening anything, so it leaves no trace.
    let storage = &storage
        .resolved(|name| std::env::var(name).ok())
        .map_err(OpenError::Other)?;
    // The object store first: probing it creates nothing, so a store that cannot be used
    // stops the start before any database is created or migrated.
    let shared_blobs = match storage.blobs.backend {
        BlobBackend::Local => None,
        BlobBackend::S3 => Some(open_s3_blobs(&storage.blobs).await?),
    };
    let (meta, shared_audit): (Arc<dyn MetaStore>, _) = match storage.metadata.backend {
        MetadataBackend::Embedded => (
            Arc::new(
                RedbMetaStore::open(&data_dir.join("meta.redb")).map_err(|e| match e {
                    StoreError::Locked => OpenError::InUse,
                    other => OpenError::Other(format!("cannot open metadata database: {other}")),
                })?,
            ),
            None,
        ),
        MetadataBackend::Postgres => {
            let url = storage.metadata.url.as_deref().unwrap_or_default();
            let pg = Arc::new(PostgresMetaStore::connect(url).await.map_err(|e| {
                OpenError::Other(format!(
                    "cannot open the postgres metadata store at {}: {e}",
                    redact_password(url)
                ))
            })?);
            let bulk: Arc<dyn AuditFileStore> = match &shared_blobs {
                Some(store) => Arc::new(store.audit_files().map_err(|e| {
                    OpenError::Other(format!("cannot keep the audit trail in the s3 store: {e}"))
                })?),
                None => pg.clone(),
            };
            let audit = SharedAudit {
                journal: pg.clone(),
                small: pg.clone(),
                bulk,
            };
            (pg, Some(audit))
        }
    };
    let blobs: Arc<dyn BlobStore> = match shared_blobs {
        None => Arc::new(
            FsBlobStore::open(&data_dir.join("objects"))
                .map_err(|e| OpenError::Other(format!("cannot open blob store: {e}")))?,
        ),
        // A store other gateways may write to: every blob's intent is recorded before it
        // exists, so a collection elsewhere never takes a blob whose record is on its way.
        Some(store) => Arc::new(IntentRecordingBlobStore::new(Arc::new(store), meta.clone())),
    };
    Ok(Backends {
        meta,
        blobs,
        shared_audit,
    })
}

/// The S3 service of OpenDAL over `[blobs]`, tried with one listing request, so missing
/// credentials, a wrong bucket or an unreachable endpoint stop the start with their reason
/// instead of turning every request into a 503 later.
async fn open_s3_blobs(
    b: &crate::storage_config::BlobsSection,
) -> Result<OpendalBlobStore, OpenError> {
    let store = OpendalBlobStore::s3(S3Settings {
        endpoint: b.endpoint.clone(),
        bucket: b.bucket.clone().unwrap_or_default(),
        prefix: b.prefix.clone().unwrap_or_default(),
        region: b.region.clone(),
        access_key: b.access_key.clone(),
        secret_key: b.secret_key.as_deref().map(Secret::new),
    })
    .map_err(|e| OpenError::Other(format!("cannot open the s3 blob store: {e}")))?;
    store.list_page(None, 1).await.map_err(|e| {
        OpenError::Other(format!(
            "cannot use the s3 blob store (bucket {:?} at {}): {e}",
            b.bucket.as_deref().unwrap_or_default(),
            b.endpoint.as_deref().unwrap_or("AWS S3")
        ))
    })?;
    Ok(store)
}

/// What the audit chain's MAC key is derived from the root key for.
const CHAIN_KEY_LABEL: &str = "coffer audit chain";
/// The name the audit signing key is kept under, sealed under the root key (with the
/// embedded backends: `<data>/audit/signing-key.sealed`).
pub(crate) const SIGNING_KEY_NAME: &str = "signing-key.sealed";
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
        let pkcs8 = match self.secrets.load(SIGNING_KEY_NAME)? {
            Some(sealed) => self
                .root
                .open_secret(&sealed, SIGNING_KEY_LABEL)
                .map_err(|e| format!("audit signing key: {e}"))?,
            None => {
                let pkcs8 = SigningKey::generate().map_err(|e| e.to_string())?;
                let sealed = self
                    .root
                    .seal_secret(&pkcs8, SIGNING_KEY_LABEL)
                    .map_err(|e| e.to_string())?;
                let kept = self.secrets.create(SIGNING_KEY_NAME, &sealed)?;
                if kept == sealed {
                    pkcs8
                } else {
                    // Another process created it first: use that one.
                    self.root
                        .open_secret(&kept, SIGNING_KEY_LABEL)
                        .map_err(|e| format!("audit signing key: {e}"))?
                }
            }
        };
        let key = SigningKey::from_pkcs8(&pkcs8).map_err(|e| e.to_string())?;
        let chain = ChainKey::new(&self.root.derive_key(CHAIN_KEY_LABEL));
        let layout = Layout::new(data_dir, &identity.account_id, &identity.region);
        // The chains' anchors and the lookup index live in the metadata store.
        let index: Arc<dyn coffer_store::AuditStore> = self.meta.clone();
        let log = match &self.shared_audit {
            None => AuditLog::open(
                layout,
                key,
                chain,
                Arc::new(StoreAnchors(index.clone(), String::new())),
                Some(index),
                cadence,
            ),
            // One trail for every gateway: this one appends its own stream, named by its id.
            Some(shared) => {
                let stream = crate::gateway::load_or_create(data_dir)?;
                let stores = Stores::shared(
                    shared.journal.clone(),
                    shared.bulk.clone(),
                    shared.small.clone(),
                    &stream,
                );
                AuditLog::open_in(
                    layout,
                    stores,
                    key,
                    chain,
                    Arc::new(StoreAnchors(index.clone(), stream)),
                    Some(index),
                    cadence,
                )
            }
        };
        Ok(Arc::new(log.map_err(|e| e.to_string())?))
    }

    /// The S3 service and the KMS it calls, over this directory.
    pub fn into_services(
        self,
        users: UserDirectory,
        identity: ServerIdentity,
        audit: Option<Arc<AuditLog>>,
    ) -> Result<(CofferS3, Arc<BuiltinKms>), String> {
        // One bounded cache of parsed policies for key policies and bucket policies alike.
        let policies = Arc::new(coffer_policy::PolicyCache::new());
        let mut kms = BuiltinKms::new(
            self.meta.clone(),
            self.root,
            KmsIdentity {
                account_id: identity.account_id.clone(),
                region: identity.region.clone(),
            },
        )
        .with_policy_cache(policies.clone());
        if let Some(a) = audit {
            kms = kms.with_audit(a);
        }
        // KMS changes committed just before a crash get their records before anything else.
        kms.replay_audit_outbox()
            .map_err(|e| format!("cannot replay the audit outbox: {e}"))?;
        let kms = Arc::new(kms);
        // Write intents protect a blob from a collection running beside its writer. The
        // embedded backends collect only at start-up, holding the database lock, before any
        // writer exists, so they skip the intent's extra commit per blob; backends that
        // several gateways share wrap their blob store in `IntentRecordingBlobStore`.
        let s3 = CofferS3::new(
            self.meta,
            self.blobs,
            Arc::new(users),
            identity,
            Arc::new(self.keyring),
        )
        .with_kms(kms.clone())
        .with_policy_cache(policies);
        Ok((s3, kms))
    }
}
