//! The process-wide tokio runtime that runs every broker and client. Created lazily on
//! first use; a forked child (whose copy of the parent's runtime has no threads) gets a
//! fresh one. Runtime threads never hold the GIL.

use std::sync::Mutex;
use tokio::runtime::{Builder, Handle, Runtime};

// std Mutex, not tokio: held only to read or create the runtime, never across .await.
static RUNTIME: Mutex<Option<(u32, Runtime)>> = Mutex::new(None);

/// A handle to the runtime of this process, creating it if needed.
pub fn handle() -> Handle {
    let pid = std::process::id();
    let mut slot = RUNTIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((owner, runtime)) = slot.as_ref() {
        if *owner == pid {
            return runtime.handle().clone();
        }
    }
    // In a forked child the inherited runtime's worker threads do not exist: dropping it
    // would wait for them, so it is leaked and replaced.
    if let Some((_, inherited)) = slot.take() {
        std::mem::forget(inherited);
    }
    let runtime = build();
    let handle = runtime.handle().clone();
    *slot = Some((pid, runtime));
    handle
}

fn build() -> Runtime {
    match Builder::new_multi_thread()
        .enable_all()
        .thread_name("ferromqtt")
        .build()
    {
        Ok(runtime) => runtime,
        // Without a runtime nothing in the package can work; the OS refused threads.
        Err(e) => panic!("ferromqtt: cannot start the tokio runtime: {e}"),
    }
}
