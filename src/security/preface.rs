//! A deadline for the HTTP/2 connection preface on the plaintext port.
//!
//! hyper waits for a new connection's preface (the 24 bytes `PRI * HTTP/2.0...` every HTTP/2
//! client sends first) for as long as the connection stays open, and HTTP/2 keep-alive pings
//! only start once it has arrived: a client that connects and sends nothing holds a socket,
//! a task and its buffers forever, and a few thousand of them exhaust file descriptors. Each
//! accepted connection is wrapped so that its reads fail (and hyper closes it) when the preface
//! is not complete within the timeout; afterwards the wrapper only passes bytes through.
//! (TLS connections get a handshake timeout in `security::tls` instead.)

use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, ReadBuf};
use tokio::time::Sleep;
use tokio_stream::{Stream, StreamExt as _};
use tonic::transport::server::Connected;

/// Default time a new plaintext connection has to send the HTTP/2 preface.
pub const PREFACE_TIMEOUT: Duration = Duration::from_secs(10);

/// Length of the HTTP/2 client connection preface (RFC 9113, section 3.4).
const PREFACE_LEN: usize = 24;

/// Wraps every connection of `incoming` in a [`PrefaceDeadline`] of `timeout`.
pub fn with_preface_deadline<IO, E>(
    incoming: impl Stream<Item = Result<IO, E>>,
    timeout: Duration,
) -> impl Stream<Item = Result<PrefaceDeadline<IO>, E>> {
    incoming.map(move |conn| conn.map(|io| PrefaceDeadline::new(io, timeout)))
}

/// A connection whose reads fail with `TimedOut` when its first [`PREFACE_LEN`] bytes have not
/// arrived within the timeout.
#[derive(Debug)]
pub struct PrefaceDeadline<IO> {
    io: IO,
    /// Bytes read so far, up to the preface's length.
    read: usize,
    /// Cleared once the preface has arrived.
    deadline: Option<Pin<Box<Sleep>>>,
}

impl<IO> PrefaceDeadline<IO> {
    pub fn new(io: IO, timeout: Duration) -> Self {
        PrefaceDeadline {
            io,
            read: 0,
            deadline: Some(Box::pin(tokio::time::sleep(timeout))),
        }
    }
}

impl<IO: Connected> Connected for PrefaceDeadline<IO> {
    type ConnectInfo = IO::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for PrefaceDeadline<IO> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // Polled on every read while the preface is pending, so the timer wakes the reader.
        if let Some(deadline) = this.deadline.as_mut()
            && deadline.as_mut().poll(cx).is_ready()
        {
            tracing::debug!("closing a connection that sent no HTTP/2 preface in time");
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no HTTP/2 connection preface within the timeout",
            )));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if this.deadline.is_some() && matches!(polled, Poll::Ready(Ok(()))) {
            this.read += buf.filled().len() - before;
            if this.read >= PREFACE_LEN {
                this.deadline = None;
            }
        }
        polled
    }
}

crate::net::forward_async_write!(PrefaceDeadline);

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    #[tokio::test]
    async fn reads_fail_without_a_preface_and_pass_through_after_one() {
        let (client, server) = tokio::io::duplex(64);
        let mut silent = PrefaceDeadline::new(server, Duration::from_millis(50));
        let mut buf = [0u8; 8];
        let err = silent.read(&mut buf).await.expect_err("times out");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        drop(client);

        let (mut client, server) = tokio::io::duplex(64);
        let mut talker = PrefaceDeadline::new(server, Duration::from_millis(50));
        client
            .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .await
            .expect("write");
        let mut preface = [0u8; PREFACE_LEN];
        talker.read_exact(&mut preface).await.expect("preface");
        tokio::time::sleep(Duration::from_millis(80)).await;
        client.write_all(b"later").await.expect("write");
        let mut later = [0u8; 5];
        talker.read_exact(&mut later).await.expect("reads after the deadline");
        assert_eq!(&later, b"later");
    }
}
