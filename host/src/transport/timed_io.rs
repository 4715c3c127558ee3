//! A socket wrapper that counts bytes and notes when the last request byte was written and the
//! first response byte was read, which is how the transport splits sending/waiting/receiving.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Byte counts and per-request time marks of one connection.
#[derive(Debug, Default)]
pub struct IoStats {
    written: AtomicU64,
    read: AtomicU64,
    marks: Mutex<Marks>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Marks {
    last_write: Option<Instant>,
    first_read: Option<Instant>,
}

impl IoStats {
    /// New shared stats.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Total (written, read) bytes so far.
    pub fn totals(&self) -> (u64, u64) {
        (
            self.written.load(Ordering::Acquire),
            self.read.load(Ordering::Acquire),
        )
    }

    /// Clears the time marks before a request is sent at `now`.
    pub fn begin_request(&self, now: Instant) {
        *self.lock() = Marks {
            last_write: Some(now),
            first_read: None,
        };
    }

    /// (last write, first read) of the current request, clamped to `start..=end`.
    pub fn marks(&self, start: Instant, end: Instant) -> (Instant, Instant) {
        let m = *self.lock();
        let last_write = m.last_write.unwrap_or(start).clamp(start, end);
        let first_read = m.first_read.unwrap_or(end).clamp(last_write, end);
        (last_write, first_read)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Marks> {
        self.marks.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// An I/O object that records into [`IoStats`].
pub struct TimedIo<T> {
    inner: T,
    stats: Arc<IoStats>,
}

impl<T> TimedIo<T> {
    /// Wraps `inner`.
    pub fn new(inner: T, stats: Arc<IoStats>) -> Self {
        TimedIo { inner, stats }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TimedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        if n > 0 {
            self.stats.read.fetch_add(n as u64, Ordering::AcqRel);
            let mut m = self.stats.lock();
            if m.first_read.is_none() {
                m.first_read = Some(Instant::now());
            }
        }
        poll
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TimedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = poll {
            self.record_write(n);
        }
        poll
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = poll {
            self.record_write(n);
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<T> TimedIo<T> {
    fn record_write(&self, n: usize) {
        if n > 0 {
            self.stats.written.fetch_add(n as u64, Ordering::AcqRel);
            self.stats.lock().last_write = Some(Instant::now());
        }
    }
}
