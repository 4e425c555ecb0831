//! PINGREQ and PINGRESP ([MQTT 5.0 §3.12, §3.13]): a fixed header and nothing else.

use crate::protocol::error::DecodeError;
use crate::protocol::wire;
use bytes::Bytes;

/// Both ping packets have an empty body; anything after the header is an error.
pub(crate) fn decode(body: Bytes) -> Result<(), DecodeError> {
    wire::expect_end(&body)
}
