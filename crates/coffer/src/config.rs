//! The configuration file and how flags override it.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::cli::ServeArgs;

/// The TOML file. Every key is optional.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub region: Option<String>,
    pub account_id: Option<String>,
    pub http_listen: Option<String>,
    pub https_listen: Option<String>,
    pub allow_sse_c_over_http: Option<bool>,
    pub block_sse_c_on_new_buckets: Option<bool>,
    /// Days between scheduled rotations of the SSE-S3 master key (0 disables them).
    pub master_key_rotation_days: Option<u32>,
    /// Record every key use in the audit trail (default true; false only to measure its cost).
    pub audit_enabled: Option<bool>,
    /// Seconds between cuts of the audit journal into log files (default 300).
    pub audit_log_file_seconds: Option<u64>,
    /// Seconds between signed audit digests (default 3600).
    pub audit_digest_seconds: Option<u64>,
    /// Also record S3 data events (PutObject/GetObject with SSEApplied); default false.
    pub audit_s3_data_events: Option<bool>,
    /// The web console under `/console/` (HTTPS, and HTTP from loopback); on by default.
    pub console_enabled: Option<bool>,
    /// Seconds between the server's own verifications of the whole trail (default 3600;
    /// 0 disables them).
    pub audit_self_check_seconds: Option<u64>,
    /// Connections served at once, both listeners together (default 4096, lowered to fit
    /// the process's open-file limit); further clients wait in the kernel's accept queue.
    pub max_connections: Option<usize>,
    /// Seconds a client has to finish sending a request's headers (default 30).
    pub header_read_timeout_seconds: Option<u64>,
    /// Seconds a connection may wait on its client with no byte moving either way before it
    /// is closed: idle keep-alive, a stalled body, a client that stops reading (default 60).
    pub idle_timeout_seconds: Option<u64>,
    /// Seconds a client has to complete the TLS handshake (default 10).
    pub tls_handshake_timeout_seconds: Option<u64>,
    #[serde(default)]
    pub users: Vec<UserConfig>,
    /// Where structured state lives (default: the embedded database).
    pub metadata: Option<crate::storage_config::MetadataSection>,
    /// Where sealed object parts live (default: files under the data directory).
    pub blobs: Option<crate::storage_config::BlobsSection>,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub name: String,
    pub access_key: String,
    pub secret_key: String,
    #[serde(default)]
    pub admin: bool,
}

impl Drop for UserConfig {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.secret_key);
    }
}

impl std::fmt::Debug for UserConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserConfig")
            .field("name", &self.name)
            .field("access_key", &self.access_key)
            .field("admin", &self.admin)
            .finish_non_exhaustive()
    }
}

/// Everything `serve` needs, resolved.
#[derive(Debug)]
pub struct ServeConfig {
    pub data_dir: PathBuf,
    pub region: String,
    pub account_id: String,
    pub http_listen: String,
    pub https_listen: String,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub allow_sse_c_over_http: bool,
    pub block_sse_c_on_new_buckets: bool,
    pub master_key_rotation_days: u32,
    pub audit_enabled: bool,
    pub audit_cadence: coffer_audit::Cadence,
    pub audit_s3_data_events: bool,
    pub console_enabled: bool,
    pub audit_self_check_seconds: u64,
    pub connections: crate::listener::ConnectionLimits,
    pub users: Vec<UserConfig>,
    pub storage: crate::storage_config::StorageConfig,
}

impl ServeConfig {
    /// The configuration an operator command (`admin`, `kms`, `audit`) names: the file and
    /// data directory it was given, with no listener flags.
    pub fn for_target(target: &crate::cli::Target) -> Result<Self, String> {
        Self::resolve(&ServeArgs {
            config: target.config.clone(),
            data_dir: target.data_dir.clone(),
            http: None,
            https: None,
            tls_cert: None,
            tls_key: None,
            allow_sse_c_over_http: false,
        })
    }

