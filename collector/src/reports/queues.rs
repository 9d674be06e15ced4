//! A month's queue figures from `queue_log`: each queue call (one `callid` in one queue) is folded
//! from its events ([`QueueCall::add`]) and counted in the month it entered the queue
//! ([`QueueTally::add`]), so a call that entered before midnight of the month's last day and was
//! answered after it is the month's once. The formulas are stated in [`super::figures::FORMULAS`].
//!
//! Events used: ENTERQUEUE (offered), CONNECT (answered; its first data field, `holdtime`, gives
//! the ASA and the service level), ABANDON, EXITWITHTIMEOUT, and the talk time (`calltime`) of
//! COMPLETECALLER / COMPLETEAGENT (second data field) and of BLINDTRANSFER / ATTENDEDTRANSFER (the
//! field before `origposition`; TRANSFER, Asterisk 1.x's, the fourth), so a call an agent
//! transferred still counts its conversation. Service level is over the calls offered (answered
//! within the threshold / offered), not over those answered.

use super::figures::QueueFigures;
use std::collections::BTreeMap;

/// The `queue_log` events the figures read, for the reader's `WHERE event IN (...)`.
pub const EVENTS: &[&str] = &[
    "ENTERQUEUE",
    "CONNECT",
    "ABANDON",
    "EXITWITHTIMEOUT",
    "COMPLETECALLER",
    "COMPLETEAGENT",
    "BLINDTRANSFER",
    "ATTENDEDTRANSFER",
    "TRANSFER",
];

/// One call's passage through one queue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueCall {
    /// Epoch seconds of its first event, and of ENTERQUEUE once seen.
    pub first: Option<i64>,
    pub entered: Option<i64>,
    /// CONNECT's `holdtime`.
    pub connected: Option<u64>,
    pub abandoned: bool,
    pub timed_out: bool,
    /// Σ `calltime` of the events that end a conversation.
    pub talk_s: u64,
}

impl QueueCall {
    /// Folds one event at `time` (epoch seconds). `value` is the event's number the figures use:
    /// CONNECT's `holdtime`, the `calltime` of COMPLETE* and transfers; `None` if absent.
    pub fn add(&mut self, time: i64, event: &str, value: Option<i64>) {
        self.first = Some(self.first.map_or(time, |f| f.min(time)));
        let value = value.unwrap_or(0).max(0) as u64;
        match event {
            "ENTERQUEUE" => self.entered = Some(self.entered.map_or(time, |e| e.min(time))),
            "CONNECT" => self.connected = Some(value),
            "ABANDON" => self.abandoned = true,
            "EXITWITHTIMEOUT" => self.timed_out = true,
            "COMPLETECALLER" | "COMPLETEAGENT" | "BLINDTRANSFER" | "ATTENDEDTRANSFER" | "TRANSFER" => {
                self.talk_s += value
            }
            _ => {}
        }
    }

    /// When the call counts: its ENTERQUEUE, or its first event if that was not read.
    pub fn time(&self) -> Option<i64> {
        self.entered.or(self.first)
    }
}

#[derive(Debug, Clone, Default)]
struct Acc {
    offered: u64,
    answered: u64,
    within: u64,
    abandoned: u64,
    timed_out: u64,
    hold_s: u64,
    talk_s: u64,
}

/// The month's queues, by name.
#[derive(Debug, Clone)]
pub struct QueueTally {
    service_level_s: u32,
    /// Epoch seconds `[start, end)` of the month in the collector's zone.
    start: i64,
    end: i64,
    queues: BTreeMap<String, Acc>,
}

impl QueueTally {
    pub fn new(start: i64, end: i64, service_level_s: u32) -> Self {
        QueueTally { service_level_s, start, end, queues: BTreeMap::new() }
    }

