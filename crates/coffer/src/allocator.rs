//! Keeps glibc's malloc from holding on to memory after one large, brief allocation.
//!
//! glibc serves blocks above a threshold (128 KiB) with `mmap` and gives them back to the
//! system when freed, but raises that threshold to the size of each such block freed (up to
//! 32 MiB). After one large transient buffer, buffers of up to that size come from the heap
//! arenas instead, which glibc keeps and fragments. It was found when the audit trail's cut
//! still built each log file in memory (it now streams): measured with `scripts/soak.sh` (64
//! clients, release build), RSS held at ~160 MiB for five minutes, jumped by ~80 MiB at the
//! first cut and then climbed ~17 MiB a minute, never falling back; with the threshold pinned
//! at 128 KiB it stayed at ~70 MiB across four cuts, and fell to ~53 MiB once idle. The pin
//! stays as a guard against any other large, brief buffer.

/// Pins glibc's mmap threshold at its default, which turns its dynamic raising off. An
/// operator's own `MALLOC_MMAP_THRESHOLD_` is left in force. Call before any thread starts.
#[allow(unsafe_code)]
pub fn pin_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
        // SAFETY: mallopt sets one malloc parameter and touches no Rust-visible memory; it is
        // called once, at start-up, before the runtime starts other threads.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        }
    }
}
