//! Fan-in, fan-out and pairs: publishers (QoS 0 in batches, QoS 1 with a window of messages
//! in flight) and subscribers (acknowledging each read's QoS 1 messages in one write) over one
//! measurement window, then a drain that tells whether every acknowledged message arrived.

use super::connection::Connection;
use super::measure::{make_payload, per_message_us, read_payload, run_id, CpuSnapshot, SeqSet};
use super::{Options, Result, Scenario};
use ferromqtt::protocol::{Packet, Publish, PublishResponse, QoS, TopicName};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{sleep, sleep_until};

/// Phases the main task announces to every publisher and subscriber.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Running,
    /// Publishers stop sending and collect the acknowledgements still due.
    Draining,
    Stopped,
}

#[derive(Default)]
pub struct Counters {
    pub sent: AtomicU64,
    pub acked: AtomicU64,
    pub received: AtomicU64,
}

struct PublisherSpec {
    index: u32,
    topic: TopicName,
    qos: QoS,
    window: usize,
    payload: usize,
    /// Messages per second for this publisher, if paced.
    rate: Option<f64>,
    messages: Option<u64>,
}

struct PublisherResult {
    index: u32,
    sent: u64,
    acked: SeqSet,
}

async fn run_publisher(
    mut connection: Connection,
    spec: PublisherSpec,
    base: Instant,
    counters: Arc<Counters>,
    mut phase: watch::Receiver<Phase>,
) -> Result<PublisherResult> {
    let limit = spec.messages.unwrap_or(u64::MAX);
    let qos0 = spec.qos == QoS::AtMostOnce;
    let mut seq_of_packet_id = vec![0u64; 65_536];
    let mut acked = SeqSet::default();
    let mut seq = 0u64;
    let mut in_flight = 0usize;
    let mut incoming = Vec::new();
    let started = Instant::now();
    // QoS 0 has no window: 64 messages per write keeps the syscall count low. QoS 1 refills
    // the window once half of it is acknowledged, for the same reason.
    let batch = if qos0 { 64 } else { spec.window };
    let refill_at = spec.window / 2;
    loop {
        let sending = *phase.borrow() == Phase::Running && seq < limit;
        if !sending && in_flight == 0 {
            break;
        }
        if sending && in_flight <= refill_at {
            if let Some(rate) = spec.rate {
                let due = started + Duration::from_secs_f64(seq as f64 / rate);
                sleep_until(due.into()).await;
            }
            let allowed = match spec.rate {
                Some(rate) => ((started.elapsed().as_secs_f64() * rate) as u64).saturating_sub(seq),
                None => u64::MAX,
            };
            let mut queued = 0u64;
            while queued < allowed.max(1)
                && seq < limit
                && queued + (in_flight as u64) < batch as u64
            {
                let now_ns = base.elapsed().as_nanos() as u64;
                let payload = make_payload(spec.index, seq, now_ns, spec.payload);
                let mut publish = Publish::new(spec.topic.clone(), spec.qos, payload);
                if !qos0 {
                    let packet_id = (seq % 65_535) as u16 + 1;
                    seq_of_packet_id[usize::from(packet_id)] = seq;
                    publish = publish.with_packet_id(packet_id);
                }
                connection.queue(&Packet::Publish(publish))?;
                seq += 1;
                queued += 1;
            }
            if !qos0 {
                in_flight += queued as usize;
            }
            // A QoS 0 publisher stops as soon as the window closes; QoS 1 keeps its acks due.
            tokio::select! {
                r = connection.flush() => r?,
                _ = phase.wait_for(|p| *p == Phase::Stopped || (qos0 && *p != Phase::Running)) => break,
            }
            counters.sent.fetch_add(queued, Ordering::Relaxed);
        }
        if in_flight == 0 {
            continue;
        }
        tokio::select! {
            r = connection.read_packets(&mut incoming) => r?,
            _ = phase.wait_for(|p| *p == Phase::Stopped) => break,
        }
        let mut newly_acked = 0;
        for packet in incoming.drain(..) {
            if let Packet::PubAck(ack) = packet {
                acked.insert(seq_of_packet_id[usize::from(ack.packet_id)]);
                in_flight = in_flight.saturating_sub(1);
                newly_acked += 1;
            }
        }
        counters.acked.fetch_add(newly_acked, Ordering::Relaxed);
    }
    Ok(PublisherResult {
        index: spec.index,
        sent: seq,
        acked,
    })
}

