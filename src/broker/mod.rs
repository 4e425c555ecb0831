//! The MQTT broker: listener -> connection task -> session -> router (subscription tree,
//! retained store, shared groups) -> each session's bounded outgoing queue -> connection
//! task -> socket. `Broker` starts and stops it; the pieces live in their own modules.
//!
//! Shutdown: one `CancellationToken` stops the listeners, handshakes and stuck writes; the
//! router tells every connected client to go; one `TaskTracker` waits for the tasks.
//!
//! Policies, decided once and tested in `tests/broker_*.rs`:
//! - Overlapping subscriptions of one session give one copy per message, at the highest
//!   granted QoS, carrying every matching Subscription Identifier (MQTT 5), with the retain
//!   flag kept if any matching subscription has retain-as-published. Each matching shared
//!   group adds one copy for one of its members (round robin over online members; an
//!   offline persistent member is chosen only when no member is online).
//! - A full queue (`max_queued_messages`) drops QoS 0 (counted in `messages_dropped`). For
//!   an online session a QoS 1/2 message is still queued, and its publisher's PUBACK/PUBREC
//!   and socket reads wait until the queue has room (backpressure). For an offline session
//!   the QoS 1/2 message is not queued; it is counted, and an MQTT 5 publisher gets 0x97.
//! - `stop()` treats connected clients as closed without DISCONNECT: their wills and the
//!   wills waiting out a Will Delay are published (retained ones reach the retained store).
//! - Publishing under `$SYS` is ignored; `$delayed/{seconds}/{topic}` is routed to
//!   `{topic}` after the delay.

#![forbid(unsafe_code)]

pub mod admission;
pub mod auth;
pub mod config;
mod connection;
pub mod hooks;
mod listener;
pub mod mosquitto_config;
pub mod queue;
pub mod retained;
pub mod router;
pub mod session;
pub mod stats;
pub mod subscriptions;
pub mod sys;

pub use auth::{Access, AllowAll, AuthDecision, Authenticator};
pub use config::{BrokerConfig, ConfigError, ListenerConfig, ListenerProtocol};
pub use hooks::{HookClient, HookMessage, HookSet, Hooks, MessageVerdict};
pub use stats::BrokerStats;

use crate::auth::LoginDelay;
use crate::protocol::ReasonCode;
use crate::transport::tls::{ReloadableServerConfig, TlsError};
use connection::{KeepAliveTimers, Shared};
use hooks::BrokerHooks;
use router::{Router, RouterCommand, RouterHandle};
use session::SessionContext;
use stats::Counters;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{oneshot, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The hash map of the routing path (topic levels, sessions by id): seeded per map like
/// std's, with a faster function than SipHash.
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::quality::RandomState>;

/// Commands waiting for the router; a full inbox makes connection tasks wait (and so
/// stop reading), which is the backpressure when the router itself is the bottleneck.
const ROUTER_INBOX: usize = 4096;
/// How long `stop()` waits for connections to say goodbye before giving up on them.
const STOP_DEADLINE: Duration = Duration::from_secs(3);
/// The longest wait before refusing a failed login (see `login_failure_delay_ms`).
const MAX_LOGIN_DELAY: Duration = Duration::from_secs(10);

/// Why the broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Auth(#[from] auth::AuthError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        #[source]
        source: std::io::Error,
    },
}

/// A running broker. `stop()` shuts it down gracefully; dropping it unstopped cancels
/// every task without waiting.
pub struct Broker {
    local_addrs: Vec<SocketAddr>,
    token: CancellationToken,
    tracker: TaskTracker,
    router: RouterHandle,
    router_task: Mutex<Option<JoinHandle<()>>>,
    counters: Arc<Counters>,
    stop_lock: tokio::sync::Mutex<bool>,
    /// The TLS listeners' configurations, for `reload_tls`.
    tls_configs: Vec<Arc<ReloadableServerConfig>>,
    /// The password and ACL files, for `reload` (`None` without them, or with an
    /// authenticator given to `start_with_auth`).
    files: Option<Arc<auth::ReloadableFiles>>,
    hooks: Option<Arc<BrokerHooks>>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("local_addrs", &self.local_addrs)
            .finish_non_exhaustive()
    }
}

impl Broker {
    /// Binds every listener and starts serving; returns once bound (port 0 = a free port).
    /// Authentication and authorization follow `allow_anonymous`, `password_file` and
    /// `acl_file` (files are read here, so a bad file fails the start).
    pub async fn start(config: BrokerConfig) -> Result<Broker, BrokerError> {
        Broker::start_with_files(config, None).await
    }

