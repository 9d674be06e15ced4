//! The MQTT delivery state machine, without I/O: which outbox records are in flight on the current
//! connection, and which record a PUBACK acknowledges.
//!
//! rumqttc has no per-publish acknowledgement API (`publish().await` only means "queued"). It does
//! emit `Outgoing::Publish(pkid)` in request order, and `Incoming::PubAck(pkid)` when the broker
//! acknowledges. So we remember what we handed to the client, in order, pair each with its pkid as
//! the outgoing events arrive, and map PUBACKs back to outbox ids.
//!
//! Invariants:
//! - Only a PUBACK on the connection that sent a record can acknowledge it; a disconnect forgets every
//!   pairing, and after the next CONNACK every unacknowledged record is sent again from the oldest.
//!   (The publisher also uses a fresh rumqttc client per connection, so no request from an old
//!   connection can leak into a new one and shift the pairing.)
//! - Records are handed over only while the collector's retained state reads `online` (see
//!   [`centinela_shared::topic::COLLECTOR_STATE`]); while it does not, samples wait in the outbox.
//! - Every publish on the connection goes through [`Delivery::on_handed`], in the order the client
//!   accepted it: records, status, birth and command replies alike (a reply is [`Tracked::Control`],
//!   QoS 1), since each produces one `Outgoing::Publish` that the pairing must consume.
//! - At most `window` records are handed over and unacknowledged at once, far below rumqttc's
//!   inflight limit, so packet ids never collide.

use std::collections::{HashMap, VecDeque};

/// What a handed-over publish carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tracked {
    /// An outbox record, by id.
    Record(i64),
    /// A status or birth message, or a command's reply; nothing to delete when it is acknowledged.
    Control,
}

#[derive(Debug, PartialEq, Eq)]
pub enum DeliveryError {
    /// The client reported a publish we did not hand over: the pairing is lost, reconnect.
    UnexpectedOutgoing(u16),
}

#[derive(Debug)]
pub struct Delivery {
    window: usize,
    connected: bool,
    /// The collector's retained state said `online` on this connection.
    collector_online: bool,
    /// Handed to the client, waiting for their `Outgoing::Publish(pkid)`, in order.
    unpaired: VecDeque<Tracked>,
    /// Sent with this pkid, waiting for the PUBACK.
    inflight: HashMap<u16, Tracked>,
    /// The highest outbox id handed over on this connection.
    sent_up_to: i64,
}

impl Delivery {
    pub fn new(window: usize) -> Self {
        Self {
            window: window.max(1),
            connected: false,
            collector_online: false,
            unpaired: VecDeque::new(),
            inflight: HashMap::new(),
            sent_up_to: 0,
        }
    }

    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// A CONNACK arrived: start again from the oldest record.
    pub fn on_connected(&mut self) {
        self.forget();
        self.connected = true;
    }

    /// The connection is gone: nothing in flight can be acknowledged any more.
    pub fn on_disconnected(&mut self) {
        self.forget();
        self.connected = false;
        self.collector_online = false;
    }

    /// The collector's retained state arrived (or changed). Records already in flight stay in
    /// flight: the broker queues them for the collector's persistent session.
    pub fn on_collector_state(&mut self, online: bool) {
        self.collector_online = online;
    }

    pub fn collector_online(&self) -> bool {
        self.collector_online
    }

    fn forget(&mut self) {
        self.unpaired.clear();
        self.inflight.clear();
        self.sent_up_to = 0;
    }

    fn records_outstanding(&self) -> usize {
        let is_record = |t: &Tracked| matches!(t, Tracked::Record(_));
        self.unpaired.iter().filter(|t| is_record(t)).count() + self.inflight.values().filter(|t| is_record(t)).count()
    }

    /// How many more records may be handed over now (0 while disconnected).
    pub fn free_slots(&self) -> usize {
        if !self.connected || !self.collector_online {
            return 0;
        }
        self.window.saturating_sub(self.records_outstanding())
    }

    /// Records with an id above this one have not been handed over on this connection.
    pub fn sent_up_to(&self) -> i64 {
        self.sent_up_to
    }

    /// A publish was accepted by the client.
    pub fn on_handed(&mut self, what: Tracked) {
        if let Tracked::Record(id) = what {
            self.sent_up_to = self.sent_up_to.max(id);
        }
        self.unpaired.push_back(what);
    }

