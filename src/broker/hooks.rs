//! Hooks: questions and notices for the application that embeds the broker (the Python
//! `Broker`'s callables, implemented in `src/python/hooks.rs`). They add to the
//! [`Authenticator`](super::auth::Authenticator): the files decide first, a hook can only
//! refuse further. Questions run on the hooks' own worker threads and are awaited by the
//! asking client's connection task, never by the router; a busy worker never takes a
//! second question while it is free-standing workers are missing (the pool grows), so a
//! slow hook holds up only the client that waits for it. Notices run in order on one
//! thread of their own and nobody waits for them.

use super::auth::Access;
use super::session::CloseReason;
use crate::protocol::{Properties, ProtocolVersion, QoS, ReasonCode, TopicName};
use bytes::Bytes;
use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::ThreadId;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// Notices waiting for the notice thread; when full, connecting and disconnecting clients
/// wait for room (only they: other clients' traffic does not pass through here).
const NOTICE_QUEUE: usize = 1024;
/// Most question workers at once: past this many hooks blocked together, questions queue.
const MAX_WORKERS: usize = 256;
/// A worker with nothing to do for this long ends (the pool shrinks back).
const WORKER_IDLE: Duration = Duration::from_secs(10);

/// Which hooks are set. Read before every use, so hooks may be set or cleared while the
/// broker runs; a hook that is not set costs nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HookSet {
    pub authenticate: bool,
    pub authorize: bool,
    pub on_message: bool,
    pub on_client_connected: bool,
    pub on_client_disconnected: bool,
}

/// The client a hook is asked about.
#[derive(Clone, Debug)]
pub struct HookClient {
    /// The client id in use (an assigned one when the client sent an empty id).
    pub client_id: Arc<str>,
    /// The CONNECT's username, or the certificate's CN with `use_identity_as_username`.
    pub username: Option<Arc<str>>,
    /// `None` on a Unix socket.
    pub address: Option<SocketAddr>,
    pub version: ProtocolVersion,
}

/// A PUBLISH as `on_message` sees and may change it. `properties` are those forwarded to
/// subscribers (no Topic Alias, Subscription Identifier or Message Expiry Interval).
#[derive(Clone, Debug, PartialEq)]
pub struct HookMessage {
    pub topic: TopicName,
    pub payload: Bytes,
    pub qos: QoS,
    pub retain: bool,
    pub properties: Properties,
}

/// What `on_message` decided.
#[derive(Debug, PartialEq)]
pub enum MessageVerdict {
    /// Route this message (the one received, or a changed one).
    Route(HookMessage),
    /// Drop it silently: a QoS 1/2 publisher is acknowledged with success.
    Drop,
    /// Drop it and tell an MQTT 5 publisher this reason (3.x publishers get success).
    Refuse(ReasonCode),
}

/// The application's hooks. Every method may block (it runs on a blocking thread); a
/// question that fails must answer with a refusal, never panic.
pub trait Hooks: Send + Sync + 'static {
    fn installed(&self) -> HookSet;

    /// After the password file allowed the CONNECT: `Ok` lets the client in, `Err` is the
    /// CONNACK reason (a failure code valid for CONNACK; 3.x clients get its 3.x code).
    fn authenticate(&self, client: &HookClient, password: Option<&[u8]>) -> Result<(), ReasonCode>;

    /// After the ACL file allowed it: whether the client may publish to a topic name
    /// ([`Access::Write`], will messages included) or subscribe with a topic filter
    /// ([`Access::Subscribe`]). Deliveries ([`Access::Read`]) are never asked.
    fn authorize(&self, client: &HookClient, access: Access, topic: &str) -> bool;

    /// Every PUBLISH the client sent and the files allowed, before it is routed or
    /// retained.
    fn on_message(&self, client: &HookClient, message: HookMessage) -> MessageVerdict;

    /// The client was accepted (its CONNACK is on its way).
    fn on_client_connected(&self, client: &HookClient);

    /// The client's connection ended.
    fn on_client_disconnected(&self, client: &HookClient, reason: &CloseReason);

    /// Runs several hook calls made one after the other by one question (an
    /// implementation may take its interpreter lock once around all of them).
    fn batch(&self, calls: &mut dyn FnMut()) {
        calls()
    }

    /// Runs a hook thread's whole life (`work` returns when the thread is to end). An
    /// implementation may wrap it, e.g. to keep per-thread interpreter state from one
    /// call to the next instead of creating it per call.
    fn run_worker(&self, work: &mut (dyn FnMut() + Send)) {
        work()
    }
}

