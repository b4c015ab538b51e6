//! End-to-end tests: each module drives a real `coffer` server through the AWS SDK for Rust
//! (or raw HTTP where the SDK would refuse to send the malformed request).

mod backends;
mod common;
mod invariants;

mod acl;
mod audit;
mod auth;
mod bad_input;
mod bucket_policy;
mod buckets;
mod console;
mod copy;
mod crash;
// Fault injection needs a server built with failpoints: `scripts/test` builds one
// (`--features coffer/failpoints`); a plain `cargo test` skips these, and says so.
#[cfg(feature = "failpoints")]
mod crash_matrix;
mod data_dir_permissions;
mod database_restart;
mod disk;
mod disk_full;
#[cfg(feature = "failpoints")]
mod failpoints;
#[cfg(feature = "failpoints")]
mod faults;
mod fidelity;
mod gateways;
mod hostile;
mod inline_objects;
mod kms;
#[cfg(feature = "failpoints")]
mod kms_changes;
mod listing;
mod migrate;
mod multipart;
mod multipart_fidelity;
mod objects;
mod observability;
mod operator_commands;
mod post_policy;
mod post_upload;
mod races;
mod rekey;
mod scrub;
mod sse_c;
mod sse_kms;
mod sse_s3;
mod storage_backends;
mod tagging;
mod tls;

#[cfg(not(feature = "failpoints"))]
#[test]
fn fault_and_crash_matrix_tests_need_the_failpoints_feature() {
    eprintln!(
        "SKIPPED: the fault injection and crash matrix tests (faults.rs, crash_matrix.rs) need \
         `cargo test -p coffer --features failpoints`, as scripts/test runs them"
    );
}
