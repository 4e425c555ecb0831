//! How commands reach the router. The router's state sits behind a lock that its task and
//! the senders share: a sender that finds the router free and nothing queued before it
//! handles its command in place (a lone PUBLISH goes from the publisher's task straight
//! into the subscribers' queues, with no hop through the router's task); otherwise the
//! command joins the queue, which the task works through in order. The messages of a
//! burst are always queued: the task takes them in batches, under one lock, while the
//! connection goes on reading.
//!
//! Order is kept per sender: a command is handled in place only when no queued command is
//! still unhandled (`queued` counts them until the task has handled each, under the lock),
//! so nothing a sender queued earlier can be overtaken by what it sends next.

use super::{Router, RouterCommand};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use tokio::sync::mpsc::error::{SendError, TrySendError};
use tokio::sync::{mpsc, Notify};
use tokio::time::{sleep_until, Instant};

/// Commands handled per turn of the router's task.
const BATCH: usize = 64;

/// A sender of `RouterCommand`s (cheap to clone; one per broker part that talks to it).
#[derive(Clone)]
pub struct RouterHandle {
    inbox: mpsc::Sender<RouterCommand>,
    /// None for a handle that only queues (tests of the connection task).
    state: Option<Arc<Shared>>,
}

struct Shared {
    state: Mutex<State>,
    /// Commands sent to the queue and not yet handled.
    queued: AtomicUsize,
    /// Rung when a command handled in place set an earlier timer than the task sleeps to.
    timers_changed: Notify,
}

struct State {
    router: Router,
    /// Set once the router has stopped (`Shutdown`): nothing is handled after it.
    stopped: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The router does not panic on any input; if it ever did, its state is still
        // consistent enough to serve the others rather than stop every connection.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl RouterHandle {
    /// The handle and the router's task (to spawn), with room for `capacity` queued
    /// commands.
    pub fn new(router: Router, capacity: usize) -> (RouterHandle, impl Future<Output = ()>) {
        let (inbox, commands) = mpsc::channel(capacity);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                router,
                stopped: false,
            }),
            queued: AtomicUsize::new(0),
            timers_changed: Notify::new(),
        });
        let handle = RouterHandle {
            inbox,
            state: Some(shared.clone()),
        };
        (handle, run(shared, commands))
    }

    /// A handle whose commands only queue, and the queue (for tests).
    #[cfg(test)]
    pub fn queue_only(capacity: usize) -> (RouterHandle, mpsc::Receiver<RouterCommand>) {
        let (inbox, commands) = mpsc::channel(capacity);
        (RouterHandle { inbox, state: None }, commands)
    }

    /// Handles `command` now if the router is free and nothing is queued, else queues it
    /// (waiting for room). Err when the router has ended.
    ///
    /// The command is handled in place at the call, not at the first poll: the future then
    /// holds it once, only while it waits for room (every connection's read path holds
    /// this future, and so does the handshake of each new connection).
    pub fn send(
        &self,
        command: RouterCommand,
    ) -> impl Future<Output = Result<(), SendError<RouterCommand>>> + Send + '_ {
        let unhandled = self.handle_in_place(command);
        self.enqueue(unhandled)
    }

    /// Queues `command` (waiting for room) without handling it here: for the messages of a
    /// burst, which the router's task takes in batches.
    pub fn queue(
        &self,
        command: RouterCommand,
    ) -> impl Future<Output = Result<(), SendError<RouterCommand>>> + Send + '_ {
        self.enqueue(Some(command))
    }

    /// Queues `command`, if any, once the queue has room. The command stays where it was
    /// captured until the permit is in hand: `Sender::send` would hold a second copy, and so
    /// would an `async fn`, which moves its arguments into locals of its own.
    #[allow(clippy::manual_async_fn)] // the point: see above
    fn enqueue(
        &self,
        command: Option<RouterCommand>,
    ) -> impl Future<Output = Result<(), SendError<RouterCommand>>> + Send + '_ {
        async move {
            if command.is_none() {
                return Ok(());
            }
            let counted = self.count_queued();
            // The wait for room, rare, is boxed: this future is part of every read's.
            let permit = match self.inbox.try_reserve() {
                Ok(permit) => Ok(permit),
                Err(TrySendError::Full(())) => Box::pin(self.inbox.reserve()).await,
                Err(TrySendError::Closed(())) => Err(SendError(())),
            };
            match (permit, command) {
                (Ok(permit), Some(command)) => {
                    permit.send(command);
                    counted.settle(true);
                    Ok(())
                }
                (Err(_), Some(command)) => Err(SendError(command)),
                (_, None) => Ok(()),
            }
        }
    }

    /// Queues `command` if there is room, without waiting and without handling it here
    /// (for callers that must never block, such as `Drop`); false if it was not queued.
    pub fn try_send(&self, command: RouterCommand) -> bool {
        let counted = self.count_queued();
        let sent = self.inbox.try_send(command).is_ok();
        counted.settle(sent);
        sent
    }

    /// Some(command) back when it must be queued instead.
    fn handle_in_place(&self, command: RouterCommand) -> Option<RouterCommand> {
        let Some(shared) = &self.state else {
            return Some(command);
        };
        if matches!(command, RouterCommand::Shutdown(_))
            || shared.queued.load(Ordering::Acquire) != 0
        {
            return Some(command);
        }
        let mut state = match shared.state.try_lock() {
            Ok(state) => state,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return Some(command),
        };
        // Checked again under the lock: the task counts a command down once handled.
        if state.stopped || shared.queued.load(Ordering::Acquire) != 0 {
            return Some(command);
        }
        let before = state.router.next_timer();
        state.router.handle(command, Instant::now());
        let after = state.router.next_timer();
        drop(state);
        if let Some(after) = after {
            if before.is_none_or(|before| after < before) {
                shared.timers_changed.notify_one();
            }
        }
        None
    }

    fn count_queued(&self) -> QueuedCount<'_> {
        let queued = self.state.as_deref().map(|shared| &shared.queued);
        if let Some(queued) = queued {
            queued.fetch_add(1, Ordering::AcqRel);
        }
        QueuedCount {
            queued,
            settled: false,
        }
    }
}

