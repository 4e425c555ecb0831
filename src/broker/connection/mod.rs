//! The `ConnectionTask`: the only broker code that awaits a socket. It reads bytes, lets
//! `protocol` decode them and the `Session` decide, sends `RouterCommand`s, drains the
//! session's `OutgoingQueue`, and writes everything due in one write per wake-up.
//!
//! Buffers are allocated when data arrives and released when idle, so an idle connection
//! costs little. On any end it hands the session state and will back to the router.

mod acks;
mod close;
mod handshake;
mod hooks;
mod idle;
mod incoming;
mod keep_alive;
mod outgoing;
mod socket;
mod stream;

pub use keep_alive::KeepAliveTimers;
pub use stream::{BrokerStream, Identity};

use super::admission::{Admission, ConnectionSlot};
use super::config::BrokerConfig;
use super::hooks::{BrokerHooks, HookClient};
use super::queue::OutgoingQueue;
use super::router::RouterHandle;
use super::session::{CloseReason, Session, SessionContext};
use super::stats::Counters;
use crate::auth::LoginDelay;
use crate::protocol::ProtocolVersion;
use acks::Acks;
use idle::{IdleWait, Wake};
use socket::{Connection, Flush};
use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{timeout, Instant};
use tokio_util::sync::CancellationToken;

/// First read of a connection: most CONNECT packets fit, and it is freed right after.
const CONNECT_CHUNK: usize = 256;
/// How long a closing connection may take to flush its last packets.
const CLOSE_FLUSH_DEADLINE: Duration = Duration::from_secs(1);

/// The client's address; `None` on a Unix socket.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub Option<SocketAddr>);

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(address) => address.fmt(f),
            None => f.write_str("a Unix socket"),
        }
    }
}

/// What every connection of one broker shares.
pub struct Shared {
    pub config: Arc<BrokerConfig>,
    /// The limits and authenticator every session of the broker applies.
    pub session: Arc<SessionContext>,
    pub router: RouterHandle,
    pub counters: Arc<Counters>,
    /// The application's hooks, asked after the authenticator.
    pub hooks: Option<Arc<BrokerHooks>>,
    /// std Mutex, not tokio: held only to update counts, never across an .await.
    pub login_delay: std::sync::Mutex<LoginDelay>,
    /// The per-address connection limits; `None` when both are off.
    pub admission: Option<Arc<Admission>>,
    pub next_connection_id: AtomicU64,
    /// Every connection's keep-alive deadline, served by one timer task.
    pub keep_alive: Arc<KeepAliveTimers>,
}

/// Serves one accepted socket until it closes.
///
/// Not an `async fn`: an async fn keeps its arguments for its whole life, and this future
/// is part of every idle connection's memory (tokio rounds a task up to 128 bytes, so
/// every byte over a multiple counts). The handshake, the read path and the goodbye are
/// boxed for the same reason: they are rare next to waiting idle.
pub fn run(
    shared: Arc<Shared>,
    stream: BrokerStream,
    address: Peer,
    token: CancellationToken,
    slot: ConnectionSlot,
) -> impl Future<Output = ()> + Send {
    let handshake = Box::pin(start(shared, stream, address, token));
    async move {
        let Some(mut task) = handshake.await else {
            return;
        };
        let reason = task.serve().await;
        // The slot is held here rather than in the task: this future has room left in
        // its cell.
        Box::pin(task.finish(reason, slot)).await;
    }
}

/// The handshake; on success, the task that serves the session.
///
/// Not an `async fn` either: one moves its arguments into locals of its own, and this
/// future is allocated for every new connection (see `handshake_future_stays_small`).
#[allow(clippy::manual_async_fn)] // the point: see above
fn start(
    shared: Arc<Shared>,
    stream: BrokerStream,
    address: Peer,
    token: CancellationToken,
) -> impl Future<Output = Option<Box<ConnectionTask>>> + Send {
    async move {
        let connection_id = shared.next_connection_id.fetch_add(1, Ordering::Relaxed);
        let mut connection = Connection {
            shared,
            stream,
            token,
            buffers: None,
            connection_id,
        };
        let Some(accepted) = connection.handshake(address).await else {
            let _ = Box::pin(timeout(CLOSE_FLUSH_DEADLINE, connection.flush_all())).await;
            return None;
        };
        connection.release_idle_buffers();
        // The address is kept only for the hooks (an idle connection without them saves
        // it).
        let hook_client = match &connection.shared.hooks {
            Some(hooks) => {
                let client = Box::new(HookClient {
                    client_id: accepted.session.client_id.clone(),
                    username: accepted.session.username.clone(),
                    address: address.0,
                    version: accepted.session.version,
                });
                Box::pin(hooks.connected((*client).clone())).await;
                Some(client)
            }
            None => None,
        };
        Some(Box::new(ConnectionTask {
            io: connection,
            hook_client,
            session: *accepted.session,
            queue: accepted.queue,
            acks: Acks::default(),
            closing: None,
            more_pending: false,
            was_blocked: false,
            route_in_place: false,
        }))
    }
}

