//! Which calls a call center received, made, or kept inside: one call = one `linkedid` (or
//! `uniqueid` where the PBX has no `linkedid`), classified by configurable rules per server.
//!
//! Pure: a call is folded leg by leg ([`CallBuilder::add`]) in any order and [`CallBuilder::finish`]
//! says what it was. The rules, in the order they are tried (each stated in [`super::figures::FORMULAS`]):
//!
//! - **Direction.** *Inbound* when the call's origin leg (the row of the channel that started it:
//!   `uniqueid` = the call's id) came in on a trunk (`channel` matches `trunks`), or any leg carries
//!   a `did` (FreePBX's inbound routes set `CDR(did)`), or the origin leg's `dcontext` matches
//!   `inbound_contexts` (`from-trunk*`, `from-pstn*`, `ext-did*`, `from-did-direct*`). Otherwise
//!   *outbound* when any leg's `dstchannel` is a trunk, or any leg carries `outbound_cnum`
//!   (FreePBX's outbound routes set it, even when no trunk could be reached), or the origin's
//!   `dcontext` matches `outbound_contexts` (`outrt-*`, `macro-dialout-trunk*`). Otherwise
//!   *internal*. `from-internal` alone decides nothing: outbound and internal calls both start there.
//!   Only the origin's channel counts for inbound: after a transfer the trunk of an outgoing call
//!   can become "Party A" of a later row.
//! - **Outcome.** *Answered* when a person (or the called number) answered: some leg is `ANSWERED`
//!   with a `dstchannel` that is not a `Local/` channel. The trunk leg of a queue or IVR call is
//!   `ANSWERED` by the dialplan's `Answer()` before `Queue()`, and a ring-all queue's `Local/…;1`
//!   legs stand for the member, whose phone is on the `;2` leg's `dstchannel`: neither proves that
//!   anybody picked up. A call only the PBX answered (queue, IVR, music, voicemail) is *no answer*
//!   whatever its member legs say. Otherwise *busy* if a leg is `BUSY`, else *failed* if a leg is
//!   `FAILED` or `CONGESTION`, else *no answer* (also `NO ANSWER`, `CANCEL`).
//! - **Talk time** is the sum of `billsec` of the answering legs: the agent's leg, not the trunk's
//!   (whose `billsec` includes the queue wait); a transfer adds the second party's leg.
//! - **Without `linkedid`** (Issabel's table; an empty value counts as missing) a call is its
//!   `uniqueid`, so the `;2` half of a `Local/` channel cannot be tied to its caller: such rows are
//!   not calls of their own ([`Leg::call_id`] is `None`), and an `ANSWERED` leg whose `dstchannel`
//!   is `Local/` counts as answered, its `billsec` (which then includes the queue wait) as the
//!   talk time.
//! - **Destination** of an outgoing call: the number the trunk was dialled with, from the trunk
//!   leg's `Dial` data (`PJSIP/5551185@carrier`, `SIP/carrier/5551185`, `DAHDI/g0/5551185`),
//!   else that leg's `dst` (which keeps any dialling prefix such as `9`).

use centinela_agent::config::{ConfigError, invalid};
use serde::{Deserialize, Serialize};

/// One CDR row as the classification sees it (borrowed: nothing is copied while reading).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Leg<'a> {
    /// `YYYY-MM-DD HH:MM:SS`, the PBX's local time.
    pub calldate: &'a str,
    pub dst: &'a str,
    pub dcontext: &'a str,
    pub channel: &'a str,
    pub dstchannel: &'a str,
    pub lastapp: &'a str,
    pub lastdata: &'a str,
    pub billsec: i64,
    pub disposition: &'a str,
    pub uniqueid: &'a str,
    /// `None`: the table has no such column (or the row left it empty).
    pub linkedid: Option<&'a str>,
    pub did: Option<&'a str>,
    pub outbound_cnum: Option<&'a str>,
}

fn present(v: Option<&str>) -> Option<&str> {
    v.filter(|s| !s.is_empty())
}

fn is_local(channel: &str) -> bool {
    channel.starts_with("Local/")
}

impl<'a> Leg<'a> {
    /// The call this row belongs to: its `linkedid`, or its `uniqueid` where there is none.
    /// `None` for the `;2` half of a `Local/` channel in a table without `linkedid`: that row is a
    /// member attempt of a queue or ring group whose caller is on another `uniqueid`, not a call.
    pub fn call_id(&self) -> Option<&'a str> {
        match present(self.linkedid) {
            Some(id) => Some(id),
            None if is_local(self.channel) && self.channel.ends_with(";2") => None,
            None => Some(self.uniqueid),
        }
    }
}

