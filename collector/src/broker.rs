//! The embedded MQTT broker (cargo feature `embedded-broker`, rumqttd): a single binary works on a
//! fresh machine with nothing else installed.
//!
//! rumqttd keeps sessions and retained messages in memory only. That is acceptable here because the
//! broker lives and dies with the collector, its only subscriber, and every agent keeps its own
//! outbox until a PUBACK. Production deployments point `[mqtt] url` at Mosquitto instead.

use std::net::{SocketAddr, TcpListener};

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error(
        "cannot listen on {addr} for the embedded MQTT broker: {source}. If a broker such as Mosquitto already runs there, point the collector at it with `[mqtt] url = \"mqtt://{addr}\"` in the config, or move the embedded broker with `[embedded_broker] listen`"
    )]
    PortTaken { addr: SocketAddr, source: std::io::Error },
    #[error(
        "this collector was built without the `embedded-broker` feature; set `[mqtt] url` to an external broker such as Mosquitto"
    )]
    NotBuiltIn,
    #[error("cannot start the embedded broker: {0}")]
    Start(String),
}

/// Checks that `addr` can be bound, and returns the address actually available (port 0 becomes a
/// free port).
pub fn probe_listen(addr: SocketAddr) -> Result<SocketAddr, BrokerError> {
    let l = TcpListener::bind(addr).map_err(|source| BrokerError::PortTaken { addr, source })?;
    l.local_addr().map_err(|source| BrokerError::PortTaken { addr, source })
}

/// Starts the broker on its own threads and returns once it accepts connections.
#[cfg(feature = "embedded-broker")]
pub fn start(addr: SocketAddr) -> Result<SocketAddr, BrokerError> {
    use rumqttd::{Config, ConnectionSettings, RouterConfig, ServerSettings};
    use std::collections::HashMap;

    let addr = probe_listen(addr)?;
    let server = ServerSettings {
        name: "centinela-v4".into(),
        listen: addr,
        tls: None,
        next_connection_delay_ms: 1,
        connections: ConnectionSettings {
            connection_timeout_ms: 60_000,
            max_payload_size: centinela_agent::mqtt::MAX_PACKET_BYTES,
            max_inflight_count: 500,
            auth: None,
            external_auth: None,
            dynamic_filters: true,
        },
    };
    let config = Config {
        id: 0,
        router: RouterConfig {
            max_connections: 10_010,
            max_outgoing_packet_count: 500,
            max_segment_size: 16 * 1024 * 1024,
            max_segment_count: 8,
            custom_segment: None,
            initialized_filters: None,
            shared_subscriptions_strategy: Default::default(),
        },
        v4: Some(HashMap::from([("1".to_string(), server)])),
        ..Default::default()
    };
    std::thread::Builder::new()
        .name("embedded-broker".into())
        .spawn(move || {
            let mut broker = rumqttd::Broker::new(config);
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "embedded broker stopped");
            }
        })
        .map_err(|e| BrokerError::Start(e.to_string()))?;
    // No readiness probe: a bare TCP connect makes rumqttd log an error, and every client
    // (ingest, agents) retries with backoff anyway.
    tracing::info!(listen = %addr, "embedded MQTT broker running (rumqttd; in-memory sessions)");
    Ok(addr)
}

#[cfg(not(feature = "embedded-broker"))]
pub fn start(_addr: SocketAddr) -> Result<SocketAddr, BrokerError> {
    Err(BrokerError::NotBuiltIn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_port_is_reported_with_the_way_out() {
        let held = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = held.local_addr().unwrap();
        let e = probe_listen(addr).unwrap_err().to_string();
        assert!(
            e.contains(&format!("[mqtt] url = \\\"mqtt://{addr}\\\"")) || e.contains(&format!("mqtt://{addr}")),
            "{e}"
        );
        assert!(e.contains("[embedded_broker] listen"), "{e}");
    }
}