struct Accepted {
    session: Box<Session>,
    queue: Arc<OutgoingQueue>,
}

struct ConnectionTask {
    io: Connection,
    /// Inline: the task is one allocation per connection.
    session: Session,
    /// The client as the hooks see it; `None` when the broker has no hooks.
    hook_client: Option<Box<HookClient>>,
    queue: Arc<OutgoingQueue>,
    /// QoS 1/2 acknowledgements in PUBLISH order ([MQTT-4.6.0-2]).
    acks: Acks,
    closing: Option<CloseReason>,
    /// The last drain filled its batch: drain again without waiting for a wake-up.
    more_pending: bool,
    was_blocked: bool,
    /// The PUBLISH being handled came alone in its read: route it at once if the router is
    /// free (see `RouterHandle::send`) rather than through the router's queue.
    route_in_place: bool,
}

impl ConnectionTask {
    fn version(&self) -> ProtocolVersion {
        self.session.version
    }

    async fn serve(&mut self) -> CloseReason {
        let mut idle = IdleWait::default();
        // Packets that arrived with the CONNECT (a client need not wait for the CONNACK):
        // the socket may have nothing more to wake us for them.
        if self.io.has_unread() {
            Box::pin(self.handle_buffered()).await;
        }
        let reason = loop {
            let now = Instant::now();
            self.handle_control();
            self.send_ready_acks();
            if self.closing.is_none() {
                self.pump_deliveries(now);
            }
            let interrupt_on = self.closing.is_none().then_some(&*self.queue);
            let written_now = match self.closing {
                None => self.io.write_now(),
                Some(_) => Ok(()),
            };
            let flushed = if let Err(error) = written_now {
                Err(error)
            } else if !self.io.has_unwritten() {
                Ok(Flush::Done { woken: false })
            } else if let Some(reason) = &self.closing {
                // A closing connection gets a deadline: a client that does not read must
                // not hold up a takeover or a shutdown.
                let reason = reason.clone();
                match Box::pin(timeout(CLOSE_FLUSH_DEADLINE, self.io.flush(None))).await {
                    Ok(result) => result,
                    Err(_) => {
                        self.io.buffers = None;
                        break reason;
                    }
                }
            } else {
                // Boxed: kept out of the idle future (see `run`).
                Box::pin(self.io.flush(interrupt_on)).await
            };
            match flushed {
                Ok(Flush::Done { woken }) => self.more_pending |= woken,
                Ok(Flush::Interrupted) => {
                    self.cancelled();
                    continue;
                }
                Err(_) => break CloseReason::ConnectionLost,
            }
            if let Some(reason) = self.closing.take() {
                break reason;
            }
            if self.io.token.is_cancelled() {
                self.cancelled();
                continue;
            }
            if !self.prepare_idle_wait(&mut idle) {
                continue;
            }
            let event = poll_fn(|cx| self.poll_idle(&mut idle, cx)).await;
            idle.room = None;
            match event {
                Wake::Lost => break CloseReason::ConnectionLost,
                Wake::Readable => {
                    if let Some(reason) = Box::pin(self.read_and_handle()).await {
                        break reason;
                    }
                }
                Wake::Timer => Box::pin(self.handle_keep_alive_timeout()).await,
                Wake::Other => {}
            }
        };
        if let Some(at) = idle.keep_alive_registered {
            self.io.shared.keep_alive.cancel(self.io.connection_id, at);
        }
        reason
    }
}

#[cfg(test)]
mod tests {
    use super::acks::{AckState, PendingAck};
    use super::*;
    use crate::broker::queue::{Delivery, Message};
    use crate::protocol::{Connect, Properties, QoS, ReasonCode, TopicName};
    use std::task::{Context, Poll, Waker};
    use tokio::net::TcpStream;

