//! Test-only MQTT bytes, written by hand from the specification (not with the crate's
//! encoder, so a codec bug cannot hide a broker bug), and a raw TCP client that reads
//! whole packets with bounded waits.

#![allow(dead_code)]

use ferromqtt::broker::{Broker, BrokerConfig, ListenerConfig};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest any test waits for one expected event.
pub const WAIT: Duration = Duration::from_secs(5);

pub const V31: u8 = 3;
pub const V311: u8 = 4;
pub const V5: u8 = 5;
pub const ALL: [u8; 3] = [V31, V311, V5];

/// A broker on 127.0.0.1:0 with `$SYS` off, after `adjust` changed the defaults.
pub async fn start_broker(adjust: impl FnOnce(&mut BrokerConfig)) -> (Broker, SocketAddr) {
    let mut config = BrokerConfig {
        listeners: vec![ListenerConfig::new("127.0.0.1", 0)],
        sys_interval: 0,
        ..BrokerConfig::default()
    };
    adjust(&mut config);
    let broker = Broker::start(config).await.expect("broker starts");
    let address = broker.local_addrs()[0];
    (broker, address)
}

// ---- wire primitives ----

pub fn varint(mut value: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let mut byte = (value % 128) as u8;
        value /= 128;
        if value > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if value == 0 {
            return out;
        }
    }
}

pub fn string(s: &str) -> Vec<u8> {
    binary(s.as_bytes())
}

