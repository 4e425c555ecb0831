//! Admission of new connections per source address: at most `max_connections_per_address`
//! open at once and at most `max_connection_rate` new ones per second (a token bucket of
//! that many, refilled continuously). The listener asks right after `accept` and closes a
//! refused socket before any task, buffer or handshake is spent on it. Sans-IO: the caller
//! passes `now`; the returned [`AddressSlot`] gives the connection back when dropped.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Most addresses remembered only for their rate; past it, the idle ones are forgotten.
const TRACKED_ADDRESSES: usize = 10_000;

/// Why a connection was refused at accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `max_connections_per_address` connections from this address are open.
    TooManyConnections,
    /// More than `max_connection_rate` new connections per second from this address.
    RateExceeded,
}

#[derive(Debug)]
struct Entry {
    open: u32,
    /// Connections the address may still open now (the token bucket).
    tokens: f64,
    refilled: Instant,
}

#[derive(Debug)]
struct State {
    /// 0: no limit.
    max_open: u32,
    /// New connections per second; 0: no limit.
    rate: u32,
    entries: HashMap<IpAddr, Entry>,
}

/// The per-address limits of one broker, shared by its listeners.
#[derive(Debug)]
pub struct Admission {
    // std Mutex, not tokio: held for a map lookup, never across an .await.
    state: Mutex<State>,
}

/// What an accepted connection holds until it ends: its `max_connections` permit and its
/// place in its address's count (either may be absent when that limit is off).
#[derive(Debug, Default)]
pub struct ConnectionSlot {
    pub permit: Option<tokio::sync::OwnedSemaphorePermit>,
    /// Boxed: the slot lives in every connection's future, where 8 bytes fit and an
    /// inline `AddressSlot` (32) would push tokio's task a size class up.
    pub address: Option<Box<AddressSlot>>,
}

/// One admitted connection; dropping it frees its place in the address's count.
#[derive(Debug)]
pub struct AddressSlot {
    admission: Arc<Admission>,
    address: IpAddr,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        self.admission.release(self.address);
    }
}

impl Admission {
    /// `max_open` connections per address at once and `rate` new ones per second (each
    /// 0 for no limit). `None` when both are off: nothing to track.
    pub fn new(max_open: u32, rate: u32) -> Option<Arc<Admission>> {
        (max_open > 0 || rate > 0).then(|| {
            Arc::new(Admission {
                state: Mutex::new(State {
                    max_open,
                    rate,
                    entries: HashMap::new(),
                }),
            })
        })
    }

    /// Admits a new connection from `address` at `now`, or says why not.
    pub fn admit(self: &Arc<Self>, address: IpAddr, now: Instant) -> Result<AddressSlot, Refusal> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.entries.len() >= TRACKED_ADDRESSES && !state.entries.contains_key(&address) {
            state.forget_idle(now);
        }
        let (max_open, rate) = (state.max_open, state.rate);
        let entry = state.entries.entry(address).or_insert(Entry {
            open: 0,
            tokens: f64::from(rate),
            refilled: now,
        });
        if max_open > 0 && entry.open >= max_open {
            return Err(Refusal::TooManyConnections);
        }
        if rate > 0 {
            entry.refill(rate, now);
            if entry.tokens < 1.0 {
                return Err(Refusal::RateExceeded);
            }
            entry.tokens -= 1.0;
        }
        entry.open += 1;
        Ok(AddressSlot {
            admission: self.clone(),
            address,
        })
    }

    /// Connections open from `address` now.
    pub fn open_from(&self, address: IpAddr) -> u32 {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.entries.get(&address).map_or(0, |entry| entry.open)
    }

    fn release(&self, address: IpAddr) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let rate = state.rate;
        if let Some(entry) = state.entries.get_mut(&address) {
            entry.open = entry.open.saturating_sub(1);
            // Without a rate there is nothing else to remember about the address.
            if entry.open == 0 && rate == 0 {
                state.entries.remove(&address);
            }
        }
    }
}

impl Entry {
    fn refill(&mut self, rate: u32, now: Instant) {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * f64::from(rate)).min(f64::from(rate));
        self.refilled = now;
    }
}

impl State {
    /// Drops addresses with no open connection whose bucket has refilled (they would be
    /// admitted as if new), then, if still full, every address with no open connection.
    fn forget_idle(&mut self, now: Instant) {
        let rate = self.rate;
        self.entries.retain(|_, entry| {
            entry.refill(rate, now);
            entry.open > 0 || entry.tokens < f64::from(rate)
        });
        if self.entries.len() >= TRACKED_ADDRESSES {
            self.entries.retain(|_, entry| entry.open > 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

    #[test]
    fn no_limits_means_no_tracking() {
        assert!(Admission::new(0, 0).is_none());
    }

    #[test]
    fn open_connections_per_address_are_capped_and_freed_on_drop() {
        let admission = Admission::new(2, 0).unwrap();
        let now = Instant::now();
        let first = admission.admit(A, now).unwrap();
        let _second = admission.admit(A, now).unwrap();
        assert_eq!(
            admission.admit(A, now).unwrap_err(),
            Refusal::TooManyConnections
        );
        let _other = admission.admit(B, now).unwrap();
        drop(first);
        assert_eq!(admission.open_from(A), 1);
        assert!(admission.admit(A, now).is_ok());
    }

    #[test]
    fn the_rate_allows_a_burst_then_refills_over_time() {
        let admission = Admission::new(0, 3).unwrap();
        let start = Instant::now();
        let slots: Vec<_> = (0..3).map(|_| admission.admit(A, start).unwrap()).collect();
        assert_eq!(
            admission.admit(A, start).unwrap_err(),
            Refusal::RateExceeded
        );
        // Closing does not give the rate back: only time does.
        drop(slots);
        assert_eq!(
            admission
                .admit(A, start + Duration::from_millis(100))
                .unwrap_err(),
            Refusal::RateExceeded
        );
        assert!(admission
            .admit(A, start + Duration::from_millis(340))
            .is_ok());
        assert!(admission.admit(B, start).is_ok());
    }

    #[test]
    fn tracked_addresses_stay_bounded() {
        let admission = Admission::new(0, 1).unwrap();
        let start = Instant::now();
        for i in 0..(TRACKED_ADDRESSES as u32 + 10) {
            let address = IpAddr::V4(std::net::Ipv4Addr::from(0x0A00_0000 + i));
            drop(admission.admit(address, start).unwrap());
        }
        let later = start + Duration::from_secs(2);
        drop(admission.admit(A, later).unwrap());
        let tracked = admission.state.lock().unwrap().entries.len();
        assert!(tracked <= TRACKED_ADDRESSES, "{tracked} addresses tracked");
    }
}