    pub fn resolve(args: &ServeArgs) -> Result<Self, String> {
        let file = match &args.config {
            Some(path) => {
                let text = fs::read_to_string(path)
                    .map_err(|e| format!("cannot read config {}: {e}", path.display()))?;
                toml::from_str::<FileConfig>(&text)
                    .map_err(|e| format!("invalid config {}: {}", path.display(), e.message()))?
            }
            None => FileConfig {
                data_dir: None,
                region: None,
                account_id: None,
                http_listen: None,
                https_listen: None,
                allow_sse_c_over_http: None,
                block_sse_c_on_new_buckets: None,
                master_key_rotation_days: None,
                audit_enabled: None,
                audit_log_file_seconds: None,
                audit_digest_seconds: None,
                audit_s3_data_events: None,
                console_enabled: None,
                audit_self_check_seconds: None,
                max_connections: None,
                header_read_timeout_seconds: None,
                idle_timeout_seconds: None,
                tls_handshake_timeout_seconds: None,
                users: Vec::new(),
                metadata: None,
                blobs: None,
            },
        };
        let account_id = file
            .account_id
            .clone()
            .unwrap_or_else(|| "000000000000".into());
        if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("account_id must be 12 digits, got {account_id:?}"));
        }
        for u in &file.users {
            if u.name.is_empty() || u.access_key.is_empty() || u.secret_key.is_empty() {
                return Err("every [[users]] entry needs name, access_key and secret_key".into());
            }
        }
        Ok(Self {
            data_dir: args
                .data_dir
                .clone()
                .or(file.data_dir.clone())
                .unwrap_or_else(|| PathBuf::from("./coffer-data")),
            region: file.region.clone().unwrap_or_else(|| "us-east-1".into()),
            account_id,
            http_listen: args
                .http
                .clone()
                .or(file.http_listen.clone())
                .unwrap_or_else(|| "127.0.0.1:9000".into()),
            https_listen: args
                .https
                .clone()
                .or(file.https_listen.clone())
                .unwrap_or_else(|| "127.0.0.1:9443".into()),
            tls_cert: args.tls_cert.clone(),
            tls_key: args.tls_key.clone(),
            allow_sse_c_over_http: args.allow_sse_c_over_http
                || file.allow_sse_c_over_http.unwrap_or(false),
            block_sse_c_on_new_buckets: file.block_sse_c_on_new_buckets.unwrap_or(true),
            master_key_rotation_days: file.master_key_rotation_days.unwrap_or(90),
            audit_enabled: file.audit_enabled.unwrap_or(true),
            audit_cadence: coffer_audit::Cadence {
                log_file_every: std::time::Duration::from_secs(
                    file.audit_log_file_seconds.unwrap_or(300).max(1),
                ),
                digest_every: std::time::Duration::from_secs(
                    file.audit_digest_seconds.unwrap_or(3600).max(1),
                ),
            },
            audit_s3_data_events: file.audit_s3_data_events.unwrap_or(false),
            console_enabled: file.console_enabled.unwrap_or(true),
            audit_self_check_seconds: file.audit_self_check_seconds.unwrap_or(3600),
            connections: crate::listener::ConnectionLimits::from_config(&file)?,
            users: file.users.clone(),
            storage: crate::storage_config::StorageConfig {
                metadata: file.metadata.clone().unwrap_or_default(),
                blobs: file.blobs.clone().unwrap_or_default(),
            },
        })
    }
}

/// The generated development user, kept in the data directory so restarts reuse it.
#[derive(Serialize, Deserialize)]
struct GeneratedUsers {
    users: Vec<UserConfig>,
}

/// Returns the configured users, or the data directory's generated admin (creating it on
/// first start). The flag says whether it was just created, so its keys are printed once.
pub fn users_or_generated(
    config: &ServeConfig,
) -> Result<(Vec<UserConfig>, Option<PathBuf>), String> {
    if !config.users.is_empty() {
        return Ok((config.users.clone(), None));
    }
    let path = config.data_dir.join("credentials.toml");
    if path.exists() {
        let text = Zeroizing::new(
            fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
        );
        let parsed: GeneratedUsers = toml::from_str(&text)
            .map_err(|e| format!("invalid {}: {}", path.display(), e.message()))?;
        return Ok((parsed.users, None));
    }
    let user = generate_user()?;
    let text = Zeroizing::new(
        toml::to_string(&GeneratedUsers {
            users: vec![user.clone()],
        })
        .map_err(|e| e.to_string())?,
    );
    write_private(&path, text.as_bytes())?;
    Ok((vec![user], Some(path)))
}

fn generate_user() -> Result<UserConfig, String> {
    const KEY_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    const SECRET_ALPHABET: &[u8] =
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let rng = SystemRandom::new();
    let mut raw = Zeroizing::new([0u8; 56]);
    rng.fill(raw.as_mut())
        .map_err(|_| "the system random generator failed".to_string())?;
    let access: String = raw[..16]
        .iter()
        .map(|b| KEY_ALPHABET[(*b as usize) % KEY_ALPHABET.len()] as char)
        .collect();
    let secret: String = raw[16..]
        .iter()
        .map(|b| SECRET_ALPHABET[(*b as usize) % SECRET_ALPHABET.len()] as char)
        .collect();
    Ok(UserConfig {
        name: "admin".into(),
        access_key: format!("AKIA{access}"),
        secret_key: secret,
        admin: true,
    })
}

/// Writes a file only its owner can read, durably.
pub fn write_private(path: &Path, data: &[u8]) -> Result<(), String> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    f.write_all(data)
        .and_then(|_| f.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("cannot restrict {}: {e}", path.display()))
}
