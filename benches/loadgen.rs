//! MQTT load generator: opens many connections to one broker on a loopback address, runs one
//! scenario for a bounded time and prints one JSON line of results.
//!
//! Speaks MQTT through the project's sans-IO codec (`ferromqtt::protocol`) over tokio.
//! `benches/compare_brokers.py` and `benches/compare_clients.py` drive it; run it by hand as
//! `cargo bench --bench loadgen -- --scenario fanin --port 1883` (`--help` lists the options).

// A bench target's root looks for modules beside it; these live in benches/loadgen/.
#[path = "loadgen/connection.rs"]
mod connection;
#[path = "loadgen/idle.rs"]
mod idle;
#[path = "loadgen/latency.rs"]
mod latency;
#[path = "loadgen/measure.rs"]
mod measure;
#[path = "loadgen/throughput.rs"]
mod throughput;

use ferromqtt::protocol::{ProtocolVersion, QoS};
use measure::HEADER_LEN;
use serde_json::{json, Value};
use std::net::IpAddr;
use std::time::Duration;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Result<T> = std::result::Result<T, BoxError>;

const USAGE: &str = "\
usage: loadgen --scenario fanin|fanout|pairs|latency|idle|publish|count [options]
  --host H            broker address, loopback only (127.0.0.1)
  --port P            broker port (1883)
  --qos Q             0 or 1 (fanin: 0; pairs: 1; others 0)
  --publishers N      fanin and publish scenarios: publishers (8; publish: 1)
  --topic T           publish: the topic; count: the filter subscribed to (bench/client)
  --subscribers N     fanout subscribers (100)
  --pairs N           pairs scenario: publisher/subscriber pairs (50)
  --window N          QoS 1 publishes in flight per publisher (32)
  --payload BYTES     payload size, at least 20 (64)
  --duration S        measurement window in seconds (5)
  --warmup S          traffic before the window opens (0.5)
  --messages N        stop each publisher after N messages (no limit)
  --rate R            total publish rate in msg/s, 0 = as fast as possible (latency: 2000)
  --connections N     idle scenario: connections to open (10000)
  --hold S            idle scenario: seconds to keep them open after the result line (5)
  --concurrency N     idle scenario: connection attempts in progress at once (200)
  --drain S           after the window, time allowed for in-flight messages (5)
  --protocol V        4 = MQTT 3.1.1, 5 = MQTT 5.0 (4)
  --broker-pid PID    measure this process's CPU time over the window
  --threads N         tokio worker threads (2)
  --samples FILE      latency: write every measured latency (us, in publish order)";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scenario {
    FanIn,
    FanOut,
    Pairs,
    Latency,
    Idle,
    Publish,
    Count,
}

#[derive(Clone, Debug)]
struct Options {
    host: String,
    port: u16,
    scenario: Scenario,
    qos: Option<QoS>,
    publishers: Option<usize>,
    topic: String,
    subscribers: usize,
    pairs: usize,
    window: usize,
    payload: usize,
    duration: Duration,
    warmup: Duration,
    messages: Option<u64>,
    rate: Option<f64>,
    connections: usize,
    hold: Duration,
    concurrency: usize,
    drain: Duration,
    version: ProtocolVersion,
    broker_pid: Option<u32>,
    threads: usize,
    samples: Option<std::path::PathBuf>,
}

