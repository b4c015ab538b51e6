//! The command line, exactly as DESIGN.md's Interface section gives it.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "coffer",
    version,
    about = "An S3-compatible object store with encryption at rest"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Operate on the SSE-S3 master key (through the running server, or the idle data
    /// directory).
    Admin(AdminArgs),
    /// Operate the built-in KMS (through the running server, or the idle data directory).
    Kms(KmsArgs),
    /// Check and search the audit trail (reads its files; a server may be running).
    Audit(AuditArgs),
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check every digest's signature and chain and every log file's hash; name what was
    /// changed, removed, reordered or truncated. Exits non-zero if anything was.
    Verify(AuditVerifyArgs),
    /// Find records by user, key, event, bucket/object and time.
    Lookup(AuditLookupArgs),
}

#[derive(Debug, Args)]
pub struct AuditVerifyArgs {
    /// Only log files of digests ending at or after this time (RFC 3339).
    #[arg(long)]
    pub from: Option<String>,
    /// Only log files of digests starting at or before this time (RFC 3339).
    #[arg(long)]
    pub to: Option<String>,
    #[command(flatten)]
    pub target: Target,
}

#[derive(Debug, Args)]
pub struct AuditLookupArgs {
    /// User name or user ARN.
    #[arg(long)]
    pub user: Option<String>,
    /// Key id or key ARN.
    #[arg(long)]
    pub key: Option<String>,
    /// Event name, e.g. Decrypt.
    #[arg(long)]
    pub event_name: Option<String>,
    /// A bucket, or bucket/key, in the encryption context.
    #[arg(long)]
    pub object: Option<String>,
    /// From this time (RFC 3339).
    #[arg(long)]
    pub from: Option<String>,
    /// Up to this time (RFC 3339).
    #[arg(long)]
    pub to: Option<String>,
    /// Print the records as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// At most this many records, newest first.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    #[command(flatten)]
    pub target: Target,
}

#[derive(Debug, Args)]
pub struct KmsArgs {
    #[command(subcommand)]
    pub command: KmsCommand,
}

#[derive(Debug, Subcommand)]
pub enum KmsCommand {
    /// Every key, with its state, manager, aliases and material versions.
    ListKeys(KmsListArgs),
    /// One key in full, policy included.
    DescribeKey(KmsKeyArgs),
    /// Add a material version to a key now (old versions stay, so old ciphertext opens).
    Rotate(KmsKeyArgs),
    /// Schedule a key's deletion: when the waiting period ends, its material is destroyed
    /// and everything sealed under it becomes unreadable.
    ScheduleDeletion(KmsDeletionArgs),
    /// KMS requests per month, key, user and operation, from the audit trail, with the
    /// estimated cost.
    Usage(KmsUsageArgs),
}

#[derive(Debug, Args)]
pub struct KmsUsageArgs {
    /// Only this month (YYYY-MM); default every month in the trail.
    #[arg(long)]
    pub month: Option<String>,
    /// Price of 10,000 requests, in dollars.
    #[arg(long, default_value_t = 0.03)]
    pub price_per_10k_requests: f64,
    /// Price of a customer-managed key per month (and of each of its first two rotations).
    #[arg(long, default_value_t = 1.0)]
    pub price_per_key_month: f64,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub target: Target,
}

#[derive(Debug, Args)]
pub struct KmsListArgs {
    #[command(flatten)]
    pub target: Target,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct KmsKeyArgs {
    /// Key id, key ARN, alias name or alias ARN.
    pub key: String,
    #[command(flatten)]
    pub target: Target,
}

#[derive(Debug, Args)]
pub struct KmsDeletionArgs {
    /// Key id, key ARN, alias name or alias ARN.
    pub key: String,
    /// Waiting period, 7 to 30 days.
    #[arg(long, default_value_t = 30)]
    pub days: u32,
    #[command(flatten)]
    pub target: Target,
}

#[derive(Debug, Args)]
pub struct AdminArgs {
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Add a master-key version and make it current (old versions stay).
    RotateMasterKey(Target),
    /// Re-seal every object key still under an older master-key version. Online, resumable.
    Rekey(RekeyArgs),
    /// Read back and authenticate every stored segment; report damaged objects by name
    /// (exit status 1 if any). Online and rate-limited.
    Scrub(ScrubArgs),
    /// Copy this data directory's metadata and sealed blobs into the backends another
    /// configuration names, without decrypting anything. Offline (stop the server first),
    /// resumable: run it again after an interruption.
    Migrate(MigrateArgs),
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The source (its server stopped).
    #[command(flatten)]
    pub target: Target,
    /// The destination's configuration file: its `data_dir`, `[metadata]` and `[blobs]`.
    #[arg(long, value_name = "CONFIG")]
    pub to: std::path::PathBuf,
}

/// Which data directory (through its server when one is running).
#[derive(Debug, Args)]
pub struct Target {
    #[arg(long, value_name = "FILE", conflicts_with = "data_dir")]
    pub config: Option<PathBuf>,
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RekeyArgs {
    #[command(flatten)]
    pub target: Target,
    /// At most this many objects per second (default: as fast as it goes).
    #[arg(long, value_name = "OBJECTS_PER_SEC")]
    pub rate: Option<f64>,
    /// Objects per step; each step commits, so a crash repeats at most one.
    #[arg(long, default_value_t = 500)]
    pub batch: u64,
    /// Keep the older master-key versions after a complete pass (by default they are
    /// destroyed once no object needs them).
    #[arg(long)]
    pub keep_old_versions: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TOML configuration file; flags override its keys.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where metadata, blobs, keys and the dev certificate live.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// HTTP listen address ("" disables the listener).
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,
    /// HTTPS listen address ("" disables the listener).
    #[arg(long, value_name = "ADDR")]
    pub https: Option<String>,
    /// PEM certificate chain for HTTPS (instead of the generated self-signed one).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Accept SSE-C over plain HTTP from loopback clients (testing only).
    #[arg(long)]
    pub allow_sse_c_over_http: bool,
}

/// Parses a listen address; the empty string means "disabled".
pub fn listen_addr(s: &str) -> Result<Option<SocketAddr>, String> {
    if s.is_empty() {
        return Ok(None);
    }
    s.parse()
        .map(Some)
        .map_err(|e| format!("invalid listen address {s:?}: {e}"))
}

#[derive(Debug, Args)]
pub struct ScrubArgs {
    #[command(flatten)]
    pub target: Target,
    /// At most this many MiB of object data per second (default: as fast as it goes).
    #[arg(long, value_name = "MIB_PER_SEC")]
    pub rate: Option<f64>,
    /// Objects per step.
    #[arg(long, default_value_t = 100)]
    pub batch: u64,
}
