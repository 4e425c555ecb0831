//! Where unreported QoS 0 messages stand. A QoS 0 message the application asked no
//! "published" event for gets a number instead, in publish order; since messages leave in
//! that order, one watermark says which are settled (written, or dropped with their
//! connection), and a short list of dropped ranges says which of those never left.
//! Sans-IO: the connection code calls it under its lock.

use std::collections::VecDeque;

/// Dropped ranges remembered (one per connection lost with QoS 0 messages unwritten);
/// older ones are forgotten, and their messages then read as written.
const DROPPED_RANGES: usize = 1024;

/// What became of a numbered QoS 0 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qos0Status {
    /// Not written yet.
    Pending,
    /// Written to the socket (paho's "published" for QoS 0).
    Written,
    /// Dropped unwritten: its connection ended first.
    Dropped,
}

#[derive(Debug, Default)]
pub struct Qos0Ledger {
    /// The number of the last message numbered (the first is 1).
    assigned: u64,
    /// Every message numbered up to here is written or dropped.
    settled: u64,
    /// Inclusive ranges of dropped numbers, oldest first.
    dropped: VecDeque<(u64, u64)>,
}

impl Qos0Ledger {
    /// Numbers the next message, which the caller appends to the output.
    pub fn assign(&mut self) -> u64 {
        self.assigned += 1;
        self.assigned
    }

    /// The number of the last message numbered.
    pub fn assigned(&self) -> u64 {
        self.assigned
    }

    /// Everything numbered up to `upto` has been written. True when that settled any.
    pub fn written(&mut self, upto: u64) -> bool {
        let upto = upto.min(self.assigned);
        if upto <= self.settled {
            return false;
        }
        self.settled = upto;
        true
    }

    /// The output was discarded: everything numbered and not written is dropped. True
    /// when that settled any.
    pub fn drop_unwritten(&mut self) -> bool {
        if self.assigned <= self.settled {
            return false;
        }
        if self.dropped.len() == DROPPED_RANGES {
            self.dropped.pop_front();
        }
        self.dropped.push_back((self.settled + 1, self.assigned));
        self.settled = self.assigned;
        true
    }

    pub fn status(&self, number: u64) -> Qos0Status {
        if number > self.settled {
            Qos0Status::Pending
        } else if self
            .dropped
            .iter()
            .any(|&(first, last)| (first..=last).contains(&number))
        {
            Qos0Status::Dropped
        } else {
            Qos0Status::Written
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_pending_until_written_in_order() {
        let mut ledger = Qos0Ledger::default();
        let (a, b, c) = (ledger.assign(), ledger.assign(), ledger.assign());
        assert_eq!((a, b, c), (1, 2, 3));
        assert_eq!(ledger.status(a), Qos0Status::Pending);
        assert!(ledger.written(b));
        assert_eq!(ledger.status(a), Qos0Status::Written);
        assert_eq!(ledger.status(b), Qos0Status::Written);
        assert_eq!(ledger.status(c), Qos0Status::Pending);
        // Settling again, or backwards, changes nothing.
        assert!(!ledger.written(b));
        assert!(!ledger.written(a));
        assert_eq!(ledger.status(c), Qos0Status::Pending);
    }

    #[test]
    fn a_watermark_past_the_last_number_settles_only_what_exists() {
        let mut ledger = Qos0Ledger::default();
        let a = ledger.assign();
        assert!(ledger.written(10));
        assert_eq!(ledger.status(a), Qos0Status::Written);
        let b = ledger.assign();
        assert_eq!(ledger.status(b), Qos0Status::Pending);
    }

    #[test]
    fn unwritten_messages_are_dropped_with_their_connection() {
        let mut ledger = Qos0Ledger::default();
        let a = ledger.assign();
        ledger.written(a);
        let (b, c) = (ledger.assign(), ledger.assign());
        assert!(ledger.drop_unwritten());
        assert!(!ledger.drop_unwritten());
        let d = ledger.assign();
        ledger.written(d);
        assert_eq!(
            [a, b, c, d].map(|n| ledger.status(n)),
            [
                Qos0Status::Written,
                Qos0Status::Dropped,
                Qos0Status::Dropped,
                Qos0Status::Written
            ]
        );
    }

    #[test]
    fn the_dropped_ranges_kept_are_bounded() {
        let mut ledger = Qos0Ledger::default();
        let first = ledger.assign();
        ledger.drop_unwritten();
        for _ in 0..DROPPED_RANGES {
            ledger.assign();
            ledger.drop_unwritten();
        }
        assert_eq!(ledger.dropped.len(), DROPPED_RANGES);
        // The oldest range is forgotten: its message reads as written.
        assert_eq!(ledger.status(first), Qos0Status::Written);
        assert_eq!(ledger.status(first + 1), Qos0Status::Dropped);
    }
}
