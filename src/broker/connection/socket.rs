//! The socket side of a connection: its stream, and read and write buffers that exist
//! only while they hold data. It reads what the socket has without waiting, encodes
//! packets into the write buffer and flushes it, stopping early when the broker stops or
//! the session's queue asks the connection to close.

use super::{BrokerStream, Shared};
use crate::broker::queue::OutgoingQueue;
use crate::broker::stats::Counters;
use crate::protocol::{encode, Packet, ProtocolVersion};
use bytes::{Buf, BytesMut};
use std::io;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// The socket side of a connection. The client's address is not kept: the handshake takes
/// it, the router keeps it with the session, and 32 bytes count in every idle connection.
pub(super) struct Connection {
    pub(super) shared: Arc<Shared>,
    pub(super) stream: BrokerStream,
    pub(super) token: CancellationToken,
    /// Allocated when data arrives or is due, dropped when the connection goes idle.
    pub(super) buffers: Option<Box<Buffers>>,
    pub(super) connection_id: u64,
}

#[derive(Default)]
pub(super) struct Buffers {
    pub(super) read: BytesMut,
    pub(super) write: BytesMut,
}

pub(super) enum Flush {
    /// Everything written; `woken` if the queue's wake-up was consumed meanwhile (so
    /// the caller must look at the queue again instead of waiting for another).
    Done {
        woken: bool,
    },
    Interrupted,
}

/// Lets go of a write buffer that a burst grew large, once it is empty.
fn shrink_if_large(write_buf: &mut BytesMut) {
    if write_buf.capacity() > 64 * 1024 {
        *write_buf = BytesMut::new();
    }
}

impl Connection {
    pub(super) fn buffers(&mut self) -> &mut Buffers {
        self.buffers.get_or_insert_with(Box::default)
    }

    pub(super) fn has_unread(&self) -> bool {
        self.buffers.as_ref().is_some_and(|b| !b.read.is_empty())
    }

    pub(super) fn has_unwritten(&self) -> bool {
        self.buffers.as_ref().is_some_and(|b| !b.write.is_empty())
    }

    /// Drops both buffers if neither holds anything: an idle connection keeps none.
    pub(super) fn release_idle_buffers(&mut self) {
        if !self.has_unread() && !self.has_unwritten() {
            self.buffers = None;
        }
    }

    pub(super) fn encode(&mut self, packet: &Packet, version: ProtocolVersion) {
        if let Err(error) = encode(packet, version, &mut self.buffers().write) {
            log::warn!(
                "Cannot encode {:?} for connection {}: {error}",
                packet.packet_type(),
                self.connection_id
            );
        }
    }

    /// Reads once into the read buffer (growing it by at least `chunk` when nearly full);
    /// Ok(Some(false)) on end of stream, Ok(None) when nothing was there.
    pub(super) fn try_read(&mut self, chunk: usize) -> io::Result<Option<bool>> {
        let read_buf = &mut self.buffers.get_or_insert_with(Box::default).read;
        let wanted = if read_buf.capacity() - read_buf.len() < chunk / 8 {
            chunk.max(read_buf.len())
        } else {
            0
        };
        read_buf.reserve(wanted);
        match self.stream.try_read_buf(read_buf) {
            Ok(0) => Ok(Some(false)),
            Ok(n) => {
                Counters::add(&self.shared.counters.bytes_received, n as u64);
                Ok(Some(true))
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes what a plain TCP socket takes at once, without waiting: most writes go whole
    /// and need none of `flush`'s waiting (a layered stream buffers and must be flushed,
    /// so `flush` alone writes to it).
    pub(super) fn write_now(&mut self) -> io::Result<()> {
        let (BrokerStream::Tcp(stream), Some(buffers)) = (&self.stream, self.buffers.as_mut())
        else {
            return Ok(());
        };
        let write_buf = &mut buffers.write;
        while !write_buf.is_empty() {
            let written = match stream.try_write(write_buf) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            };
            write_buf.advance(written);
            Counters::add(&self.shared.counters.bytes_sent, written as u64);
        }
        shrink_if_large(write_buf);
        Ok(())
    }

    /// Writes the whole write buffer. With `interrupt_on`, stops early (between writes)
    /// when the broker stops or that queue asks the connection to close, so a client that
    /// does not read cannot hold a takeover or a shutdown.
    pub(super) async fn flush(
        &mut self,
        interrupt_on: Option<&OutgoingQueue>,
    ) -> io::Result<Flush> {
        use tokio::io::AsyncWriteExt;
        let mut woken = false;
        let Some(buffers) = self.buffers.as_mut() else {
            return Ok(Flush::Done { woken });
        };
        let write_buf = &mut buffers.write;
        while !write_buf.is_empty() {
            let written = match interrupt_on {
                None => self.stream.write(write_buf).await?,
                Some(queue) => tokio::select! {
                    biased;
                    _ = self.token.cancelled() => return Ok(Flush::Interrupted),
                    _ = queue.woken() => {
                        if queue.has_close() {
                            return Ok(Flush::Interrupted);
                        }
                        woken = true;
                        continue;
                    }
                    written = self.stream.write(write_buf) => written?,
                },
            };
            if written == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            write_buf.advance(written);
            Counters::add(&self.shared.counters.bytes_sent, written as u64);
        }
        if self.stream.needs_flush() {
            match interrupt_on {
                None => self.stream.flush().await?,
                Some(_) => tokio::select! {
                    biased;
                    _ = self.token.cancelled() => return Ok(Flush::Interrupted),
                    flushed = self.stream.flush() => flushed?,
                },
            }
        }
        shrink_if_large(write_buf);
        Ok(Flush::Done { woken })
    }

    pub(super) async fn flush_all(&mut self) -> io::Result<()> {
        self.flush(None).await.map(|_| ())
    }
}
