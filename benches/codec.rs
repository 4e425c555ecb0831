//! Encode and decode of a QoS 1 PUBLISH: 64-byte and 4 KiB payloads, in MQTT 3.1.1 and in
//! MQTT 5.0 with two user properties. Figures and the command are in benches/README.md.
//!
//! `decode` times `decode` alone on a buffer holding one packet (buffer set-up and packet
//! drop untimed); `read_loop` times what a connection does per packet: append the bytes to
//! a reused read buffer, decode, drop the packet. `encode` writes into a reused buffer.

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ferromqtt::protocol::{
    decode, encode, Packet, Properties, Property, ProtocolVersion, Publish, QoS, TopicName,
    MAX_PACKET_SIZE,
};
use std::hint::black_box;

fn publish(payload_len: usize, version: ProtocolVersion) -> Packet {
    let topic = TopicName::new("sensors/building-1/floor-2/temperature").expect("valid topic");
    let mut publish = Publish::new(
        topic,
        QoS::AtLeastOnce,
        Bytes::from(vec![0x5A; payload_len]),
    )
    .with_packet_id(4242);
    if version.is_v5() {
        publish.properties = Properties(vec![
            Property::UserProperty("trace-id".into(), "4bf92f3577b34da6".into()),
            Property::UserProperty("unit".into(), "celsius".into()),
        ]);
    }
    Packet::Publish(publish)
}

fn bench_publish(c: &mut Criterion) {
    for (name, version) in [("v311", ProtocolVersion::V311), ("v5", ProtocolVersion::V5)] {
        for (size_name, payload_len) in [("64B", 64), ("4KiB", 4096)] {
            let packet = publish(payload_len, version);
            let mut wire = BytesMut::new();
            encode(&packet, version, &mut wire).expect("encodes");
            let wire = wire.freeze();

            let mut group = c.benchmark_group(format!("publish_qos1_{name}_{size_name}"));
            group.throughput(Throughput::Bytes(wire.len() as u64));

            group.bench_function("encode", |b| {
                let mut out = BytesMut::with_capacity(8192);
                b.iter(|| {
                    encode(black_box(&packet), version, &mut out).expect("encodes");
                    black_box(&out);
                    out.clear();
                })
            });

            group.bench_function("decode", |b| {
                b.iter_batched_ref(
                    || BytesMut::from(&wire[..]),
                    |buf| decode(buf, version, MAX_PACKET_SIZE).expect("decodes"),
                    BatchSize::SmallInput,
                )
            });

            group.bench_function("read_loop", |b| {
                let mut buf = BytesMut::with_capacity(64 * 1024);
                b.iter(|| {
                    buf.extend_from_slice(black_box(&wire));
                    let packet = decode(&mut buf, version, MAX_PACKET_SIZE).expect("decodes");
                    black_box(packet)
                })
            });
            group.finish();
        }
    }
}

criterion_group!(benches, bench_publish);
criterion_main!(benches);