/// One command counted in `queued` while it is being sent: uncounted again if it never
/// reached the queue (refused, or the sending future dropped while it waited for room).
struct QueuedCount<'a> {
    queued: Option<&'a AtomicUsize>,
    settled: bool,
}

impl QueuedCount<'_> {
    fn settle(mut self, reached_queue: bool) {
        self.settled = reached_queue;
    }
}

impl Drop for QueuedCount<'_> {
    fn drop(&mut self) {
        if !self.settled {
            if let Some(queued) = self.queued {
                queued.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }
}

/// The router's task: handles queued commands in order and fires its timers, until every
/// handle is gone or `Shutdown` arrives.
async fn run(shared: Arc<Shared>, mut commands: mpsc::Receiver<RouterCommand>) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut next_timer = shared.lock().router.next_timer();
    // One registration with the `Notify`, renewed only when it fires.
    let mut timers_changed = std::pin::pin!(shared.timers_changed.notified());
    loop {
        tokio::select! {
            received = commands.recv_many(&mut batch, BATCH) => {
                if received == 0 {
                    break;
                }
                let mut state = shared.lock();
                for command in batch.drain(..) {
                    if let RouterCommand::Shutdown(done) = command {
                        state.router.settle();
                        state.stopped = true;
                        let _ = done.send(());
                        return;
                    }
                    state.router.handle(command, Instant::now());
                }
                // Under the lock, so no sender sees the batch half counted down.
                shared.queued.fetch_sub(received, Ordering::AcqRel);
                next_timer = state.router.next_timer();
            }
            _ = sleep_until(next_timer.unwrap_or_else(Instant::now)), if next_timer.is_some() => {
                let mut state = shared.lock();
                state.router.fire_timers(Instant::now());
                next_timer = state.router.next_timer();
            }
            _ = timers_changed.as_mut() => {
                timers_changed.set(shared.timers_changed.notified());
                next_timer = shared.lock().router.next_timer();
            }
        }
    }
    let mut state = shared.lock();
    state.router.settle();
    state.stopped = true;
}

#[cfg(test)]
mod tests {
    use super::super::observe::Query;
    use super::*;
    use crate::broker::auth::AllowAll;
    use crate::broker::config::BrokerConfig;
    use crate::broker::queue::Message;
    use crate::broker::stats::Counters;
    use crate::protocol::{Properties, QoS, TopicName};
    use bytes::Bytes;
    use std::mem::{size_of, size_of_val};
    use std::time::Duration;
    use tokio::sync::oneshot;