    fn shared() -> Arc<Shared> {
        let config = Arc::new(BrokerConfig::default());
        let (router, _inbox) = RouterHandle::queue_only(1);
        Arc::new(Shared {
            session: SessionContext::new(&config, Arc::new(crate::broker::AllowAll)),
            config,
            router,
            counters: Arc::new(Counters::new()),
            hooks: None,
            login_delay: std::sync::Mutex::new(LoginDelay::new(Duration::ZERO, Duration::ZERO)),
            admission: None,
            next_connection_id: AtomicU64::new(0),
            keep_alive: Arc::new(KeepAliveTimers::new()),
        })
    }

    /// A socket on 127.0.0.1: the broker's end and the client's.
    pub(super) async fn socket_pair() -> (TcpStream, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (server, client)
    }

    /// The task serving an accepted 3.1.1 session, as `start` leaves it.
    async fn connected_task() -> (Box<ConnectionTask>, TcpStream) {
        let (server, client) = socket_pair().await;
        let shared = shared();
        let connect = Connect {
            protocol_version: ProtocolVersion::V311,
            bridge: false,
            clean_start: true,
            keep_alive: 60,
            client_id: "publisher".to_owned(),
            will: None,
            username: None,
            password: None,
            properties: Properties::new(),
        };
        let session = Session::new(
            1,
            Arc::from("publisher"),
            &connect,
            None,
            shared.session.clone(),
            Instant::now(),
        );
        let task = Box::new(ConnectionTask {
            io: Connection {
                shared,
                stream: BrokerStream::Tcp(server),
                token: CancellationToken::new(),
                buffers: None,
                connection_id: 0,
            },
            session,
            hook_client: None,
            queue: Arc::new(OutgoingQueue::new(100)),
            acks: Acks::default(),
            closing: None,
            more_pending: false,
            was_blocked: false,
            route_in_place: false,
        });
        (task, client)
    }

    /// A subscriber's queue holding `limit` QoS 1 deliveries: full, with its connection
    /// online, so a publisher's acknowledgement waits for it.
    fn full_subscriber_queue(limit: usize) -> Arc<OutgoingQueue> {
        let queue = Arc::new(OutgoingQueue::new(limit));
        queue.set_online(true);
        let message = Arc::new(Message {
            topic: TopicName::new("fan/in").unwrap(),
            payload: bytes::Bytes::from_static(b"x"),
            qos: QoS::AtLeastOnce,
            retain: false,
            properties: Properties::new(),
            expires_at: None,
            publisher: None,
        });
        for _ in 0..limit {
            let delivery = Delivery {
                message: message.clone(),
                qos: QoS::AtLeastOnce,
                retain: false,
                subscription_ids: Vec::new(),
            };
            queue.push(delivery, true);
        }
        assert!(!queue.has_room());
        queue
    }

    /// The router answered the QoS 1 PUBLISH `packet_id`: acknowledge it once `queue` has room.
    fn ack_waiting_for(task: &mut ConnectionTask, packet_id: u16, queue: &Arc<OutgoingQueue>) {
        task.acks.push_back(PendingAck {
            packet_id,
            qos: QoS::AtLeastOnce,
            state: AckState::Waiting(ReasonCode::Success, vec![queue.clone()]),
        });
    }

    /// Issue 3 (fan-in QoS 1 stall): the subscriber's queue makes room after the
    /// publisher's connection looked at its acknowledgements and before it goes idle. A
    /// publisher whose window is full sends nothing that would wake its connection again,
    /// so the connection must not go idle with that acknowledgement due. This is the
    /// interleaving, step by step, that multi-threaded runs hit only by chance.
    #[tokio::test]
    async fn ack_that_becomes_due_before_going_idle_is_sent_issue_3() {
        let (mut task, _client) = connected_task().await;
        let subscriber = full_subscriber_queue(1);
        ack_waiting_for(&mut task, 7, &subscriber);
        task.send_ready_acks();
        assert!(!task.io.has_unwritten(), "the PUBACK waits for room");
        // The subscriber's connection drains its queue (on another runtime thread).
        subscriber.drain(&mut Vec::new(), 10, 10);
        assert!(
            !task.prepare_idle_wait(&mut IdleWait::default()),
            "the connection went idle with a PUBACK due and nothing left to wake it"
        );
        task.send_ready_acks();
        assert_eq!(&task.io.buffers().write[..], [0x40, 0x02, 0x00, 0x07]);
    }

