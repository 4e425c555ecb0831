//! What the scenarios measure with: the payload header (publisher, sequence number, send
//! time), sets of sequence numbers for completeness, CPU time from /proc, percentiles.

use bytes::{Buf, BufMut, Bytes, BytesMut};

pub const HEADER_LEN: usize = 20;

pub fn make_payload(publisher: u32, seq: u64, sent_ns: u64, len: usize) -> Bytes {
    let mut payload = BytesMut::with_capacity(len);
    payload.put_u32_le(publisher);
    payload.put_u64_le(seq);
    payload.put_u64_le(sent_ns);
    payload.resize(len, 0);
    payload.freeze()
}

/// `(publisher, seq, sent_ns)`, or `None` for a payload this generator did not write.
pub fn read_payload(mut payload: &[u8]) -> Option<(u32, u64, u64)> {
    if payload.len() < HEADER_LEN {
        return None;
    }
    Some((
        payload.get_u32_le(),
        payload.get_u64_le(),
        payload.get_u64_le(),
    ))
}

/// A growable bit set of sequence numbers.
#[derive(Clone, Default)]
pub struct SeqSet(Vec<u64>);

impl SeqSet {
    /// Sets `seq`; returns false if it was already set.
    pub fn insert(&mut self, seq: u64) -> bool {
        let (word, bit) = ((seq / 64) as usize, seq % 64);
        if word >= self.0.len() {
            self.0.resize(word + 1, 0);
        }
        let was_set = self.0[word] & (1 << bit) != 0;
        self.0[word] |= 1 << bit;
        !was_set
    }

    pub fn union(&mut self, other: &SeqSet) {
        if other.0.len() > self.0.len() {
            self.0.resize(other.0.len(), 0);
        }
        for (word, theirs) in self.0.iter_mut().zip(&other.0) {
            *word |= theirs;
        }
    }

    pub fn len(&self) -> u64 {
        self.0.iter().map(|w| u64::from(w.count_ones())).sum()
    }

    /// How many members of `self` are missing from `other`.
    pub fn missing_from(&self, other: &SeqSet) -> u64 {
        self.0
            .iter()
            .enumerate()
            .map(|(i, w)| u64::from((w & !other.0.get(i).copied().unwrap_or(0)).count_ones()))
            .sum()
    }
}

/// utime + stime of a process in seconds, from /proc/PID/stat.
pub fn process_cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every Linux architecture this runs on.
    Some((utime + stime) / 100.0)
}

pub struct CpuSnapshot {
    pub broker: Option<f64>,
    pub generator: Option<f64>,
}

impl CpuSnapshot {
    pub fn take(broker_pid: Option<u32>) -> CpuSnapshot {
        CpuSnapshot {
            broker: broker_pid.and_then(|pid| process_cpu_seconds(&pid.to_string())),
            generator: process_cpu_seconds("self"),
        }
    }

    pub fn since(&self, earlier: &CpuSnapshot) -> (Option<f64>, Option<f64>) {
        let delta = |a: Option<f64>, b: Option<f64>| Some(a? - b?);
        (
            delta(self.broker, earlier.broker),
            delta(self.generator, earlier.generator),
        )
    }
}

pub fn per_message_us(cpu_s: Option<f64>, messages: u64) -> Option<f64> {
    cpu_s
        .filter(|_| messages > 0)
        .map(|c| c * 1e6 / messages as f64)
}

pub fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{:x}{:x}", std::process::id(), nanos)
}
