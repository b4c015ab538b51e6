//! The `coffer` binary: command line, configuration, TLS, listeners and wiring. Thin by
//! design: what a request means lives in `coffer-s3`, how state persists in `coffer-store`.
#![forbid(unsafe_code)]

mod admin;
mod admin_ops;
mod admin_route;
mod audit_cli;
mod cli;
mod config;
mod datadir;
mod fd_limit;
mod front;
mod host;
mod idle_io;
mod json_api;
mod kms_cli;
mod listener;
mod log_throttle;
mod private_files;
mod routes;
mod server;
mod sigv4;
mod tls;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::prelude::*;

use cli::{Cli, Command};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let chosen =
        EnvFilter::try_from_env("COFFER_LOG").unwrap_or_else(|_| EnvFilter::new("info,s3s=off"));
    // s3s logs whole requests (headers, form fields) at debug level, and those carry SSE-C
    // keys: nothing of s3s's below info is ever written, whatever COFFER_LOG asks.
    let no_s3s_detail = filter_fn(|meta| {
        !(meta.target().starts_with("s3s") && *meta.level() > tracing::Level::INFO)
    });
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(chosen)
                .with_filter(no_s3s_detail),
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
            Command::Audit(args) => match audit_cli::run(args) {
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
