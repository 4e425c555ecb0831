//! The client's connection task over real loopback sockets, against a scripted server
//! written with literal bytes (not our encoder), so a codec bug cannot hide a client bug.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use ferromqtt::client::{
    ClientHandle, CloseReason, ConnectOptions, ConnectParams, Event, Limits, Qos0Status,
};
use ferromqtt::protocol::{
    Connect, Disconnect, Properties, ProtocolVersion, Publish, QoS, ReasonCode, TopicName,
};

const WAIT: Duration = Duration::from_secs(10);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn connect_packet(keep_alive: u16) -> Connect {
    Connect {
        protocol_version: ProtocolVersion::V311,
        bridge: false,
        clean_start: true,
        keep_alive,
        client_id: "c1".into(),
        will: None,
        username: None,
        password: None,
        properties: Properties::new(),
    }
}

/// Reads one packet (fixed header with a one-byte remaining length, enough here).
fn read_packet(stream: &mut TcpStream) -> Vec<u8> {
    let mut header = [0u8; 2];
    stream.read_exact(&mut header).expect("fixed header");
    assert!(header[1] < 128, "test packets are small");
    let mut body = vec![0u8; header[1] as usize];
    stream.read_exact(&mut body).expect("body");
    [header.to_vec(), body].concat()
}

/// Accepts the client's connection and reads its CONNECT (checked to be one).
fn accept_connect(listener: &TcpListener) -> TcpStream {
    let (mut stream, _) = listener.accept().expect("accept");
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    assert_eq!(read_packet(&mut stream)[0], 0x10, "CONNECT first");
    stream
}

/// A server thread that accepts the client, reads its CONNECT, then runs `script`.
fn scripted_server<T: Send + 'static>(
    listener: &TcpListener,
    script: impl FnOnce(TcpStream) -> T + Send + 'static,
) -> thread::JoinHandle<T> {
    let listener = listener.try_clone().expect("clone");
    thread::spawn(move || script(accept_connect(&listener)))
}

fn next_event(events: &mut ferromqtt::client::EventReceiver) -> Event {
    let deadline = Instant::now() + WAIT;
    loop {
        let batch = events.recv_batch(Duration::from_millis(200), 1);
        if let Some(event) = batch.and_then(|b| b.into_iter().next()) {
            return event;
        }
        assert!(Instant::now() < deadline, "no event within {WAIT:?}");
    }
}

/// A 3.1.1 client on `runtime` and the parameters that connect it to `listener`.
/// DISCONNECT, and the event that says the client asked for it.
fn disconnect_cleanly(handle: &ClientHandle, events: &mut ferromqtt::client::EventReceiver) {
    assert!(handle.disconnect(Disconnect::new(ReasonCode::Success)));
    assert_eq!(
        next_event(events),
        Event::Disconnected(CloseReason::Requested)
    );
}

fn client_for(
    runtime: &tokio::runtime::Runtime,
    listener: &TcpListener,
    keep_alive: u16,
) -> (
    ClientHandle,
    ferromqtt::client::EventReceiver,
    ConnectParams,
) {
    let (handle, events) = ClientHandle::new(
        ProtocolVersion::V311,
        Limits::default(),
        runtime.handle().clone(),
    )
    .expect("client");
    let params = ConnectParams {
        target: ConnectOptions::tcp("127.0.0.1", listener.local_addr().expect("addr").port()),
        bind: None,
        connect_timeout: WAIT,
        connect: connect_packet(keep_alive),
    };
    (handle, events, params)
}

fn start(
    runtime: &tokio::runtime::Runtime,
    listener: &TcpListener,
    keep_alive: u16,
) -> (ClientHandle, ferromqtt::client::EventReceiver) {
    let (handle, events, params) = client_for(runtime, listener, keep_alive);
    handle.connect(params).expect("connect");
    (handle, events)
}

