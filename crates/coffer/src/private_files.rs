//! The data directory is its owner's alone: the directory and every directory in it 0700,
//! every file 0600, whatever the umask. New files get that from the process umask (077,
//! set before anything is created) and from the modes each writer asks for; a directory an
//! earlier version left readable by others is tightened at start.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

use rustix::fs::Mode;

/// Everything this process creates from now on is at most 0700 / 0600, even where a
/// library opens files with the default 0666.
pub fn restrict_new_files() {
    rustix::process::umask(Mode::from_raw_mode(0o077));
}

/// Creates a directory (and missing parents) 0700.
pub fn create_private_dir(dir: &Path) -> Result<(), String> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create directory {}: {e}", dir.display()))
}

/// Takes group and other permissions away from the data directory and everything in it
/// (symbolic links are neither followed nor changed). Returns how many entries changed;
/// fails when one cannot be changed, since the server must then not start.
pub fn tighten(dir: &Path) -> Result<usize, String> {
    let mut changed = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let meta = fs::symlink_metadata(&path)
            .map_err(|e| format!("cannot inspect {}: {e}", path.display()))?;
        if meta.file_type().is_symlink() {
            continue;
        }
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode & 0o700)).map_err(|e| {
                format!(
                    "cannot restrict {} (mode {mode:o}) to its owner: {e}",
                    path.display()
                )
            })?;
            changed += 1;
        }
        if meta.is_dir() {
            let entries =
                fs::read_dir(&path).map_err(|e| format!("cannot list {}: {e}", path.display()))?;
            for entry in entries {
                let entry = entry.map_err(|e| format!("cannot list {}: {e}", path.display()))?;
                pending.push(entry.path());
            }
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn tightening_removes_group_and_other_bits_and_counts_what_changed() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("data");
        fs::create_dir_all(root.join("objects/blobs/ab")).unwrap();
        fs::write(root.join("meta.redb"), b"x").unwrap();
        fs::write(root.join("objects/blobs/ab/blob"), b"x").unwrap();
        fs::write(root.join("private"), b"x").unwrap();
        for d in ["", "objects", "objects/blobs", "objects/blobs/ab"] {
            fs::set_permissions(root.join(d), fs::Permissions::from_mode(0o755)).unwrap();
        }
        for f in ["meta.redb", "objects/blobs/ab/blob"] {
            fs::set_permissions(root.join(f), fs::Permissions::from_mode(0o644)).unwrap();
        }
        fs::set_permissions(root.join("private"), fs::Permissions::from_mode(0o600)).unwrap();

        assert_eq!(tighten(&root).unwrap(), 6);
        assert_eq!(mode(&root), 0o700);
        assert_eq!(mode(&root.join("objects/blobs/ab")), 0o700);
        assert_eq!(mode(&root.join("meta.redb")), 0o600);
        assert_eq!(mode(&root.join("objects/blobs/ab/blob")), 0o600);
        assert_eq!(mode(&root.join("private")), 0o600);
        assert_eq!(
            tighten(&root).unwrap(),
            0,
            "a second pass finds nothing to do"
        );
    }
}
