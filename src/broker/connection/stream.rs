//! The connection task's socket. Plain TCP is polled for readiness and read without a
//! wait, so an idle connection holds no read buffer. A layered stream (TLS, WebSocket,
//! Unix) offers the same three calls: waiting for readiness reads into a small stash,
//! which the next read hands over.

use crate::transport::BoxedStream;
use bytes::BytesMut;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

/// Bytes read per poll of a layered stream.
const LAYERED_CHUNK: usize = 4096;

/// What a TLS listener with `use_identity_as_username` learned from the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// The listener does not take usernames from certificates.
    NotUsed,
    /// The client certificate's subject CN.
    Username(String),
    /// The listener wants one, and the client sent no certificate (or one without a CN).
    Missing,
}

pub enum BrokerStream {
    Tcp(TcpStream),
    /// Boxed: the connection task's size matters for idle connections (see its test).
    Layered(Box<Layered>),
}

pub struct Layered {
    stream: BoxedStream,
    stash: BytesMut,
    eof: bool,
    identity: Identity,
}

impl BrokerStream {
    pub fn layered(stream: BoxedStream, identity: Identity) -> BrokerStream {
        BrokerStream::Layered(Box::new(Layered {
            stream,
            stash: BytesMut::new(),
            eof: false,
            identity,
        }))
    }

    pub fn identity(&self) -> &Identity {
        match self {
            BrokerStream::Tcp(_) => &Identity::NotUsed,
            BrokerStream::Layered(layered) => &layered.identity,
        }
    }

    /// Whether writes must be followed by a flush (TLS and WebSocket buffer them).
    pub fn needs_flush(&self) -> bool {
        matches!(self, BrokerStream::Layered(_))
    }

    /// Ready when bytes (or the end of the stream) can be read without waiting.
    pub fn poll_read_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            BrokerStream::Tcp(stream) => stream.poll_read_ready(cx),
            BrokerStream::Layered(layered) => {
                if !layered.stash.is_empty() || layered.eof {
                    return Poll::Ready(Ok(()));
                }
                let mut stash = std::mem::take(&mut layered.stash);
                let polled = layered.poll_into(cx, &mut stash);
                layered.stash = stash;
                polled.map_ok(|_| ())
            }
        }
    }

    /// Reads what is there into `buf` without waiting: Ok(0) at the end of the stream,
    /// `WouldBlock` when nothing is there.
    pub fn try_read_buf(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        match self {
            BrokerStream::Tcp(stream) => read_draining(stream, buf),
            BrokerStream::Layered(layered) => {
                if !layered.stash.is_empty() {
                    let n = layered.stash.len();
                    if buf.is_empty() {
                        *buf = std::mem::take(&mut layered.stash);
                    } else {
                        buf.extend_from_slice(&layered.stash);
                        layered.stash = BytesMut::new();
                    }
                    return Ok(n);
                }
                if layered.eof {
                    return Ok(0);
                }
                // The task polls readiness with its real waker before it waits, so a
                // no-op waker is enough for this one attempt.
                let mut cx = Context::from_waker(Waker::noop());
                match layered.poll_into(&mut cx, buf) {
                    Poll::Ready(result) => result,
                    Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
                }
            }
        }
    }
}

