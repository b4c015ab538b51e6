//! Accepting connections and holding each to its limits: a cap on connections served at
//! once, a TLS handshake deadline, a header deadline and an idle timeout, and an accept loop
//! that backs off (instead of spinning) when the process runs out of descriptors.
//!
//! At the cap the loop stops accepting: further clients wait in the kernel's accept queue
//! and are served as soon as a connection ends, instead of being accepted only to be closed.
//! That keeps the descriptors the server needs for its own files, and a client that waits
//! gets an answer rather than a reset it would have to retry.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use tokio::io::{AsyncRead, AsyncWrite, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;

use crate::config::FileConfig;
use crate::front::Front;
use crate::idle_io::{ConnectionActivity, IdleTimeoutIo};
use crate::log_throttle::LogThrottle;

/// The connection cap when none is configured (lowered to fit the open-file limit).
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
const DEFAULT_HEADER_READ_TIMEOUT: u64 = 30;
const DEFAULT_IDLE_TIMEOUT: u64 = 60;
const DEFAULT_TLS_HANDSHAKE_TIMEOUT: u64 = 10;
/// The first pause after a failed accept, doubled on each failure in a row up to the most.
const ACCEPT_BACKOFF_FIRST: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MOST: Duration = Duration::from_secs(1);
/// A repeated listener warning is written at most once per this interval.
const WARNING_INTERVAL: Duration = Duration::from_secs(10);

/// The configured limits on connections.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// `None`: [`DEFAULT_MAX_CONNECTIONS`], or half the open-file limit if that is lower.
    pub max_connections: Option<usize>,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub tls_handshake_timeout: Duration,
}

impl ConnectionLimits {
    pub fn from_config(file: &FileConfig) -> Result<Self, String> {
        let seconds = |value: Option<u64>, default: u64, key: &str| match value {
            Some(0) => Err(format!("{key} must be at least 1")),
            v => Ok(Duration::from_secs(v.unwrap_or(default))),
        };
        if file.max_connections == Some(0) {
            return Err("max_connections must be at least 1".into());
        }
        Ok(Self {
            max_connections: file.max_connections,
            header_read_timeout: seconds(
                file.header_read_timeout_seconds,
                DEFAULT_HEADER_READ_TIMEOUT,
                "header_read_timeout_seconds",
            )?,
            idle_timeout: seconds(
                file.idle_timeout_seconds,
                DEFAULT_IDLE_TIMEOUT,
                "idle_timeout_seconds",
            )?,
            tls_handshake_timeout: seconds(
                file.tls_handshake_timeout_seconds,
                DEFAULT_TLS_HANDSHAKE_TIMEOUT,
                "tls_handshake_timeout_seconds",
            )?,
        })
    }
}

/// What every accept loop shares: the limits, and the connection slots of the cap (one pool
/// for both listeners, since both draw on the same descriptors).
#[derive(Clone)]
pub struct Connections {
    limits: Arc<ConnectionLimits>,
    slots: Arc<Semaphore>,
    /// One warning for the cap, whichever listener meets it: both share the slots.
    at_cap: Arc<std::sync::Mutex<LogThrottle>>,
}

impl Connections {
    /// Raises the open-file limit as far as allowed and sizes the connection cap under it.
    pub fn new(limits: ConnectionLimits) -> Self {
        let open_files = crate::fd_limit::raise_open_file_limit();
        let cap = match limits.max_connections {
            Some(n) => {
                if open_files.is_some_and(|f| n as u64 >= f) {
                    tracing::warn!(
                        max_connections = n,
                        open_file_limit = open_files,
                        "max_connections is not below the open-file limit: accepts will fail \
                         (EMFILE) before the cap is reached"
                    );
                }
                n
            }
            None => crate::fd_limit::default_connection_cap(open_files, DEFAULT_MAX_CONNECTIONS),
        };
        tracing::info!(
            max_connections = cap,
            header_read_timeout_s = limits.header_read_timeout.as_secs(),
            idle_timeout_s = limits.idle_timeout.as_secs(),
            tls_handshake_timeout_s = limits.tls_handshake_timeout.as_secs(),
            "connection limits"
        );
        Self {
            limits: Arc::new(limits),
            slots: Arc::new(Semaphore::new(cap)),
            at_cap: Arc::new(std::sync::Mutex::new(LogThrottle::new(WARNING_INTERVAL))),
        }
    }

