//! MQTT ingest: subscribe with a persistent session and manual acknowledgements, hand every message
//! to the writer, and acknowledge it only once the writer says its transaction committed.
//!
//! Invariants:
//! - Fixed client id and `clean_session=false`: while the collector is away, the broker queues
//!   QoS 1 messages for it; unacknowledged messages are redelivered after a reconnect.
//! - A message is acknowledged after, never before, its SQLite commit. Acknowledgements for a
//!   broker session that has ended are discarded (the broker redelivers those messages, and the
//!   writer's `(agent, seq)` key makes the redelivery harmless).
//! - A failed commit drops the broker session, so its messages come back.
//! - The retained [`COLLECTOR_STATE`] reads `online` only after the subscriptions are acknowledged
//!   (its Last Will says `offline`, a clean stop says `stopped`). Agents send samples only while it
//!   reads `online`, so a broker that lost our session never acknowledges samples into the void.

use crate::store::writer::{Committed, Inbound, Op};
use centinela_agent::config::MqttConfig;
use centinela_agent::mqtt::{Backoff, Connection};
use centinela_shared::topic::COLLECTOR_STATE;
use centinela_shared::{Presence, TopicKind};
use rumqttc::{Event, Incoming, LastWill, Publish, QoS, SubscribeFilter};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{mpsc, watch};

/// (broker session number, what to acknowledge). QoS 0 messages need no acknowledgement.
pub type AckToken = (u64, Option<Publish>);

#[derive(Debug, Default)]
pub struct IngestStatus {
    pub connected: AtomicBool,
}

pub async fn run(
    mqtt: MqttConfig,
    client_id: String,
    writer: mpsc::Sender<Op<AckToken>>,
    mut committed: mpsc::UnboundedReceiver<Committed<AckToken>>,
    status: Arc<IngestStatus>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Backoff::new();
    let mut epoch = 0u64;
    let broker = mqtt.url.to_string();
    loop {
        epoch += 1;
        let mut opts = match centinela_agent::mqtt::options(&client_id, &mqtt) {
            Ok(o) => o,
            Err(e) => {
                tracing::error!(error = %e, "cannot configure the MQTT client; ingest stopped");
                return;
            }
        };
        opts.set_clean_session(false);
        opts.set_manual_acks(true);
        opts.set_last_will(LastWill::new(COLLECTOR_STATE, Presence::Offline.as_str(), QoS::AtLeastOnce, true));
        let mut conn = Connection::start(opts, 16_384);
        let reason: String = loop {
            tokio::select! {
                _ = shutdown.changed() => {
                    // Tell the agents to hold their samples, then leave (the Will only fires on an
                    // unclean loss).
                    let _ = conn.client.try_publish(COLLECTOR_STATE, QoS::AtLeastOnce, true, Presence::Stopped.as_str());
                    let _ = conn.client.try_disconnect();
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
                        while let Some(Ok(_)) = conn.events.recv().await {}
                    })
                    .await;
                    return;
                }
                ev = conn.events.recv() => match ev {
                    Some(Ok(Event::Incoming(Incoming::ConnAck(ack)))) => {
                        backoff.reset();
                        status.connected.store(true, Ordering::Relaxed);
                        tracing::info!(broker = %broker, session_present = ack.session_present, "ingest connected");
                        // Subscribing again on a resumed session is harmless, and required after a
                        // broker that lost its state.
                        let filters = TopicKind::ALL.map(|k| SubscribeFilter::new(k.filter_all_agents(), QoS::AtLeastOnce));
                        if let Err(e) = conn.client.subscribe_many(filters).await {
                            break format!("cannot subscribe: {e}");
                        }
                    }
                    Some(Ok(Event::Incoming(Incoming::SubAck(_)))) => {
                        if let Err(e) = conn.client.publish(COLLECTOR_STATE, QoS::AtLeastOnce, true, Presence::Online.as_str()).await {
                            break format!("cannot publish the collector state: {e}");
                        }
                    }
                    Some(Ok(Event::Incoming(Incoming::Publish(p)))) => {
                        let token = (p.qos != QoS::AtMostOnce).then(|| {
                            let mut ack = Publish::new("", p.qos, Vec::new());
                            ack.pkid = p.pkid;
                            ack
                        });
                        let op = Op::Message(Inbound {
                            topic: p.topic,
                            payload: p.payload.to_vec(),
                            received_ms: chrono::Utc::now().timestamp_millis(),
                            token: (epoch, token),
                        });
                        if writer.send(op).await.is_err() {
                            return;
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => break e.to_string(),
                    None => break "event loop ended".into(),
                },
                c = committed.recv() => match c {
                    Some(Committed::Durable(tokens)) => {
                        for (ep, ack) in tokens {
                            if let (true, Some(ack)) = (ep == epoch, ack)
                                && conn.client.ack(&ack).await.is_err()
                            {
                                break;
                            }
                        }
                    }
                    Some(Committed::Failed(e)) => break format!("storage failed ({e}); reconnecting so the broker redelivers"),
                    None => return,
                },
            }
        };
        status.connected.store(false, Ordering::Relaxed);
        drop(conn);
        let delay = backoff.next_delay();
        tracing::warn!(broker = %broker, error = %reason, retry_in_ms = delay.as_millis() as u64, "ingest disconnected");
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}