/// Received, made, or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Inbound,
    Outbound,
    Internal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Answered,
    NoAnswer,
    Busy,
    Failed,
}

/// A classified call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The earliest `calldate` of its legs, as [`parse_calldate`] reads it.
    pub start: i64,
    pub direction: Direction,
    pub outcome: Outcome,
    /// Seconds of conversation (0 unless answered).
    pub talk_s: u64,
    /// Outgoing calls: the number dialled.
    pub destination: Option<String>,
    pub legs: u32,
}

/// A channel or context pattern: a glob (`*` any text, `?` one character) matched against the whole
/// name, or, without `*` and `?`, a prefix (`DAHDI/` is `DAHDI/*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    Prefix(String),
    Glob(String),
}

impl Pattern {
    /// Refuses empty patterns, spaces, and patterns that match every name (the fix goes in the
    /// message, after the pattern).
    pub fn parse(text: &str) -> Result<Pattern, String> {
        if text.is_empty() || text.chars().any(char::is_whitespace) {
            return Err(format!(
                "{text:?} is empty or has spaces; write a channel or context name such as \"PJSIP/carrier*\""
            ));
        }
        if text.chars().all(|c| c == '*') {
            return Err(format!("{text:?} matches everything; name what it should match, such as \"PJSIP/carrier*\""));
        }
        let wild = |c: char| c == '*' || c == '?';
        Ok(match text.strip_suffix('*') {
            Some(prefix) if !prefix.contains(wild) => Pattern::Prefix(prefix.to_string()),
            _ if !text.contains(wild) => Pattern::Prefix(text.to_string()),
            _ => Pattern::Glob(text.to_string()),
        })
    }

    pub fn matches(&self, name: &str) -> bool {
        match self {
            Pattern::Prefix(p) => name.starts_with(p.as_str()),
            Pattern::Glob(g) => glob(g.as_bytes(), name.as_bytes()),
        }
    }
}

/// Wildcard match with one backtracking point per `*` (linear for the patterns people write).
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

fn any(patterns: &[Pattern], name: &str) -> bool {
    !name.is_empty() && patterns.iter().any(|p| p.matches(name))
}

/// FreePBX's usual trunk channels: named carrier/trunk trunks, and every IAX2, DAHDI (E1/analog
/// lines) and Dongle (GSM gateway) channel.
pub const DEFAULT_TRUNKS: &[&str] =
    &["PJSIP/carrier*", "PJSIP/trunk*", "SIP/carrier*", "SIP/trunk*", "IAX2/*", "DAHDI/*", "Dongle/*"];
/// FreePBX's contexts for calls from a trunk: `from-trunk` (and its `from-trunk-<name>` variants),
/// `from-pstn`, the inbound routes `ext-did-NNNN`, and `from-did-direct` (a DID to an extension).
pub const DEFAULT_INBOUND_CONTEXTS: &[&str] = &["from-trunk*", "from-pstn*", "ext-did*", "from-did-direct*"];
/// FreePBX's outbound routes (`outrt-N`) and its trunk-dialling macro.
pub const DEFAULT_OUTBOUND_CONTEXTS: &[&str] = &["outrt-*", "macro-dialout-trunk*"];

/// The classification rules of one server: `[reports]` keys, or `[reports.servers."<agent-id>"]`
/// where one server differs.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRules {
    /// Trunk channels (`channel` of a call's first leg, `dstchannel` of any leg): globs, or
    /// prefixes. Default ["PJSIP/carrier*", "PJSIP/trunk*", "SIP/carrier*", "SIP/trunk*",
    /// "IAX2/*", "DAHDI/*", "Dongle/*"].
    pub trunks: Option<Vec<String>>,
    /// `dcontext` of a call's first leg that makes it inbound. Default ["from-trunk*",
    /// "from-pstn*", "ext-did*", "from-did-direct*"].
    pub inbound_contexts: Option<Vec<String>>,
    /// `dcontext` of a call's first leg that makes it outbound (unless inbound). Default
    /// ["outrt-*", "macro-dialout-trunk*"].
    pub outbound_contexts: Option<Vec<String>>,
    /// A non-empty `did` on any leg makes the call inbound. Default true.
    pub did_is_inbound: Option<bool>,
    /// A non-empty `outbound_cnum` on any leg makes the call outbound (unless inbound). Default true.
    pub outbound_cnum_is_outbound: Option<bool>,
}