#[test]
fn qos1_publish_is_written_acknowledged_and_reported() {
    let runtime = runtime();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let server = {
        let listener = listener.try_clone().expect("clone");
        thread::spawn(move || {
            let (mut stream, _) = listener.accept().expect("accept");
            stream.set_read_timeout(Some(WAIT)).expect("timeout");
            let connect = read_packet(&mut stream);
            // CONNECT, "MQTT" level 4, flags 0x02 (clean), keep alive 60, client id "c1"
            let expected = [
                0x10, 14, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 2, b'c', b'1',
            ];
            assert_eq!(connect, expected);
            stream.write_all(&[0x20, 2, 0, 0]).expect("connack");
            // PUBLISH QoS 1, topic "a/b", packet id 1, payload "hi"
            let publish = read_packet(&mut stream);
            assert_eq!(publish, [0x32, 9, 0, 3, b'a', b'/', b'b', 0, 1, b'h', b'i']);
            stream.write_all(&[0x40, 2, 0, 1]).expect("puback");
            assert_eq!(read_packet(&mut stream), [0xE0, 0]);
        })
    };
    let (handle, mut events) = start(&runtime, &listener, 60);
    match next_event(&mut events) {
        Event::ConnAck(connack) => assert_eq!(connack.reason_code, ReasonCode::Success),
        other => panic!("expected CONNACK, got {other:?}"),
    }
    assert!(handle.is_connected());
    let topic = TopicName::new("a/b").expect("topic");
    let (packet_id, open) = handle
        .publish(Publish::new(topic, QoS::AtLeastOnce, "hi"))
        .expect("publish");
    assert_eq!((packet_id, open), (1, true));
    match next_event(&mut events) {
        Event::Published { packet_id, .. } => assert_eq!(packet_id, 1),
        other => panic!("expected Published, got {other:?}"),
    }
    disconnect_cleanly(&handle, &mut events);
    server.join().expect("server");
    assert!(!handle.is_open());
}

#[test]
fn a_server_that_stops_answering_pings_is_dropped_for_keepalive() {
    let runtime = runtime();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let server = scripted_server(&listener, move |mut stream| {
        stream.write_all(&[0x20, 2, 0, 0]).expect("connack");
        // The PINGREQ arrives after one idle keep-alive interval; it is not answered.
        assert_eq!(read_packet(&mut stream), [0xC0, 0]);
        let mut rest = Vec::new();
        // The client closes the socket after a second interval.
        let _ = stream.read_to_end(&mut rest);
    });
    let started = Instant::now();
    let (_handle, mut events) = start(&runtime, &listener, 1);
    assert!(matches!(next_event(&mut events), Event::ConnAck(_)));
    assert_eq!(
        next_event(&mut events),
        Event::Disconnected(CloseReason::KeepAliveTimeout)
    );
    assert!(started.elapsed() >= Duration::from_secs(2));
    server.join().expect("server");
}

#[test]
fn a_socket_closed_by_the_server_is_reported_as_lost() {
    let runtime = runtime();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let server = scripted_server(&listener, move |mut stream| {
        stream.write_all(&[0x20, 2, 0, 0]).expect("connack");
    });
    let (handle, mut events) = start(&runtime, &listener, 60);
    assert!(matches!(next_event(&mut events), Event::ConnAck(_)));
    server.join().expect("server");
    assert_eq!(
        next_event(&mut events),
        Event::Disconnected(CloseReason::ConnectionLost)
    );
    assert!(!handle.is_open());
}

#[test]
fn connecting_to_a_closed_port_fails_with_connection_refused() {
    let runtime = runtime();
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let (handle, _events) = ClientHandle::new(
        ProtocolVersion::V311,
        Limits::default(),
        runtime.handle().clone(),
    )
    .expect("client");
    let params = ConnectParams {
        target: ConnectOptions::tcp("127.0.0.1", port),
        bind: None,
        connect_timeout: WAIT,
        connect: connect_packet(60),
    };
    match handle.connect(params) {
        Err(ferromqtt::client::ClientError::Io(e)) => {
            assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused)
        }
        other => panic!("expected ConnectionRefused, got {other:?}"),
    }
}

