//! Keeps glibc's malloc from holding on to memory after one large, brief allocation, without
//! paying for a fresh mapping on every read buffer.
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
//!
//! At 128 KiB, though, every 256 KiB read buffer of a GET (four sealed segments) was its own
//! `mmap`: page faults to fill it, zeroing, `munmap` and a TLB shootdown to free it, 15-20 %
//! of the server's CPU in a `perf` profile of 64 MiB GETs. Pinned at 4 MiB instead, those
//! buffers are reused from the arenas: server CPU per GiB of 64 MiB GETs fell from 1.22 to
//! 0.68 s over HTTP/1.1 and from 1.48 to 0.88 s over HTTP/2 (coffer-bench, one run, the
//! threshold set through the environment). 4 MiB is still far below the 32 MiB the dynamic
//! threshold climbs to, and the cut no longer makes buffers of a journal's size.
//!
//! Pinning the mmap threshold also stops glibc from raising its trim threshold with it (to
//! twice the mmap threshold), leaving it at 128 KiB: each freed read buffer at the top of an
//! arena was handed back to the system (`brk`, or `madvise` in the other arenas) and the next
//! one faulted its pages in again, zeroing each: about 9% of the server's samples in a `perf`
//! profile of 64 MiB GETs over TLS, inside the kernel's copy from the page cache. Trimming only
//! past 8 MiB keeps a few buffers' worth per arena: server CPU per GiB of 64 MiB GETs fell
//! from 1.00-1.14 to 0.82-0.94 s over HTTP and from 1.40-1.44 to 1.10-1.20 s over HTTPS
//! (coffer-bench, 64 MiB x 8 at c=4, three rounds against two servers side by side, the
//! threshold set through the environment).

/// Where the mmap threshold is pinned: above the server's read buffers (256 KiB).
const MMAP_THRESHOLD: i32 = 4 * 1024 * 1024;

/// How much free memory at the top of an arena glibc keeps rather than returning: twice the
/// mmap threshold, as glibc itself sets it when it raises that threshold.
const TRIM_THRESHOLD: i32 = 2 * MMAP_THRESHOLD;

/// Pins glibc's mmap and trim thresholds, which turns their dynamic raising off. An
/// operator's own `MALLOC_MMAP_THRESHOLD_` or `MALLOC_TRIM_THRESHOLD_` is left in force. Call
/// before any thread starts.
#[allow(unsafe_code)]
pub fn pin_malloc_thresholds() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    for (variable, parameter, value) in [
        (
            "MALLOC_MMAP_THRESHOLD_",
            libc::M_MMAP_THRESHOLD,
            MMAP_THRESHOLD,
        ),
        (
            "MALLOC_TRIM_THRESHOLD_",
            libc::M_TRIM_THRESHOLD,
            TRIM_THRESHOLD,
        ),
    ] {
        if std::env::var_os(variable).is_none() {
            // SAFETY: mallopt sets one malloc parameter and touches no Rust-visible memory;
            // it is called at start-up, before the runtime starts other threads.
            unsafe {
                libc::mallopt(parameter, value);
            }
        }
    }
}
