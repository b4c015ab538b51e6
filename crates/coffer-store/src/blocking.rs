//! How the embedded backends, whose work is blocking file and database I/O, implement async
//! traits without stalling the runtime that polls them.

use tokio::runtime::{Handle, RuntimeFlavor};

/// Runs blocking work from inside an async method. On a multi-threaded runtime's worker the
/// worker first hands its other tasks to another thread (`block_in_place`); on a blocking
/// thread, on a current-thread runtime (tests, one-shot commands) or outside any runtime it
/// simply runs: there is no other task it could hold up, or none that could move.
pub fn run_blocking<T>(f: impl FnOnce() -> T) -> T {
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}
