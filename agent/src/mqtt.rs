//! MQTT plumbing shared by the agent and the collector: client options from a validated
//! [`MqttConfig`], and one rumqttc client per connection.
//!
//! Invariant: a [`Connection`] lives for exactly one broker session. Its event task ends at the first
//! error, and the caller starts a new `Connection` after its backoff. rumqttc would otherwise carry
//! requests queued for the dead session into the next one (see `rust-stack.md` §1), which breaks the
//! order-based pairing of publishes with PUBACKs in [`crate::delivery`].

use crate::config::MqttConfig;
use rumqttc::{AsyncClient, ConnectionError, Event, MqttOptions, TlsConfiguration, Transport};
use std::time::Duration;
use tokio::sync::mpsc;

/// Larger than [`centinela_shared::MAX_PAYLOAD_BYTES`], so that an oversized payload reaches the
/// decoder and is rejected there with a clear error, instead of breaking the connection.
pub const MAX_PACKET_BYTES: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum MqttSetupError {
    #[error("cannot read mqtt.ca_file {path}: {source}")]
    CaFile { path: std::path::PathBuf, source: std::io::Error },
}

/// Installs rustls' ring provider once per process (rumqttc is built without a default provider so
/// that aws-lc's C build stays out of the agent).
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Client options for `client_id`, with credentials and TLS from `cfg`.
pub fn options(client_id: &str, cfg: &MqttConfig) -> Result<MqttOptions, MqttSetupError> {
    let mut opts = MqttOptions::new(client_id, cfg.url.host.clone(), cfg.url.port);
    opts.set_keep_alive(Duration::from_secs(30));
    opts.set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES);
    if let Some(user) = &cfg.username {
        opts.set_credentials(user.clone(), cfg.password.clone().unwrap_or_default());
    }
    if cfg.url.tls {
        install_crypto_provider();
        let transport = match &cfg.ca_file {
            Some(path) => {
                let ca = std::fs::read(path).map_err(|source| MqttSetupError::CaFile { path: path.clone(), source })?;
                Transport::tls_with_config(TlsConfiguration::Simple { ca, alpn: None, client_auth: None })
            }
            None => Transport::tls_with_default_config(),
        };
        opts.set_transport(transport);
    }
    Ok(opts)
}

/// One broker session: a client handle and the events of its event loop.
pub struct Connection {
    pub client: AsyncClient,
    pub events: mpsc::UnboundedReceiver<Result<Event, ConnectionError>>,
    task: tokio::task::JoinHandle<()>,
}

impl Connection {
    /// Starts connecting. The first event is `Incoming(ConnAck)` or an error; after an error no
    /// further event arrives and the connection is finished.
    pub fn start(opts: MqttOptions, request_capacity: usize) -> Self {
        let (client, mut eventloop) = AsyncClient::new(opts, request_capacity);
        let (tx, events) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                let ev = eventloop.poll().await;
                let failed = ev.is_err();
                if tx.send(ev).is_err() || failed {
                    break;
                }
            }
        });
        Self { client, events, task }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reconnect delays: 0.5 s doubling to 30 s, reset by a successful CONNACK.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(500);
    const MAX: Duration = Duration::from_secs(30);

    pub fn new() -> Self {
        Self { next: Self::FIRST }
    }

    pub fn reset(&mut self) {
        self.next = Self::FIRST;
    }

    /// The delay to wait now; the following one is twice as long, up to 30 s.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        d
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_thirty_seconds_and_resets() {
        let mut b = Backoff::new();
        let delays: Vec<u64> = (0..9).map(|_| b.next_delay().as_millis() as u64).collect();
        assert_eq!(delays, vec![500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(500));
    }
}
