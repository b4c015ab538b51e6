//! Tests against a real PostgreSQL, named by `COFFER_TEST_POSTGRES_URL`. Without it they
//! pass with a loud `SKIPPED` line, except under `CI=true`, where they fail: CI must not
//! pass without having run them. Each store lives in a scratch schema of its own, dropped
//! afterwards.

mod postgres {
    pub mod audit;
    pub mod bucket_writes;
    pub mod contract;
    pub mod harness;
    pub mod kms;
    pub mod listing;
    pub mod resilience;
    pub mod round_trips;
    pub mod schema;
    pub mod tls;
}