/// The validated rules of one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    pub trunks: Vec<Pattern>,
    pub inbound_contexts: Vec<Pattern>,
    pub outbound_contexts: Vec<Pattern>,
    pub did_is_inbound: bool,
    pub outbound_cnum_is_outbound: bool,
}

fn patterns(list: &[&str]) -> Vec<Pattern> {
    list.iter().filter_map(|p| Pattern::parse(p).ok()).collect()
}

impl Default for Rules {
    /// FreePBX's conventions.
    fn default() -> Self {
        Rules {
            trunks: patterns(DEFAULT_TRUNKS),
            inbound_contexts: patterns(DEFAULT_INBOUND_CONTEXTS),
            outbound_contexts: patterns(DEFAULT_OUTBOUND_CONTEXTS),
            did_is_inbound: true,
            outbound_cnum_is_outbound: true,
        }
    }
}

impl Rules {
    /// `raw` over `base`: a key that is given replaces the base's whole list. `key` is the config
    /// key of the section (`reports` or `reports.servers`), `prefix` what the message names inside
    /// it (`""` or `"\"pbx-1\"."`).
    pub fn from_raw(raw: RawRules, base: &Rules, key: &'static str, prefix: &str) -> Result<Rules, ConfigError> {
        let list = |name: &str, given: Option<Vec<String>>, base: &[Pattern]| -> Result<Vec<Pattern>, ConfigError> {
            match given {
                None => Ok(base.to_vec()),
                Some(texts) => texts
                    .iter()
                    .map(|t| Pattern::parse(t).map_err(|m| invalid(key, format!("{prefix}{name}: {m}"))))
                    .collect(),
            }
        };
        Ok(Rules {
            trunks: list("trunks", raw.trunks, &base.trunks)?,
            inbound_contexts: list("inbound_contexts", raw.inbound_contexts, &base.inbound_contexts)?,
            outbound_contexts: list("outbound_contexts", raw.outbound_contexts, &base.outbound_contexts)?,
            did_is_inbound: raw.did_is_inbound.unwrap_or(base.did_is_inbound),
            outbound_cnum_is_outbound: raw.outbound_cnum_is_outbound.unwrap_or(base.outbound_cnum_is_outbound),
        })
    }
}

/// `YYYY-MM-DD HH:MM:SS` (anything after the seconds is ignored) as seconds since 1970-01-01
/// 00:00:00 of the same wall clock: no time zone, only ordering and arithmetic. `None` when the
/// text is not such a date.
pub fn parse_calldate(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b' ' | b'T') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        b[from..to].iter().try_fold(0i64, |n, &c| c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0')))
    };
    let (y, m, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hh, mm, ss) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    Some(days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The number a `Dial` to a trunk sent: `PJSIP/<number>@<endpoint>` or `<TECH>/<trunk>/<number>`
/// (first target, before the options). `None` when the data is not one of those or the number is
/// not dialable digits.
pub fn dialled_number<'a>(lastapp: &str, lastdata: &'a str) -> Option<&'a str> {
    if !lastapp.eq_ignore_ascii_case("Dial") {
        return None;
    }
    let target = lastdata.split([',', '&']).next()?;
    let (_, resource) = target.split_once('/')?;
    let number = match resource.split_once('@') {
        Some((number, _)) => number,
        None => resource.rsplit_once('/')?.1,
    };
    let dialable = |c: char| c.is_ascii_digit() || matches!(c, '+' | '*' | '#');
    (!number.is_empty() && number.chars().all(dialable)).then_some(number)
}

/// What the origin leg (or, until it shows up, the first leg) says about the call.
#[derive(Debug, Clone, Default)]
struct Origin {
    trunk: bool,
    inbound_context: bool,
    outbound_context: bool,
}

impl Origin {
    fn of(leg: &Leg, rules: &Rules) -> Origin {
        Origin {
            trunk: any(&rules.trunks, leg.channel),
            inbound_context: any(&rules.inbound_contexts, leg.dcontext),
            outbound_context: any(&rules.outbound_contexts, leg.dcontext),
        }
    }

    fn merge(&mut self, o: Origin) {
        self.trunk |= o.trunk;
        self.inbound_context |= o.inbound_context;
        self.outbound_context |= o.outbound_context;
    }
}