#[test]
fn an_application_that_stops_taking_events_makes_the_server_block() {
    let runtime = runtime();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let server = scripted_server(&listener, move |mut stream| {
        stream.write_all(&[0x20, 2, 0, 0]).expect("connack");
        // Flood QoS 0 PUBLISHes ("t", 100-byte payload) until TCP pushes back.
        let mut packet = vec![0x30, 103, 0, 1, b't'];
        packet.extend_from_slice(&[b'x'; 100]);
        let flood: Vec<u8> = packet.repeat(1000);
        // A write that makes no progress for 500 ms means the client stopped reading.
        stream
            .set_write_timeout(Some(Duration::from_millis(500)))
            .expect("write timeout");
        let mut written = 0usize;
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            match stream.write(&flood) {
                Ok(n) => written += n,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return written;
                }
                Err(e) => panic!("write failed: {e}"),
            }
        }
        panic!("the client kept reading although nobody took its events");
    });
    let (_handle, mut events) = start(&runtime, &listener, 60);
    assert!(matches!(next_event(&mut events), Event::ConnAck(_)));
    let written = server.join().expect("server");
    // Bounded by the event channel, one read buffer and the kernel's socket buffers.
    assert!(written < 64 * 1024 * 1024, "{written} bytes accepted");
    // Everything the client accepted is still delivered, in order.
    let batch = events
        .recv_batch(Duration::from_millis(100), 10)
        .expect("events");
    assert!(batch.iter().all(|e| matches!(e, Event::Message(_))));
}

/// Serves one connection on `runtime`: reads CONNECT, answers CONNACK, then waits for
/// DISCONNECT. Returns the CONNECT bytes.
fn serve_connect<S>(stream: S) -> impl std::future::Future<Output = Vec<u8>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    async move {
        let mut stream = stream;
        let mut header = [0u8; 2];
        stream.read_exact(&mut header).await.expect("header");
        let mut body = vec![0u8; header[1] as usize];
        stream.read_exact(&mut body).await.expect("body");
        stream.write_all(&[0x20, 2, 0, 0]).await.expect("connack");
        stream.flush().await.expect("flush");
        let mut disconnect = [0u8; 2];
        stream
            .read_exact(&mut disconnect)
            .await
            .expect("disconnect");
        assert_eq!(disconnect, [0xE0, 0]);
        [header.to_vec(), body].concat()
    }
}

fn connect_and_disconnect(runtime: &tokio::runtime::Runtime, target: ConnectOptions) {
    let (handle, mut events) = ClientHandle::new(
        ProtocolVersion::V311,
        Limits::default(),
        runtime.handle().clone(),
    )
    .expect("client");
    let params = ConnectParams {
        target,
        bind: None,
        connect_timeout: WAIT,
        connect: connect_packet(60),
    };
    handle.connect(params).expect("connect");
    assert!(matches!(next_event(&mut events), Event::ConnAck(_)));
    disconnect_cleanly(&handle, &mut events);
}

#[test]
fn the_client_speaks_mqtt_over_a_websocket() {
    let runtime = runtime();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = runtime.spawn(async move {
        let (socket, _) = listener.accept().await.expect("accept");
        let settings = ferromqtt::transport::WsServerSettings {
            path: Some("/mqtt".into()),
            ..Default::default()
        };
        let accepted = ferromqtt::transport::accept_stream(socket, None, Some(&settings))
            .await
            .expect("websocket upgrade");
        let request = accepted.upgrade_request.clone();
        (serve_connect(accepted.stream).await, request)
    });
    let mut target = ConnectOptions::tcp("127.0.0.1", port);
    target.websocket = Some(ferromqtt::transport::WsClientSettings {
        path: "/mqtt".into(),
        headers: vec![("X-Test".into(), "1".into())],
        ..Default::default()
    });
    connect_and_disconnect(&runtime, target);
    let (connect, request) = runtime.block_on(server).expect("server");
    assert_eq!(connect[0], 0x10);
    assert!(request.is_some());
}

