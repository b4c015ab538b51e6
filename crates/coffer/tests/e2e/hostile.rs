//! Hostile and greedy clients: connections that never send, send half a request, send a body
//! a byte at a time, stop reading, outnumber the connection cap, or exhaust the server's
//! descriptors. Each is bounded by a timeout or waits its turn, and the server keeps answering
//! well-behaved clients with a bounded log.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_s3::primitives::ByteStream;

use crate::common::*;

/// Short limits, so the tests wait seconds rather than minutes.
const SHORT_TIMEOUTS: &str = "idle_timeout_seconds = 2\nheader_read_timeout_seconds = 2\n";

/// How a connection ended, reading whatever the server still sends.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// The server closed it (EOF or reset), after sending this many bytes.
    Closed(usize),
    /// Still open when the client gave up waiting, after this many bytes.
    StillOpen(usize),
}

fn read_until_closed(s: &mut TcpStream, deadline: Instant) -> Outcome {
    let mut total = 0;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Outcome::StillOpen(total);
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) => return Outcome::Closed(total),
            Ok(n) => total += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Outcome::StillOpen(total);
            }
            Err(_) => return Outcome::Closed(total),
        }
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    TcpStream::connect(addr).expect("connect")
}

/// Headers of a signed request for `body`, as raw HTTP/1.1 (without `connection: close`).
fn signed_head(server: &Server, method: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let host = server.http.to_string();
    let url = format!("http://{host}{path}");
    let signed = sign(
        method,
        &url,
        &[("host", host.as_str())],
        body,
        ALICE.1,
        ALICE.2,
        SystemTime::now(),
    );
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    for (k, v) in &signed {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    head.into_bytes()
}

#[tokio::test]
async fn idle_half_sent_and_trickling_connections_are_closed_while_others_are_served() {
    let server = Server::start_configured(SHORT_TIMEOUTS, &[], None);
    let c = server.alice();
    c.create_bucket().bucket("hostile").send().await.unwrap();

    let started = Instant::now();
    // Connected, never a byte.
    let mut idle: Vec<TcpStream> = (0..60).map(|_| connect(server.http)).collect();
    // Half a request line and some headers, then silence.
    let mut half_sent: Vec<TcpStream> = (0..60)
        .map(|_| {
            let mut s = connect(server.http);
            s.write_all(b"PUT /hostile/k HTTP/1.1\r\nhost: x\r\nx-amz-")
                .unwrap();
            s
        })
        .collect();
    // A signed PUT whose body stops after 10 of its 1000 bytes (slowloris on the body).
    let body = pattern(1000, 1);
    let mut trickling: Vec<TcpStream> = (0..10)
        .map(|i| {
            let mut s = connect(server.http);
            s.write_all(&signed_head(
                &server,
                "PUT",
                &format!("/hostile/slow-{i}"),
                &body,
            ))
            .unwrap();
            s.write_all(&body[..10]).unwrap();
            s
        })
        .collect();
    // A finished exchange on a kept-alive connection, then silence.
    let mut kept_alive = connect(server.http);
    kept_alive
        .write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();

    // Meanwhile a well-behaved client is served at once.
    c.put_object()
        .bucket("hostile")
        .key("fine")
        .body(ByteStream::from(b"served".to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        body_bytes(
            c.get_object()
                .bucket("hostile")
                .key("fine")
                .send()
                .await
                .unwrap()
        )
        .await,
        b"served"
    );

    let deadline = started + Duration::from_secs(10);
    for (what, conns) in [
        ("idle", &mut idle),
        ("half-sent", &mut half_sent),
        ("trickling", &mut trickling),
    ] {
        for s in conns.iter_mut() {
            let outcome = read_until_closed(s, deadline);
            assert!(
                matches!(outcome, Outcome::Closed(_)),
                "{what} connection not closed 10 s after it stalled: {outcome:?}"
            );
        }
    }
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "closed before the 2 s timeout could have run out"
    );
    match read_until_closed(&mut kept_alive, deadline) {
        Outcome::Closed(n) => assert!(n > 0, "the metrics response was not sent first"),
        other => panic!("idle keep-alive connection not closed: {other:?}"),
    }
    // None of the trickled uploads was stored.
    let listed = c.list_objects_v2().bucket("hostile").send().await.unwrap();
    let keys: Vec<_> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["fine"]);
}

