//! The month's figures of one call center, computed from its servers' calls ([`MonthTally`]) and
//! queues ([`super::queues`]); every formula is stated in [`FORMULAS`] for the report's footer.
//!
//! Invariants: a call counts once, in the month, day and hour of its first leg's `calldate`; the
//! tally refuses calls outside its month, so readers may read across the month's edges.

#[cfg(doc)]
use super::classify::parse_calldate;
use super::classify::{Call, Direction, Outcome, days_from_civil};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Calls in one direction (received or made).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallTotals {
    pub calls: u64,
    pub answered: u64,
    pub no_answer: u64,
    pub busy: u64,
    pub failed: u64,
    /// Seconds of conversation of the answered calls (see [`FORMULAS`]).
    pub talk_s: u64,
    /// `talk_s / answered`, 0 when nothing was answered.
    pub avg_talk_s: f64,
}

/// One queue's figures from `queue_log`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QueueFigures {
    pub queue: String,
    pub offered: u64,
    pub answered: u64,
    pub abandoned: u64,
    pub timed_out: u64,
    /// Answered within the service-level threshold.
    pub answered_within: u64,
    /// Percent, per [`FORMULAS`]; `None` when nothing was offered.
    pub service_level_pct: Option<f64>,
    /// Average speed of answer, seconds.
    pub asa_s: Option<f64>,
    pub avg_talk_s: Option<f64>,
    pub abandon_rate_pct: Option<f64>,
}

/// A center's month.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    pub center_id: i64,
    pub year: i32,
    pub month: u32,
    /// The servers whose CDR was read (agent ids).
    pub servers: Vec<String>,
    pub received: CallTotals,
    pub made: CallTotals,
    pub internal: u64,
    /// Per day of the month (index 0 = day 1): (received, made).
    pub by_day: Vec<(u64, u64)>,
    /// Per hour of the day 0–23: (received, made).
    pub by_hour: Vec<(u64, u64)>,
    /// Outgoing calls' most called destinations: (number, calls, answered), most first (at most 10).
    pub top_destinations: Vec<(String, u64, u64)>,
    /// Empty when no `queue_log` was shipped for the month.
    pub queues: Vec<QueueFigures>,
    /// The service-level threshold used, seconds.
    pub service_level_s: u32,
    /// CDR rows read, and calls they made up.
    pub cdr_rows: u64,
    pub calls: u64,
}

/// Every figure's definition, in Spanish, for the report's footer: (figure, how it is computed).
pub const FORMULAS: &[(&str, &str)] = &[
    (
        "Llamada",
        "Todas las filas del CDR con el mismo linkedid (o el mismo uniqueid donde la central no registra \
         linkedid) forman una llamada. Cuenta en el mes y en el día y la hora de su primera fila (calldate, \
         hora local de la central).",
    ),
    (
        "Llamadas recibidas",
        "Llamadas cuya primera fila entró por una troncal (canal de origen de troncal), que llevan un DID \
         o cuyo contexto de origen es de entrada (from-trunk, from-pstn, ext-did, from-did-direct).",
    ),
    (
        "Llamadas realizadas",
        "Llamadas no recibidas que marcaron a una troncal (canal destino de troncal), que llevan \
         outbound_cnum o cuyo contexto de origen es de una ruta de salida (outrt-).",
    ),
    ("Llamadas internas", "Las demás llamadas: entre extensiones, servicios de la central y pruebas."),
    (
        "Contestadas",
        "Llamadas en las que una persona contestó: alguna fila ANSWERED con canal destino que no es Local/ \
         (el teléfono del agente o el número marcado). Una llamada que solo atendió la central (cola, IVR, \
         música en espera, buzón de voz) no está contestada.",
    ),
    ("Ocupado", "Llamadas no contestadas con alguna fila BUSY."),
    ("Fallidas", "Llamadas no contestadas ni ocupadas con alguna fila FAILED o CONGESTION."),
    ("No contestadas", "Las demás: NO ANSWER, el llamante colgó mientras timbraba o esperaba en cola."),
    (
        "Tiempo de conversación",
        "Suma de billsec de las filas que contestaron (la del agente, no la de la troncal, que incluye la \
         espera en cola); una transferencia suma la conversación con cada parte.",
    ),
    ("Tiempo promedio de conversación", "Tiempo de conversación / llamadas contestadas."),
    (
        "Destinos más llamados",
        "Número marcado a la troncal en las llamadas realizadas (o los dígitos marcados si no hubo \
         troncal), los 10 con más llamadas.",
    ),
    (
        "Llamadas ofrecidas (cola)",
        "Entradas a la cola (ENTERQUEUE) de llamadas que entraron en el mes (queue_log, zona horaria del \
         colector).",
    ),
    ("Contestadas (cola)", "Llamadas con CONNECT."),
    ("Abandonadas (cola)", "Llamadas con ABANDON: el llamante colgó esperando."),
    ("Tiempo agotado (cola)", "Llamadas con EXITWITHTIMEOUT."),
    ("Nivel de servicio", "Contestadas con espera (holdtime de CONNECT) menor o igual al umbral / ofrecidas × 100."),
    ("Tiempo promedio de espera (ASA)", "Suma de la espera de CONNECT / contestadas."),
    (
        "Tiempo promedio de conversación (cola)",
        "Suma del calltime de COMPLETECALLER, COMPLETEAGENT y de las transferencias / contestadas.",
    ),
    ("Tasa de abandono", "Abandonadas / ofrecidas × 100."),
];