#[test]
fn the_client_speaks_mqtt_over_a_unix_socket() {
    let runtime = runtime();
    let directory = std::env::temp_dir().join(format!("ferromqtt-client-{}", std::process::id()));
    std::fs::create_dir_all(&directory).expect("directory");
    let path = directory.join("broker.sock");
    let _ = std::fs::remove_file(&path);
    let listener = {
        let _guard = runtime.enter();
        tokio::net::UnixListener::bind(&path).expect("bind")
    };
    let server = runtime.spawn(async move {
        let (socket, _) = listener.accept().await.expect("accept");
        serve_connect(socket).await
    });
    connect_and_disconnect(&runtime, ConnectOptions::unix(&path));
    let connect = runtime.block_on(server).expect("server");
    assert_eq!(connect[0], 0x10);
    let _ = std::fs::remove_dir_all(&directory);
}

/// Publishes `count` QoS 0 messages to `topic` with a two-byte index as payload, in bursts
/// of ten with a pause after each, so that some are written by the calling thread (after a
/// quiet spell) and some by the connection task (within a burst). Returns the packet ids.
fn publish_in_bursts(handle: &ClientHandle, topic: &str, count: u16) -> Vec<u16> {
    let topic = TopicName::new(topic).expect("topic");
    let mut ids = Vec::new();
    for index in 0..count {
        let publish = Publish::new(topic.clone(), QoS::AtMostOnce, index.to_be_bytes().to_vec());
        let (packet_id, open) = handle.publish(publish).expect("publish");
        assert!(open);
        ids.push(packet_id);
        if index % 10 == 9 {
            // Pacing, not synchronisation: a quiet spell longer than the direct-write gap.
            thread::sleep(Duration::from_micros(200));
        }
    }
    ids
}

#[test]
fn qos0_publishes_from_two_threads_keep_their_order_on_the_wire_and_in_events() {
    const COUNT: u16 = 300;
    let runtime = runtime();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let server = scripted_server(&listener, move |mut stream| {
        stream.write_all(&[0x20, 2, 0, 0]).expect("connack");
        let mut next = [0u16; 2];
        for _ in 0..2 * COUNT {
            // PUBLISH QoS 0, topic "a/b" or "c/d", payload the index
            let packet = read_packet(&mut stream);
            assert_eq!(&packet[..4], [0x30, 7, 0, 3]);
            let which = match &packet[4..7] {
                b"a/b" => 0,
                b"c/d" => 1,
                other => panic!("unexpected topic {other:?}"),
            };
            assert_eq!(u16::from_be_bytes([packet[7], packet[8]]), next[which]);
            next[which] += 1;
        }
        assert_eq!(read_packet(&mut stream), [0xE0, 0]);
    });
    let (handle, mut events) = start(&runtime, &listener, 60);
    assert!(matches!(next_event(&mut events), Event::ConnAck(_)));
    let (first, second) = thread::scope(|scope| {
        let other = scope.spawn(|| publish_in_bursts(&handle, "c/d", COUNT));
        let first = publish_in_bursts(&handle, "a/b", COUNT);
        (first, other.join().expect("publisher"))
    });
    let mut reported = Vec::new();
    while reported.len() < 2 * usize::from(COUNT) {
        match next_event(&mut events) {
            Event::Published { packet_id, .. } => reported.push(packet_id),
            other => panic!("expected Published, got {other:?}"),
        }
    }
    // Each thread's messages are reported once each, in the order they were published.
    for ids in [first, second] {
        let seen: Vec<u16> = reported
            .iter()
            .copied()
            .filter(|id| ids.contains(id))
            .collect();
        assert_eq!(seen, ids);
    }
    disconnect_cleanly(&handle, &mut events);
    server.join().expect("server");
}