#[tokio::test]
async fn a_client_that_stops_reading_a_response_is_cut_off() {
    let server = Server::start_configured(SHORT_TIMEOUTS, &[], None);
    let c = server.alice();
    c.create_bucket().bucket("stall").send().await.unwrap();
    // Larger than what the kernel buffers on both ends of a loopback connection.
    let size = 48 << 20;
    c.put_object()
        .bucket("stall")
        .key("big")
        .body(ByteStream::from(pattern(size, 2)))
        .send()
        .await
        .unwrap();

    let mut s = connect(server.http);
    s.write_all(&signed_head(&server, "GET", "/stall/big", b""))
        .unwrap();
    // Read nothing for well past the idle timeout.
    std::thread::sleep(Duration::from_secs(5));
    match read_until_closed(&mut s, Instant::now() + Duration::from_secs(20)) {
        Outcome::Closed(n) => assert!(n < size, "the whole object arrived ({n} bytes)"),
        other => panic!("a stalled reader kept its connection: {other:?}"),
    }
}

#[tokio::test]
async fn over_the_connection_cap_a_client_waits_and_is_served_when_a_connection_ends() {
    let server = Server::start_configured(
        "max_connections = 3\nidle_timeout_seconds = 60\n",
        &[],
        Some("warn"),
    );
    let holders: Vec<TcpStream> = (0..3).map(|_| connect(server.http)).collect();
    std::thread::sleep(Duration::from_millis(300));

    let mut waiting = connect(server.http);
    waiting
        .write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut first = [0u8; 12];
    waiting
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    let early = waiting.read(&mut first);
    assert!(
        matches!(&early, Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)),
        "a fourth connection was served past a cap of three: {early:?}"
    );

    // One connection ends: the waiting client is accepted and answered, not refused.
    drop(holders.into_iter().next());
    let mut answer = Vec::new();
    waiting
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = waiting.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    let log = std::fs::read_to_string(server.log_path()).unwrap();
    let at_cap = log
        .lines()
        .filter(|l| l.contains("connection limit reached"))
        .count();
    assert_eq!(at_cap, 1, "{log}");
}

/// CPU time (user + system) the process has used, from /proc (in clock ticks of 1/100 s,
/// the value on every Linux this runs on).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of stat(5); the slice starts at field 3.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[tokio::test]
async fn out_of_descriptors_the_accept_loop_backs_off_with_a_bounded_log() {
    // A cap above the descriptors the server has: accepts fail with EMFILE first.
    let server = Server::start_after_shell(
        Some("ulimit -n 96"),
        "max_connections = 10000\nidle_timeout_seconds = 60\n",
        &[],
        Some("warn"),
    );
    let c = server.alice();
    c.create_bucket().bucket("fds").send().await.unwrap();

    let clients: Vec<TcpStream> = (0..150).map(|_| connect(server.http)).collect();
    std::thread::sleep(Duration::from_secs(1));
    let cpu_before = cpu_ticks(server.pid());
    std::thread::sleep(Duration::from_secs(3));
    let cpu_used = cpu_ticks(server.pid()) - cpu_before;
    // Spinning on accept burns the whole 3 s; backing off costs next to nothing.
    assert!(
        cpu_used < 60,
        "{cpu_used} ticks of CPU in 3 s out of descriptors"
    );

    let log = std::fs::read_to_string(server.log_path()).unwrap();
    let failures = log.lines().filter(|l| l.contains("accept failed")).count();
    assert!(
        (1..=2).contains(&failures),
        "{failures} accept warnings in 4 s; log is {} bytes",
        log.len()
    );
    assert!(log.len() < 16 * 1024, "log grew to {} bytes", log.len());

    // Once the descriptors are back, the server answers again.
    drop(clients);
    let put = tokio::time::timeout(
        Duration::from_secs(15),
        c.put_object()
            .bucket("fds")
            .key("after")
            .body(ByteStream::from(b"back".to_vec()))
            .send(),
    )
    .await;
    assert!(matches!(put, Ok(Ok(_))), "{put:?}");
}