/// Accumulates a month's calls into its [`Figures`]. Calls outside the month are refused, so a
/// reader may hand it everything it read around the month's edges.
#[derive(Debug, Clone)]
pub struct MonthTally {
    figures: Figures,
    /// Wall-clock seconds ([`parse_calldate`]) of the month's first instant, and of the next month's.
    start: i64,
    end: i64,
    /// The calls counted: those that started in `[accept.0, accept.1)`, within the month.
    accept: (i64, i64),
    destinations: HashMap<String, (u64, u64)>,
}

impl MonthTally {
    /// `None` when `year`-`month` is not a month.
    pub fn new(center_id: i64, year: i32, month: u32, service_level_s: u32) -> Option<Self> {
        let (start, end) = month_bounds(year, month)?;
        let days = ((end - start) / 86_400) as usize;
        let figures = Figures {
            center_id,
            year,
            month,
            by_day: vec![(0, 0); days],
            by_hour: vec![(0, 0); 24],
            service_level_s,
            ..Figures::default()
        };
        Some(MonthTally { figures, start, end, accept: (start, end), destinations: HashMap::new() })
    }

    /// An empty tally of the same month that counts only the calls started in `[from, to)`, for a
    /// reader that reads the month in parts; [`MonthTally::merge`] adds the parts up.
    pub fn part(&self, from: i64, to: i64) -> MonthTally {
        let mut figures = Figures {
            by_day: vec![(0, 0); self.figures.by_day.len()],
            by_hour: vec![(0, 0); 24],
            ..Figures::default()
        };
        (figures.center_id, figures.year, figures.month) =
            (self.figures.center_id, self.figures.year, self.figures.month);
        figures.service_level_s = self.figures.service_level_s;
        let accept = (from.max(self.start), to.min(self.end));
        MonthTally { figures, start: self.start, end: self.end, accept, destinations: HashMap::new() }
    }

    /// The month as wall-clock seconds `[start, end)`.
    pub fn bounds(&self) -> (i64, i64) {
        (self.start, self.end)
    }

    /// Counts `call` if it started in the month; says whether it did.
    pub fn add(&mut self, call: &Call) -> bool {
        if call.start < self.accept.0 || call.start >= self.accept.1 {
            return false;
        }
        let f = &mut self.figures;
        f.calls += 1;
        f.cdr_rows += u64::from(call.legs);
        let offset = call.start - self.start;
        let (day, hour) = ((offset / 86_400) as usize, ((offset % 86_400) / 3600) as usize);
        let totals = match call.direction {
            Direction::Internal => {
                f.internal += 1;
                return true;
            }
            Direction::Inbound => {
                f.by_day[day].0 += 1;
                f.by_hour[hour].0 += 1;
                &mut f.received
            }
            Direction::Outbound => {
                f.by_day[day].1 += 1;
                f.by_hour[hour].1 += 1;
                &mut f.made
            }
        };
        totals.calls += 1;
        match call.outcome {
            Outcome::Answered => {
                totals.answered += 1;
                totals.talk_s += call.talk_s;
            }
            Outcome::NoAnswer => totals.no_answer += 1,
            Outcome::Busy => totals.busy += 1,
            Outcome::Failed => totals.failed += 1,
        }
        if let (Direction::Outbound, Some(number)) = (call.direction, &call.destination) {
            let answered = u64::from(call.outcome == Outcome::Answered);
            match self.destinations.get_mut(number.as_str()) {
                Some((calls, ans)) => {
                    *calls += 1;
                    *ans += answered;
                }
                None => {
                    self.destinations.insert(number.clone(), (1, answered));
                }
            }
        }
        true
    }

    /// Adds another tally of the same month (another server, or another part of the month).
    pub fn merge(&mut self, other: MonthTally) {
        let (f, o) = (&mut self.figures, other.figures);
        f.calls += o.calls;
        f.cdr_rows += o.cdr_rows;
        f.internal += o.internal;
        for (t, u) in [(&mut f.received, o.received), (&mut f.made, o.made)] {
            t.calls += u.calls;
            t.answered += u.answered;
            t.no_answer += u.no_answer;
            t.busy += u.busy;
            t.failed += u.failed;
            t.talk_s += u.talk_s;
        }
        for (a, b) in f.by_day.iter_mut().zip(o.by_day).chain(f.by_hour.iter_mut().zip(o.by_hour)) {
            a.0 += b.0;
            a.1 += b.1;
        }
        for (number, (calls, answered)) in other.destinations {
            let e = self.destinations.entry(number).or_default();
            e.0 += calls;
            e.1 += answered;
        }
    }

    /// The month's figures: averages, the ten most called numbers (most calls first, then most
    /// answered, then by number), and the queues and servers as given.
    pub fn finish(self, servers: Vec<String>, queues: Vec<QueueFigures>) -> Figures {
        let mut f = self.figures;
        for t in [&mut f.received, &mut f.made] {
            t.avg_talk_s = if t.answered == 0 { 0.0 } else { t.talk_s as f64 / t.answered as f64 };
        }
        let mut top: Vec<(String, u64, u64)> = self.destinations.into_iter().map(|(n, (c, a))| (n, c, a)).collect();
        top.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)).then_with(|| a.0.cmp(&b.0)));
        top.truncate(10);
        f.top_destinations = top;
        f.servers = servers;
        f.queues = queues;
        f
    }
}

/// `[first instant, first instant of the next month)` of `year`-`month` as wall-clock seconds.
pub fn month_bounds(year: i32, month: u32) -> Option<(i64, i64)> {
    if !(1..=12).contains(&month) || !(1..=9999).contains(&year) {
        return None;
    }
    let (ny, nm) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
    let day = |y: i32, m: u32| days_from_civil(i64::from(y), i64::from(m), 1) * 86_400;
    Some((day(year, month), day(ny, nm)))
}