/// A short name for why a connection ended, as `on_client_disconnected` gets it.
pub fn close_reason_name(reason: &CloseReason) -> &'static str {
    match reason {
        CloseReason::ClientDisconnect { .. } => "disconnected",
        CloseReason::ProtocolError(_) => "protocol error",
        CloseReason::KeepAliveTimeout => "keep alive timeout",
        CloseReason::ConnectionLost => "connection lost",
        CloseReason::TakenOver => "taken over",
        CloseReason::ServerShutdown => "server shutting down",
    }
}

enum Notice {
    Connected(HookClient),
    Disconnected(HookClient, CloseReason),
    /// Answered once every notice before it has been handled.
    Flush(oneshot::Sender<()>),
}

type Job = Box<dyn FnOnce() + Send>;

/// The question workers: a thread per question being answered, reused while questions
/// keep coming. std Mutex and Condvar: held only to take or put a job, never across a
/// hook call or an .await.
struct Workers {
    state: Mutex<WorkerState>,
    wake: Condvar,
}

#[derive(Default)]
struct WorkerState {
    jobs: VecDeque<Job>,
    threads: usize,
    /// Workers waiting for a job (each takes at most one queued job per wake-up).
    idle: usize,
    closed: bool,
}

impl Workers {
    /// Queues `job`, starting a worker unless an idle one is there for it.
    fn submit(self: &Arc<Self>, hooks: &Arc<dyn Hooks>, job: Job) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.jobs.push_back(job);
        let start = state.jobs.len() > state.idle && state.threads < MAX_WORKERS;
        if start {
            state.threads += 1;
        }
        drop(state);
        self.wake.notify_one();
        if start {
            let workers = self.clone();
            let hooks = hooks.clone();
            let spawned = std::thread::Builder::new()
                .name("ferromqtt-hook".into())
                .spawn(move || hooks.run_worker(&mut || workers.work()));
            if let Err(error) = spawned {
                log::error!("Cannot start a broker hook thread: {error}");
                let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                state.threads -= 1;
            }
        }
    }

    /// A worker's life: answer queued questions until idle for `WORKER_IDLE`.
    fn work(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(job) = state.jobs.pop_front() {
                drop(state);
                // A hook that panics fails its one question (the caller refuses).
                let _ = catch_unwind(AssertUnwindSafe(job));
                state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                continue;
            }
            if state.closed {
                break;
            }
            state.idle += 1;
            let (next, waited) = self
                .wake
                .wait_timeout(state, WORKER_IDLE)
                .unwrap_or_else(|e| e.into_inner());
            state = next;
            state.idle -= 1;
            if waited.timed_out() && state.jobs.is_empty() {
                break;
            }
        }
        state.threads -= 1;
    }
}

/// The hooks of one broker: its question workers, and the thread that delivers its
/// notices in order.
pub struct BrokerHooks {
    hooks: Arc<dyn Hooks>,
    workers: Arc<Workers>,
    notices: OnceLock<NoticeThread>,
}

struct NoticeThread {
    sender: mpsc::Sender<Notice>,
    thread: Option<ThreadId>,
}

fn deliver(hooks: &dyn Hooks, notice: Notice) {
    match notice {
        Notice::Connected(client) => {
            if hooks.installed().on_client_connected {
                hooks.on_client_connected(&client);
            }
        }
        Notice::Disconnected(client, reason) => {
            if hooks.installed().on_client_disconnected {
                hooks.on_client_disconnected(&client, &reason);
            }
        }
        Notice::Flush(done) => {
            let _ = done.send(());
        }
    }
}

impl Drop for BrokerHooks {
    fn drop(&mut self) {
        // Idle workers end now rather than after WORKER_IDLE.
        let mut state = self.workers.state.lock().unwrap_or_else(|e| e.into_inner());
        state.closed = true;
        drop(state);
        self.workers.wake.notify_all();
    }
}

impl BrokerHooks {
    /// The hooks of a broker; threads start when first needed.
    pub fn new(hooks: Arc<dyn Hooks>) -> BrokerHooks {
        BrokerHooks {
            hooks,
            workers: Arc::new(Workers {
                state: Mutex::new(WorkerState::default()),
                wake: Condvar::new(),
            }),
            notices: OnceLock::new(),
        }
    }

    /// The notice thread's inbox, starting the thread on first use (a broker without
    /// notice hooks has none); it ends when the broker's last reference goes.
    fn notices(&self) -> &NoticeThread {
        self.notices.get_or_init(|| {
            let (sender, mut inbox) = mpsc::channel::<Notice>(NOTICE_QUEUE);
            let hooks = self.hooks.clone();
            let spawned = std::thread::Builder::new()
                .name("ferromqtt-hooks".into())
                .spawn(move || {
                    hooks.run_worker(&mut || {
                        while let Some(notice) = inbox.blocking_recv() {
                            deliver(&*hooks, notice);
                        }
                    });
                });
            let thread = match spawned {
                Ok(handle) => Some(handle.thread().id()),
                Err(error) => {
                    // Without the thread notices are dropped; questions still work.
                    log::error!("Cannot start the broker hooks' notice thread: {error}");
                    None
                }
            };
            NoticeThread { sender, thread }
        })
    }

