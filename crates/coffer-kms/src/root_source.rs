//! Where the root key comes from. It is never in the metadata store (only a check value is),
//! so several gateways sharing one store each get it from outside: the environment, a file
//! (a mounted secret), or a command that prints it (a secret manager's CLI). A single
//! embedded server keeps it beside its data by default.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use zeroize::Zeroizing;

use crate::error::KmsError;
use crate::root::RootKey;

/// The environment variable that may carry the root key (base64 of 32 bytes).
pub const ROOT_KEY_ENV: &str = "COFFER_ROOT_KEY";
/// The environment variable that may name a file holding the root key.
pub const ROOT_KEY_FILE_ENV: &str = "COFFER_ROOT_KEY_FILE";
/// The environment variable that may hold a shell command printing the root key.
pub const ROOT_KEY_COMMAND_ENV: &str = "COFFER_ROOT_KEY_COMMAND";
const ROOT_KEY_FILE: &str = "root.key";

/// One place a root key can be read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootKeySource {
    /// An environment variable holding the base64 of 32 bytes.
    Env(String),
    /// A file holding the base64 of 32 bytes, readable by its owner only. With `generate`,
    /// a missing file is created with a fresh key (the embedded default); without, a
    /// missing file is an error (a gateway must not invent a key the others lack).
    File { path: PathBuf, generate: bool },
    /// A shell command whose standard output is the base64 of 32 bytes.
    Command(String),
}

impl RootKeySource {
    /// Where a server on `data_dir` takes its root key from, the first that is set of:
    /// [`ROOT_KEY_ENV`] (the key itself), [`ROOT_KEY_FILE_ENV`] (a file that must exist:
    /// a mounted secret), [`ROOT_KEY_COMMAND_ENV`] (a command that prints it: a secret
    /// manager); else `<data_dir>/root.key`, generated if absent (the embedded default).
    /// Gateways that share a store use one of the first three, with the same key.
    pub fn for_data_dir(data_dir: &Path) -> Self {
        Self::choose(data_dir, |name| std::env::var_os(name))
    }

    fn choose(data_dir: &Path, var: impl Fn(&str) -> Option<std::ffi::OsString>) -> Self {
        if var(ROOT_KEY_ENV).is_some() {
            RootKeySource::Env(ROOT_KEY_ENV.into())
        } else if let Some(path) = var(ROOT_KEY_FILE_ENV) {
            RootKeySource::File {
                path: PathBuf::from(path),
                generate: false,
            }
        } else if let Some(command) = var(ROOT_KEY_COMMAND_ENV) {
            RootKeySource::Command(command.to_string_lossy().into_owned())
        } else {
            RootKeySource::File {
                path: data_dir.join(ROOT_KEY_FILE),
                generate: true,
            }
        }
    }

    pub fn load(&self) -> Result<RootKey, KmsError> {
        match self {
            RootKeySource::Env(var) => {
                let value = Zeroizing::new(
                    std::env::var(var)
                        .map_err(|_| KmsError::RootKey(format!("{var} is not set")))?,
                );
                RootKey::from_base64(&value, var)
            }
            RootKeySource::File { path, generate } => {
                if path.exists() || !generate {
                    read_key_file(path)
                } else {
                    generate_key_file(path)
                }
            }
            RootKeySource::Command(command) => run_key_command(command),
        }
    }
}

/// Refuses a key file that anyone but its owner can read.
fn read_key_file(path: &Path) -> Result<RootKey, KmsError> {
    let mode = fs::metadata(path)
        .map_err(|e| KmsError::RootKey(format!("{}: {e}", path.display())))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(KmsError::RootKey(format!(
            "{} is readable by others (mode {:o}); run chmod 600 on it",
            path.display(),
            mode & 0o777
        )));
    }
    let text = Zeroizing::new(
        fs::read_to_string(path)
            .map_err(|e| KmsError::RootKey(format!("{}: {e}", path.display())))?,
    );
    RootKey::from_base64(&text, &path.display().to_string())
}