pub struct SubscriberResult {
    pub received: u64,
    pub duplicates: u64,
    /// Per publisher index, the sequence numbers seen (QoS 1 only).
    pub seen: Vec<SeqSet>,
    /// Publish -> receive times in ns, kept when `keep_latencies`.
    pub latencies_ns: Vec<u64>,
}

pub async fn run_subscriber(
    mut connection: Connection,
    publishers: usize,
    keep_latencies: bool,
    base: Instant,
    counters: Arc<Counters>,
    mut phase: watch::Receiver<Phase>,
) -> Result<SubscriberResult> {
    let track = connection_tracks_sequences(publishers);
    let mut result = SubscriberResult {
        received: 0,
        duplicates: 0,
        seen: vec![SeqSet::default(); if track { publishers } else { 0 }],
        latencies_ns: Vec::new(),
    };
    let mut incoming = Vec::new();
    loop {
        tokio::select! {
            r = connection.read_packets(&mut incoming) => r?,
            _ = phase.wait_for(|p| *p == Phase::Stopped) => break,
        }
        let now_ns = base.elapsed().as_nanos() as u64;
        let mut count = 0;
        for packet in incoming.drain(..) {
            let Packet::Publish(publish) = packet else {
                continue;
            };
            count += 1;
            if publish.qos == QoS::AtLeastOnce {
                connection.queue(&Packet::PubAck(PublishResponse::new(publish.packet_id)))?;
            }
            let Some((publisher, seq, sent_ns)) = read_payload(&publish.payload) else {
                continue;
            };
            if keep_latencies {
                result.latencies_ns.push(now_ns.saturating_sub(sent_ns));
            }
            if let Some(seen) = result.seen.get_mut(publisher as usize) {
                if !seen.insert(seq) {
                    result.duplicates += 1;
                }
            }
        }
        result.received += count;
        counters.received.fetch_add(count, Ordering::Relaxed);
        if !connection.write_buf.is_empty() {
            connection.flush().await?;
        }
    }
    Ok(result)
}

/// Sequence tracking costs a bit set per publisher; skip it for very many publishers.
fn connection_tracks_sequences(publishers: usize) -> bool {
    publishers <= 10_000
}

/// Fan-in, fan-out and pairs: who publishes where and who subscribes to what.
struct Topology {
    /// (topic, subscription filter) per subscriber.
    subscriptions: Vec<String>,
    /// Topic per publisher.
    topics: Vec<String>,
    /// How many subscribers receive each published message.
    copies: u64,
}

fn topology(o: &Options, run: &str) -> Topology {
    match o.scenario {
        Scenario::FanIn => Topology {
            subscriptions: vec![format!("bench/{run}/fanin/+")],
            topics: (0..o.publishers())
                .map(|i| format!("bench/{run}/fanin/{i}"))
                .collect(),
            copies: 1,
        },
        Scenario::FanOut => Topology {
            subscriptions: vec![format!("bench/{run}/fanout"); o.subscribers],
            topics: vec![format!("bench/{run}/fanout")],
            copies: o.subscribers as u64,
        },
        Scenario::Pairs => Topology {
            subscriptions: (0..o.pairs)
                .map(|i| format!("bench/{run}/pair/{i}"))
                .collect(),
            topics: (0..o.pairs)
                .map(|i| format!("bench/{run}/pair/{i}"))
                .collect(),
            copies: 1,
        },
        // Publishers only, to a topic someone else subscribes to (a client under test).
        Scenario::Publish => Topology {
            subscriptions: Vec::new(),
            topics: vec![o.topic.clone(); o.publishers()],
            copies: 0,
        },
        Scenario::Latency | Scenario::Idle | Scenario::Count => Topology {
            subscriptions: Vec::new(),
            topics: Vec::new(),
            copies: 1,
        },
    }
}