    /// Counts `call` in `queue` if it entered the queue in the month; says whether it did.
    pub fn add(&mut self, queue: &str, call: &QueueCall) -> bool {
        let Some(t) = call.time() else { return false };
        if t < self.start || t >= self.end {
            return false;
        }
        if !self.queues.contains_key(queue) {
            self.queues.insert(queue.to_string(), Acc::default());
        }
        let Some(a) = self.queues.get_mut(queue) else { return false };
        a.offered += u64::from(call.entered.is_some());
        if let Some(hold) = call.connected {
            a.answered += 1;
            a.hold_s += hold;
            a.within += u64::from(hold <= u64::from(self.service_level_s));
        }
        a.abandoned += u64::from(call.abandoned);
        a.timed_out += u64::from(call.timed_out);
        a.talk_s += call.talk_s;
        true
    }

    /// Adds another tally of the same month (another server).
    pub fn merge(&mut self, other: QueueTally) {
        for (name, o) in other.queues {
            let a = self.queues.entry(name).or_default();
            a.offered += o.offered;
            a.answered += o.answered;
            a.within += o.within;
            a.abandoned += o.abandoned;
            a.timed_out += o.timed_out;
            a.hold_s += o.hold_s;
            a.talk_s += o.talk_s;
        }
    }

    /// Each queue's figures, by name.
    pub fn finish(self) -> Vec<QueueFigures> {
        let ratio = |n: u64, d: u64| (d > 0).then(|| n as f64 / d as f64);
        self.queues
            .into_iter()
            .map(|(queue, a)| QueueFigures {
                queue,
                offered: a.offered,
                answered: a.answered,
                abandoned: a.abandoned,
                timed_out: a.timed_out,
                answered_within: a.within,
                service_level_pct: ratio(a.within, a.offered).map(|r| r * 100.0),
                asa_s: ratio(a.hold_s, a.answered),
                avg_talk_s: ratio(a.talk_s, a.answered),
                abandon_rate_pct: ratio(a.abandoned, a.offered).map(|r| r * 100.0),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(events: &[(i64, &str, Option<i64>)]) -> QueueCall {
        let mut c = QueueCall::default();
        for &(t, e, v) in events {
            c.add(t, e, v);
        }
        c
    }

    #[test]
    fn a_queue_months_figures_follow_the_formulas() {
        let mut t = QueueTally::new(1000, 2000, 20);
        // Answered after 5 s (talk 60) and after 35 s (talk 100, ended by a transfer); one
        // abandoned, one timed out.
        assert!(t.add(
            "soporte",
            &call(&[(1100, "ENTERQUEUE", None), (1105, "CONNECT", Some(5)), (1165, "COMPLETECALLER", Some(60))])
        ));
        assert!(t.add(
            "soporte",
            &call(&[(1200, "ENTERQUEUE", None), (1235, "CONNECT", Some(35)), (1335, "BLINDTRANSFER", Some(100))])
        ));
        assert!(t.add("soporte", &call(&[(1300, "ENTERQUEUE", None), (1340, "ABANDON", None)])));
        assert!(t.add("soporte", &call(&[(1400, "ENTERQUEUE", None), (1700, "EXITWITHTIMEOUT", None)])));
        // Entered before the month, connected inside it: the previous month's.
        assert!(!t.add("soporte", &call(&[(990, "ENTERQUEUE", None), (1010, "CONNECT", Some(20))])));
        let q = t.finish();
        assert_eq!(q.len(), 1);
        let q = &q[0];
        assert_eq!((q.offered, q.answered, q.abandoned, q.timed_out, q.answered_within), (4, 2, 1, 1, 1));
        assert_eq!(q.service_level_pct, Some(25.0), "1 of 4 offered answered within 20 s");
        assert_eq!(q.asa_s, Some(20.0), "(5 + 35) / 2");
        assert_eq!(q.avg_talk_s, Some(80.0), "(60 + 100) / 2");
        assert_eq!(q.abandon_rate_pct, Some(25.0));
    }

    #[test]
    fn a_queue_with_nothing_answered_has_no_averages() {
        let mut t = QueueTally::new(0, 100, 20);
        t.add("ventas", &call(&[(10, "ENTERQUEUE", None), (40, "ABANDON", None)]));
        let q = &t.finish()[0];
        assert_eq!((q.asa_s, q.avg_talk_s, q.abandon_rate_pct), (None, None, Some(100.0)));
    }
}
