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
//! - The subscriptions are [`TopicKind::FROM_AGENTS`], never `+/cmd` (the collector's own
//!   commands). Replies on `+/reply` go straight to [`Commands`], never to the writer: they are
//!   answers to a waiting request, not data to make durable. Their subscription is QoS 0, so they
//!   need no acknowledgement: PUBACKs must follow the order of arrival (MQTT 3.1.1 §4.6; rumqttd
//!   drops a client that acknowledges out of order), and a reply acknowledged at once would
//!   overtake samples still waiting for their commit. QoS 0 also means the broker queues no reply
//!   while the collector is away; nobody would be waiting for it.

use crate::commands::Commands;
use crate::store::writer::{Committed, Inbound, Op};
use centinela_agent::config::MqttConfig;
use centinela_agent::mqtt::{Backoff, Connection};
use centinela_shared::topic::COLLECTOR_STATE;
use centinela_shared::{Presence, Topic, TopicKind};
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
    commands: Commands,
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
                    commands.disconnected();
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
                        let filters = TopicKind::FROM_AGENTS.map(|k| SubscribeFilter::new(k.filter_all_agents(), subscription_qos(k)));
                        if let Err(e) = conn.client.subscribe_many(filters).await {
                            break format!("cannot subscribe: {e}");
                        }
                    }
                    Some(Ok(Event::Incoming(Incoming::SubAck(_)))) => {
                        if let Err(e) = conn.client.publish(COLLECTOR_STATE, QoS::AtLeastOnce, true, Presence::Online.as_str()).await {
                            break format!("cannot publish the collector state: {e}");
                        }
                        commands.connected(conn.client.clone());
                    }
                    Some(Ok(Event::Incoming(Incoming::Publish(p)))) => {
                        if let Some(agent) = reply_from(&p.topic) {
                            commands.on_reply(&agent, &p.payload);
                            // Only a broker ignoring the QoS 0 subscription sends it at QoS 1;
                            // left unacknowledged it would come back at every reconnect.
                            if p.qos != QoS::AtMostOnce
                                && let Err(e) = conn.client.ack(&p).await
                            {
                                break format!("cannot acknowledge a command reply: {e}");
                            }
                            continue;
                        }
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
        commands.disconnected();
        drop(conn);
        let delay = backoff.next_delay();
        tracing::warn!(broker = %broker, error = %reason, retry_in_ms = delay.as_millis() as u64, "ingest disconnected");
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// QoS 1 for data, QoS 0 for command replies (see the module invariants).
fn subscription_qos(kind: TopicKind) -> QoS {
    match kind {
        TopicKind::Reply => QoS::AtMostOnce,
        TopicKind::Sample | TopicKind::Status | TopicKind::Birth | TopicKind::Cmd => QoS::AtLeastOnce,
    }
}

/// The agent whose reply topic this is, if it is one.
fn reply_from(topic: &str) -> Option<centinela_shared::AgentId> {
    Topic::parse(topic).filter(|t| t.kind == TopicKind::Reply).map(|t| t.agent)
}
