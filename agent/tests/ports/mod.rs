//! Loopback ports for tests that start a server, or that need a connection refused.

#![allow(dead_code)] // each test file uses its own subset

/// A port free a moment ago, for a server the test starts next.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A port bound but never listening, held as long as the returned socket lives: a connection to it
/// is refused, and no parallel test can take it (a dropped listener's port can be taken).
pub fn closed_port() -> (tokio::net::TcpSocket, u16) {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.bind("127.0.0.1:0".parse().unwrap()).expect("bind");
    let port = socket.local_addr().expect("addr").port();
    (socket, port)
}
