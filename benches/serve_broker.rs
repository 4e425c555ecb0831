//! ferromqtt's broker as a plain Rust process for the comparison with Mosquitto: the same
//! `Broker` the Python package embeds, without an interpreter around it.
//!
//! `cargo bench --bench serve_broker -- --port 1883` binds 127.0.0.1, prints
//! "Opening listen socket on 127.0.0.1 port N." once bound and stops on SIGTERM or SIGINT.
//! `benches/compare_brokers.py --ferromqtt-runner rust` starts it.

use ferromqtt::broker::{Broker, BrokerConfig, ListenerConfig};
use std::io::Write;
use tokio::signal::unix::{signal, SignalKind};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn port_from_args() -> Result<u16> {
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" | "-p" => return Ok(args.next().ok_or("--port needs a value")?.parse()?),
            // `cargo bench` appends `--bench` to the arguments of a harness-less bench.
            "--bench" => {}
            other => return Err(format!("unknown argument {other}; usage: --port N").into()),
        }
    }
    Ok(1883)
}

async fn serve(port: u16) -> Result<()> {
    let config = BrokerConfig {
        listeners: vec![ListenerConfig::new("127.0.0.1", port)],
        ..BrokerConfig::default()
    };
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let broker = Broker::start(config).await?;
    for address in broker.local_addrs() {
        println!(
            "Opening listen socket on {} port {}.",
            address.ip(),
            address.port()
        );
    }
    std::io::stdout().flush()?;
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
    broker.stop().await;
    Ok(())
}

fn main() {
    let outcome = port_from_args().and_then(|port| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(serve(port))
    });
    if let Err(e) = outcome {
        eprintln!("serve_broker: {e}");
        std::process::exit(1);
    }
}
