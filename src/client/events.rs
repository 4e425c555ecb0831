//! The application's end of a client's events: `EventReceiver` takes them in batches from
//! the bounded channel the connection tasks fill, and `Readiness` is the descriptor that
//! external event loops poll. Also paho's log lines for packets (`on_log`).

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TryRecvError;

use super::connection::{lock, Shared};
use super::state::Event;
use crate::protocol::Packet;

/// A socket pair whose read end becomes readable when events are queued, so external
/// event loops (`select`, asyncio `add_reader`) can wait on the client.
pub struct Readiness {
    enabled: AtomicBool,
    armed: AtomicBool,
    reader: UnixStream,
    writer: UnixStream,
}

impl Readiness {
    pub(super) fn new() -> std::io::Result<Readiness> {
        let (reader, writer) = UnixStream::pair()?;
        reader.set_nonblocking(true)?;
        writer.set_nonblocking(true)?;
        Ok(Readiness {
            enabled: AtomicBool::new(false),
            armed: AtomicBool::new(false),
            reader,
            writer,
        })
    }

    /// The descriptor to poll for readability; turns signalling on.
    pub fn fd(&self) -> RawFd {
        if !self.enabled.swap(true, Ordering::SeqCst) {
            // Events may already be waiting: start readable (a spurious wake-up is harmless).
            self.signal();
        }
        self.reader.as_raw_fd()
    }

    pub(super) fn signal(&self) {
        if self.enabled.load(Ordering::Relaxed) && !self.armed.swap(true, Ordering::SeqCst) {
            // A full pipe already means "readable": nothing to do on WouldBlock.
            let _ = (&self.writer).write(&[1]);
        }
    }

    pub(super) fn clear(&self) {
        if !self.enabled.load(Ordering::Relaxed) {
            return;
        }
        self.armed.store(false, Ordering::SeqCst);
        let mut sink = [0u8; 64];
        while let Ok(n) = (&self.reader).read(&mut sink) {
            if n == 0 {
                break;
            }
        }
    }
}

/// Wakes the thread waiting in `EventReceiver::recv_batch`. A plain condition variable,
/// not the runtime: a tokio timer armed from a thread outside the runtime wakes a worker
/// thread each time, one wake-up per batch for nothing.
#[derive(Default)]
pub(super) struct Doorbell {
    sleeping: AtomicBool,
    // std Mutex: held only to set or test the two flags, never across an .await.
    state: Mutex<Bell>,
    condvar: Condvar,
}

#[derive(Default)]
struct Bell {
    rung: bool,
    interrupted: bool,
}

impl Doorbell {
    fn bell(&self) -> std::sync::MutexGuard<'_, Bell> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Called after an event is put into the channel.
    pub(super) fn ring(&self) {
        // Pairs with the fence in `wait_for`: either the sleeper sees the event in the
        // channel or this sees the sleeper.
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst) {
            self.bell().rung = true;
            self.condvar.notify_one();
        }
    }

    /// Ends the current or the next wait (kept until a wait takes it, like a permit).
    pub(super) fn interrupt(&self) {
        self.bell().interrupted = true;
        self.condvar.notify_one();
    }

    /// Waits until `ready` gives a value, the deadline passes (`Some(None)`) or
    /// `interrupt` is called (`None`).
    fn wait_for<T>(
        &self,
        deadline: Option<Instant>,
        mut ready: impl FnMut() -> Option<T>,
    ) -> Option<Option<T>> {
        let outcome = loop {
            self.sleeping.store(true, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            if let Some(value) = ready() {
                break Some(Some(value));
            }
            let mut bell = self.bell();
            let woken = loop {
                if bell.interrupted {
                    bell.interrupted = false;
                    break None;
                }
                if bell.rung {
                    bell.rung = false;
                    break Some(true);
                }
                let Some(deadline) = deadline else {
                    bell = self
                        .condvar
                        .wait(bell)
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                    continue;
                };
                let now = Instant::now();
                if now >= deadline {
                    break Some(false);
                }
                bell = self
                    .condvar
                    .wait_timeout(bell, deadline - now)
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .0;
            };
            match woken {
                None => break None,
                Some(true) => continue,
                Some(false) => break Some(ready()),
            }
        };
        self.sleeping.store(false, Ordering::SeqCst);
        outcome
    }
}

/// The receiving end of a client's events; owned by the thread that runs the loop.
pub struct EventReceiver {
    pub(super) receiver: mpsc::Receiver<(u64, Event)>,
    pub(super) shared: Arc<Shared>,
}

