//! Coffer's audit trail of key use, in CloudTrail's format.
//!
//! Every KMS operation, called directly or by S3 on a user's behalf, becomes one record
//! naming the user, the key, the encryption context and the outcome. Records are durable
//! before the request is answered (a journal with group commit), are cut into gzip log files
//! in CloudTrail's folder layout, and are covered by signed digests chained to each other, so
//! [`verify`] can prove that nothing was changed, removed, reordered or cut short.
//!
//! Invariants: a record never holds plaintext, ciphertext, key material or key policies (the
//! callers build events from what may be logged); nothing in a log file or digest changes
//! after it is written.
#![forbid(unsafe_code)]

mod event;
mod layout;
mod lookup;
mod lookup_events;
mod signing;
mod trail;
mod verify;

pub use event::{AuditEvent, Identity, KMS_SOURCE, Origin, S3_SOURCE};
pub use layout::{Layout, PUBLIC_KEY, rfc3339};
pub use lookup::{Filter, lookup};
pub use lookup_events::{LookupError, lookup_events};
pub use signing::{SIGNATURE_ALGORITHM, SigningKey};
pub use trail::{AuditLog, Cadence};
pub use verify::{Report, verify};
