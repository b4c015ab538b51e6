//! The `coffer` binary: command line, configuration, TLS, listeners and wiring. Thin by
//! design: what a request means lives in `coffer-s3`, how state persists in `coffer-store`.
#![forbid(unsafe_code)]

mod admin;
mod admin_ops;
mod admin_route;
mod cli;
mod config;
mod datadir;
mod front;
mod host;
mod routes;
mod server;
mod tls;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use cli::{Cli, Command};

fn quiet(target: &str) -> tracing_subscriber::filter::Directive {
    format!("{target}=info")
        .parse()
        .expect("a constant directive parses")
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("COFFER_LOG")
                .unwrap_or_else(|_| EnvFilter::new("info,s3s=off"))
                // s3s logs whole requests (headers, form fields) at debug level, and those
                // carry SSE-C keys: never below info, whatever COFFER_LOG asks.
                .add_directive(quiet("s3s::service"))
                .add_directive(quiet("s3s::ops")),
        )
        .with_writer(std::io::stderr)
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
