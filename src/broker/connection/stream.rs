//! The connection task's socket. Plain TCP is polled for readiness and read without a
//! wait, so an idle connection holds no read buffer. A layered stream (TLS, WebSocket,
//! Unix) offers the same three calls: waiting for readiness reads into a small stash,
//! which the next read hands over.

use crate::transport::BoxedStream;
use bytes::BytesMut;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
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
            BrokerStream::Tcp(stream) => stream.try_read_buf(buf),
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
