//! A growing delay before answering failed logins from the same address, so a password
//! guesser gets few tries per second while everyone else is unaffected. Sans-IO: the
//! caller passes `now` and sleeps (without holding any lock) for the returned duration
//! before sending the refusing CONNACK.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Failure counts per source address, bounded in size.
#[derive(Debug)]
pub struct LoginDelay {
    base: Duration,
    max: Duration,
    /// A failure older than this is forgotten.
    forget_after: Duration,
    /// Most addresses tracked; past it the stalest is dropped.
    capacity: usize,
    failures: HashMap<IpAddr, Failures>,
}

#[derive(Clone, Copy, Debug)]
struct Failures {
    count: u32,
    last: Instant,
}

impl LoginDelay {
    /// The first failure waits `base`, each further one twice the previous, at most `max`.
    /// `base` zero turns the delay off.
    pub fn new(base: Duration, max: Duration) -> Self {
        LoginDelay {
            base,
            max,
            forget_after: Duration::from_secs(600),
            capacity: 10_000,
            failures: HashMap::new(),
        }
    }

    /// Changes how many addresses are tracked (at least 1) and for how long.
    pub fn with_limits(mut self, capacity: usize, forget_after: Duration) -> Self {
        self.capacity = capacity.max(1);
        self.forget_after = forget_after;
        self
    }

    /// Records a failed login from `address` and returns how long to wait before refusing.
    pub fn record_failure(&mut self, address: IpAddr, now: Instant) -> Duration {
        if self.base.is_zero() {
            return Duration::ZERO;
        }
        if !self.failures.contains_key(&address) && self.failures.len() >= self.capacity {
            self.evict(now);
        }
        let forget_after = self.forget_after;
        let entry = self.failures.entry(address).or_insert(Failures {
            count: 0,
            last: now,
        });
        if now.saturating_duration_since(entry.last) > forget_after {
            entry.count = 0;
        }
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
        let doublings = entry.count.saturating_sub(1).min(31);
        self.base
            .checked_mul(1u32 << doublings)
            .unwrap_or(self.max)
            .min(self.max)
    }

    /// A successful login clears the address's record.
    pub fn record_success(&mut self, address: IpAddr) {
        self.failures.remove(&address);
    }

    /// Failures currently remembered for `address`.
    pub fn failure_count(&self, address: IpAddr) -> u32 {
        self.failures.get(&address).map_or(0, |f| f.count)
    }

    pub fn tracked_addresses(&self) -> usize {
        self.failures.len()
    }

    fn evict(&mut self, now: Instant) {
        let forget_after = self.forget_after;
        self.failures
            .retain(|_, f| now.saturating_duration_since(f.last) <= forget_after);
        if self.failures.len() >= self.capacity {
            if let Some(stalest) = self
                .failures
                .iter()
                .min_by_key(|(_, f)| f.last)
                .map(|(address, _)| *address)
            {
                self.failures.remove(&stalest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

    #[test]
    fn delay_doubles_per_failure_up_to_the_maximum() {
        let mut delay = LoginDelay::new(Duration::from_millis(100), Duration::from_secs(1));
        let now = Instant::now();
        let delays: Vec<u128> = (0..6)
            .map(|_| delay.record_failure(A, now).as_millis())
            .collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(delay.record_failure(B, now), Duration::from_millis(100));
    }

    #[test]
    fn success_and_time_clear_the_record() {
        let mut delay = LoginDelay::new(Duration::from_millis(100), Duration::from_secs(10))
            .with_limits(10, Duration::from_secs(60));
        let now = Instant::now();
        delay.record_failure(A, now);
        delay.record_failure(A, now);
        delay.record_success(A);
        assert_eq!(delay.failure_count(A), 0);
        assert_eq!(delay.record_failure(A, now), Duration::from_millis(100));
        let later = now + Duration::from_secs(61);
        assert_eq!(delay.record_failure(A, later), Duration::from_millis(100));
    }

    #[test]
    fn tracked_addresses_stay_bounded() {
        let mut delay = LoginDelay::new(Duration::from_millis(1), Duration::from_secs(1))
            .with_limits(3, Duration::from_secs(600));
        let start = Instant::now();
        for i in 0..100u8 {
            let address = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, i));
            delay.record_failure(address, start + Duration::from_millis(u64::from(i)));
        }
        assert_eq!(delay.tracked_addresses(), 3);
        assert_eq!(
            delay.failure_count(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 99))),
            1
        );
    }

    #[test]
    fn zero_base_disables_the_delay() {
        let mut delay = LoginDelay::new(Duration::ZERO, Duration::from_secs(1));
        assert_eq!(delay.record_failure(A, Instant::now()), Duration::ZERO);
        assert_eq!(delay.tracked_addresses(), 0);
    }
}
