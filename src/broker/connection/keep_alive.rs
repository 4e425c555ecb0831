//! Keep-alive deadlines of every connection of a broker, served by one timer task instead
//! of a tokio `Sleep` per connection: a `Sleep` is a 112-byte allocation that every idle
//! connection would hold, an entry here is a key and a waker in a shared B-tree.
//!
//! A connection registers the deadline it waits for and is woken once it has passed; it
//! then checks its session's real deadline (packets since may have pushed it back) and
//! registers again. Registering again only when the registered deadline has passed keeps
//! the lock off the path of every packet.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::task::Waker;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;

/// A deadline as whole milliseconds after `KeepAliveTimers::base`, rounded up (so a
/// connection is never woken before its deadline), then the connection id: 16 bytes
/// against an `Instant`'s 24 with the id, in an entry per idle connection.
type Key = (u64, u64);

/// The registered deadlines: (deadline, connection id) -> the connection task's waker.
pub struct KeepAliveTimers {
    base: Instant,
    // std Mutex, not tokio: held for one insert, removal or pop, never across .await.
    deadlines: Mutex<BTreeMap<Key, Waker>>,
    /// Wakes the timer task when a deadline earlier than every other one is added.
    earlier: Notify,
}

impl KeepAliveTimers {
    pub fn new() -> KeepAliveTimers {
        KeepAliveTimers {
            base: Instant::now(),
            deadlines: Mutex::default(),
            earlier: Notify::new(),
        }
    }

    fn key(&self, deadline: Instant, connection_id: u64) -> Key {
        let after = deadline.saturating_duration_since(self.base);
        let millis = after.as_millis() + u128::from(after.subsec_nanos() % 1_000_000 != 0);
        (u64::try_from(millis).unwrap_or(u64::MAX), connection_id)
    }

    fn instant(&self, key: Key) -> Instant {
        self.base + Duration::from_millis(key.0)
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<Key, Waker>> {
        // A panic while holding this lock cannot leave the map inconsistent.
        self.deadlines.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes `waker` once `deadline` has passed, in place of `previous` (if any).
    pub fn register(
        &self,
        connection_id: u64,
        deadline: Instant,
        previous: Option<Instant>,
        waker: &Waker,
    ) {
        let key = self.key(deadline, connection_id);
        let previous = previous.map(|previous| self.key(previous, connection_id));
        let mut deadlines = self.lock();
        if let Some(previous) = previous {
            deadlines.remove(&previous);
        }
        let is_first = deadlines
            .first_key_value()
            .is_none_or(|(first, _)| key.0 < first.0);
        deadlines.insert(key, waker.clone());
        drop(deadlines);
        if is_first {
            self.earlier.notify_one();
        }
    }

    /// Forgets a connection's deadline (it ended).
    pub fn cancel(&self, connection_id: u64, deadline: Instant) {
        let key = self.key(deadline, connection_id);
        self.lock().remove(&key);
    }

    /// Wakes the connections whose deadline has passed; returns the next deadline.
    fn wake_due(&self, now: Instant) -> Option<Instant> {
        let mut due = Vec::new();
        let mut deadlines = self.lock();
        while let Some(entry) = deadlines.first_entry() {
            if self.instant(*entry.key()) > now {
                break;
            }
            due.push(entry.remove());
        }
        let next = deadlines
            .first_key_value()
            .map(|(key, _)| self.instant(*key));
        drop(deadlines);
        // Woken after unlocking: a waker may run its task at once on another thread.
        due.into_iter().for_each(Waker::wake);
        next
    }

    /// The timer task: runs until `token` is cancelled.
    pub async fn run(&self, token: CancellationToken) {
        loop {
            // Enabled before looking, so a registration meanwhile is not missed.
            let earlier = self.earlier.notified();
            tokio::pin!(earlier);
            earlier.as_mut().enable();
            let next = self.wake_due(Instant::now());
            tokio::select! {
                _ = token.cancelled() => return,
                _ = &mut earlier => {}
                _ = sleep_until(next.unwrap_or_else(Instant::now)), if next.is_some() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Timers with their task running; cancel the token to end it.
    fn started() -> (
        Arc<KeepAliveTimers>,
        CancellationToken,
        tokio::task::JoinHandle<()>,
    ) {
        let timers = Arc::new(KeepAliveTimers::new());
        let token = CancellationToken::new();
        let runner = tokio::spawn({
            let timers = timers.clone();
            let token = token.clone();
            async move { timers.run(token).await }
        });
        (timers, token, runner)
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_is_woken_at_its_deadline_and_not_before() {
        let (timers, token, runner) = started();
        let start = Instant::now();
        let deadline = start + Duration::from_secs(90);
        let woken = std::future::poll_fn(|cx| {
            if Instant::now() >= deadline {
                return std::task::Poll::Ready(Instant::now());
            }
            timers.register(7, deadline, Some(deadline), cx.waker());
            std::task::Poll::Pending
        })
        .await;
        assert_eq!(woken, deadline);
        assert!(timers.lock().is_empty(), "the entry is gone once it fired");
        token.cancel();
        runner.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn an_earlier_deadline_registered_later_is_not_missed() {
        let (timers, token, runner) = started();
        let start = Instant::now();
        let late = start + Duration::from_secs(600);
        let early = start + Duration::from_secs(5);
        let waker = futures_noop_waker();
        timers.register(1, late, None, &waker);
        tokio::task::yield_now().await;
        let woken = std::future::poll_fn(|cx| {
            if Instant::now() >= early {
                return std::task::Poll::Ready(Instant::now());
            }
            timers.register(2, early, Some(early), cx.waker());
            std::task::Poll::Pending
        })
        .await;
        assert_eq!(woken, early);
        timers.cancel(1, late);
        assert!(timers.lock().is_empty());
        token.cancel();
        runner.await.unwrap();
    }

    fn futures_noop_waker() -> Waker {
        Waker::noop().clone()
    }
}
