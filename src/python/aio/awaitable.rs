//! asyncio awaitables for Rust futures: pyo3-async-runtimes' generic `future_into_py`
//! driven by the process-wide runtime. The future runs on the runtime; its result reaches
//! the event loop through one completer thread that attaches to Python once per batch of
//! finished futures, instead of a blocking-pool thread (and a GIL wait) per future.

use std::cell::OnceCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc;
use std::sync::Mutex;

use pyo3::prelude::*;
use pyo3_async_runtimes::generic::{self, ContextExt};
use pyo3_async_runtimes::TaskLocals;

use crate::python::runtime;

/// An asyncio future for `fut`, created on the running loop and completed there with one
/// `call_soon_threadsafe`. Cancelling the asyncio future drops `fut`.
pub fn awaitable<'py, F, T>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    generic::future_into_py::<ProcessRuntime, F, T>(py, fut)
}

/// pyo3-async-runtimes' tokio module only takes a `&'static Runtime`, kept for the life of
/// the process; ours is replaced in a forked child. Its generic API takes any runtime.
struct ProcessRuntime;

tokio::task_local! {
    static TASK_LOCALS: OnceCell<TaskLocals>;
}

impl generic::Runtime for ProcessRuntime {
    type JoinError = tokio::task::JoinError;
    type JoinHandle = tokio::task::JoinHandle<()>;

    fn spawn<F>(fut: F) -> Self::JoinHandle
    where
        F: Future<Output = ()> + Send + 'static,
    {
        runtime::handle().spawn(fut)
    }

    /// pyo3-async-runtimes calls this only to hand a result to Python (and ignores the
    /// handle). Tokio's blocking pool would start a thread for every completion waiting
    /// on the GIL at once (hundreds for a `gather` of publishes); the completer serves
    /// them all from one thread.
    fn spawn_blocking<F>(f: F) -> Self::JoinHandle
    where
        F: FnOnce() + Send + 'static,
    {
        complete(Box::new(f));
        runtime::handle().spawn(std::future::ready(()))
    }
}

impl ContextExt for ProcessRuntime {
    fn scope<F, R>(locals: TaskLocals, fut: F) -> Pin<Box<dyn Future<Output = R> + Send>>
    where
        F: Future<Output = R> + Send + 'static,
    {
        let cell = OnceCell::new();
        let _ = cell.set(locals);
        Box::pin(TASK_LOCALS.scope(cell, fut))
    }

    fn get_task_locals() -> Option<TaskLocals> {
        TASK_LOCALS
            .try_with(|cell| cell.get().cloned())
            .unwrap_or_default()
    }
}

type Completion = Box<dyn FnOnce() + Send>;

// std Mutex: held only to clone or create the sender, never across .await or Python.
static COMPLETER: Mutex<Option<(u32, mpsc::Sender<Completion>)>> = Mutex::new(None);

/// Queues a completion for the completer thread, starting it on first use (and again in a
/// forked child, where the parent's thread does not exist).
fn complete(completion: Completion) {
    let pid = std::process::id();
    let mut slot = COMPLETER
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((owner, sender)) = slot.as_ref() {
        if *owner == pid {
            if let Err(mpsc::SendError(completion)) = sender.send(completion) {
                // The thread is gone (it cannot end on its own): run here rather than lose it.
                drop(slot);
                completion();
            }
            return;
        }
    }
    let (sender, receiver) = mpsc::channel::<Completion>();
    let started = std::thread::Builder::new()
        .name("ferromqtt-asyncio".into())
        .spawn(move || run_completer(receiver));
    match started {
        Ok(_) => {
            let _ = sender.send(completion);
            *slot = Some((pid, sender));
        }
        Err(_) => {
            drop(slot);
            completion();
        }
    }
}

/// Waits detached for the first completion, then attaches once and runs it with every
/// other completion already queued.
fn run_completer(receiver: mpsc::Receiver<Completion>) {
    while let Ok(first) = receiver.recv() {
        Python::attach(|_py| {
            first();
            // Bounded, so a flood of completions cannot keep the GIL from other threads.
            for _ in 0..1024 {
                match receiver.try_recv() {
                    Ok(next) => next(),
                    Err(_) => break,
                }
            }
        });
    }
}
