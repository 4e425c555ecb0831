//! Feeds arbitrary bytes to `decode` in every protocol version, with the default and a
//! small maximum packet size. Whatever is accepted must encode again and decode to the
//! same packet; nothing may panic.
#![no_main]

use bytes::BytesMut;
use ferromqtt::protocol::{decode, encode, ProtocolVersion, MAX_PACKET_SIZE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for version in [ProtocolVersion::V31, ProtocolVersion::V311, ProtocolVersion::V5] {
        for max in [MAX_PACKET_SIZE, 64] {
            let mut buf = BytesMut::from(data);
            while let Ok(Some(packet)) = decode(&mut buf, version, max) {
                let mut again = BytesMut::new();
                encode(&packet, version, &mut again).expect("a decoded packet encodes");
                let decoded = decode(&mut again, version, MAX_PACKET_SIZE);
                assert_eq!(decoded, Ok(Some(packet)), "round trip changed the packet");
            }
        }
    }
});
