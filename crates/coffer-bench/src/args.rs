//! Command-line interface.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::sse::SseMode;

/// Load generator for S3 endpoints: PUT, GET (verified) and DELETE of N objects, or a
/// timed soak mixing every request in every encryption mode.
#[derive(Debug, Parser)]
#[command(name = "coffer-bench", version, about)]
pub struct Args {
    /// S3 endpoint URL, e.g. http://127.0.0.1:9000 or https://s3.example.com; several,
    /// comma-separated, for gateways of one store: objects are spread over them, and each is
    /// read and deleted through another one than wrote it
    #[arg(long)]
    pub endpoint: String,

    /// Access key id
    #[arg(long)]
    pub access_key: String,

    /// Secret access key
    #[arg(long)]
    pub secret_key: String,

    /// Bucket to use; created if it does not exist
    #[arg(long, default_value = "coffer-bench")]
    pub bucket: String,

    /// What to run: `bench` (PUT, GET, DELETE phases over --count objects of --size) or
    /// `soak` (a random mix of requests in all SSE modes for --duration, every answer checked)
    #[arg(long, value_enum, default_value_t = Workload::Bench)]
    pub workload: Workload,

    /// Object size in bytes; accepts suffixes such as 4KiB, 64MiB, 1GiB (and KB/MB/GB, powers of ten)
    #[arg(long, value_parser = parse_size)]
    pub size: Option<u64>,

    /// Number of objects
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,

    /// How long a soak runs: 90, 90s, 10m, 1h
    #[arg(long, value_parser = parse_duration, default_value = "10m")]
    pub duration: Duration,

    /// Number of concurrent requests
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub concurrency: u64,

    /// Server-side encryption: none, s3, kms, kms:KEY-ID or c (customer key); a soak uses all
    #[arg(long, default_value = "none")]
    pub sse: SseMode,

    /// PEM file with the CA certificate(s) to trust for an https endpoint
    #[arg(long)]
    pub ca_bundle: Option<PathBuf>,

    /// Speak HTTP/2 (ALPN `h2` over TLS, prior knowledge over plain HTTP) instead of HTTP/1.1
    #[arg(long)]
    pub http2: bool,

    /// Region used for signing
    #[arg(long, default_value = "us-east-1")]
    pub region: String,

    /// Seed of the pseudo-random object content
    #[arg(long, default_value_t = 0xC0FFEE)]
    pub seed: u64,

    /// Skip the DELETE phase and leave the objects in the bucket
    #[arg(long)]
    pub keep: bool,

    /// Skip the PUT phase and read the objects a `--keep` run with the same size, count
    /// and seed left (to measure reads alone)
    #[arg(long)]
    pub skip_put: bool,
}

impl Args {
    /// The endpoints `--endpoint` names, in order.
    pub fn endpoints(&self) -> Vec<&str> {
        self.endpoint
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect()
    }

    /// Parses the command line, and exits with clap's usage error when the bench workload
    /// lacks --size or --count (clap's `required_if_eq` ignores a default `--workload`).
    pub fn parse_checked() -> Self {
        Self::parse().checked().unwrap_or_else(|e| e.exit())
    }

    fn checked(self) -> Result<Self, clap::Error> {
        if self.workload == Workload::Bench {
            for (name, missing) in [
                ("--size", self.size.is_none()),
                ("--count", self.count.is_none()),
            ] {
                if missing {
                    return Err(<Self as clap::CommandFactory>::command().error(
                        clap::error::ErrorKind::MissingRequiredArgument,
                        format!("{name} is required by the bench workload"),
                    ));
                }
            }
        }
        Ok(self)
    }
}

/// The kinds of load `coffer-bench` generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    Bench,
    Soak,
}