#[test]
fn a_waiting_loop_wakes_for_an_event_and_for_an_interrupt() {
    let runtime = runtime();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let (waiting_tx, waiting_rx) = std::sync::mpsc::channel::<()>();
    let server = scripted_server(&listener, move |mut stream| {
        waiting_rx.recv().expect("the client waits");
        stream.write_all(&[0x20, 2, 0, 0]).expect("connack");
        assert_eq!(read_packet(&mut stream), [0xE0, 0]);
    });
    let (handle, mut events) = start(&runtime, &listener, 60);
    // An interrupt given before the wait ends it (none arrives otherwise within WAIT).
    handle.interrupt();
    assert!(events.recv_batch(WAIT, 8).is_none());
    // A wait with nothing to take ends empty at its timeout.
    assert_eq!(
        events.recv_batch(Duration::from_millis(20), 8),
        Some(Vec::new())
    );
    // An event that arrives during the wait ends it.
    waiting_tx.send(()).expect("server");
    match events.recv_batch(WAIT, 8).as_deref() {
        Some([Event::ConnAck(connack)]) => assert_eq!(connack.reason_code, ReasonCode::Success),
        other => panic!("expected the CONNACK, got {other:?}"),
    }
    // An interrupt from another thread ends a wait in progress.
    thread::scope(|scope| {
        let interrupter = scope.spawn(|| {
            handle.interrupt();
        });
        let result = events.recv_batch(WAIT, 8);
        interrupter.join().expect("interrupter");
        assert!(result.is_none());
    });
    disconnect_cleanly(&handle, &mut events);
    server.join().expect("server");
}

#[test]
fn unreported_qos0_messages_are_written_or_dropped_with_their_connection() {
    let runtime = runtime();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let (reset_tx, reset_rx) = std::sync::mpsc::channel::<()>();
    let server = scripted_server(&listener, move |mut stream| {
        stream.write_all(&[0x20, 2, 0, 0]).expect("connack");
        // PUBLISH QoS 0, topic "a/b", payload "hi"
        assert_eq!(
            read_packet(&mut stream),
            [0x30, 7, 0, 3, b'a', b'/', b'b', b'h', b'i']
        );
        // Then reads nothing until the client has piled up more than the socket takes.
        reset_rx.recv().expect("reset");
        // Linger 0: closed with a reset, so the client's pending write fails at once.
        socket2::SockRef::from(&stream)
            .set_linger(Some(Duration::ZERO))
            .expect("linger");
    });
    let (handle, mut events) = start(&runtime, &listener, 60);
    assert!(matches!(next_event(&mut events), Event::ConnAck(_)));
    let topic = TopicName::new("a/b").expect("topic");
    let small = Publish::new(topic.clone(), QoS::AtMostOnce, "hi");
    let (_, open, number) = handle.publish_with(small, false).expect("publish");
    assert!(open);
    let first = number.expect("a QoS 0 message on an open connection is numbered");
    assert_eq!(handle.wait_qos0(first, WAIT), Qos0Status::Written);
    // 40 MB more, which the silent server's socket cannot all take.
    let mut last = first;
    for _ in 0..160 {
        let big = Publish::new(topic.clone(), QoS::AtMostOnce, vec![0u8; 256 * 1024]);
        last = handle
            .publish_with(big, false)
            .expect("publish")
            .2
            .expect("number");
    }
    assert_eq!(handle.qos0_status(last), Qos0Status::Pending);
    reset_tx.send(()).expect("server");
    assert_eq!(handle.wait_qos0(last, WAIT), Qos0Status::Dropped);
    assert_eq!(handle.qos0_status(first), Qos0Status::Written);
    // None of them was reported by an event: the only one left is the connection's end.
    assert!(matches!(
        next_event(&mut events),
        Event::Disconnected(CloseReason::ConnectionLost)
    ));
    server.join().expect("server");
}

#[test]
fn a_message_on_a_quiet_connection_is_written_by_the_calling_thread() {
    // A runtime that nobody drives once connected: the connection task never runs, so only
    // the thread that publishes can put CONNECT and the PUBLISH on the wire.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let server = scripted_server(&listener, |mut stream| {
        // PUBLISH QoS 0, topic "a/b", payload "hi"
        assert_eq!(
            read_packet(&mut stream),
            [0x30, 7, 0, 3, b'a', b'/', b'b', b'h', b'i']
        );
    });
    let (handle, _events, params) = client_for(&runtime, &listener, 60);
    runtime
        .block_on(handle.connect_async(params))
        .expect("connect");
    let topic = TopicName::new("a/b").expect("topic");
    let (_, open) = handle
        .publish(Publish::new(topic, QoS::AtMostOnce, "hi"))
        .expect("publish");
    assert!(open);
    server.join().expect("the server got the PUBLISH");
}
