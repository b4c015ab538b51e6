//! The idle timeout of one connection: a wait on the client (for bytes to read, or for room
//! to write) that lasts longer than the limit with no byte moving either way fails the
//! connection's I/O, and hyper closes it.
//!
//! What it bounds: idle keep-alive connections, half-sent requests, bodies sent a byte a
//! minute (slowloris), and clients that stop reading a response. What it must not bound: a
//! request the server is still working on (a large copy) while the client waits quietly.
//! HTTP/1.1 connections are served with half-close allowed, so hyper does not read while a
//! handler works; HTTP/2 reads all the time, so for it a read wait only counts while no
//! request is in flight ([`ConnectionActivity`]).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// What the connection's service tells its I/O: how many requests are in flight.
#[derive(Default)]
pub struct ConnectionActivity {
    in_flight: AtomicUsize,
    http2: AtomicBool,
}

impl ConnectionActivity {
    /// Marks a request in flight until the returned guard is dropped.
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    /// HTTP/2 keeps a read pending while it serves streams: such a wait is not idleness.
    fn exempts_reads(&self) -> bool {
        self.http2.load(Ordering::Relaxed) && self.in_flight.load(Ordering::Relaxed) > 0
    }
}

pub struct InFlight(Arc<ConnectionActivity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The client preface every HTTP/2 connection opens with (RFC 9113 §3.4).
const H2_PREFACE_START: &[u8] = b"PRI * HTTP/2.0";

pub struct IdleTimeoutIo<T> {
    inner: T,
    limit: Duration,
    activity: Arc<ConnectionActivity>,
    last_progress: Instant,
    read_wait: Option<Instant>,
    write_wait: Option<Instant>,
    read_timer: Pin<Box<Sleep>>,
    write_timer: Pin<Box<Sleep>>,
    sniffed: bool,
}

impl<T> IdleTimeoutIo<T> {
    pub fn new(inner: T, limit: Duration, activity: Arc<ConnectionActivity>) -> Self {
        let now = Instant::now();
        Self {
            inner,
            limit,
            activity,
            last_progress: now,
            read_wait: None,
            write_wait: None,
            read_timer: Box::pin(tokio::time::sleep_until(now + limit)),
            write_timer: Box::pin(tokio::time::sleep_until(now + limit)),
            sniffed: false,
        }
    }
}

/// Whether a wait that began at `wait_start` has outlasted `limit` with no progress since
/// `last_progress`; registers the task to be woken when it would.
fn wait_expired(
    timer: &mut Pin<Box<Sleep>>,
    wait_start: Instant,
    last_progress: Instant,
    limit: Duration,
    cx: &mut Context<'_>,
) -> bool {
    let deadline = wait_start.max(last_progress) + limit;
    if timer.deadline() != deadline {
        timer.as_mut().reset(deadline);
    }
    timer.as_mut().poll(cx).is_ready()
}

fn idle_error() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "connection idle timeout")
}

impl<T: AsyncRead + Unpin> AsyncRead for IdleTimeoutIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                this.read_wait = None;
                let got = &buf.filled()[before..];
                if !got.is_empty() {
                    this.last_progress = Instant::now();
                    if !this.sniffed {
                        this.sniffed = true;
                        if got.starts_with(H2_PREFACE_START) {
                            this.activity.http2.store(true, Ordering::Relaxed);
                        }
                    }
                }
                Poll::Ready(result)
            }
            Poll::Pending if this.activity.exempts_reads() => {
                this.read_wait = None;
                Poll::Pending
            }
            Poll::Pending => {
                let start = *this.read_wait.get_or_insert_with(Instant::now);
                if wait_expired(
                    &mut this.read_timer,
                    start,
                    this.last_progress,
                    this.limit,
                    cx,
                ) {
                    Poll::Ready(Err(idle_error()))
                } else {
                    Poll::Pending
                }
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> IdleTimeoutIo<T> {
    /// The write side's wait: room to write is the client's to give.
    fn write_pending<R>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        let start = *self.write_wait.get_or_insert_with(Instant::now);
        if wait_expired(
            &mut self.write_timer,
            start,
            self.last_progress,
            self.limit,
            cx,
        ) {
            Poll::Ready(Err(idle_error()))
        } else {
            Poll::Pending
        }
    }

    fn wrote(&mut self, n: usize) {
        self.write_wait = None;
        if n > 0 {
            self.last_progress = Instant::now();
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for IdleTimeoutIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, data) {
            Poll::Ready(result) => {
                this.wrote(*result.as_ref().unwrap_or(&0));
                Poll::Ready(result)
            }
            Poll::Pending => this.write_pending(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(result) => {
                this.wrote(*result.as_ref().unwrap_or(&0));
                Poll::Ready(result)
            }
            Poll::Pending => this.write_pending(cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Ready(result) => {
                this.write_wait = None;
                Poll::Ready(result)
            }
            Poll::Pending => this.write_pending(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_shutdown(cx) {
            Poll::Ready(result) => Poll::Ready(result),
            Poll::Pending => this.write_pending(cx),
        }
    }
}