pub fn binary(b: &[u8]) -> Vec<u8> {
    let mut out = (b.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(b);
    out
}

/// Fixed header + body.
pub fn packet(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    out.extend(varint(body.len()));
    out.extend_from_slice(body);
    out
}

/// A property block: length + properties.
pub fn props(parts: &[Vec<u8>]) -> Vec<u8> {
    let body: Vec<u8> = parts.concat();
    let mut out = varint(body.len());
    out.extend(body);
    out
}

pub fn prop_u8(id: u8, v: u8) -> Vec<u8> {
    vec![id, v]
}
pub fn prop_u16(id: u8, v: u16) -> Vec<u8> {
    let mut out = vec![id];
    out.extend(v.to_be_bytes());
    out
}
pub fn prop_u32(id: u8, v: u32) -> Vec<u8> {
    let mut out = vec![id];
    out.extend(v.to_be_bytes());
    out
}
pub fn prop_varint(id: u8, v: usize) -> Vec<u8> {
    let mut out = vec![id];
    out.extend(varint(v));
    out
}
pub fn prop_str(id: u8, s: &str) -> Vec<u8> {
    let mut out = vec![id];
    out.extend(string(s));
    out
}
pub fn prop_bin(id: u8, b: &[u8]) -> Vec<u8> {
    let mut out = vec![id];
    out.extend(binary(b));
    out
}
pub fn prop_pair(k: &str, v: &str) -> Vec<u8> {
    let mut out = vec![0x26];
    out.extend(string(k));
    out.extend(string(v));
    out
}

// ---- packets a client sends ----

/// A will: (topic, payload, qos, retain, will properties).
pub type WillSpec = (String, Vec<u8>, u8, bool, Vec<Vec<u8>>);

#[derive(Clone)]
pub struct Connect {
    pub version: u8,
    pub client_id: String,
    pub clean: bool,
    pub keep_alive: u16,
    pub properties: Vec<Vec<u8>>,
    pub will: Option<WillSpec>,
    pub username: Option<String>,
    pub password: Option<Vec<u8>>,
}

impl Connect {
    pub fn new(version: u8, client_id: &str) -> Connect {
        Connect {
            version,
            client_id: client_id.into(),
            clean: true,
            keep_alive: 60,
            properties: Vec::new(),
            will: None,
            username: None,
            password: None,
        }
    }

    pub fn clean(mut self, clean: bool) -> Self {
        self.clean = clean;
        self
    }

    pub fn keep_alive(mut self, seconds: u16) -> Self {
        self.keep_alive = seconds;
        self
    }

    pub fn property(mut self, p: Vec<u8>) -> Self {
        self.properties.push(p);
        self
    }

    pub fn will(mut self, topic: &str, payload: &[u8], qos: u8, retain: bool) -> Self {
        self.will = Some((topic.into(), payload.to_vec(), qos, retain, Vec::new()));
        self
    }

    pub fn will_property(mut self, p: Vec<u8>) -> Self {
        if let Some(will) = &mut self.will {
            will.4.push(p);
        }
        self
    }

    pub fn bytes(&self) -> Vec<u8> {
        let mut body = Vec::new();
        if self.version == V31 {
            body.extend(string("MQIsdp"));
        } else {
            body.extend(string("MQTT"));
        }
        body.push(self.version);
        let mut flags = 0u8;
        if self.clean {
            flags |= 0x02;
        }
        if let Some((_, _, qos, retain, _)) = &self.will {
            flags |= 0x04 | (qos << 3);
            if *retain {
                flags |= 0x20;
            }
        }
        if self.username.is_some() {
            flags |= 0x80;
        }
        if self.password.is_some() {
            flags |= 0x40;
        }
        body.push(flags);
        body.extend(self.keep_alive.to_be_bytes());
        if self.version == V5 {
            body.extend(props(&self.properties));
        }
        body.extend(string(&self.client_id));
        if let Some((topic, payload, _, _, will_props)) = &self.will {
            if self.version == V5 {
                body.extend(props(will_props));
            }
            body.extend(string(topic));
            body.extend(binary(payload));
        }
        if let Some(username) = &self.username {
            body.extend(string(username));
        }
        if let Some(password) = &self.password {
            body.extend(binary(password));
        }
        packet(0x10, &body)
    }
}

#[derive(Clone)]
pub struct Publish {
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: u8,
    pub retain: bool,
    pub dup: bool,
    pub packet_id: u16,
    pub properties: Vec<Vec<u8>>,
}

impl Publish {
    pub fn new(topic: &str, payload: &[u8]) -> Publish {
        Publish {
            topic: topic.into(),
            payload: payload.to_vec(),
            qos: 0,
            retain: false,
            dup: false,
            packet_id: 0,
            properties: Vec::new(),
        }
    }

    pub fn qos(mut self, qos: u8, packet_id: u16) -> Self {
        self.qos = qos;
        self.packet_id = packet_id;
        self
    }

    pub fn retain(mut self) -> Self {
        self.retain = true;
        self
    }

    pub fn dup(mut self) -> Self {
        self.dup = true;
        self
    }

    pub fn property(mut self, p: Vec<u8>) -> Self {
        self.properties.push(p);
        self
    }

    pub fn bytes(&self, version: u8) -> Vec<u8> {
        let mut first = 0x30 | (self.qos << 1);
        if self.retain {
            first |= 0x01;
        }
        if self.dup {
            first |= 0x08;
        }
        let mut body = string(&self.topic);
        if self.qos > 0 {
            body.extend(self.packet_id.to_be_bytes());
        }
        if version == V5 {
            body.extend(props(&self.properties));
        }
        body.extend_from_slice(&self.payload);
        packet(first, &body)
    }
}

/// SUBSCRIBE with (filter, options byte) pairs.
pub fn subscribe(
    version: u8,
    packet_id: u16,
    filters: &[(&str, u8)],
    properties: &[Vec<u8>],
) -> Vec<u8> {
    let mut body = packet_id.to_be_bytes().to_vec();
    if version == V5 {
        body.extend(props(properties));
    }
    for (filter, options) in filters {
        body.extend(string(filter));
        body.push(*options);
    }
    packet(0x82, &body)
}

pub fn unsubscribe(version: u8, packet_id: u16, filters: &[&str]) -> Vec<u8> {
    let mut body = packet_id.to_be_bytes().to_vec();
    if version == V5 {
        body.push(0);
    }
    for filter in filters {
        body.extend(string(filter));
    }
    packet(0xA2, &body)
}

/// PUBACK/PUBREC/PUBREL/PUBCOMP with success and no properties (the short form).
pub fn puback(packet_id: u16) -> Vec<u8> {
    packet(0x40, &packet_id.to_be_bytes())
}
pub fn pubrec(packet_id: u16) -> Vec<u8> {
    packet(0x50, &packet_id.to_be_bytes())
}
pub fn pubrel(packet_id: u16) -> Vec<u8> {
    packet(0x62, &packet_id.to_be_bytes())
}
pub fn pubcomp(packet_id: u16) -> Vec<u8> {
    packet(0x70, &packet_id.to_be_bytes())
}
/// A publish response with a reason code (MQTT 5).
pub fn response_with_reason(first: u8, packet_id: u16, reason: u8) -> Vec<u8> {
    let mut body = packet_id.to_be_bytes().to_vec();
    body.push(reason);
    packet(first, &body)
}

/// A publish response with a reason code and properties (MQTT 5).
pub fn response_with_properties(
    first: u8,
    packet_id: u16,
    reason: u8,
    properties: &[Vec<u8>],
) -> Vec<u8> {
    let mut body = packet_id.to_be_bytes().to_vec();
    body.push(reason);
    body.extend(props(properties));
    packet(first, &body)
}

pub const PINGREQ: [u8; 2] = [0xC0, 0x00];
pub const PINGRESP: [u8; 2] = [0xD0, 0x00];
pub const DISCONNECT: [u8; 2] = [0xE0, 0x00];

pub fn disconnect_v5(reason: u8, properties: &[Vec<u8>]) -> Vec<u8> {
    let mut body = vec![reason];
    body.extend(props(properties));
    packet(0xE0, &body)
}

// ---- packets the broker sends ----

/// CONNACK: 3.x return code, or v5 reason code with properties.
pub fn connack(version: u8, session_present: bool, code: u8, properties: &[Vec<u8>]) -> Vec<u8> {
    let mut body = vec![u8::from(session_present), code];
    if version == V5 {
        body.extend(props(properties));
    }
    packet(0x20, &body)
}

/// The CONNACK our broker sends a v5 client on success with default options.
pub fn connack_v5_default(session_present: bool) -> Vec<u8> {
    connack(
        V5,
        session_present,
        0,
        &[prop_u16(0x21, 20), prop_u16(0x22, 10)],
    )
}

/// The success CONNACK for a version with default options.
pub fn connack_ok(version: u8, session_present: bool) -> Vec<u8> {
    if version == V5 {
        connack_v5_default(session_present)
    } else {
        connack(version, session_present, 0, &[])
    }
}

pub fn suback(version: u8, packet_id: u16, codes: &[u8]) -> Vec<u8> {
    let mut body = packet_id.to_be_bytes().to_vec();
    if version == V5 {
        body.push(0);
    }
    body.extend_from_slice(codes);
    packet(0x90, &body)
}

pub fn unsuback(version: u8, packet_id: u16, codes: &[u8]) -> Vec<u8> {
    let mut body = packet_id.to_be_bytes().to_vec();
    if version == V5 {
        body.push(0);
        body.extend_from_slice(codes);
    }
    packet(0xB0, &body)
}

// ---- a raw client ----

pub struct RawClient {
    pub stream: TcpStream,
    buf: Vec<u8>,
    pub version: u8,
}

impl RawClient {
    pub async fn open(address: SocketAddr) -> RawClient {
        RawClient::opened(TcpStream::connect(address)).await
    }

    /// Opens a connection from another loopback address (any 127.x.y.z is this machine).
    pub async fn open_from(address: SocketAddr, local: std::net::Ipv4Addr) -> RawClient {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind((local, 0).into())
            .expect("bind the local address");
        RawClient::opened(socket.connect(address)).await
    }

    async fn opened(
        connecting: impl std::future::Future<Output = std::io::Result<TcpStream>>,
    ) -> RawClient {
        let stream = tokio::time::timeout(WAIT, connecting)
            .await
            .expect("connect in time")
            .expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        RawClient {
            stream,
            buf: Vec::new(),
            version: V311,
        }
    }

    /// Sends CONNECT and checks the default success CONNACK on an opened connection.
    pub async fn handshake(mut self, connect: Connect) -> RawClient {
        self.version = connect.version;
        self.send(&connect.bytes()).await;
        let reply = self.recv().await;
        assert_eq!(reply[0], 0x20, "CONNACK expected, got {reply:02x?}");
        assert_eq!(reply[3], 0, "CONNACK refused: {reply:02x?}");
        self
    }

    /// The broker closed the connection without answering: a CONNECT written now (which
    /// may fail, the socket being gone) gets no packet back, only the close.
    pub async fn expect_refused(mut self, version: u8) {
        let _ = self
            .stream
            .write_all(&Connect::new(version, "refused").bytes())
            .await;
        let packets = self.expect_closed().await;
        assert!(packets.is_empty(), "refused connection got {packets:02x?}");
    }

    /// Opens a connection, sends CONNECT and checks the default success CONNACK.
    pub async fn connect(address: SocketAddr, connect: Connect) -> RawClient {
        RawClient::open(address).await.handshake(connect).await
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    fn take_packet(&mut self) -> Option<Vec<u8>> {
        let mut length = 0usize;
        let mut multiplier = 1usize;
        let mut index = 1;
        loop {
            let byte = *self.buf.get(index)?;
            length += usize::from(byte & 0x7F) * multiplier;
            multiplier *= 128;
            index += 1;
            if byte & 0x80 == 0 {
                break;
            }
        }
        if self.buf.len() < index + length {
            return None;
        }
        Some(self.buf.drain(..index + length).collect())
    }

    /// The next whole packet; panics if none arrives within `WAIT`.
    pub async fn recv(&mut self) -> Vec<u8> {
        match self.try_recv(WAIT).await {
            Some(packet) => packet,
            None => panic!("no packet within {WAIT:?} (buffer {:02x?})", self.buf),
        }
    }

    /// The next packet, or `None` if the connection closed or `wait` passed.
    pub async fn try_recv(&mut self, wait: Duration) -> Option<Vec<u8>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(packet) = self.take_packet() {
                return Some(packet);
            }
            let mut chunk = [0u8; 4096];
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return None,
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    pub async fn expect(&mut self, expected: &[u8]) {
        let got = self.recv().await;
        assert_eq!(got, expected, "got {got:02x?}, expected {expected:02x?}");
    }

    /// The broker closes the connection (after any packets, which are returned).
    pub async fn expect_closed(&mut self) -> Vec<Vec<u8>> {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut packets = Vec::new();
        loop {
            if let Some(packet) = self.take_packet() {
                packets.push(packet);
                continue;
            }
            let mut chunk = [0u8; 4096];
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return packets,
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
                Err(_) => panic!("connection still open after {WAIT:?}; got {packets:02x?}"),
            }
        }
    }

    /// The broker sends DISCONNECT with `reason` (v5) and closes.
    pub async fn expect_disconnect(&mut self, reason: u8) {
        let packets = self.expect_closed().await;
        let last = packets
            .last()
            .unwrap_or_else(|| panic!("no DISCONNECT before close"));
        assert_eq!(last[0], 0xE0, "DISCONNECT expected, got {last:02x?}");
        assert_eq!(last.get(2).copied(), Some(reason), "reason in {last:02x?}");
    }

    /// Two ping round trips; returns every other packet that arrived meanwhile. Anything
    /// the broker had queued for us before the first ping is written before the second
    /// PINGRESP, so an empty result means nothing was pending.
    pub async fn drain_with_ping(&mut self) -> Vec<Vec<u8>> {
        let mut others = Vec::new();
        for _ in 0..2 {
            self.send(&PINGREQ).await;
            loop {
                let packet = self.recv().await;
                if packet == PINGRESP {
                    break;
                }
                others.push(packet);
            }
        }
        others
    }

    pub async fn subscribe(&mut self, filter: &str, options: u8) {
        let version = self.version;
        self.send(&subscribe(version, 1, &[(filter, options)], &[]))
            .await;
        let granted = if version == V5 {
            options & 0x03
        } else {
            options
        };
        self.expect(&suback(version, 1, &[granted])).await;
    }

    /// Publishes QoS 1 and waits for its PUBACK (the broker has routed it by then).
    pub async fn publish_qos1(&mut self, topic: &str, payload: &[u8], packet_id: u16) {
        let version = self.version;
        self.send(
            &Publish::new(topic, payload)
                .qos(1, packet_id)
                .bytes(version),
        )
        .await;
        self.expect(&puback(packet_id)).await;
    }
}

/// The parts of a PUBLISH the broker sent.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct Received {
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: u8,
    pub retain: bool,
    pub dup: bool,
    pub packet_id: u16,
    /// Raw property bytes (v5), without the length.
    pub properties: Vec<u8>,
}

