//! Latency: one publisher at a fixed rate, timestamps in the payload, percentiles of the
//! publish -> receive time at one subscriber.

use super::connection::{check_connack, connect_packet, Connection};
use super::measure::{make_payload, run_id, CpuSnapshot};
use super::throughput::{drain, run_subscriber, Counters, Phase};
use super::{Options, Result};
use bytes::BytesMut;
use ferromqtt::protocol::{
    self, Disconnect, Packet, Publish, QoS, ReasonCode, TopicName, MAX_PACKET_SIZE,
};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::time::sleep_until;

/// Latency: a paced publisher on its own thread (blocking socket, so the send times do not
/// depend on the runtime's 1 ms timer) and one subscriber task that timestamps arrivals.
pub async fn run_latency(o: &Options) -> Result<Value> {
    let run = run_id();
    let qos = o.qos();
    let rate = o.rate.unwrap_or(2000.0);
    let addr = o.addr();
    let topic = format!("bench/{run}/latency");
    let base = Instant::now();
    let counters = Arc::new(Counters::default());
    let (phase_tx, phase_rx) = watch::channel(Phase::Running);

    let mut connection = Connection::open(&addr, format!("lg{run}s"), o.version).await?;
    connection.subscribe(&topic, qos).await?;
    let subscriber = tokio::spawn(run_subscriber(
        connection,
        1,
        true,
        base,
        counters.clone(),
        phase_rx,
    ));

    let total = (rate * (o.warmup + o.duration).as_secs_f64()) as u64;
    let warmup_messages = (rate * o.warmup.as_secs_f64()) as u64;
    let publisher = {
        let (addr, topic, o) = (addr.clone(), topic.clone(), o.clone());
        let client_id = format!("lg{run}p");
        std::thread::spawn(move || {
            paced_publisher(&addr, client_id, &topic, qos, rate, total, base, &o)
        })
    };
    let cpu0_at = Instant::now() + o.warmup;
    sleep_until(cpu0_at.into()).await;
    let cpu0 = CpuSnapshot::take(o.broker_pid);
    let published = tokio::task::spawn_blocking(move || publisher.join())
        .await?
        .map_err(|_| "the publisher thread panicked")??;
    let cpu1 = CpuSnapshot::take(o.broker_pid);
    let window = cpu0_at.elapsed();
    let deadline = Instant::now() + o.drain;
    drain(&counters, published, Duration::from_millis(200), deadline).await;
    let _ = phase_tx.send(Phase::Stopped);
    let mut result = subscriber.await??;
    // Drop the warm-up samples: the arrivals are in publish order.
    let skip = (warmup_messages as usize).min(result.latencies_ns.len());
    let mut samples = result.latencies_ns.split_off(skip);
    if let Some(path) = &o.samples {
        let lines: String = samples
            .iter()
            .map(|ns| format!("{:.1}\n", *ns as f64 / 1000.0))
            .collect();
        std::fs::write(path, lines)?;
    }
    samples.sort_unstable();
    let pct = |q: f64| -> Option<f64> {
        let last = samples.len().checked_sub(1)?;
        let index = ((q * samples.len() as f64) as usize).min(last);
        Some(samples[index] as f64 / 1000.0)
    };
    let (broker_cpu, generator_cpu) = cpu1.since(&cpu0);
    Ok(json!({
        "scenario": "latency",
        "broker": addr,
        "qos": qos.as_u8(),
        "protocol": o.version.level(),
        "payload": o.payload,
        "rate": rate,
        "duration_s": window.as_secs_f64(),
        "published": published,
        "received": result.received,
        "samples": samples.len(),
        "p50_us": pct(0.50),
        "p99_us": pct(0.99),
        "p999_us": pct(0.999),
        "max_us": samples.last().map(|n| *n as f64 / 1000.0),
        "mean_us": if samples.is_empty() { None } else {
            Some(samples.iter().sum::<u64>() as f64 / samples.len() as f64 / 1000.0)
        },
        "broker_cpu_s": broker_cpu,
        "loadgen_cpu_s": generator_cpu,
    }))
}

/// Publishes `total` messages at `rate` msg/s on a blocking socket; returns how many it sent.
#[allow(clippy::too_many_arguments)]
fn paced_publisher(
    addr: &str,
    client_id: String,
    topic: &str,
    qos: QoS,
    rate: f64,
    total: u64,
    base: Instant,
    o: &Options,
) -> Result<u64> {
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    let mut buf = BytesMut::new();
    protocol::encode(&connect_packet(client_id, o.version), o.version, &mut buf)?;
    stream.write_all(&buf)?;
    let mut read_buf = BytesMut::new();
    let mut chunk = [0u8; 4096];
    let ack = loop {
        if let Some(p) = protocol::decode(&mut read_buf, o.version, MAX_PACKET_SIZE)? {
            break p;
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err("the broker closed the connection".into());
        }
        read_buf.extend_from_slice(&chunk[..n]);
    };
    check_connack(ack)?;
    // PUBACKs are read and dropped by a second thread so the socket never backs up.
    let mut reader = stream.try_clone()?;
    let ack_reader = std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while matches!(reader.read(&mut chunk), Ok(n) if n > 0) {}
    });
    let topic = TopicName::new(topic.to_owned())?;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < total {
        let due = start + interval.mul_f64(sent as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let now_ns = base.elapsed().as_nanos() as u64;
        let mut publish =
            Publish::new(topic.clone(), qos, make_payload(0, sent, now_ns, o.payload));
        if qos != QoS::AtMostOnce {
            publish = publish.with_packet_id((sent % 65_535) as u16 + 1);
        }
        buf.clear();
        protocol::encode(&Packet::Publish(publish), o.version, &mut buf)?;
        stream.write_all(&buf)?;
        sent += 1;
    }
    buf.clear();
    protocol::encode(
        &Packet::Disconnect(Disconnect::new(ReasonCode::Success)),
        o.version,
        &mut buf,
    )?;
    stream.write_all(&buf)?;
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let _ = ack_reader.join();
    Ok(sent)
}