    /// `start` with another [`Authenticator`] in place of the configuration's files.
    pub async fn start_with_auth(
        config: BrokerConfig,
        auth: Arc<dyn Authenticator>,
    ) -> Result<Broker, BrokerError> {
        Broker::serve(config, auth, None).await
    }

    /// `start` with the application's [`Hooks`] asked after the configuration's files.
    pub async fn start_with_hooks(
        config: BrokerConfig,
        hooks: Arc<dyn Hooks>,
    ) -> Result<Broker, BrokerError> {
        Broker::start_with_files(config, Some(Arc::new(BrokerHooks::new(hooks)))).await
    }

    async fn start_with_files(
        config: BrokerConfig,
        hooks: Option<Arc<BrokerHooks>>,
    ) -> Result<Broker, BrokerError> {
        config.validate()?;
        let files = auth::ReloadableFiles::from_config(&config)?;
        let auth: Arc<dyn Authenticator> = match &files {
            Some(files) => files.clone(),
            None => Arc::new(AllowAll),
        };
        let mut broker = Broker::serve(config, auth, hooks).await?;
        broker.files = files;
        Ok(broker)
    }

    async fn serve(
        config: BrokerConfig,
        auth: Arc<dyn Authenticator>,
        hooks: Option<Arc<BrokerHooks>>,
    ) -> Result<Broker, BrokerError> {
        config.validate()?;
        let mut listener_layers = Vec::with_capacity(config.listeners.len());
        for listener_config in &config.listeners {
            let tls = match listener_config.tls_settings() {
                Some(settings) => Some(Arc::new(ReloadableServerConfig::new(settings)?)),
                None => None,
            };
            let websocket = listener_config.websocket_settings();
            listener_layers.push((tls.is_some() || websocket.is_some()).then_some(
                listener::Layers {
                    tls,
                    websocket,
                    use_identity_as_username: listener_config.use_identity_as_username,
                },
            ));
        }
        let mut listeners = Vec::with_capacity(config.listeners.len());
        let mut unix_listeners = Vec::new();
        let mut tcp_layers = Vec::with_capacity(config.listeners.len());
        for (listener_config, layers) in config.listeners.iter().zip(listener_layers) {
            match &listener_config.unix_socket {
                Some(path) => {
                    let listener = crate::transport::bind_unix(path).await.map_err(|source| {
                        BrokerError::Bind {
                            address: path.display().to_string(),
                            source,
                        }
                    })?;
                    unix_listeners.push((listener, layers));
                }
                None => {
                    listeners.push(listener::bind(listener_config).await?);
                    tcp_layers.push(layers);
                }
            }
        }
        let listener_layers = tcp_layers;
        let local_addrs = listeners
            .iter()
            .map(listener::local_addr)
            .collect::<Result<Vec<_>, _>>()?;
        let config = Arc::new(config);
        let counters = Arc::new(Counters::new());
        let router = Router::new(config.clone(), counters.clone(), auth.clone());
        let (router_tx, router_run) = RouterHandle::new(router, ROUTER_INBOX);
        let router_task = tokio::spawn(router_run);
        let shared = Arc::new(Shared {
            session: SessionContext::new(&config, auth),
            config: config.clone(),
            router: router_tx.clone(),
            counters: counters.clone(),
            hooks: hooks.clone(),
            login_delay: std::sync::Mutex::new(LoginDelay::new(
                Duration::from_millis(config.login_failure_delay_ms),
                MAX_LOGIN_DELAY,
            )),
            admission: admission::Admission::new(
                config.effective_max_connections_per_address(),
                config.max_connection_rate,
            ),
            next_connection_id: AtomicU64::new(1),
            keep_alive: Arc::new(KeepAliveTimers::new()),
        });
        let permits = usize::try_from(config.max_connections)
            .ok()
            .map(|n| Arc::new(Semaphore::new(n)));
        let token = CancellationToken::new();
        let tracker = TaskTracker::new();
        let keep_alive = shared.keep_alive.clone();
        let keep_alive_token = token.clone();
        tracker.spawn(async move { keep_alive.run(keep_alive_token).await });
        let tls_configs = listener_layers
            .iter()
            .chain(unix_listeners.iter().map(|(_, layers)| layers))
            .flatten()
            .filter_map(|layers| layers.tls.clone())
            .collect();
        for (listener, layers) in unix_listeners {
            tracker.spawn(listener::run_unix(
                listener,
                shared.clone(),
                permits.clone(),
                token.clone(),
                tracker.clone(),
                layers,
            ));
        }
        for ((listener, address), layers) in
            listeners.into_iter().zip(&local_addrs).zip(listener_layers)
        {
            log::info!("Opening listen socket on {address}.");
            tracker.spawn(listener::run(
                listener,
                shared.clone(),
                permits.clone(),
                token.clone(),
                tracker.clone(),
                layers,
            ));
        }
        Ok(Broker {
            local_addrs,
            token,
            tracker,
            router: router_tx,
            router_task: Mutex::new(Some(router_task)),
            counters,
            stop_lock: tokio::sync::Mutex::new(false),
            tls_configs,
            files: None,
            hooks,
        })
    }