    fn router_handle() -> (RouterHandle, impl Future<Output = ()>) {
        let config = BrokerConfig {
            sys_interval: 0,
            ..BrokerConfig::default()
        };
        let router = Router::new(
            Arc::new(config),
            Arc::new(Counters::new()),
            Arc::new(AllowAll),
        );
        RouterHandle::new(router, 16)
    }

    fn retain(topic: &str, payload: &'static [u8]) -> RouterCommand {
        RouterCommand::Publish {
            session: 0,
            message: Message {
                topic: TopicName::new(topic).unwrap(),
                payload: Bytes::from_static(payload),
                qos: QoS::AtMostOnce,
                retain: true,
                properties: Properties::new(),
                expires_at: None,
                publisher: None,
            },
            ack: None,
        }
    }

    fn ask_retained() -> (RouterCommand, oneshot::Receiver<Vec<(String, Bytes)>>) {
        let (reply, answer) = oneshot::channel();
        (RouterCommand::Observe(Query::Retained(reply)), answer)
    }

    fn stored(topic: &str, payload: &'static [u8]) -> Vec<(String, Bytes)> {
        vec![(topic.to_owned(), Bytes::from_static(payload))]
    }

    #[tokio::test]
    async fn a_free_router_handles_a_command_where_it_is_sent() {
        // The router's task never runs here: only handling in place can answer.
        let (router, _task) = router_handle();
        router.send(retain("a", b"1")).await.unwrap();
        let (question, mut answer) = ask_retained();
        router.send(question).await.unwrap();
        assert_eq!(answer.try_recv().unwrap(), stored("a", b"1"));
    }

    #[tokio::test]
    async fn a_command_sent_after_queued_ones_waits_behind_them() {
        let (router, task) = router_handle();
        router.queue(retain("a", b"1")).await.unwrap();
        let (question, mut answer) = ask_retained();
        router.send(question).await.unwrap();
        assert!(
            answer.try_recv().is_err(),
            "answered before the queued PUBLISH was handled"
        );
        tokio::spawn(task);
        assert_eq!(answer.await.unwrap(), stored("a", b"1"));
    }

    #[tokio::test]
    async fn a_command_that_is_never_queued_is_not_counted() {
        let (router, _task) = router_handle();
        {
            // Dropped while it waits for room in a full queue.
            let (full, _commands) = mpsc::channel(1);
            let blocked = RouterHandle {
                inbox: full,
                state: router.state.clone(),
            };
            blocked.queue(retain("x", b"0")).await.unwrap();
            let waiting = blocked.queue(retain("x", b"1"));
            assert!(tokio::time::timeout(Duration::from_millis(10), waiting)
                .await
                .is_err());
        }
        let queued = router
            .state
            .as_ref()
            .unwrap()
            .queued
            .load(Ordering::Acquire);
        assert_eq!(queued, 1, "only the command that reached a queue counts");
    }

    /// The future of a command on its way to the queue holds the command once and little
    /// else (the rare wait for room is boxed): it is part of every connection's read path
    /// and of every handshake. `Sender::send` alone holds the command and the wait.
    #[tokio::test]
    async fn a_queued_command_is_held_once() {
        let (router, _commands) = RouterHandle::queue_only(1);
        let bound = size_of::<RouterCommand>() + 96;
        let queued = size_of_val(&router.queue(retain("a", b"1")));
        assert!(queued <= bound, "{queued} bytes");
        let sent = size_of_val(&router.send(retain("a", b"1")));
        assert!(sent <= bound, "{sent} bytes");
        let plain = size_of_val(&router.inbox.send(retain("a", b"1")));
        assert!(
            plain > bound,
            "tokio's send is {plain} bytes: the bound proves nothing"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_timer_set_in_place_wakes_the_routers_task() {
        let (router, task) = router_handle();
        tokio::spawn(task);
        // The task now sleeps with no timer to wait for.
        tokio::task::yield_now().await;
        router.send(retain("$delayed/5/later", b"x")).await.unwrap();
        for (wait, expected) in [(0, vec![]), (6, stored("later", b"x"))] {
            tokio::time::sleep(Duration::from_secs(wait)).await;
            let (question, answer) = ask_retained();
            router.send(question).await.unwrap();
            assert_eq!(answer.await.unwrap(), expected, "after {wait} s");
        }
    }
}