/// Parses `90`, `90s`, `10m`, `1h` into a duration of at least one second.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let value: u64 = digits
        .parse()
        .map_err(|_| format!("invalid duration {text:?}: expected e.g. 90s, 10m, 1h"))?;
    let seconds = match unit.trim() {
        "" | "s" => Some(value),
        "m" => value.checked_mul(60),
        "h" => value.checked_mul(3600),
        other => {
            return Err(format!(
                "invalid duration {text:?}: unknown unit {other:?} (use s, m or h)"
            ));
        }
    };
    match seconds {
        Some(0) => Err(format!("invalid duration {text:?}: must be at least 1s")),
        Some(s) => Ok(Duration::from_secs(s)),
        None => Err(format!("invalid duration {text:?}: too large")),
    }
}

/// Parses `1234`, `4KiB`, `64MiB`, `1GiB`, `10MB`, `4k` ... into bytes.
///
/// Binary suffixes (`KiB`, `MiB`, `GiB`, `TiB` and the short `K`, `M`, `G`, `T`) are powers
/// of 1024, decimal ones (`KB`, `MB`, `GB`, `TB`) powers of 1000. Case does not matter.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, suffix) = text.split_at(split);
    if digits.is_empty() {
        return Err(format!("invalid size {text:?}: expected a number of bytes"));
    }
    let value: u64 = digits
        .parse()
        .map_err(|e| format!("invalid size {text:?}: {e}"))?;
    let multiplier: u64 = match suffix.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        other => {
            return Err(format!(
                "invalid size {text:?}: unknown unit {other:?} (use B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)"
            ));
        }
    };
    let bytes = value
        .checked_mul(multiplier)
        .ok_or_else(|| format!("invalid size {text:?}: too large"))?;
    usize::try_from(bytes)
        .map_err(|_| format!("invalid size {text:?}: too large for this machine"))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::Parser;

    use super::{Args, Workload, parse_duration, parse_size};

    const BASE: [&str; 7] = [
        "coffer-bench",
        "--endpoint",
        "http://127.0.0.1:9000",
        "--access-key",
        "k",
        "--secret-key",
        "s",
    ];

    fn parse(extra: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(BASE.iter().chain(extra))?.checked()
    }

    #[test]
    fn bench_needs_size_and_count() {
        let args = parse(&["--size", "4KiB", "--count", "3", "--concurrency", "2"]).unwrap();
        assert_eq!(args.workload, Workload::Bench);
        assert_eq!((args.size, args.count), (Some(4096), Some(3)));
        assert!(parse(&["--count", "3", "--concurrency", "2"]).is_err());
        assert!(parse(&["--size", "1", "--concurrency", "2"]).is_err());
    }

    #[test]
    fn soak_needs_neither() {
        let args = parse(&[
            "--workload",
            "soak",
            "--duration",
            "2m",
            "--concurrency",
            "64",
        ])
        .unwrap();
        assert_eq!(args.workload, Workload::Soak);
        assert_eq!(args.duration, Duration::from_secs(120));
        assert_eq!(args.size, None);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        for bad in ["", "0", "m", "1.5m", "10d", "-1", "99999999999999999999h"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn plain_bytes() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("1234"), Ok(1234));
        assert_eq!(parse_size("17B"), Ok(17));
    }

    #[test]
    fn binary_suffixes() {
        assert_eq!(parse_size("4KiB"), Ok(4096));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("2gib"), Ok(2 << 30));
        assert_eq!(parse_size("4k"), Ok(4096));
        assert_eq!(parse_size("3 MiB"), Ok(3 << 20));
    }

    #[test]
    fn decimal_suffixes() {
        assert_eq!(parse_size("10KB"), Ok(10_000));
        assert_eq!(parse_size("5MB"), Ok(5_000_000));
        assert_eq!(parse_size("1GB"), Ok(1_000_000_000));
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_size("").is_err());
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("1.5GiB").is_err());
        assert!(parse_size("12XB").is_err());
        assert!(parse_size("99999999999999999999").is_err());
        assert!(parse_size("20000000TiB").is_err());
    }
}
