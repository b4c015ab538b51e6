//! Coffer's S3 API: the [`s3s::S3`] implementation.
//!
//! `s3s` parses requests, verifies signatures and serialises responses; this crate owns what
//! each operation means: buckets, their owners and policies, objects, multipart uploads,
//! copies, ranges, checksums and conditional requests, on top of `coffer-store`; and how each
//! object is encrypted (SSE-S3, SSE-C, SSE-KMS through the `coffer-kms` `Kms` trait, with
//! S3 Bucket Keys).
//!
//! Invariants: a response is sent only after the state it reports is durable (audit records
//! included); no object byte or unsealed data key reaches the disk; every request passes the
//! bucket's policy before anything else about it is examined; an error that reaches the
//! client carries Amazon's status and code; no request input can make a handler panic.
#![forbid(unsafe_code)]

mod acl;
mod auth;
mod body;
mod bucket;
mod bucket_decided;
mod bucket_policy;
mod checksum;
mod collect;
mod conditions;
mod content_headers;
mod copy;
mod data_events;
mod delete;
mod dispatch;
mod error;
mod get;
mod list;
mod multipart;
mod object;
mod object_response;
mod options;
mod put;
mod requester;
mod scrub;
mod service;
mod sse;
mod tagging;
mod xml_body;

pub use auth::{
    RequireSigV4, User, UserDirectory, check_presigned_lifetime, refuse_empty_content_md5,
};
pub use multipart::MIN_PART_SIZE;
pub use options::{ServerOptions, Transport};
pub use scrub::{Damage, ScrubStep};
pub use service::{CofferS3, ServerIdentity};
pub use sse::bucket_encryption::{parse_bucket_encryption, render_bucket_encryption};
pub use sse::object_encryption::{ObjectEncryptionRequest, parse_object_encryption};
pub use sse::rekey::{KeyStatus, RekeyStep};