/// Reads once from a TCP socket. A read that leaves room in `buf` has emptied the socket
/// (edge-triggered epoll reports the next arrival), so the readiness is cleared with it and
/// the next attempt waits instead of making a system call that would only say WouldBlock:
/// one call fewer per wake-up. Readiness that arrived in between is kept (tokio clears only
/// the event the read saw).
fn read_draining(stream: &TcpStream, buf: &mut BytesMut) -> io::Result<usize> {
    let mut short_read = None;
    let outcome = stream.try_io(Interest::READABLE, || {
        let room = buf.capacity() - buf.len();
        let n = stream.try_read_buf(buf)?;
        if cfg!(any(target_os = "linux", target_os = "macos")) && 0 < n && n < room {
            // WouldBlock makes `try_io` clear the readiness; the count is kept here.
            short_read = Some(n);
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    });
    match (outcome, short_read) {
        (_, Some(n)) => Ok(n),
        (outcome, None) => outcome,
    }
}

impl Layered {
    fn poll_into(&mut self, cx: &mut Context<'_>, out: &mut BytesMut) -> Poll<io::Result<usize>> {
        let mut chunk = [0u8; LAYERED_CHUNK];
        let mut read_buf = ReadBuf::new(&mut chunk);
        match Pin::new(&mut self.stream).poll_read(cx, &mut read_buf) {
            Poll::Ready(Ok(())) => {
                let filled = read_buf.filled();
                if filled.is_empty() {
                    self.eof = true;
                }
                out.extend_from_slice(filled);
                Poll::Ready(Ok(filled.len()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for BrokerStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            BrokerStream::Tcp(stream) => Pin::new(stream).poll_write(cx, buf),
            BrokerStream::Layered(layered) => Pin::new(&mut layered.stream).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            BrokerStream::Tcp(stream) => Pin::new(stream).poll_flush(cx),
            BrokerStream::Layered(layered) => Pin::new(&mut layered.stream).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            BrokerStream::Tcp(stream) => Pin::new(stream).poll_shutdown(cx),
            BrokerStream::Layered(layered) => Pin::new(&mut layered.stream).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;

    async fn tcp_pair() -> (BrokerStream, TcpStream) {
        let (server, client) = super::super::tests::socket_pair().await;
        (BrokerStream::Tcp(server), client)
    }

    async fn wait_readable(stream: &mut BrokerStream) {
        let ready = std::future::poll_fn(|cx| stream.poll_read_ready(cx));
        tokio::time::timeout(Duration::from_secs(10), ready)
            .await
            .expect("the socket never became readable")
            .unwrap();
    }

    fn is_read_ready(stream: &mut BrokerStream) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        stream.poll_read_ready(&mut cx).is_ready()
    }

    #[tokio::test]
    async fn a_short_read_clears_readiness_and_the_next_bytes_wake_the_reader() {
        let (mut server, mut client) = tcp_pair().await;
        let mut buf = BytesMut::with_capacity(4096);
        for round in 0..3u8 {
            client.write_all(&[round; 10]).await.unwrap();
            wait_readable(&mut server).await;
            assert_eq!(server.try_read_buf(&mut buf).unwrap(), 10);
            assert_eq!(&buf[..], &[round; 10]);
            buf.clear();
            if cfg!(any(target_os = "linux", target_os = "macos")) {
                // The socket is known to be empty without asking it again.
                assert!(!is_read_ready(&mut server));
            }
            let again = server.try_read_buf(&mut buf).unwrap_err();
            assert_eq!(again.kind(), io::ErrorKind::WouldBlock);
        }
    }

    #[tokio::test]
    async fn a_read_that_fills_the_buffer_keeps_readiness_for_the_rest() {
        let (mut server, mut client) = tcp_pair().await;
        client.write_all(&[7u8; 100]).await.unwrap();
        client.flush().await.unwrap();
        let mut buf = BytesMut::with_capacity(4096);
        // Wait until all 100 bytes are there, then read them in two parts.
        let mut peek = [0u8; 100];
        let tcp = match &server {
            BrokerStream::Tcp(tcp) => tcp,
            BrokerStream::Layered(_) => unreachable!("a TCP pair"),
        };
        tokio::time::timeout(Duration::from_secs(10), async {
            while tcp.peek(&mut peek).await.unwrap() < 100 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .unwrap();
        let mut small = BytesMut::with_capacity(40);
        let first = server.try_read_buf(&mut small).unwrap();
        assert_eq!(first, 40);
        assert!(is_read_ready(&mut server));
        let second = server.try_read_buf(&mut buf).unwrap();
        assert_eq!(first + second, 100);
        // The client closing is seen as the end of the stream.
        drop(client);
        wait_readable(&mut server).await;
        assert_eq!(server.try_read_buf(&mut buf).unwrap(), 0);
    }
}
