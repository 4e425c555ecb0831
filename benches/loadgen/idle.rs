//! Idle connections: N clients CONNECT, get their CONNACK and then say nothing, so a caller
//! can read the broker's memory per connection.

use super::connection::Connection;
use super::measure::{run_id, CpuSnapshot};
use super::{Options, Result};
use serde_json::{json, Value};
use std::io::Write;
use std::time::Instant;
use tokio::task::JoinSet;
use tokio::time::sleep;

/// Idle: N connections CONNECT and then stay silent. The result line is printed as soon as
/// every CONNACK is in; the connections are held for `--hold` so a caller can measure memory.
pub async fn run_idle(o: &Options) -> Result<Value> {
    let run = run_id();
    let addr = o.addr();
    let started = Instant::now();
    let cpu0 = CpuSnapshot::take(o.broker_pid);
    let mut attempts = JoinSet::new();
    let mut connections = Vec::with_capacity(o.connections);
    let mut failures = 0usize;
    let mut first_error = None;
    for i in 0..o.connections {
        while attempts.len() >= o.concurrency.max(1) {
            collect(
                attempts.join_next().await,
                &mut connections,
                &mut failures,
                &mut first_error,
            );
        }
        let (addr, version, client_id) = (addr.clone(), o.version, format!("lg{run}i{i}"));
        attempts.spawn(async move { Connection::open(&addr, client_id, version).await });
    }
    while let Some(joined) = attempts.join_next().await {
        collect(
            Some(joined),
            &mut connections,
            &mut failures,
            &mut first_error,
        );
    }
    let elapsed = started.elapsed();
    let (broker_cpu, _) = CpuSnapshot::take(o.broker_pid).since(&cpu0);
    let result = json!({
        "scenario": "idle",
        "broker": addr,
        "protocol": o.version.level(),
        "requested": o.connections,
        "connected": connections.len(),
        "failed": failures,
        "first_error": first_error,
        "connect_s": elapsed.as_secs_f64(),
        "connects_per_s": connections.len() as f64 / elapsed.as_secs_f64(),
        "broker_cpu_s": broker_cpu,
        "hold_s": o.hold.as_secs_f64(),
    });
    println!("{result}");
    std::io::stdout().flush()?;
    sleep(o.hold).await;
    drop(connections);
    Ok(Value::Null)
}

fn collect(
    joined: Option<std::result::Result<Result<Connection>, tokio::task::JoinError>>,
    connections: &mut Vec<Connection>,
    failures: &mut usize,
    first_error: &mut Option<String>,
) {
    match joined {
        Some(Ok(Ok(connection))) => connections.push(connection),
        Some(Ok(Err(e))) => {
            *failures += 1;
            first_error.get_or_insert_with(|| e.to_string());
        }
        Some(Err(e)) => {
            *failures += 1;
            first_error.get_or_insert_with(|| e.to_string());
        }
        None => {}
    }
}