/// A call being folded from its legs. Legs may come in any order.
#[derive(Debug, Clone, Default)]
pub struct CallBuilder {
    start: Option<i64>,
    legs: u32,
    /// From the legs whose `uniqueid` is the call's id (the channel that started it).
    origin: Option<Origin>,
    /// From the earliest leg, for a call whose origin channel left no row.
    first: Option<(i64, Origin)>,
    did: bool,
    outbound_cnum: bool,
    trunk_dialled: bool,
    answered_legs: u32,
    talk_s: u64,
    pbx_answered: bool,
    busy: bool,
    failed: bool,
    /// (answered, earliest calldate, number) of the best trunk leg seen, or the origin's `dst`.
    destination: Option<(bool, i64, String)>,
    origin_dst: Option<String>,
}

impl CallBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Folds one leg of the call (a leg whose [`Leg::call_id`] is this call's). A leg whose
    /// `calldate` cannot be read still counts in the outcome; the start comes from the others.
    pub fn add(&mut self, leg: &Leg, rules: &Rules) {
        self.legs += 1;
        let at = parse_calldate(leg.calldate);
        if let Some(at) = at {
            self.start = Some(self.start.map_or(at, |s| s.min(at)));
        }
        let at = at.unwrap_or(i64::MAX);
        let grouped = present(leg.linkedid);
        let is_origin = grouped.is_none_or(|id| id == leg.uniqueid);
        if is_origin {
            let o = Origin::of(leg, rules);
            // Kept only where it may be needed: an outgoing call that reached no trunk.
            let outgoing = o.outbound_context || present(leg.outbound_cnum).is_some();
            if outgoing && self.origin_dst.is_none() && !leg.dst.is_empty() {
                self.origin_dst = Some(leg.dst.to_string());
            }
            self.origin.get_or_insert_with(Origin::default).merge(o);
        } else if self.first.as_ref().is_none_or(|(t, _)| at < *t) {
            self.first = Some((at, Origin::of(leg, rules)));
        }
        self.did |= rules.did_is_inbound && present(leg.did).is_some();
        self.outbound_cnum |= rules.outbound_cnum_is_outbound && present(leg.outbound_cnum).is_some();

        let answered = leg.disposition == "ANSWERED";
        // Someone was bridged to the caller: a phone, or the far end of a trunk. `Local/` is only
        // a stand-in for a member, except where its `;2` half cannot be found (no `linkedid`).
        let answering = answered && !leg.dstchannel.is_empty() && (grouped.is_none() || !is_local(leg.dstchannel));
        if answering {
            self.answered_legs += 1;
            self.talk_s += leg.billsec.max(0) as u64;
        } else if answered {
            self.pbx_answered = true;
        }
        match leg.disposition {
            "BUSY" => self.busy = true,
            "FAILED" | "CONGESTION" => self.failed = true,
            _ => {}
        }

        if any(&rules.trunks, leg.dstchannel) {
            self.trunk_dialled = true;
            let number = dialled_number(leg.lastapp, leg.lastdata).unwrap_or(leg.dst);
            // The answered trunk leg's number, else the earliest one's.
            let better = match &self.destination {
                None => true,
                Some((a, t, _)) => (answering, std::cmp::Reverse(at)) > (*a, std::cmp::Reverse(*t)),
            };
            if better && !number.is_empty() {
                self.destination = Some((answering, at, number.to_string()));
            }
        }
    }

    pub fn legs(&self) -> u32 {
        self.legs
    }

    /// The earliest start seen so far.
    pub fn start(&self) -> Option<i64> {
        self.start
    }

    /// The classified call; `None` when no leg had a readable `calldate`.
    pub fn finish(self) -> Option<Call> {
        let start = self.start?;
        let origin = self.origin.or(self.first.map(|(_, o)| o)).unwrap_or_default();
        let direction = if origin.trunk || self.did || origin.inbound_context {
            Direction::Inbound
        } else if self.trunk_dialled || self.outbound_cnum || origin.outbound_context {
            Direction::Outbound
        } else {
            Direction::Internal
        };
        let outcome = if self.answered_legs > 0 {
            Outcome::Answered
        } else if self.pbx_answered {
            Outcome::NoAnswer
        } else if self.busy {
            Outcome::Busy
        } else if self.failed {
            Outcome::Failed
        } else {
            Outcome::NoAnswer
        };
        let destination = match direction {
            Direction::Outbound => self.destination.map(|(_, _, n)| n).or(self.origin_dst),
            _ => None,
        };
        Some(Call {
            start,
            direction,
            outcome,
            talk_s: if outcome == Outcome::Answered { self.talk_s } else { 0 },
            destination,
            legs: self.legs,
        })
    }
}