impl Options {
    fn parse(args: impl Iterator<Item = String>) -> Result<Options> {
        let mut o = Options {
            host: "127.0.0.1".into(),
            port: 1883,
            scenario: Scenario::FanIn,
            qos: None,
            publishers: None,
            topic: "bench/client".into(),
            subscribers: 100,
            pairs: 50,
            window: 32,
            payload: 64,
            duration: Duration::from_secs(5),
            warmup: Duration::from_millis(500),
            messages: None,
            rate: None,
            connections: 10_000,
            hold: Duration::from_secs(5),
            concurrency: 200,
            drain: Duration::from_secs(5),
            version: ProtocolVersion::V311,
            broker_pid: None,
            threads: 2,
            samples: None,
        };
        let mut args = args.peekable();
        while let Some(flag) = args.next() {
            // `cargo bench` appends `--bench` to the arguments of a harness-less bench.
            if flag == "--bench" {
                continue;
            }
            if flag == "--help" || flag == "-h" {
                return Err(USAGE.into());
            }
            let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
            let seconds = |v: &str| -> Result<Duration> { Ok(Duration::from_secs_f64(v.parse()?)) };
            match flag.as_str() {
                "--host" => o.host = value,
                "--port" => o.port = value.parse()?,
                "--scenario" => {
                    o.scenario = match value.as_str() {
                        "fanin" => Scenario::FanIn,
                        "fanout" => Scenario::FanOut,
                        "pairs" => Scenario::Pairs,
                        "latency" => Scenario::Latency,
                        "idle" => Scenario::Idle,
                        "publish" => Scenario::Publish,
                        "count" => Scenario::Count,
                        other => return Err(format!("unknown scenario {other:?}").into()),
                    }
                }
                "--qos" => {
                    o.qos = match value.as_str() {
                        "0" => Some(QoS::AtMostOnce),
                        "1" => Some(QoS::AtLeastOnce),
                        _ => return Err("--qos takes 0 or 1".into()),
                    }
                }
                "--publishers" => o.publishers = Some(value.parse()?),
                "--topic" => o.topic = value,
                "--subscribers" => o.subscribers = value.parse()?,
                "--pairs" => o.pairs = value.parse()?,
                "--window" => o.window = value.parse()?,
                "--payload" => o.payload = value.parse()?,
                "--duration" => o.duration = seconds(&value)?,
                "--warmup" => o.warmup = seconds(&value)?,
                "--messages" => o.messages = Some(value.parse()?),
                "--rate" => o.rate = Some(value.parse::<f64>()?).filter(|r| *r > 0.0),
                "--connections" => o.connections = value.parse()?,
                "--hold" => o.hold = seconds(&value)?,
                "--concurrency" => o.concurrency = value.parse()?,
                "--drain" => o.drain = seconds(&value)?,
                "--protocol" => {
                    o.version = match value.as_str() {
                        "4" | "3.1.1" => ProtocolVersion::V311,
                        "5" | "5.0" => ProtocolVersion::V5,
                        _ => return Err("--protocol takes 4 or 5".into()),
                    }
                }
                "--broker-pid" => o.broker_pid = Some(value.parse()?),
                "--threads" => o.threads = value.parse()?,
                "--samples" => o.samples = Some(value.into()),
                other => return Err(format!("unknown option {other}\n{USAGE}").into()),
            }
        }
        let ip: IpAddr = o.host.parse()?;
        if !ip.is_loopback() {
            return Err("the load generator only targets loopback addresses".into());
        }
        if o.payload < HEADER_LEN {
            return Err(format!("--payload must be at least {HEADER_LEN}").into());
        }
        if o.window == 0 || o.window > 65_535 {
            return Err("--window must be within 1..=65535".into());
        }
        if o.duration.is_zero() || o.duration > Duration::from_secs(600) {
            return Err("--duration must be within (0, 600] seconds".into());
        }
        Ok(o)
    }

    fn qos(&self) -> QoS {
        self.qos.unwrap_or(match self.scenario {
            Scenario::Pairs => QoS::AtLeastOnce,
            _ => QoS::AtMostOnce,
        })
    }

    fn publishers(&self) -> usize {
        self.publishers.unwrap_or(match self.scenario {
            Scenario::Publish => 1,
            _ => 8,
        })
    }

    fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

async fn run(o: Options) -> Result<Value> {
    let limit = o.warmup + o.duration + o.drain + o.hold + Duration::from_secs(120);
    let scenario = async {
        match o.scenario {
            Scenario::FanIn | Scenario::FanOut | Scenario::Pairs | Scenario::Publish => {
                throughput::run_throughput(&o).await
            }
            Scenario::Count => throughput::run_count(&o).await,
            Scenario::Latency => latency::run_latency(&o).await,
            Scenario::Idle => idle::run_idle(&o).await,
        }
    };
    tokio::time::timeout(limit, scenario)
        .await
        .map_err(|_| format!("the run exceeded its {} s bound", limit.as_secs()))?
}

fn main() {
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.threads.max(1))
        .enable_all()
        .build();
    let outcome = match runtime {
        Ok(rt) => rt.block_on(run(options)),
        Err(e) => Err(e.into()),
    };
    match outcome {
        Ok(Value::Null) => {}
        Ok(result) => println!("{result}"),
        Err(e) => {
            println!("{}", json!({ "error": e.to_string() }));
            std::process::exit(1);
        }
    }
}