    /// rumqttc wrote a PUBLISH with this packet id.
    pub fn on_outgoing_publish(&mut self, pkid: u16) -> Result<(), DeliveryError> {
        let what = self.unpaired.pop_front().ok_or(DeliveryError::UnexpectedOutgoing(pkid))?;
        self.inflight.insert(pkid, what);
        Ok(())
    }

    /// The broker acknowledged this packet id. Returns what it acknowledged, if we sent it.
    pub fn on_puback(&mut self, pkid: u16) -> Option<Tracked> {
        self.inflight.remove(&pkid)
    }

    /// Nothing handed over is still waiting for an acknowledgement.
    pub fn is_idle(&self) -> bool {
        self.unpaired.is_empty() && self.inflight.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_sent_before_the_first_connack() {
        let d = Delivery::new(8);
        assert_eq!(d.free_slots(), 0);
    }

    #[test]
    fn a_puback_acknowledges_the_record_its_publish_carried() {
        let mut d = Delivery::new(8);
        d.on_connected();
        d.on_collector_state(true);
        d.on_handed(Tracked::Control);
        d.on_handed(Tracked::Record(10));
        d.on_handed(Tracked::Record(11));
        d.on_outgoing_publish(1).unwrap();
        d.on_outgoing_publish(2).unwrap();
        d.on_outgoing_publish(3).unwrap();
        assert_eq!(d.on_puback(3), Some(Tracked::Record(11)));
        assert_eq!(d.on_puback(1), Some(Tracked::Control));
        assert_eq!(d.on_puback(2), Some(Tracked::Record(10)));
        assert_eq!(d.on_puback(2), None, "a duplicate PUBACK acknowledges nothing");
        assert!(d.is_idle());
    }

    #[test]
    fn the_window_limits_records_but_not_control_messages() {
        let mut d = Delivery::new(2);
        d.on_connected();
        d.on_collector_state(true);
        d.on_handed(Tracked::Control);
        assert_eq!(d.free_slots(), 2);
        d.on_handed(Tracked::Record(1));
        d.on_handed(Tracked::Record(2));
        assert_eq!(d.free_slots(), 0);
        d.on_outgoing_publish(7).unwrap();
        d.on_outgoing_publish(8).unwrap();
        d.on_puback(8);
        assert_eq!(d.free_slots(), 1);
        assert_eq!(d.sent_up_to(), 2);
    }

    #[test]
    fn a_disconnect_forgets_everything_in_flight_and_the_next_connection_resends_from_the_oldest() {
        let mut d = Delivery::new(4);
        d.on_connected();
        d.on_collector_state(true);
        d.on_handed(Tracked::Record(5));
        d.on_outgoing_publish(1).unwrap();
        d.on_disconnected();
        assert_eq!(d.free_slots(), 0);
        assert_eq!(d.on_puback(1), None, "a PUBACK from a dead connection deletes nothing");
        d.on_connected();
        d.on_collector_state(true);
        assert_eq!(d.sent_up_to(), 0);
        assert_eq!(d.free_slots(), 4);
    }

    #[test]
    fn records_wait_while_the_collector_is_not_online() {
        let mut d = Delivery::new(4);
        d.on_connected();
        assert_eq!(d.free_slots(), 0, "no collector state seen yet on this connection");
        d.on_collector_state(true);
        assert_eq!(d.free_slots(), 4);
        d.on_handed(Tracked::Record(1));
        d.on_outgoing_publish(1).unwrap();
        d.on_collector_state(false);
        assert_eq!(d.free_slots(), 0);
        assert_eq!(d.on_puback(1), Some(Tracked::Record(1)), "what was in flight still completes");
        d.on_collector_state(true);
        d.on_disconnected();
        d.on_connected();
        assert_eq!(d.free_slots(), 0, "a new connection learns the collector state again");
    }

    #[test]
    fn an_outgoing_publish_we_did_not_hand_over_is_reported() {
        let mut d = Delivery::new(4);
        d.on_connected();
        d.on_collector_state(true);
        assert_eq!(d.on_outgoing_publish(9), Err(DeliveryError::UnexpectedOutgoing(9)));
    }
}
