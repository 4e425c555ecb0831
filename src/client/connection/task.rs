//! The connection task: moves bytes between the socket and the shared `ClientState`,
//! writes once per wake-up, runs the keep-alive timer and forwards events in order.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::{apply, drop_output, lock, settle_qos0, Shared, READ_CAPACITY};
use crate::client::events::describe;
use crate::client::state::{Action, CloseReason, Event};
use crate::protocol::{self, Disconnect, Packet, ProtocolVersion, ReasonCode};

pub(super) struct Task {
    pub(super) shared: Arc<Shared>,
    pub(super) events: mpsc::Sender<(u64, Event)>,
    pub(super) generation: u64,
    pub(super) version: ProtocolVersion,
    pub(super) max_packet_size: u32,
}

impl Task {
    pub(super) async fn run<S>(self, mut stream: S)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut read_buf = BytesMut::with_capacity(READ_CAPACITY);
        let mut queue: VecDeque<Event> = VecDeque::new();
        // The ledger's last number in the output last written, settled under the next lock.
        let mut written_upto = None;
        let reason = loop {
            let (out, chunk_upto, written_qos0, close, deadline, warnings) = {
                let mut inner = lock(&self.shared);
                if inner.generation != self.generation {
                    return;
                }
                if let Some(upto) = written_upto.take() {
                    settle_qos0(&self.shared, &mut inner, upto);
                }
                queue.extend(inner.pending.drain(..));
                if !queue.is_empty() {
                    self.shared.backlog.store(true, Ordering::Release);
                }
                let out = inner.out.split();
                inner.writing = !out.is_empty();
                if inner.writing {
                    inner.last_write = Some(Instant::now());
                }
                let written = std::mem::take(&mut inner.written_qos0);
                let warnings = std::mem::take(&mut inner.warnings);
                let close = inner.close.take();
                let upto = inner.ledger.assigned();
                (
                    out,
                    upto,
                    written,
                    close,
                    inner.state.next_deadline(),
                    warnings,
                )
            };
            for line in warnings {
                log::warn!("{line}");
            }
            // One write per wake-up, however many packets were queued.
            if !out.is_empty()
                && (stream.write_all(&out).await.is_err() || stream.flush().await.is_err())
            {
                break close.unwrap_or(CloseReason::ConnectionLost);
            }
            if !out.is_empty() {
                written_upto = Some(chunk_upto);
            }
            // Written now, or earlier by a caller (`write_direct`) that could not report them.
            queue.extend(written_qos0.into_iter().map(|packet_id| Event::Published {
                packet_id,
                reason_code: ReasonCode::Success,
                properties: Default::default(),
            }));
            if let Some(reason) = close {
                break reason;
            }
            self.forward(&mut queue);
            // Events enter the queue under the lock (which raised the flag) or while
            // `writing` keeps callers from sending: this value is current for them.
            self.shared
                .backlog
                .store(!queue.is_empty(), Ordering::Release);
            let reading = queue.is_empty();
            let sleep = deadline.map(tokio::time::Instant::from_std);
            tokio::select! {
                read = stream.read_buf(&mut read_buf), if reading => match read {
                    Ok(0) | Err(_) => break CloseReason::ConnectionLost,
                    Ok(_) => self.feed(&mut read_buf),
                },
                permit = self.events.reserve(), if !queue.is_empty() => match permit {
                    Ok(permit) => {
                        if let Some(event) = queue.pop_front() {
                            permit.send((self.generation, event));
                        }
                        self.shared.events_sent();
                    }
                    Err(_) => return,
                },
                _ = self.shared.wake.notified() => {}
                _ = sleep_until(sleep) => {
                    let mut inner = lock(&self.shared);
                    let actions = inner.state.handle_timeout(Instant::now());
                    apply(&self.shared, &mut inner, actions);
                }
            }
        };
        {
            // Callers write through the task's stream from now on, that is not at all.
            let mut inner = lock(&self.shared);
            if inner.generation == self.generation {
                inner.direct = None;
                if let Some(upto) = written_upto {
                    settle_qos0(&self.shared, &mut inner, upto);
                }
            }
        }
        let _ = stream.shutdown().await;
        {
            let mut inner = lock(&self.shared);
            if inner.generation != self.generation {
                return;
            }
            inner.state.connection_closed();
            // Unwritten output goes with the connection.
            drop_output(&self.shared, &mut inner);
            queue.extend(inner.pending.drain(..));
        }
        queue.push_back(Event::Disconnected(reason));
        for event in queue {
            if self.events.send((self.generation, event)).await.is_err() {
                break;
            }
            self.shared.events_sent();
        }
        // Only now does the connection count as gone: its events are all queued.
        let mut inner = lock(&self.shared);
        if inner.generation == self.generation {
            inner.task = None;
        }
    }

    /// Sends what fits into the event channel without waiting.
    fn forward(&self, queue: &mut VecDeque<Event>) {
        let mut sent = false;
        while let Some(event) = queue.pop_front() {
            match self.events.try_send((self.generation, event)) {
                Ok(()) => sent = true,
                Err(mpsc::error::TrySendError::Full((_, event))) => {
                    queue.push_front(event);
                    break;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    queue.clear();
                    break;
                }
            }
        }
        if sent {
            self.shared.events_sent();
        }
    }

    /// Decodes every complete packet in `read_buf` and feeds it to the state machine.
    fn feed(&self, read_buf: &mut BytesMut) {
        let mut inner = lock(&self.shared);
        let now = Instant::now();
        let log = self.shared.log_enabled.load(Ordering::Relaxed);
        loop {
            match protocol::decode(read_buf, self.version, self.max_packet_size) {
                Ok(Some(packet)) => {
                    if log {
                        let line = describe(&packet, false);
                        inner.pending.push(Event::Log(log::Level::Debug, line));
                    }
                    let actions = inner.state.handle_incoming(packet, now);
                    apply(&self.shared, &mut inner, actions);
                }
                Ok(None) => break,
                Err(e) => {
                    let line = format!("malformed packet from the server: {e}");
                    inner.warnings.push(line);
                    let mut actions = Vec::new();
                    if self.version.is_v5() {
                        let disconnect = Disconnect::new(e.reason_code());
                        actions.push(Action::Send(Packet::Disconnect(disconnect)));
                    }
                    actions.push(Action::Close(CloseReason::ProtocolError(e.to_string())));
                    apply(&self.shared, &mut inner, actions);
                    break;
                }
            }
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