    /// The other side of the same decision: while the queue is still full the connection
    /// does wait (reading paused), and the drain wakes it.
    #[tokio::test]
    async fn publisher_waiting_for_room_is_woken_by_the_drain() {
        let (mut task, _client) = connected_task().await;
        let subscriber = full_subscriber_queue(1);
        ack_waiting_for(&mut task, 8, &subscriber);
        task.send_ready_acks();
        let mut idle = IdleWait::default();
        assert!(
            task.prepare_idle_wait(&mut idle),
            "nothing to do while the queue is full"
        );
        let mut cx = Context::from_waker(Waker::noop());
        assert!(task.poll_idle(&mut idle, &mut cx).is_pending());
        subscriber.drain(&mut Vec::new(), 10, 10);
        assert!(matches!(
            task.poll_idle(&mut idle, &mut cx),
            Poll::Ready(Wake::Other)
        ));
        task.send_ready_acks();
        assert_eq!(&task.io.buffers().write[..], [0x40, 0x02, 0x00, 0x08]);
    }

    /// `write_now` hands the socket what it takes and returns instead of waiting; `flush`
    /// writes the rest. The client receives every byte, in order, once.
    #[tokio::test]
    async fn write_now_leaves_to_flush_what_the_socket_cannot_take() {
        use tokio::io::AsyncReadExt;
        let (mut task, mut client) = connected_task().await;
        // More than loopback's socket buffers hold, so the socket refuses part of it.
        let sent: Vec<u8> = (0..32 << 20).map(|i: u32| (i % 251) as u8).collect();
        task.io.buffers().write.extend_from_slice(&sent);
        task.io.write_now().unwrap();
        let unwritten = task.io.buffers().write.len();
        assert!(0 < unwritten && unwritten < sent.len(), "{unwritten} left");
        let counted = &task.io.shared.counters.bytes_sent;
        let written_now = counted.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(written_now as usize, sent.len() - unwritten);
        let reader = tokio::spawn(async move {
            let mut received = vec![0; sent.len()];
            client.read_exact(&mut received).await.unwrap();
            assert!(received == sent, "the bytes arrived changed");
        });
        assert!(matches!(task.io.flush(None).await, Ok(Flush::Done { .. })));
        assert!(!task.io.has_unwritten());
        reader.await.unwrap();
    }

    /// Every idle connection holds its task, so it must stay small. tokio allocates a
    /// task as header (32 bytes), scheduler and id (16), the future and a trailer (48),
    /// rounded up to 128 bytes on x86_64: a future of at most 152 bytes (with the
    /// tracker's 8) keeps the task at 256. 10,000 idle connections are a benchmark target.
    #[tokio::test]
    async fn connection_future_stays_small() {
        let (server, _client) = socket_pair().await;
        let address = Peer(server.peer_addr().ok());
        let future = run(
            shared(),
            BrokerStream::Tcp(server),
            address,
            CancellationToken::new(),
            ConnectionSlot::default(),
        );
        let size = std::mem::size_of_val(&future);
        assert!(size <= 144, "connection future is {size} bytes");
        let task = std::mem::size_of::<ConnectionTask>();
        // Plus malloc's 8-byte header: 224 bytes (the session state is allocated by its
        // first use, not held inline).
        assert!(task <= 216, "connection task is {task} bytes");
        // In an `Arc` (16 bytes) plus malloc's header: 144 bytes.
        let queue = std::mem::size_of::<OutgoingQueue>();
        assert!(queue <= 120, "outgoing queue is {queue} bytes");
    }

    /// The read path's future is allocated for every wake-up that reads (boxed so idle
    /// connections do not hold it): small enough for glibc's per-thread cache, which
    /// serves blocks of up to 1,032 bytes without taking the arena's lock.
    #[tokio::test]
    async fn read_future_fits_the_allocators_thread_cache() {
        let (mut task, _client) = connected_task().await;
        let size = std::mem::size_of_val(&task.read_and_handle());
        assert!(size <= 1032, "read future is {size} bytes");
    }

    /// The handshake's future is allocated for every new connection and freed once the
    /// CONNACK is out, between the lasting allocations of the connections opened meanwhile:
    /// the larger it is, the larger the holes it leaves (it was 2 KiB, and 10,000 idle
    /// connections cost 90 bytes more each). The CONNECT's processing is boxed apart.
    #[tokio::test]
    async fn handshake_future_stays_small() {
        let (server, _client) = socket_pair().await;
        let address = Peer(server.peer_addr().ok());
        let handshake = start(
            shared(),
            BrokerStream::Tcp(server),
            address,
            CancellationToken::new(),
        );
        let size = std::mem::size_of_val(&handshake);
        assert!(size <= 640, "handshake future is {size} bytes");
    }
}