pub async fn run_throughput(o: &Options) -> Result<Value> {
    let run = run_id();
    let qos = o.qos();
    let plan = topology(o, &run);
    let addr = o.addr();
    let base = Instant::now();
    let counters = Arc::new(Counters::default());
    let (phase_tx, phase_rx) = watch::channel(Phase::Running);

    let mut subscriber_connections = Vec::new();
    for (i, filter) in plan.subscriptions.iter().enumerate() {
        let mut connection = Connection::open(&addr, format!("lg{run}s{i}"), o.version).await?;
        connection.subscribe(filter, qos).await?;
        subscriber_connections.push(connection);
    }
    let mut publisher_connections = Vec::new();
    for i in 0..plan.topics.len() {
        publisher_connections
            .push(Connection::open(&addr, format!("lg{run}p{i}"), o.version).await?);
    }

    let mut subscribers = JoinSet::new();
    for connection in subscriber_connections {
        let track = if qos == QoS::AtLeastOnce {
            plan.topics.len()
        } else {
            0
        };
        subscribers.spawn(run_subscriber(
            connection,
            track,
            false,
            base,
            counters.clone(),
            phase_rx.clone(),
        ));
    }
    let mut publishers = JoinSet::new();
    let per_publisher_rate = o.rate.map(|r| r / plan.topics.len() as f64);
    for (i, (connection, topic)) in publisher_connections
        .into_iter()
        .zip(&plan.topics)
        .enumerate()
    {
        let spec = PublisherSpec {
            index: i as u32,
            topic: TopicName::new(topic.clone())?,
            qos,
            window: o.window,
            payload: o.payload,
            rate: per_publisher_rate,
            messages: o.messages,
        };
        publishers.spawn(run_publisher(
            connection,
            spec,
            base,
            counters.clone(),
            phase_rx.clone(),
        ));
    }

    // The measurement window; with --messages it may close early, once every publisher is done.
    sleep(o.warmup).await;
    let (sent0, received0) = (
        counters.sent.load(Ordering::Relaxed),
        counters.received.load(Ordering::Relaxed),
    );
    let cpu0 = CpuSnapshot::take(o.broker_pid);
    let window_start = Instant::now();
    let window_end = window_start + o.duration;
    let mut publisher_results = Vec::new();
    while Instant::now() < window_end {
        tokio::select! {
            _ = sleep_until(window_end.into()) => {}
            joined = publishers.join_next() => match joined {
                Some(r) => publisher_results.push(r??),
                None if o.messages.is_some() => {
                    // Every publisher finished: close the window once the deliveries stop.
                    wait_until_quiet(&counters, Duration::from_millis(200), window_end).await;
                    break;
                }
                None => sleep_until(window_end.into()).await,
            },
        }
    }
    let window = window_start.elapsed();
    let cpu1 = CpuSnapshot::take(o.broker_pid);
    let (sent1, received1) = (
        counters.sent.load(Ordering::Relaxed),
        counters.received.load(Ordering::Relaxed),
    );

    // Drain: publishers collect their acknowledgements, subscribers what is still on the way.
    let _ = phase_tx.send(Phase::Draining);
    let drain_end = Instant::now() + o.drain;
    loop {
        tokio::select! {
            joined = publishers.join_next() => match joined {
                Some(r) => publisher_results.push(r??),
                None => break,
            },
            _ = sleep_until(drain_end.into()) => break,
        }
    }
    let total_sent: u64 = counters.sent.load(Ordering::Relaxed);
    let expected = total_sent * plan.copies;
    // QoS 0 promises nothing: what is still queued in the broker is not waited for.
    if qos == QoS::AtLeastOnce {
        drain(&counters, expected, Duration::from_millis(300), drain_end).await;
    }
    // Publishers still waiting for acknowledgements return what they have on Stopped: the
    // messages still in flight then show as `unacked_at_end`.
    let _ = phase_tx.send(Phase::Stopped);
    while let Some(joined) = publishers.join_next().await {
        publisher_results.push(joined??);
    }
    let mut subscriber_results = Vec::new();
    while let Some(joined) = subscribers.join_next().await {
        subscriber_results.push(joined??);
    }

    let (broker_cpu, generator_cpu) = cpu1.since(&cpu0);
    let secs = window.as_secs_f64();
    let delivered = received1 - received0;
    let mut out = json!({
        "scenario": scenario_name(o.scenario),
        "broker": addr,
        "qos": qos.as_u8(),
        "protocol": o.version.level(),
        "publishers": plan.topics.len(),
        "subscribers": plan.subscriptions.len(),
        "payload": o.payload,
        "window": if qos == QoS::AtLeastOnce { o.window } else { 0 },
        "duration_s": secs,
        "sent": sent1 - sent0,
        "delivered": delivered,
        "sent_per_s": (sent1 - sent0) as f64 / secs,
        "delivered_per_s": delivered as f64 / secs,
        "broker_cpu_s": broker_cpu,
        "broker_cpu_us_per_msg": per_message_us(broker_cpu, delivered),
        "broker_cpu_us_per_published": per_message_us(broker_cpu, sent1 - sent0),
        "loadgen_cpu_s": generator_cpu,
        "total_sent": total_sent,
        "total_received": subscriber_results.iter().map(|r| r.received).sum::<u64>(),
        "expected_received": expected,
    });
    // Completeness needs subscribers here: `publish` feeds a client under test instead.
    if qos == QoS::AtLeastOnce && !plan.subscriptions.is_empty() {
        let mut seen = vec![SeqSet::default(); plan.topics.len()];
        for result in &subscriber_results {
            for (all, theirs) in seen.iter_mut().zip(&result.seen) {
                all.union(theirs);
            }
        }
        let acked: u64 = publisher_results.iter().map(|r| r.acked.len()).sum();
        let missing: u64 = publisher_results
            .iter()
            .map(|p| match seen.get(p.index as usize) {
                Some(s) => p.acked.missing_from(s),
                None => p.acked.len(),
            })
            .sum();
        let unique: u64 = seen.iter().map(SeqSet::len).sum();
        let unacked_sent: u64 = publisher_results.iter().map(|r| r.sent).sum::<u64>() - acked;
        out["total_acked"] = json!(acked);
        out["unique_received"] = json!(unique);
        out["missing_acked"] = json!(missing);
        out["unacked_at_end"] = json!(unacked_sent);
        out["duplicates"] = json!(subscriber_results.iter().map(|r| r.duplicates).sum::<u64>());
        out["complete"] = json!(missing == 0 && publisher_results.len() == plan.topics.len());
    }
    Ok(out)
}