impl EventReceiver {
    /// Waits up to `wait` for the first event, then takes up to `max - 1` more that are
    /// already queued. Blocks the calling thread: call it without holding the GIL.
    /// `interrupt()` ends the wait early. The end of a connection that was replaced
    /// (`abort_connection`, `connect` again) is not reported.
    /// Returns `None` when interrupted.
    pub fn recv_batch(&mut self, wait: Duration, max: usize) -> Option<Vec<Event>> {
        self.shared.readiness.clear();
        let mut batch = Vec::new();
        let first = match self.receiver.try_recv() {
            Ok(item) => Some(item),
            Err(_) if wait.is_zero() => None,
            Err(_) => {
                let receiver = &mut self.receiver;
                let deadline = Instant::now().checked_add(wait);
                self.shared
                    .doorbell
                    .wait_for(deadline, || match receiver.try_recv() {
                        Ok(item) => Some(Some(item)),
                        // Every sender is gone: nothing will ever come.
                        Err(TryRecvError::Disconnected) => Some(None),
                        Err(TryRecvError::Empty) => None,
                    })?
                    .flatten()
            }
        };
        let Some(first) = first else {
            return Some(batch);
        };
        let current = lock(&self.shared).generation;
        let mut keep = |(generation, event): (u64, Event)| {
            if generation == current || !matches!(event, Event::Disconnected(_)) {
                batch.push(event);
            }
        };
        keep(first);
        for _ in 1..max {
            match self.receiver.try_recv() {
                Ok(item) => keep(item),
                Err(_) => break,
            }
        }
        if !self.receiver.is_empty() {
            self.shared.readiness.signal();
        }
        Some(batch)
    }
}

impl EventReceiver {
    /// Waits for the next event without blocking a thread, for a consumer that runs on the
    /// runtime itself (the asyncio client's dispatcher); `None` once the client is gone.
    /// As in `recv_batch`, the end of a connection that was replaced is not reported.
    pub async fn next_event(&mut self) -> Option<Event> {
        loop {
            let (generation, event) = self.receiver.recv().await?;
            if matches!(event, Event::Disconnected(_))
                && generation != lock(&self.shared).generation
            {
                continue;
            }
            return Some(event);
        }
    }

    /// Events queued and not yet taken (at most `EVENT_CAPACITY`).
    pub fn queued(&self) -> usize {
        self.receiver.len()
    }
}

/// paho's log line for a packet ("Sending PUBLISH (d0, q1, r0, m3), 'a/b', ... (5 bytes)").
pub(super) fn describe(packet: &Packet, sending: bool) -> String {
    let verb = if sending { "Sending" } else { "Received" };
    match packet {
        Packet::Publish(p) => format!(
            "{verb} PUBLISH (d{}, q{}, r{}, m{}), '{}', ... ({} bytes)",
            u8::from(p.dup),
            p.qos.as_u8(),
            u8::from(p.retain),
            p.packet_id,
            p.topic,
            p.payload.len()
        ),
        Packet::Connect(c) => format!(
            "{verb} CONNECT (u{}, p{}, wr{}, wq{}, wf{}, c{}, k{}) client_id={}",
            u8::from(c.username.is_some()),
            u8::from(c.password.is_some()),
            u8::from(c.will.as_ref().is_some_and(|w| w.retain)),
            c.will.as_ref().map_or(0, |w| w.qos.as_u8()),
            u8::from(c.will.is_some()),
            u8::from(c.clean_start),
            c.keep_alive,
            c.client_id
        ),
        Packet::ConnAck(c) => format!(
            "{verb} CONNACK ({}, {:?})",
            u8::from(c.session_present),
            c.reason_code
        ),
        Packet::PubAck(r) => format!("{verb} PUBACK (Mid: {})", r.packet_id),
        Packet::PubRec(r) => format!("{verb} PUBREC (Mid: {})", r.packet_id),
        Packet::PubRel(r) => format!("{verb} PUBREL (Mid: {})", r.packet_id),
        Packet::PubComp(r) => format!("{verb} PUBCOMP (Mid: {})", r.packet_id),
        Packet::Subscribe(s) => format!(
            "{verb} SUBSCRIBE (d0, m{}) {:?}",
            s.packet_id, s.subscriptions
        ),
        Packet::SubAck(_) => format!("{verb} SUBACK"),
        Packet::Unsubscribe(u) => {
            format!("{verb} UNSUBSCRIBE (d0, m{}) {:?}", u.packet_id, u.filters)
        }
        Packet::UnsubAck(u) => format!("{verb} UNSUBACK (Mid: {})", u.packet_id),
        Packet::PingReq => format!("{verb} PINGREQ"),
        Packet::PingResp => format!("{verb} PINGRESP"),
        Packet::Disconnect(d) => format!("{verb} DISCONNECT {:?}", d.reason_code),
        Packet::Auth(_) => format!("{verb} AUTH"),
    }
}