/// Classifies the legs of one call (all with the same [`Leg::call_id`]).
pub fn classify(legs: &[Leg], rules: &Rules) -> Option<Call> {
    let mut b = CallBuilder::new();
    for leg in legs {
        b.add(leg, rules);
    }
    b.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_globs_or_prefixes_and_never_match_everything() {
        let p = |s: &str| Pattern::parse(s).unwrap();
        assert_eq!(p("PJSIP/carrier*"), Pattern::Prefix("PJSIP/carrier".into()));
        assert_eq!(p("DAHDI/"), Pattern::Prefix("DAHDI/".into()));
        assert!(p("PJSIP/carrier*").matches("PJSIP/carrier-0000001a"));
        assert!(p("DAHDI/").matches("DAHDI/i1/5551234-1"));
        assert!(!p("SIP/trunk*").matches("PJSIP/trunk-1"), "a glob matches the whole name");
        assert!(p("*/movistar-*").matches("PJSIP/movistar-00000001"));
        assert!(p("SIP/gw?-*").matches("SIP/gw2-0001") && !p("SIP/gw?-*").matches("SIP/gw12-0001"));
        assert!(p("*carrier*").matches("PJSIP/carrier-1") && !p("*carrier*").matches("PJSIP/1001-1"));
        for bad in ["", "*", "**", "PJSIP/ carrier"] {
            assert!(Pattern::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn calldates_read_as_wall_clock_seconds() {
        assert_eq!(parse_calldate("1970-01-01 00:00:00"), Some(0));
        // 1795773098 is the uniqueid epoch of the captured PBX, whose clock was UTC.
        assert_eq!(parse_calldate("2026-11-27 09:51:38"), Some(1_795_773_098));
        assert_eq!(parse_calldate("2024-02-29 23:59:59.123"), Some(days_from_civil(2024, 3, 1) * 86_400 - 1));
        for bad in ["2026-11-27", "2026-13-01 00:00:00", "2026/11/27 09:51:38", "2026-11-27 24:00:00"] {
            assert_eq!(parse_calldate(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_dialled_number_comes_from_the_trunk_dial() {
        assert_eq!(dialled_number("Dial", "PJSIP/5551185@carrier,20"), Some("5551185"));
        assert_eq!(dialled_number("Dial", "SIP/carrier/+50322445566,300,Tt"), Some("+50322445566"));
        assert_eq!(dialled_number("Dial", "DAHDI/g0/22445566"), Some("22445566"));
        assert_eq!(dialled_number("Dial", "PJSIP/1002,,"), None, "an extension, not a trunk dial");
        assert_eq!(dialled_number("Queue", "support,t"), None);
    }

    fn leg<'a>(calldate: &'a str, uniqueid: &'a str, linkedid: &'a str) -> Leg<'a> {
        Leg { calldate, uniqueid, linkedid: Some(linkedid), ..Leg::default() }
    }

    #[test]
    fn a_queue_call_nobody_picked_up_is_not_answered_though_its_trunk_leg_is() {
        let r = Rules::default();
        // The trunk leg answered by Queue() after 40 s, with member legs ringing a busy phone.
        let legs = [
            Leg {
                channel: "PJSIP/carrier-1",
                dstchannel: "Local/1002@from-queue-1;1",
                disposition: "ANSWERED",
                billsec: 40,
                did: Some("5000"),
                ..leg("2026-10-01 09:00:00", "1.0", "1.0")
            },
            Leg {
                channel: "Local/1002@from-queue-1;2",
                dstchannel: "PJSIP/1002-1",
                disposition: "BUSY",
                ..leg("2026-10-01 09:00:00", "1.2", "1.0")
            },
        ];
        let call = classify(&legs, &r).unwrap();
        assert_eq!((call.direction, call.outcome, call.talk_s), (Direction::Inbound, Outcome::NoAnswer, 0));
    }

    #[test]
    fn a_blind_transfer_adds_the_second_partys_talk_time() {
        let r = Rules::default();
        let legs = [
            Leg {
                channel: "PJSIP/carrier-1",
                dstchannel: "PJSIP/1001-2",
                disposition: "ANSWERED",
                billsec: 30,
                ..leg("2026-10-01 09:00:00", "1.0", "1.0")
            },
            Leg {
                channel: "PJSIP/carrier-1",
                dstchannel: "PJSIP/1003-4",
                disposition: "ANSWERED",
                billsec: 60,
                ..leg("2026-10-01 09:00:35", "1.0", "1.0")
            },
        ];
        let call = classify(&legs, &r).unwrap();
        assert_eq!(
            (call.direction, call.outcome, call.talk_s, call.legs),
            (Direction::Inbound, Outcome::Answered, 90, 2)
        );
    }

    #[test]
    fn after_a_transfer_the_trunk_as_party_a_does_not_make_an_outgoing_call_inbound() {
        let r = Rules::default();
        let legs = [
            // 1002 calls out, then transfers the far end to 1003: the trunk is Party A of the second row.
            Leg {
                channel: "PJSIP/1002-1",
                dstchannel: "PJSIP/carrier-2",
                lastapp: "Dial",
                lastdata: "PJSIP/22445566@carrier,300",
                dst: "922445566",
                disposition: "ANSWERED",
                billsec: 20,
                ..leg("2026-10-01 09:00:00", "1.0", "1.0")
            },
            Leg {
                channel: "PJSIP/carrier-2",
                dstchannel: "PJSIP/1003-3",
                disposition: "ANSWERED",
                billsec: 50,
                ..leg("2026-10-01 09:00:25", "1.1", "1.0")
            },
        ];
        // Whatever order the legs come in.
        for legs in [legs, [legs[1], legs[0]]] {
            let call = classify(&legs, &r).unwrap();
            assert_eq!(call.direction, Direction::Outbound);
            assert_eq!((call.outcome, call.talk_s), (Outcome::Answered, 70));
            assert_eq!(call.destination.as_deref(), Some("22445566"));
            assert_eq!(call.start, parse_calldate("2026-10-01 09:00:00").unwrap());
        }
    }

    #[test]
    fn outbound_cnum_marks_an_outgoing_call_that_reached_no_trunk() {
        let r = Rules::default();
        let l = Leg {
            channel: "PJSIP/1001-1",
            dst: "922445566",
            disposition: "FAILED",
            outbound_cnum: Some("5550100"),
            ..leg("2026-10-01 09:00:00", "1.0", "1.0")
        };
        let call = classify(&[l], &r).unwrap();
        assert_eq!((call.direction, call.outcome), (Direction::Outbound, Outcome::Failed));
        assert_eq!(call.destination.as_deref(), Some("922445566"), "no trunk leg: the dialled digits");
        let off = Rules { outbound_cnum_is_outbound: false, ..Rules::default() };
        assert_eq!(classify(&[l], &off).unwrap().direction, Direction::Internal);
    }

    #[test]
    fn without_linkedid_a_local_half_is_no_call_and_a_local_answer_counts() {
        let member = Leg { channel: "Local/1001@from-queue-1;2", uniqueid: "1.5", ..Leg::default() };
        assert_eq!(member.call_id(), None);
        assert_eq!(Leg { linkedid: Some("1.0"), ..member }.call_id(), Some("1.0"));
        assert_eq!(Leg { linkedid: Some(""), uniqueid: "1.0", ..Leg::default() }.call_id(), Some("1.0"));
        let caller = Leg {
            calldate: "2026-10-01 09:00:00",
            channel: "PJSIP/carrier-1",
            dstchannel: "Local/1001@from-queue-1;1",
            disposition: "ANSWERED",
            billsec: 39,
            uniqueid: "1.0",
            ..Leg::default()
        };
        let call = classify(&[caller], &Rules::default()).unwrap();
        assert_eq!((call.outcome, call.talk_s), (Outcome::Answered, 39));
    }

    #[test]
    fn per_server_rules_replace_the_lists_they_name() {
        let base = Rules::default();
        let raw = RawRules { trunks: Some(vec!["PJSIP/movistar*".into()]), ..Default::default() };
        let r = Rules::from_raw(raw, &base, "reports.servers", "\"pbx-1\".").unwrap();
        assert_eq!(r.trunks, vec![Pattern::Prefix("PJSIP/movistar".into())]);
        assert_eq!(r.inbound_contexts, base.inbound_contexts);
        let raw = RawRules { inbound_contexts: Some(vec!["*".into()]), ..Default::default() };
        let e = Rules::from_raw(raw, &base, "reports.servers", "\"pbx-1\".").unwrap_err().to_string();
        assert!(e.contains("`reports.servers`") && e.contains("\"pbx-1\".inbound_contexts"), "{e}");
    }
}
