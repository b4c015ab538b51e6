//! The open-file limit: every connection holds a descriptor, so the connection cap must sit
//! well under it, or `accept` fails with EMFILE before the cap is reached and the server has
//! no descriptor left for its own files.

use rustix::process::{Resource, getrlimit, setrlimit};

/// Raises the soft limit on open files to the hard limit (logging the change) and returns
/// the soft limit in force afterwards; `None` when it is unlimited.
pub fn raise_open_file_limit() -> Option<u64> {
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let before = limit.current;
        limit.current = limit.maximum;
        match setrlimit(Resource::Nofile, limit) {
            Ok(()) => tracing::info!(
                from = before.map(|n| n.to_string()).unwrap_or("unlimited".into()),
                to = limit
                    .maximum
                    .map(|n| n.to_string())
                    .unwrap_or("unlimited".into()),
                "raised the open-file limit (RLIMIT_NOFILE) to its hard limit"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "cannot raise the open-file limit (RLIMIT_NOFILE)")
            }
        }
    }
    getrlimit(Resource::Nofile).current
}

/// The default connection cap under an open-file limit: half the descriptors, leaving the
/// rest for blobs, the database, the audit journal and TLS files, and at most `ceiling`.
pub fn default_connection_cap(open_files: Option<u64>, ceiling: usize) -> usize {
    match open_files {
        None => ceiling,
        Some(n) => (n / 2).clamp(1, ceiling as u64) as usize,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_cap_leaves_half_the_descriptors_free() {
        assert_eq!(default_connection_cap(Some(1024), 4096), 512);
        assert_eq!(default_connection_cap(Some(1 << 20), 4096), 4096);
        assert_eq!(default_connection_cap(None, 4096), 4096);
        assert_eq!(default_connection_cap(Some(1), 4096), 1);
    }
}
