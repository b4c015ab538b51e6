//! Moving object bytes between HTTP bodies and blobs, in constant memory.
//!
//! Writes (`ingest`): the async side reads the request body and hands chunks to a blocking
//! worker that hashes the plaintext (MD5 or the opaque-ETag digest, CRC64NVME, the requested
//! checksum), seals it into segments and writes only sealed bytes, so network, hashing and
//! disk overlap. Reads (`read`): a blocking worker reads exactly the sealed segments a range
//! needs, opens them and sends the authenticated plaintext into a bounded channel that the
//! response body drains.

mod ingest;
mod read;

pub(crate) use ingest::{Destination, EtagDigests, Ingested, copy_range, ingest};
pub(crate) use read::{OpenError, SourceData, open_range, open_range_blocking, plaintext_md5};

/// Largest object a single PUT may carry, as on S3.
pub(crate) const MAX_PUT_SIZE: u64 = 5 * 1024 * 1024 * 1024;
