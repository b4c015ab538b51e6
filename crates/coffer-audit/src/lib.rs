//! Coffer's audit trail of key use, in CloudTrail's format.
//!
//! Every KMS operation, called directly or by S3 on a user's behalf, becomes one record
//! naming the user, the key, the encryption context and the outcome. Records are durable
//! before the request is answered (a journal with group commit), are cut into gzip log files
//! in CloudTrail's folder layout, and are covered by signed digests chained to each other, so
//! [`verify`] can prove that nothing was changed, removed, reordered or cut short.
//!
//! Every record is chained from the moment it is written: it carries its position and a MAC
//! (keyed from the root key) over the record before and itself, and the newest link is
//! anchored in the metadata store, so the journal's newest records are as tamper-evident as
//! the digested ones.
//!
//! The trail is kept in two [`Stores`]: the live journal ([`JournalStore`]) and the named
//! files ([`TrailFiles`]), both under `<data>/audit` by default ([`LocalJournal`],
//! [`LocalTrailFiles`]), behind traits so a shared backend can hold them.
//!
//! Invariants: a record never holds plaintext, ciphertext, key material or key policies (the
//! callers build events from what may be logged); nothing in a log file or digest changes
//! after it is written.
#![forbid(unsafe_code)]

mod anchor;
mod chain;
mod digest_state;
mod error;
mod event;
mod import;
mod index;
mod journal_store;
mod layout;
mod local_files;
mod local_journal;
mod log_file;
mod lookup;
mod lookup_events;
mod receipt;
mod rendered;
mod shared_journal;
mod signing;
mod store_files;
mod stores;
mod trail;
mod trail_files;
mod verify;
mod verify_walk;
mod writer;

pub use anchor::{AnchorStore, MemoryAnchorStore, StoreAnchors};
pub use chain::{ChainKey, Link};
pub use error::{AuditError, AuditResult};
pub use event::{AuditEvent, Identity, KMS_SOURCE, MAX_RECORD_BYTES, Origin, S3_SOURCE};
pub use import::import_local;
pub use index::Cursor;
pub use journal_store::{CutToken, JournalStore};
pub use layout::{Layout, PUBLIC_KEY, rfc3339};
pub use local_files::LocalTrailFiles;
pub use local_journal::LocalJournal;
pub use lookup::{Filter, lookup, lookup_in};
pub use lookup_events::{LookupError, lookup_events};
pub use receipt::Receipt;
pub use shared_journal::SharedJournal;
pub use signing::{SIGNATURE_ALGORITHM, SigningKey};
pub use store_files::StoreTrailFiles;
pub use stores::Stores;
pub use trail::{AuditLog, Cadence};
pub use trail_files::{StagedFile, TrailFiles};
pub use verify::{Report, Trust, verify, verify_in};
pub use writer::{AUDIT_LATENCY_BUCKETS, JOURNAL_SYNC_SECONDS, RECORD_WAIT_SECONDS};
