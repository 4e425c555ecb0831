//! The idle wait: what a connection with nothing to do waits for (readable socket, its
//! queue's wake-up, room in a subscriber's queue while reading is paused, the keep-alive
//! deadline), polled by hand over state the task owns so an idle connection costs little.
//! Releases the buffers when it goes idle and handles the keep-alive timeout.

use super::ConnectionTask;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::time::Instant;

/// What the idle wait keeps from one turn of `serve` to the next. It lives in the task's
/// future, not in `ConnectionTask`: tokio rounds a task up to a multiple of 128 bytes and
/// this fits in what the rounding leaves of the future's cell.
#[derive(Default)]
pub(super) struct IdleWait {
    /// While a publisher waits for room in a subscriber's queue: that wait.
    pub(super) room: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    /// The deadline registered with the broker's `KeepAliveTimers`, if any.
    pub(super) keep_alive_registered: Option<Instant>,
}

/// What ended an idle wait.
pub(super) enum Wake {
    Readable,
    Lost,
    Timer,
    Other,
}

impl ConnectionTask {
    /// Decides what the idle wait below waits for; false when there is work to do first.
    pub(super) fn prepare_idle_wait(&mut self, idle: &mut IdleWait) -> bool {
        let blocked = self.blocked_on();
        if blocked.is_none() && self.front_ack_is_due() {
            // The queues it waited for made room after `send_ready_acks` looked: send
            // it now, or a publisher whose window is full would wait for nothing.
            return false;
        }
        if blocked.is_none() && self.was_blocked {
            // We stopped reading, so the client's silence meanwhile was ours.
            self.session.touch(Instant::now());
        }
        self.was_blocked = blocked.is_some();
        // Only a paused connection allocates the wait for room.
        idle.room = blocked.map(|q| -> Pin<Box<dyn Future<Output = ()> + Send>> {
            Box::pin(async move { q.wait_for_room().await })
        });
        true
    }

    /// The idle wait, in order of priority. A plain poll over state the task owns: this
    /// future is part of every idle connection's memory.
    pub(super) fn poll_idle(&mut self, idle: &mut IdleWait, cx: &mut Context<'_>) -> Poll<Wake> {
        if idle.room.is_none() {
            // Reading pauses while a publisher waits for room (backpressure).
            if let Poll::Ready(ready) = self.io.stream.poll_read_ready(cx) {
                return Poll::Ready(if ready.is_err() {
                    Wake::Lost
                } else {
                    Wake::Readable
                });
            }
        }
        if self.queue.poll_woken(cx).is_ready() {
            return Poll::Ready(Wake::Other);
        }
        if poll_optional(&mut idle.room, cx).is_ready() {
            return Poll::Ready(Wake::Other);
        }
        // No keep-alive while reading is paused: the silence would be ours.
        if idle.room.is_none()
            && self
                .poll_keep_alive(&mut idle.keep_alive_registered, cx)
                .is_ready()
        {
            return Poll::Ready(Wake::Timer);
        }
        if self.more_pending {
            return Poll::Ready(Wake::Other);
        }
        // Going idle: an idle connection keeps no buffer.
        self.io.release_idle_buffers();
        Poll::Pending
    }

    /// Ready once the session's keep-alive deadline has passed; until then the broker's
    /// timer task holds a deadline no later than it, to wake this task.
    fn poll_keep_alive(&self, registered: &mut Option<Instant>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(deadline) = self.session.next_deadline() else {
            return Poll::Pending;
        };
        let now = Instant::now();
        if now >= deadline {
            return Poll::Ready(());
        }
        // Packets since the registration only push the deadline back: an earlier wake-up
        // is checked here and registered again, so busy connections never take the lock.
        let registered_in_time = registered.is_some_and(|at| now < at && at <= deadline);
        if !registered_in_time {
            let timers = &self.io.shared.keep_alive;
            timers.register(self.io.connection_id, deadline, *registered, cx.waker());
            *registered = Some(deadline);
        }
        Poll::Pending
    }

    pub(super) async fn handle_keep_alive_timeout(&mut self) {
        let mut actions = Vec::new();
        self.session.handle_timeout(Instant::now(), &mut actions);
        self.apply_actions(&mut actions).await;
    }
}

/// Polls an optional future; a missing one never completes.
fn poll_optional<F: Future + Unpin>(future: &mut Option<F>, cx: &mut Context<'_>) -> Poll<()> {
    match future {
        Some(future) => Pin::new(future).poll(cx).map(|_| ()),
        None => Poll::Pending,
    }
}
