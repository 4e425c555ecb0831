//! PINGREQ and PINGRESP ([MQTT 5.0 §3.12, §3.13]): a fixed header and nothing else.

use crate::protocol::error::DecodeError;
use crate::protocol::wire;
use bytes::Bytes;

/// Both ping packets have an empty body; anything after the header is an error.
pub(crate) fn decode(body: Bytes) -> Result<(), DecodeError> {
    wire::expect_end(&body)
}

#[cfg(test)]
mod tests {
    use crate::protocol::packets::test_support::*;
    use crate::protocol::{DecodeError, Packet};

    #[test]
    fn pings_round_trip_in_every_version() {
        for version in ALL {
            round_trip(&[0xC0, 0x00], version, &Packet::PingReq);
            round_trip(&[0xD0, 0x00], version, &Packet::PingResp);
        }
    }

    #[test]
    fn ping_with_a_body_or_flags_is_refused() {
        assert_eq!(
            decode_err(&[0xC0, 0x01, 0x00], V311),
            DecodeError::TrailingBytes(1)
        );
        assert!(matches!(
            decode_err(&[0xD2, 0x00], V5),
            DecodeError::InvalidFlags { .. }
        ));
    }
}