    /// Accepts connections on `listener` for ever, serving each on its own task.
    pub async fn accept_loop(
        self,
        listener: TcpListener,
        service: Front,
        tls: Option<TlsAcceptor>,
    ) {
        let mut backoff = ACCEPT_BACKOFF_FIRST;
        let mut accept_failures = LogThrottle::new(WARNING_INTERVAL);
        loop {
            let permit = match self.slots.clone().try_acquire_owned() {
                Ok(p) => p,
                Err(_) => {
                    let admitted = self
                        .at_cap
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .admit();
                    if let Some(held_back) = admitted {
                        tracing::warn!(
                            held_back,
                            "connection limit reached (max_connections): new clients wait \
                             until a connection ends"
                        );
                    }
                    match self.slots.clone().acquire_owned().await {
                        Ok(p) => p,
                        Err(_) => return,
                    }
                }
            };
            let (stream, peer) = match listener.accept().await {
                Ok(s) => {
                    backoff = ACCEPT_BACKOFF_FIRST;
                    s
                }
                // The client gave up before we took it: nothing to wait out.
                Err(e) if is_per_connection(&e) => continue,
                Err(e) => {
                    if let Some(held_back) = accept_failures.admit() {
                        tracing::warn!(
                            error = %e,
                            held_back,
                            retry_in_ms = backoff.as_millis() as u64,
                            "accept failed"
                        );
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(ACCEPT_BACKOFF_MOST);
                    continue;
                }
            };
            tokio::spawn(serve_connection(
                stream,
                peer,
                service.clone(),
                tls.clone(),
                self.limits.clone(),
                permit,
            ));
        }
    }
}

/// Errors `accept` returns about one connection (reset or aborted before it was taken),
/// not about the listener or the process.
fn is_per_connection(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused
    )
}

/// Read-ahead below TLS: four TLS records.
const SOCKET_READ_BUFFER: usize = 64 * 1024;
/// Write coalescing above TLS (and above plain TCP).
const WRITE_BUFFER: usize = 64 * 1024;

/// Gathers small writes into larger ones. HTTP/2 writes each DATA frame (16 KiB, the size
/// clients allow) and its 9-byte header as one write: unbuffered, that was one system call
/// per frame, and over TLS a record for the 16 KiB and another for the 9 bytes. Writes as
/// large as the buffer (HTTP/1.1 bodies) pass straight through when it is empty.
fn coalesce_writes<T: AsyncRead + AsyncWrite>(io: T) -> BufWriter<T> {
    BufWriter::with_capacity(WRITE_BUFFER, io)
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    service: Front,
    tls: Option<TlsAcceptor>,
    limits: Arc<ConnectionLimits>,
    _slot: OwnedSemaphorePermit,
) {
    // Without it, small responses wait out the client's delayed ACK (~40 ms).
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(ConnectionActivity::default());
    let service = service.for_connection(
        coffer_s3::Transport {
            secure: tls.is_some(),
            loopback: peer.ip().is_loopback(),
            peer,
        },
        activity.clone(),
    );
    let mut builder = ConnBuilder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        // Without it hyper reads while a handler works, to notice a client that went away;
        // that read would count as waiting on the client (see idle_io).
        .half_close(true);
    builder.http2().timer(TokioTimer::new());
    let result = match tls {
        None => {
            let io = IdleTimeoutIo::new(coalesce_writes(stream), limits.idle_timeout, activity);
            builder.serve_connection(TokioIo::new(io), service).await
        }
        Some(acceptor) => {
            // rustls reads the socket 4 KiB at a time: a buffer below it turns the four
            // reads of each 16 KiB record into copies from one larger read.
            let socket = BufReader::with_capacity(SOCKET_READ_BUFFER, stream);
            match tokio::time::timeout(limits.tls_handshake_timeout, acceptor.accept(socket)).await
            {
                Ok(Ok(s)) => {
                    let io = IdleTimeoutIo::new(coalesce_writes(s), limits.idle_timeout, activity);
                    builder.serve_connection(TokioIo::new(io), service).await
                }
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            }
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}
