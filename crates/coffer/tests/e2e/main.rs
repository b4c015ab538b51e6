//! End-to-end tests: each module drives a real `coffer` server through the AWS SDK for Rust
//! (or raw HTTP where the SDK would refuse to send the malformed request).

mod common;

mod audit;
mod auth;
mod bad_input;
mod bucket_policy;
mod buckets;
mod copy;
mod crash;
mod data_dir_permissions;
mod disk;
mod hostile;
mod kms;
mod listing;
mod multipart;
mod objects;
mod observability;
mod post_upload;
mod races;
mod rekey;
mod sse_c;
mod sse_kms;
mod sse_s3;
mod tls;
