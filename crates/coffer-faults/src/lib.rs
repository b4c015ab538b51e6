//! Failpoints: named steps of the write paths (blob write, fsync, rename, metadata commit,
//! audit append) where a test injects a disk fault or parks the server so it can be killed
//! exactly there.
//!
//! Without the `failpoints` feature every point compiles to nothing, so production binaries
//! carry none. With it, points are configured with the `fail` crate's syntax
//! (`name=action;...`), from the `FAILPOINTS` environment variable at start and from a control
//! file that a test may rewrite while the server runs (see [`watch_control_file`]). The actions
//! this crate gives meaning to are `return(<fault>)`, where `<fault>` is one of:
//!
//! - `enospc`, `eio`, `edquot`: the step fails with that `io::Error`, as a full or failing
//!   disk would make it fail;
//! - `park`: the step writes a marker file `reached-<name>` beside the control file, then
//!   blocks forever, so the test knows the server stands exactly there when it sends SIGKILL.
//!
//! Counts and probabilities work as `fail` defines them (`1*return(eio)` fails once).

use std::io;

/// One step of a write path where a fault can be injected: the step fails with the
/// configured `io::Error` or parks. Without the feature, always `Ok(())`.
#[inline(always)]
pub fn io_step(name: &str) -> io::Result<()> {
    #[cfg(feature = "failpoints")]
    {
        active::io_step(name)
    }
    #[cfg(not(feature = "failpoints"))]
    {
        let _ = name;
        Ok(())
    }
}

/// A step after which the work is already durable (a commit that returned): a test may park
/// the server here to kill it between "durable" and "answered". Only `park` acts here: an
/// error injected after a durable commit would make the caller undo what is committed
/// (delete blobs a record names), a fault no disk can produce.
#[inline(always)]
pub fn crash_step(name: &str) {
    #[cfg(feature = "failpoints")]
    {
        active::crash_step(name)
    }
    #[cfg(not(feature = "failpoints"))]
    {
        let _ = name;
    }
}

/// Whether this build carries failpoints.
pub const ENABLED: bool = cfg!(feature = "failpoints");

/// Applies `FAILPOINTS` and, if `COFFER_FAILPOINTS_FILE` names a file, applies it now and
/// follows its changes. Call once at start-up, before serving. Without the feature, nothing.
pub fn configure_from_env() -> Result<(), String> {
    #[cfg(feature = "failpoints")]
    {
        active::configure_from_env()
    }
    #[cfg(not(feature = "failpoints"))]
    {
        Ok(())
    }
}

#[cfg(feature = "failpoints")]
mod active;