    /// The bound TCP addresses, in listener order (Unix socket listeners left out).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.local_addrs.clone()
    }

    /// Graceful shutdown: stop accepting, DISCONNECT 0x8B to MQTT 5 clients, flush with a
    /// deadline, publish the wills of the clients that were connected and of sessions
    /// waiting out a Will Delay (retained wills stay in the retained store), then wait for
    /// every task (aborting the router if it overruns). Persistent sessions end with the
    /// broker (there is no persistence). Idempotent; concurrent calls all wait.
    pub async fn stop(&self) {
        let mut stopped = self.stop_lock.lock().await;
        if *stopped {
            return;
        }
        log::info!("Broker shutting down.");
        self.token.cancel();
        // Idle connections wait on their queue, not on the token: the router tells each.
        let _ = self
            .router
            .send(RouterCommand::CloseAll(ReasonCode::ServerShuttingDown))
            .await;
        self.tracker.close();
        if tokio::time::timeout(STOP_DEADLINE, self.tracker.wait())
            .await
            .is_err()
        {
            log::warn!("Some connections did not close within {STOP_DEADLINE:?}.");
        }
        let (done, settled) = oneshot::channel();
        if self
            .router
            .send(RouterCommand::Shutdown(done))
            .await
            .is_ok()
        {
            let _ = tokio::time::timeout(STOP_DEADLINE, settled).await;
        }
        let task = self
            .router_task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(task) = task {
            let abort = task.abort_handle();
            if tokio::time::timeout(STOP_DEADLINE, task).await.is_err() {
                abort.abort();
            }
        }
        if let Some(hooks) = &self.hooks {
            // The last clients' on_client_disconnected run before stop() returns.
            hooks.flush(STOP_DEADLINE).await;
        }
        *stopped = true;
    }

    /// Re-reads every TLS listener's certificate, key and CA files; new connections use
    /// them, open ones keep theirs. A listener whose files fail keeps its previous
    /// configuration; the first failure is returned after every listener was tried.
    pub fn reload_tls(&self) -> Result<(), TlsError> {
        let mut first_error = None;
        for config in &self.tls_configs {
            if let Err(error) = config.reload() {
                log::warn!("TLS reload failed: {error}");
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Re-reads the password file, the ACL file (both applied to open connections too) and
    /// every TLS listener's files (for new connections), as Mosquitto does on SIGHUP. What
    /// fails to load keeps its previous state and is logged as an error; the first error
    /// is returned after everything was tried. Connections stay open.
    pub fn reload(&self) -> Result<(), BrokerError> {
        log::info!("Reloading password, ACL and TLS files.");
        let mut first_error: Option<BrokerError> = None;
        if let Some(files) = &self.files {
            if let Err(error) = files.reload() {
                log::error!("Reload failed, keeping the previous password and ACL files: {error}");
                first_error = Some(error.into());
            }
        }
        if let Err(error) = self.reload_tls() {
            log::error!("Reload failed, keeping the previous TLS files: {error}");
            first_error.get_or_insert(error.into());
        }
        match first_error {
            None => {
                log::info!("Reloaded password, ACL and TLS files.");
                Ok(())
            }
            Some(error) => Err(error),
        }
    }

    /// The `$SYS` figures now.
    pub fn stats(&self) -> BrokerStats {
        self.counters.snapshot()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        // Never blocks: tasks see the cancellation (or the router's close) and end on
        // their own; the router ends when the last connection drops its sender.
        self.token.cancel();
        let _ = self
            .router
            .try_send(RouterCommand::CloseAll(ReasonCode::ServerShuttingDown));
    }
}
