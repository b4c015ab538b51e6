//! The `coffer` binary: command line, configuration, TLS, listeners and wiring. Thin by
//! design: what a request means lives in `coffer-s3`, how state persists in `coffer-store`.
// Denied, not forbidden: `allocator` needs one `mallopt` call, allowed at that spot.
#![deny(unsafe_code)]

mod admin;
mod admin_ops;
mod admin_route;
mod allocator;
mod audit_cli;
mod audit_histogram;
mod chores;
mod cli;
mod config;
mod console;
mod datadir;
mod fd_limit;
mod front;
mod gateway;
mod host;
mod idle_io;
mod json_api;
mod kms_cli;
mod kms_usage;
mod listener;
mod listening;
mod log_throttle;
mod migrate;
mod private_files;
mod process_metrics;
mod request_body;
mod routes;
mod sealed_secrets;
mod server;
mod sigv4;
mod storage_config;
mod tls;
mod trail_health;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::prelude::*;

use cli::{Cli, Command};

fn main() -> std::process::ExitCode {
    allocator::pin_malloc_thresholds();
    let cli = Cli::parse();
    let chosen =
        EnvFilter::try_from_env("COFFER_LOG").unwrap_or_else(|_| EnvFilter::new("info,s3s=off"));
    // What may carry a secret never reaches the log, whatever COFFER_LOG asks: s3s logs
    // whole requests at debug and, at error, the values of headers it failed to parse (an
    // SSE-C key with a non-ASCII byte) and malformed XML bodies, so nothing of s3s's is
    // written. Other libraries (hyper, h2, rustls) write frames and states at debug and
    // trace; they are held to info. Coffer's own crates log no header values.
    let no_secret_carriers = filter_fn(|meta| {
        let target = meta.target();
        if target.starts_with("s3s") {
            return false;
        }
        target.starts_with("coffer") || *meta.level() <= tracing::Level::INFO
    });
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                // Colour codes only for a person at a terminal, never into files or journald.
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .with_filter(chosen)
                .with_filter(no_secret_carriers),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("coffer: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => server::serve(args).await,
            Command::Admin(args) => admin::run(args).await,
            Command::Kms(args) => kms_cli::run(args).await,
            Command::Audit(args) => match audit_cli::run(args).await {
                Ok(true) => Ok(()),
                Ok(false) => Err("the audit trail failed verification".into()),
                Err(e) => Err(e),
            },
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("coffer: {reason}");
            std::process::ExitCode::FAILURE
        }
    }
}