pub fn parse_publish(packet: &[u8], version: u8) -> Received {
    assert_eq!(packet[0] >> 4, 3, "PUBLISH expected, got {packet:02x?}");
    let first = packet[0];
    let mut index = 1;
    while packet[index] & 0x80 != 0 {
        index += 1;
    }
    index += 1;
    let topic_len = usize::from(u16::from_be_bytes([packet[index], packet[index + 1]]));
    let topic = String::from_utf8(packet[index + 2..index + 2 + topic_len].to_vec()).expect("utf8");
    index += 2 + topic_len;
    let qos = (first >> 1) & 3;
    let mut packet_id = 0;
    if qos > 0 {
        packet_id = u16::from_be_bytes([packet[index], packet[index + 1]]);
        index += 2;
    }
    let mut properties = Vec::new();
    if version == V5 {
        let mut length = 0usize;
        let mut multiplier = 1;
        loop {
            let byte = packet[index];
            index += 1;
            length += usize::from(byte & 0x7F) * multiplier;
            multiplier *= 128;
            if byte & 0x80 == 0 {
                break;
            }
        }
        properties = packet[index..index + length].to_vec();
        index += length;
    }
    Received {
        topic,
        payload: packet[index..].to_vec(),
        qos,
        retain: first & 1 == 1,
        dup: first & 0x08 != 0,
        packet_id,
        properties,
    }
}