    /// Asks the hooks `question` on a worker thread and waits for the answer, or for the
    /// broker to stop (`None`, as when the hook panicked: the caller refuses).
    pub async fn ask<T, F>(&self, token: &CancellationToken, question: F) -> Option<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Hooks) -> T + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let hooks = self.hooks.clone();
        self.workers.submit(
            &self.hooks,
            Box::new(move || {
                let _ = reply.send(question(&*hooks));
            }),
        );
        tokio::select! {
            answer = answer => answer.ok(),
            _ = token.cancelled() => None,
        }
    }

    pub fn installed(&self) -> HookSet {
        self.hooks.installed()
    }

    pub async fn connected(&self, client: HookClient) {
        if self.installed().on_client_connected {
            let _ = self.notices().sender.send(Notice::Connected(client)).await;
        }
    }

    pub async fn disconnected(&self, client: HookClient, reason: CloseReason) {
        if self.installed().on_client_disconnected {
            let _ = self
                .notices()
                .sender
                .send(Notice::Disconnected(client, reason))
                .await;
        }
    }

    /// Waits (at most `limit`) until the notices sent so far have been delivered. Returns
    /// at once when called from a notice itself, which would otherwise wait for itself.
    pub fn flush(&self, limit: Duration) -> impl Future<Output = ()> + Send + 'static {
        let notices = self.notices.get().map(|notices| {
            let on_notice_thread = notices.thread == Some(std::thread::current().id());
            (notices.sender.clone(), on_notice_thread)
        });
        async move {
            let Some((notices, false)) = notices else {
                return; // no notice sent yet, or called from a notice
            };
            let (done, delivered) = oneshot::channel();
            let _ = tokio::time::timeout(limit, async {
                if notices.send(Notice::Flush(done)).await.is_ok() {
                    let _ = delivered.await;
                }
            })
            .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hooks that allow everything; the questions below bring their own behaviour.
    struct AllowAll;

    impl Hooks for AllowAll {
        fn installed(&self) -> HookSet {
            HookSet::default()
        }
        fn authenticate(&self, _: &HookClient, _: Option<&[u8]>) -> Result<(), ReasonCode> {
            Ok(())
        }
        fn authorize(&self, _: &HookClient, _: Access, _: &str) -> bool {
            true
        }
        fn on_message(&self, _: &HookClient, message: HookMessage) -> MessageVerdict {
            MessageVerdict::Route(message)
        }
        fn on_client_connected(&self, _: &HookClient) {}
        fn on_client_disconnected(&self, _: &HookClient, _: &CloseReason) {}
    }

    const LIMIT: Duration = Duration::from_secs(10);

    #[tokio::test]
    async fn a_blocked_question_does_not_hold_up_the_next_one() {
        let hooks = BrokerHooks::new(Arc::new(AllowAll));
        let token = CancellationToken::new();
        let (entered, has_entered) = oneshot::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let slow = hooks.ask(&token, move |_| {
            let _ = entered.send(());
            released.recv_timeout(LIMIT).is_ok()
        });
        tokio::pin!(slow);
        tokio::select! {
            _ = &mut slow => panic!("the slow question was answered before its release"),
            _ = has_entered => {}
        }
        let fast = tokio::time::timeout(LIMIT, hooks.ask(&token, |_| 42)).await;
        assert_eq!(fast.ok(), Some(Some(42)));
        release.send(()).unwrap();
        assert_eq!(slow.await, Some(true));
    }

    #[tokio::test]
    async fn a_panicking_hook_fails_its_question_and_the_workers_carry_on() {
        let hooks = BrokerHooks::new(Arc::new(AllowAll));
        let token = CancellationToken::new();
        let failed: Option<u8> = hooks.ask(&token, |_| panic!("hook bug")).await;
        assert_eq!(failed, None);
        assert_eq!(hooks.ask(&token, |_| 7).await, Some(7));
    }

    #[tokio::test]
    async fn stopping_the_broker_ends_the_wait_for_an_answer() {
        let hooks = BrokerHooks::new(Arc::new(AllowAll));
        let token = CancellationToken::new();
        let (release, released) = std::sync::mpsc::channel::<()>();
        token.cancel();
        let answer = hooks
            .ask(&token, move |_| released.recv_timeout(LIMIT).is_ok())
            .await;
        assert_eq!(answer, None);
        release.send(()).unwrap();
    }
}
