//! The two places a trail is kept: its live journal and its files. The embedded setup keeps
//! both under `<data>/audit`; a shared setup can put the journal in a database and the files
//! in an object store, and several gateways then keep one trail together, each appending its
//! own stream of records.

use std::sync::Arc;

use crate::journal_store::JournalStore;
use crate::layout::Layout;
use crate::local_files::LocalTrailFiles;
use crate::local_journal::LocalJournal;
use crate::shared_journal::SharedJournal;
use crate::store_files::StoreTrailFiles;
use crate::trail_files::TrailFiles;

/// Where one trail is kept.
#[derive(Clone)]
pub struct Stores {
    pub journal: Arc<dyn JournalStore>,
    pub files: Arc<dyn TrailFiles>,
    /// The stream this process appends (its gateway's id; `""` for the embedded trail).
    pub stream: String,
}

impl Stores {
    /// Both under the layout's root (`<data>/audit`). Opens and creates nothing: reading a
    /// trail through them changes nothing on disk.
    pub fn local(layout: &Layout) -> Self {
        Self {
            journal: Arc::new(LocalJournal::new(&layout.root)),
            files: Arc::new(LocalTrailFiles::new(&layout.root)),
            stream: String::new(),
        }
    }

    /// One trail for several gateways: the journal in `journal` (this gateway appending
    /// `stream`), log files and digests in `bulk`, the small files in `small`.
    pub fn shared(
        journal: Arc<dyn coffer_store::AuditJournalStore>,
        bulk: Arc<dyn coffer_store::AuditFileStore>,
        small: Arc<dyn coffer_store::AuditFileStore>,
        stream: &str,
    ) -> Self {
        let files: Arc<dyn TrailFiles> = Arc::new(StoreTrailFiles::new(bulk, small));
        Self {
            journal: Arc::new(SharedJournal::new(journal, files.clone(), stream)),
            files,
            stream: stream.to_owned(),
        }
    }

    /// Whether several gateways share this trail.
    pub fn is_shared(&self) -> bool {
        !self.stream.is_empty()
    }
}