fn generate_key_file(path: &Path) -> Result<RootKey, KmsError> {
    let (key, text) = RootKey::generate()?;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| KmsError::RootKey(format!("cannot create {}: {e}", path.display())))?;
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| KmsError::RootKey(format!("cannot write {}: {e}", path.display())))?;
    tracing::info!(path = %path.display(), "generated the root key");
    Ok(key)
}

/// The command's output is the key: it is read into zeroized memory and never logged (nor is
/// its standard error, which goes to ours, so a secret manager can explain a refusal).
fn run_key_command(command: &str) -> Result<RootKey, KmsError> {
    let output = Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| KmsError::RootKey(format!("cannot run the root key command: {e}")))?;
    let stdout = Zeroizing::new(output.stdout);
    if !output.status.success() {
        return Err(KmsError::RootKey(format!(
            "the root key command failed ({})",
            output.status
        )));
    }
    let text = Zeroizing::new(
        String::from_utf8(stdout.to_vec())
            .map_err(|_| KmsError::RootKey("the root key command printed non-text".into()))?,
    );
    RootKey::from_base64(&text, "the root key command's output")
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    fn same(a: &RootKey, b: &RootKey) -> bool {
        a.derive_key("t")[..] == b.derive_key("t")[..]
    }

    #[test]
    fn the_environment_chooses_key_then_file_then_command_then_the_data_directory() {
        let dir = Path::new("/data");
        let env = |set: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                set.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| std::ffi::OsString::from(v))
            }
        };
        let all: &[(&str, &str)] = &[
            (ROOT_KEY_ENV, KEY_B64),
            (ROOT_KEY_FILE_ENV, "/run/secrets/coffer"),
            (ROOT_KEY_COMMAND_ENV, "vault read"),
        ];
        assert_eq!(
            RootKeySource::choose(dir, env(all)),
            RootKeySource::Env(ROOT_KEY_ENV.into())
        );
        assert_eq!(
            RootKeySource::choose(dir, env(&all[1..])),
            RootKeySource::File {
                path: "/run/secrets/coffer".into(),
                generate: false
            }
        );
        assert_eq!(
            RootKeySource::choose(dir, env(&all[2..])),
            RootKeySource::Command("vault read".into())
        );
        assert_eq!(
            RootKeySource::choose(dir, env(&[])),
            RootKeySource::File {
                path: "/data/root.key".into(),
                generate: true
            }
        );
    }

    #[test]
    fn file_command_and_generated_sources_agree_on_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .unwrap()
            .write_all(KEY_B64.as_bytes())
            .unwrap();
        let from_file = RootKeySource::File {
            path: path.clone(),
            generate: false,
        }
        .load()
        .unwrap();
        let from_command = RootKeySource::Command(format!("cat {}", path.display()))
            .load()
            .unwrap();
        assert!(same(&from_file, &from_command));

        // Without `generate`, a missing file is refused rather than invented.
        let missing = dir.path().join("missing");
        let refused = RootKeySource::File {
            path: missing.clone(),
            generate: false,
        }
        .load();
        assert!(matches!(refused, Err(KmsError::RootKey(_))));
        assert!(!missing.exists());
        // With it, the key is created once (0600) and read back the same afterwards.
        let source = RootKeySource::File {
            path: missing.clone(),
            generate: true,
        };
        let first = source.load().unwrap();
        assert_eq!(
            fs::metadata(&missing).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(same(&first, &source.load().unwrap()));
        assert!(!same(&first, &from_file));
    }

    #[test]
    fn a_failing_command_or_a_loose_file_is_refused() {
        assert!(matches!(
            RootKeySource::Command("exit 3".into()).load(),
            Err(KmsError::RootKey(m)) if m.contains("failed")
        ));
        assert!(matches!(
            RootKeySource::Command("echo not-a-key".into()).load(),
            Err(KmsError::RootKey(_))
        ));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        fs::write(&path, KEY_B64).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            RootKeySource::File { path, generate: false }.load(),
            Err(KmsError::RootKey(m)) if m.contains("chmod 600")
        ));
    }
}
