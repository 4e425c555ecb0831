//! A real Mosquitto broker and its command-line clients for interop tests: started on a
//! free loopback port with a generated config, stopped by PID when dropped. Tests call
//! `require(...)` first and return early (printing why) when a tool is not installed.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// Finds an installed Mosquitto tool (`mosquitto` lives in sbin, often off a user's PATH).
pub fn binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// True when every named tool is installed; otherwise prints which is missing.
pub fn require(names: &[&str]) -> bool {
    for name in names {
        if binary(name).is_none() {
            eprintln!("skipped: {name} (from the mosquitto / mosquitto-clients packages) is not installed");
            return false;
        }
    }
    true
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("ferromqtt-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("local addr").port()
}

/// A running `mosquitto -c CONF`; killed (by its PID) and reaped on drop.
pub struct Mosquitto {
    child: Child,
    pub port: u16,
    pub log: Vec<String>,
}

impl Mosquitto {
    /// Starts Mosquitto with the config `make_config(port)` written into `dir`, and returns
    /// once its log says it is running (the listening socket is open by then).
    pub fn start(dir: &Path, make_config: impl Fn(u16) -> String) -> Mosquitto {
        // A free port can be taken by another process before Mosquitto binds it: retry.
        let mut failures = Vec::new();
        for _ in 0..3 {
            match Self::try_start(dir, &make_config) {
                Ok(broker) => return broker,
                Err(log) => failures.push(log),
            }
        }
        panic!("mosquitto did not start: {failures:?}");
    }

    fn try_start(
        dir: &Path,
        make_config: &impl Fn(u16) -> String,
    ) -> Result<Mosquitto, Vec<String>> {
        let port = free_port();
        let config_path = dir.join("mosquitto.conf");
        let config = format!("log_dest stderr\nlog_type all\n{}", make_config(port));
        std::fs::write(&config_path, config).expect("write mosquitto.conf");
        let mut child = Command::new(binary("mosquitto").expect("mosquitto installed"))
            .arg("-c")
            .arg(&config_path)
            .stdout(Stdio::null())
            // stderr, not stdout: Mosquitto's stdout is block-buffered when piped.
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn mosquitto");
        let stderr = child.stderr.take().expect("piped stderr");
        let (lines_tx, lines_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                // Keep draining after the receiver is gone, so the child never writes
                // into a closed pipe.
                let _ = lines_tx.send(line);
            }
        });
        let mut log = Vec::new();
        loop {
            match lines_rx.recv_timeout(Duration::from_secs(10)) {
                Ok(line) => {
                    let running = line.contains(" running");
                    log.push(line);
                    if running {
                        break;
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(log);
                }
            }
        }
        Ok(Mosquitto { child, port, log })
    }

    /// Whether Mosquitto accepts `config` (it logs "running"), or the error it exits with.
    pub fn check_config(dir: &Path, config: &str) -> Result<(), String> {
        let config_path = dir.join("check.conf");
        std::fs::write(&config_path, format!("log_dest stderr\n{config}")).expect("write config");
        let mut child = Command::new(binary("mosquitto").expect("mosquitto installed"))
            .arg("-c")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn mosquitto");
        let stderr = child.stderr.take().expect("piped stderr");
        let mut verdict = Err("mosquitto printed nothing".to_string());
        // Ends at "running" (then killed below) or when mosquitto exits on an error.
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if line.contains(" running") {
                verdict = Ok(());
                break;
            }
            if line.contains("Error") {
                verdict = Err(line);
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        verdict
    }

    /// Runs `mosquitto_pub` against this broker with `args` (host and port added).
    pub fn publish(&self, args: &[&str]) -> Output {
        self.client("mosquitto_pub", args)
    }

    pub fn client(&self, tool: &str, args: &[&str]) -> Output {
        Command::new(binary(tool).expect("mosquitto clients installed"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run mosquitto client")
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running subscriber printing to stdout, killed by its PID on drop.
pub struct Subscriber {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Subscriber {
    /// Runs `program args` (a `mosquitto_sub -d ...`, line-buffered), returning once it
    /// printed its SUBACK.
    pub fn spawn(program: &str, args: &[&str]) -> Subscriber {
        let program = binary(program).expect("subscriber program installed");
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn mosquitto_sub");
        let stdout = child.stdout.take().expect("piped stdout");
        let (lines_tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // Keep draining after the receiver is gone, so the child never writes
                // into a closed pipe.
                let _ = lines_tx.send(line);
            }
        });
        let mut subscriber = Subscriber { child, lines };
        let suback = subscriber.next_line_containing("Subscribed (mid");
        assert!(suback.is_some(), "mosquitto_sub got no SUBACK");
        subscriber
    }

    /// The next output line containing `needle` (10 s bound; None if the process ended).
    pub fn next_line_containing(&mut self, needle: &str) -> Option<String> {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(10)) {
                Ok(line) if line.contains(needle) => return Some(line),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }

    /// Output lines up to and including the first one containing `needle`.
    pub fn lines_until(&mut self, needle: &str) -> Vec<String> {
        let mut seen = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(10)) {
            let done = line.contains(needle);
            seen.push(line);
            if done {
                return seen;
            }
        }
        panic!("mosquitto_sub never printed {needle:?}; saw {seen:?}");
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
