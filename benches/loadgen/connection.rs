//! One MQTT connection over tokio, driven through the project's codec: CONNECT/CONNACK,
//! SUBSCRIBE/SUBACK, queued packets written in one `write_all`, reads decoded in batches.

use super::Result;
use bytes::BytesMut;
use ferromqtt::protocol::{
    self, Connect, Packet, Properties, ProtocolVersion, QoS, ReasonCode, Subscribe, Subscription,
    SubscriptionOptions, TopicFilter, MAX_PACKET_SIZE,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct Connection {
    stream: TcpStream,
    read_buf: BytesMut,
    pub write_buf: BytesMut,
    version: ProtocolVersion,
}

pub fn connect_packet(client_id: String, version: ProtocolVersion) -> Packet {
    Packet::from(Connect {
        protocol_version: version,
        bridge: false,
        clean_start: true,
        keep_alive: 60,
        client_id,
        will: None,
        username: None,
        password: None,
        properties: Properties::new(),
    })
}

pub fn subscribe_packet(filter: &str, qos: QoS) -> Result<Packet> {
    Ok(Packet::Subscribe(Subscribe {
        packet_id: 1,
        subscriptions: vec![Subscription {
            filter: TopicFilter::new(filter.to_owned())?,
            options: SubscriptionOptions {
                qos,
                ..SubscriptionOptions::default()
            },
        }],
        properties: Properties::new(),
    }))
}

pub fn check_connack(packet: Packet) -> Result<()> {
    match packet {
        Packet::ConnAck(ack) if ack.reason_code == ReasonCode::Success => Ok(()),
        other => Err(format!("expected a successful CONNACK, got {other:?}").into()),
    }
}

impl Connection {
    pub async fn open(
        addr: &str,
        client_id: String,
        version: ProtocolVersion,
    ) -> Result<Connection> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let mut connection = Connection {
            stream,
            read_buf: BytesMut::new(),
            write_buf: BytesMut::new(),
            version,
        };
        connection.queue(&connect_packet(client_id, version))?;
        connection.flush().await?;
        let ack = connection.next_packet().await?;
        check_connack(ack)?;
        Ok(connection)
    }

    pub async fn subscribe(&mut self, filter: &str, qos: QoS) -> Result<()> {
        self.queue(&subscribe_packet(filter, qos)?)?;
        self.flush().await?;
        match self.next_packet().await? {
            Packet::SubAck(ack) if !ack.reason_codes.iter().any(|c| c.is_failure()) => Ok(()),
            other => Err(format!("subscription to {filter} refused: {other:?}").into()),
        }
    }

    pub fn queue(&mut self, packet: &Packet) -> Result<()> {
        protocol::encode(packet, self.version, &mut self.write_buf)?;
        Ok(())
    }

    pub async fn flush(&mut self) -> Result<()> {
        self.stream.write_all(&self.write_buf).await?;
        self.write_buf.clear();
        Ok(())
    }

    /// Reads once from the socket and appends every complete packet to `out`.
    pub async fn read_packets(&mut self, out: &mut Vec<Packet>) -> Result<()> {
        if self.read_buf.capacity() - self.read_buf.len() < 16 * 1024 {
            self.read_buf.reserve(64 * 1024);
        }
        if self.stream.read_buf(&mut self.read_buf).await? == 0 {
            return Err("the broker closed the connection".into());
        }
        while let Some(packet) =
            protocol::decode(&mut self.read_buf, self.version, MAX_PACKET_SIZE)?
        {
            out.push(packet);
        }
        Ok(())
    }

    pub async fn next_packet(&mut self) -> Result<Packet> {
        loop {
            if let Some(p) = protocol::decode(&mut self.read_buf, self.version, MAX_PACKET_SIZE)? {
                return Ok(p);
            }
            self.read_buf.reserve(4096);
            if self.stream.read_buf(&mut self.read_buf).await? == 0 {
                return Err("the broker closed the connection".into());
            }
        }
    }
}
