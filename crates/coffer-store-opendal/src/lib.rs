//! Coffer's [`BlobStore`](coffer_store::BlobStore) on [Apache OpenDAL]: sealed segments in an
//! object store its users already run, so a Coffer gateway keeps no object bytes of its own.
//!
//! ```no_run
//! use coffer_store_opendal::{OpendalBlobStore, S3Settings, Secret};
//! # fn main() -> Result<(), coffer_store::StoreError> {
//! let blobs = OpendalBlobStore::s3(S3Settings {
//!     endpoint: Some("http://127.0.0.1:7480".into()),
//!     bucket: "coffer-blobs".into(),
//!     prefix: "gateway-a".into(),
//!     region: None,
//!     access_key: Some("AKID...".into()),
//!     secret_key: Some(Secret::new("...")),
//! })?;
//! let local = OpendalBlobStore::fs(std::path::Path::new("/var/lib/coffer-blobs"))?;
//! # let _ = (blobs, local);
//! # Ok(()) }
//! ```
//!
//! # Services
//!
//! - **S3** (default): any S3-compatible store: Ceph RGW, AWS S3, MinIO, Garage. Path-style
//!   requests; writes carry no aws-chunked encoding and no trailing checksum (Ceph RGW
//!   Pacific and Quincy refuse them).
//! - **fs** (default): files under a directory, for development and this crate's tests.
//! - **Google Cloud Storage** and **Azure Blob Storage** are one feature flag away: the
//!   `gcs` and `azblob` features enable OpenDAL's services of those names. The store's code
//!   is the same for every service: a constructor that builds the service (as [`OpendalBlobStore::s3`]
//!   does) is all a new one needs.
//!
//! # What the store must provide
//!
//! - **Read-after-write**: a blob is readable (and listed) as soon as its write commits.
//!   Blobs are written once under random names, so no conditional write is needed: the
//!   metadata commit that names a blob is the moment its write takes effect.
//! - **Ranged GETs**: each read asks for exactly the bytes it needs.
//! - **Multipart writes**: a blob larger than one part (8 MiB) is sent as a multipart
//!   upload, two parts in flight. A writer holds at most about four parts (32 MiB) in
//!   memory whatever the blob's size: the part filling, the one OpenDAL holds back (it
//!   opens the upload only once a second part is due, so a blob of one part stays a single
//!   PUT) and the two on the wire. The blob becomes visible only when the write closes
//!   (PUT or CompleteMultipartUpload).
//! - **Idempotent deletes**: deleting a missing blob succeeds.
//! - **Listing in key order** from a start key (S3's ListObjectsV2 `start-after`), with
//!   each object's last-modified time; services that cannot are read whole a page at a
//!   time (fs), holding only the page.
//!
//! # Operating notes
//!
//! - Blobs live under `<prefix>/blobs/<id>`; nothing else under the prefix is touched.
//! - A writer dropped before commit leaves nothing behind once its background work ends:
//!   with no upload open it aborts; with one open it waits for the parts in flight,
//!   completes the upload and deletes the blob, since an abort racing a part in flight
//!   may leave the upload behind (see `writer.rs`). A crashed process cannot clean up:
//!   OpenDAL 0.59 cannot list multipart uploads, so give the bucket a lifecycle rule that
//!   aborts incomplete multipart uploads after a day (`AbortIncompleteMultipartUpload`,
//!   which RGW, AWS and MinIO honour).
//! - A write or commit whose caller goes away (a dropped future) still runs to its end in
//!   a task of its own: a cut-off commit leaves a whole blob that no record names, which
//!   garbage collection removes; a cut-off write is abandoned with its writer.
//! - [`open`](coffer_store::BlobStore::open) costs one HEAD request (to answer `NoSuchBlob`
//!   or `Corrupt` before any byte is served); each read is then one ranged GET, except
//!   that a read announced as sequential (`will_read`: a whole object or a long range) is
//!   fetched in 4 MiB pieces, up to three ahead of the caller (see `reader`).
//! - Every request has a deadline (15 s for control requests, 30 s per read, write call or
//!   listing page) and is retried up to three times on 5xx, SlowDown, timeouts and reset
//!   connections. What still fails is `StoreError::Unavailable` (503 at the S3 layer); a
//!   missing blob is `NoSuchBlob`, a short one `Corrupt`, anything else `Database`.
//! - TLS uses the workspace's rustls on ring; [`OpendalBlobStore::s3`] installs ring as the
//!   process's default rustls provider if none is installed yet.
//! - The secret key is wrapped in [`Secret`] (never printed, wiped on drop). OpenDAL keeps
//!   its own copy in its signer's configuration for the store's lifetime.
//!
//! [Apache OpenDAL]: https://opendal.apache.org/
#![forbid(unsafe_code)]

mod audit_files;
mod error;
mod list;
mod reader;
mod settings;
mod store;
mod writer;

pub use audit_files::OpendalAuditFiles;
pub use settings::{S3Settings, Secret};
pub use store::OpendalBlobStore;
