//! The two places a trail is kept: its live journal and its files. The embedded setup keeps
//! both under `<data>/audit`; a shared setup can put the journal in a database and the files
//! in an object store, and several gateways then keep one trail each.

use std::sync::Arc;

use crate::journal_store::JournalStore;
use crate::layout::Layout;
use crate::local_files::LocalTrailFiles;
use crate::local_journal::LocalJournal;
use crate::trail_files::TrailFiles;

/// Where one trail is kept.
#[derive(Clone)]
pub struct Stores {
    pub journal: Arc<dyn JournalStore>,
    pub files: Arc<dyn TrailFiles>,
}

impl Stores {
    /// Both under the layout's root (`<data>/audit`). Opens and creates nothing: reading a
    /// trail through them changes nothing on disk.
    pub fn local(layout: &Layout) -> Self {
        Self {
            journal: Arc::new(LocalJournal::new(&layout.root)),
            files: Arc::new(LocalTrailFiles::new(&layout.root)),
        }
    }
}