/// Returns once every delivery is quiet for `quiet`, or at `deadline`.
pub async fn wait_until_quiet(counters: &Counters, quiet: Duration, deadline: Instant) {
    drain(counters, u64::MAX, quiet, deadline).await;
}

/// Waits until the subscribers have `expected` messages, their count stops moving for
/// `quiet` (the broker dropped the rest), or `deadline`.
pub async fn drain(counters: &Counters, expected: u64, quiet: Duration, deadline: Instant) {
    loop {
        let before = counters.received.load(Ordering::Relaxed);
        if before >= expected || Instant::now() >= deadline {
            return;
        }
        sleep(quiet).await;
        if counters.received.load(Ordering::Relaxed) == before {
            return;
        }
    }
}

pub fn scenario_name(s: Scenario) -> &'static str {
    match s {
        Scenario::Publish => "publish",
        Scenario::Count => "count",
        Scenario::FanIn => "fanin",
        Scenario::FanOut => "fanout",
        Scenario::Pairs => "pairs",
        Scenario::Latency => "latency",
        Scenario::Idle => "idle",
    }
}

/// Count: one subscriber to `--topic` counts what someone else publishes. It prints
/// `{"ready": true}` once subscribed, opens its window at the first message and counts for
/// `--duration`.
pub async fn run_count(o: &Options) -> Result<Value> {
    let run = run_id();
    let qos = o.qos();
    let mut connection = Connection::open(&o.addr(), format!("lg{run}c"), o.version).await?;
    connection.subscribe(&o.topic, qos).await?;
    println!("{}", json!({ "ready": true }));
    std::io::Write::flush(&mut std::io::stdout())?;
    let mut incoming = Vec::new();
    let mut received = 0u64;
    let first_deadline = Instant::now() + o.drain.max(Duration::from_secs(30));
    let mut window_end = None;
    let mut first_at = None;
    let mut last_at = None;
    loop {
        let deadline = window_end.unwrap_or(first_deadline);
        tokio::select! {
            r = connection.read_packets(&mut incoming) => r?,
            _ = sleep_until(deadline.into()) => break,
        }
        let now = Instant::now();
        let mut count = 0;
        for packet in incoming.drain(..) {
            if let Packet::Publish(publish) = packet {
                count += 1;
                if publish.qos == QoS::AtLeastOnce {
                    connection.queue(&Packet::PubAck(PublishResponse::new(publish.packet_id)))?;
                }
            }
        }
        if count > 0 && window_end.is_none() {
            window_end = Some(now + o.duration);
            first_at = Some(now);
        }
        if count > 0 {
            last_at = Some(now);
        }
        if window_end.is_some_and(|end| now < end) {
            received += count;
        }
        if !connection.write_buf.is_empty() {
            connection.flush().await?;
        }
    }
    Ok(json!({
        "scenario": "count",
        "broker": o.addr(),
        "topic": o.topic,
        "qos": qos.as_u8(),
        "duration_s": o.duration.as_secs_f64(),
        "received": received,
        "received_per_s": received as f64 / o.duration.as_secs_f64(),
        "started": window_end.is_some(),
        // From the first to the last message counted: with a window longer than the
        // publishing, the time the whole stream took to arrive.
        "last_arrival_s": first_at.zip(last_at).map(|(a, b)| (b - a).as_secs_f64()),
    }))
}
