//! Recording QA (stage 4, step 02: "escucha las grabaciones ... y anota observaciones cuando
//! incumpla protocolo"): the scorecard (`[reports.qa]`), the score of one call, and the random
//! sample of the month's calls the technician listens to.
//!
//! Invariants:
//! - The sample is a pure function of the month's calls and the report's seed ([`seed_for`]):
//!   proposing it again over the same calls gives the same calls, in the same order.
//! - It is stratified by direction (received / made) and by hour of the day, with sizes
//!   proportional to each stratum's calls (largest remainders), and at least one call of each
//!   direction the month had (the outgoing calls are what guideline a verifies).
//! - A score keeps the scorecard as it was applied (labels, points), so a later change of the
//!   configuration changes no past score; once submitted a score never changes (migration 0009).
//! - A falta grave observed fails the call whatever its points ("instant fail").

use centinela_agent::config::{ConfigError, invalid};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `[reports.qa]` as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawQa {
    /// Calls proposed per report (per call center and month). Default 20.
    pub sample_size: Option<u32>,
    /// Percentage of the applicable points a call needs to comply with the protocol. Default 80.
    pub pass_percent: Option<u32>,
    /// The scorecard, in the order the form shows it. Default: the institutional protocol
    /// (greeting, identification, taxpayer data verification, correct information, courtesy,
    /// closing script) and one falta grave (incorrect information).
    pub items: Option<Vec<RawItem>>,
}

/// One `[[reports.qa.items]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawItem {
    /// What the reviewer checks, as the form shows it ("Saludo institucional").
    pub label: String,
    /// Points when the call complies (0 for a falta grave). Default 10.
    pub points: Option<u32>,
    /// A falta grave: when observed, the call fails whatever its points. Default false.
    pub falta_grave: Option<bool>,
}

/// One point of the scorecard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// The form field: `i0`, `i1`... in the scorecard's order.
    pub key: String,
    pub label: String,
    pub points: u32,
    pub falta_grave: bool,
}

/// The validated `[reports.qa]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QaSettings {
    pub sample_size: usize,
    pub pass_percent: u32,
    pub items: Vec<Item>,
}

pub const MAX_SAMPLE: u32 = 500;

impl Default for QaSettings {
    fn default() -> Self {
        Self::from_raw(RawQa::default()).unwrap_or(QaSettings { sample_size: 20, pass_percent: 80, items: vec![] })
    }
}

/// The default scorecard: 100 points and one falta grave.
pub const DEFAULT_ITEMS: [(&str, u32, bool); 7] = [
    ("Saludo institucional", 10, false),
    ("Identificación del agente", 10, false),
    ("Verificación de datos del contribuyente", 20, false),
    ("Información correcta", 30, false),
    ("Cortesía", 15, false),
    ("Cierre con guion", 15, false),
    ("Información incorrecta", 0, true),
];

impl QaSettings {
    pub fn from_raw(raw: RawQa) -> Result<Self, ConfigError> {
        let sample_size = raw.sample_size.unwrap_or(20);
        if sample_size == 0 || sample_size > MAX_SAMPLE {
            return Err(invalid(
                "reports.qa.sample_size",
                format!("{sample_size} is out of range; use 1 to {MAX_SAMPLE} calls per report (default 20)"),
            ));
        }
        let pass_percent = raw.pass_percent.unwrap_or(80);
        if pass_percent > 100 {
            return Err(invalid("reports.qa.pass_percent", format!("{pass_percent} is over 100; use 0 to 100")));
        }
        let raw_items = raw.items.unwrap_or_else(|| {
            DEFAULT_ITEMS
                .iter()
                .map(|(l, p, g)| RawItem { label: l.to_string(), points: Some(*p), falta_grave: Some(*g) })
                .collect()
        });
        let mut items: Vec<Item> = Vec::new();
        for (i, it) in raw_items.into_iter().enumerate() {
            let label = it.label.split_whitespace().collect::<Vec<_>>().join(" ");
            if label.is_empty() {
                return Err(invalid(
                    "reports.qa.items",
                    format!("item {} has an empty label; name what is checked", i + 1),
                ));
            }
            if items.iter().any(|x| x.label.eq_ignore_ascii_case(&label)) {
                return Err(invalid("reports.qa.items", format!("{label:?} appears twice; each item once")));
            }
            let falta_grave = it.falta_grave.unwrap_or(false);
            let points = it.points.unwrap_or(if falta_grave { 0 } else { 10 });
            if points > 1000 {
                return Err(invalid("reports.qa.items", format!("{label:?} has {points} points; use 0 to 1000")));
            }
            items.push(Item { key: format!("i{i}"), label, points, falta_grave });
        }
        if !items.iter().any(|i| !i.falta_grave && i.points > 0) {
            return Err(invalid(
                "reports.qa.items",
                "has no item with points; list the protocol's points (saludo, identificación, cierre...)",
            ));
        }
        Ok(QaSettings { sample_size: sample_size as usize, pass_percent, items })
    }
}

/// What the reviewer found for one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mark {
    /// The call complies (its points count).
    Cumple,
    /// It does not: a breach of protocol ("incumplimiento de protocolo").
    NoCumple,
    /// The item does not apply to this call (its points are left out of the maximum).
    NoAplica,
    /// A falta grave: it happened.
    Ocurrio,
    /// A falta grave: it did not happen.
    NoOcurrio,
}

impl Mark {
    pub fn as_str(self) -> &'static str {
        match self {
            Mark::Cumple => "cumple",
            Mark::NoCumple => "no_cumple",
            Mark::NoAplica => "no_aplica",
            Mark::Ocurrio => "ocurrio",
            Mark::NoOcurrio => "no_ocurrio",
        }
    }

    pub fn parse(s: &str) -> Option<Mark> {
        [Mark::Cumple, Mark::NoCumple, Mark::NoAplica, Mark::Ocurrio, Mark::NoOcurrio]
            .into_iter()
            .find(|m| m.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Mark::Cumple => "Cumple",
            Mark::NoCumple => "No cumple",
            Mark::NoAplica => "No aplica",
            Mark::Ocurrio => "Ocurrió",
            Mark::NoOcurrio => "No ocurrió",
        }
    }

    /// The marks the form offers for an item.
    pub fn choices(falta_grave: bool) -> &'static [Mark] {
        if falta_grave { &[Mark::NoOcurrio, Mark::Ocurrio] } else { &[Mark::Cumple, Mark::NoCumple, Mark::NoAplica] }
    }
}

/// One item as scored: the scorecard's item as it was, and the mark.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub label: String,
    pub points: u32,
    pub falta_grave: bool,
    pub mark: Mark,
}

/// The evaluation of one call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// Empty when the call was not assessable.
    pub lines: Vec<Line>,
    pub points: u32,
    /// The applicable points.
    pub max_points: u32,
    /// A falta grave was observed.
    pub falta_grave: bool,
    /// Complies with the protocol: no falta grave and at least the pass percentage.
    pub passed: bool,
    /// `false`: not assessable (no recording, inaudible...), with the reason in `observations`.
    pub assessable: bool,
    pub observations: String,
}

impl Score {
    /// `points / max_points` in percent; 100 when nothing applied; 0 with a falta grave, which annuls
    /// the evaluation as QA scorecards' "auto-fail" items do (the points stay recorded), so the
    /// month's average cannot read 100 % over a call with a falta grave.
    pub fn percent(&self) -> f64 {
        if self.falta_grave {
            0.0
        } else if self.max_points == 0 {
            100.0
        } else {
            100.0 * f64::from(self.points) / f64::from(self.max_points)
        }
    }

    /// "Cumple protocolo", "Incumple protocolo", "Falta grave", "No evaluable".
    pub fn verdict(&self) -> &'static str {
        if !self.assessable {
            "No evaluable"
        } else if self.falta_grave {
            "Falta grave"
        } else if self.passed {
            "Cumple protocolo"
        } else {
            "Incumple protocolo"
        }
    }

    pub fn css(&self) -> &'static str {
        if !self.assessable {
            "muted"
        } else if self.falta_grave {
            "crit"
        } else if self.passed {
            "ok"
        } else {
            "warn"
        }
    }
}

fn clean(text: &str) -> String {
    text.replace("\r\n", "\n").trim().to_string()
}

/// Scores a call from the marks posted per item key. Every item needs its mark; a breach or a
/// falta grave needs the observations that say what happened.
pub fn score(s: &QaSettings, marks: &[(String, String)], observations: &str) -> Result<Score, String> {
    let observations = clean(observations);
    let mut lines = Vec::new();
    let mut missing = Vec::new();
    for it in &s.items {
        let posted = marks.iter().find(|(k, _)| *k == it.key).and_then(|(_, v)| Mark::parse(v.trim()));
        match posted {
            Some(m) if Mark::choices(it.falta_grave).contains(&m) => {
                lines.push(Line { label: it.label.clone(), points: it.points, falta_grave: it.falta_grave, mark: m })
            }
            _ => missing.push(it.label.as_str()),
        }
    }
    if !missing.is_empty() {
        return Err(format!("marque cada punto de la ficha de evaluación (falta: {})", missing.join(", ")));
    }
    let points = lines.iter().filter(|l| l.mark == Mark::Cumple).map(|l| l.points).sum();
    let max_points = lines.iter().filter(|l| matches!(l.mark, Mark::Cumple | Mark::NoCumple)).map(|l| l.points).sum();
    let falta_grave = lines.iter().any(|l| l.mark == Mark::Ocurrio);
    let breach = lines.iter().any(|l| l.mark == Mark::NoCumple);
    if (falta_grave || breach) && observations.is_empty() {
        return Err("anote en las observaciones qué incumplimiento de protocolo escuchó".into());
    }
    let mut out = Score { lines, points, max_points, falta_grave, passed: false, assessable: true, observations };
    out.passed = !falta_grave && out.percent() + 1e-9 >= f64::from(s.pass_percent);
    Ok(out)
}

/// A call that could not be assessed (no recording, inaudible): the reason is required.
pub fn not_assessable(reason: &str) -> Result<Score, String> {
    let observations = clean(reason);
    if observations.is_empty() {
        return Err("indique por qué la llamada no se puede evaluar (sin grabación, inaudible...)".into());
    }
    Ok(Score {
        lines: vec![],
        points: 0,
        max_points: 0,
        falta_grave: false,
        passed: false,
        assessable: false,
        observations,
    })
}

/// The month's QA at a glance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub sampled: usize,
    pub evaluated: usize,
    pub assessable: usize,
    pub passed: usize,
    pub faltas_graves: usize,
    /// Mean percentage over the assessable calls.
    pub mean_percent: Option<f64>,
}

impl Summary {
    pub fn of<'a>(sampled: usize, scores: impl IntoIterator<Item = &'a Score>) -> Summary {
        let mut s = Summary { sampled, ..Summary::default() };
        let mut total = 0.0;
        for sc in scores {
            s.evaluated += 1;
            if !sc.assessable {
                continue;
            }
            s.assessable += 1;
            total += sc.percent();
            s.passed += usize::from(sc.passed);
            s.faltas_graves += usize::from(sc.falta_grave);
        }
        s.mean_percent = (s.assessable > 0).then(|| total / s.assessable as f64);
        s
    }
}

// ---- The sample ----

/// Which way a call went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Llamada recibida (inbound).
    Recibida,
    /// Llamada realizada (outbound).
    Realizada,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Recibida => "recibida",
            Direction::Realizada => "realizada",
        }
    }

    pub fn parse(s: &str) -> Option<Direction> {
        [Direction::Recibida, Direction::Realizada].into_iter().find(|d| d.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Direction::Recibida => "Recibida",
            Direction::Realizada => "Realizada",
        }
    }
}

/// One call of the month that may be sampled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candidate {
    pub server_id: i64,
    pub agent_id: String,
    /// `COALESCE(linkedid, uniqueid)`: what groups the call's CDR rows.
    pub call_id: String,
    /// The row whose recording is played (the one with a `recordingfile`, else the first).
    pub uniqueid: String,
    /// The first row's `calldate` (the PBX's local time).
    pub calldate: String,
    pub direction: Direction,
    /// 0–23, from `calldate`.
    pub hour: u32,
    pub src: String,
    pub dst: String,
    /// The call's outcome: ANSWERED when any row was answered, else the first row's.
    pub disposition: String,
    pub billsec: i64,
    pub recordingfile: String,
}

/// A reproducible seed per report: the same report always samples the same way.
pub fn seed_for(report_id: i64, center_id: i64, year: i32, month: u32) -> u64 {
    let h = Sha256::digest(format!("centinela-qa:{report_id}:{center_id}:{year}-{month:02}").as_bytes());
    u64::from_le_bytes(h[..8].try_into().unwrap_or([0; 8]))
}

/// SplitMix64: small, fast and reproducible everywhere (no platform randomness involved).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0), without modulo bias.
    fn below(&mut self, n: usize) -> usize {
        let n = n as u64;
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let v = self.next();
            if v < zone {
                return (v % n) as usize;
            }
        }
    }
}

/// Splits `n` over groups of `sizes` in proportion (largest remainders, ties in a random but
/// reproducible order), never more than a group holds; with `at_least_one`, every non-empty group
/// gets one first when `n` allows.
fn allocate(n: usize, sizes: &[usize], at_least_one: bool, rng: &mut Rng) -> Vec<usize> {
    let total: usize = sizes.iter().sum();
    let n = n.min(total);
    let mut out = vec![0usize; sizes.len()];
    if n == 0 {
        return out;
    }
    let nonempty = sizes.iter().filter(|s| **s > 0).count();
    let mut left = n;
    if at_least_one && n >= nonempty {
        for (o, s) in out.iter_mut().zip(sizes) {
            if *s > 0 {
                *o = 1;
            }
        }
        left -= nonempty;
    }
    // The rest in proportion to what each group still holds.
    let remaining: Vec<usize> = sizes.iter().zip(&out).map(|(s, o)| s - o).collect();
    let rest_total: usize = remaining.iter().sum();
    if left > 0 && rest_total > 0 {
        let mut fractions = Vec::new();
        let mut given = 0;
        for (i, r) in remaining.iter().enumerate() {
            let exact = left as f64 * *r as f64 / rest_total as f64;
            let whole = (exact.floor() as usize).min(*r);
            out[i] += whole;
            given += whole;
            fractions.push((exact - whole as f64, rng.next(), i));
        }
        fractions.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut k = 0;
        while given < left && k < fractions.len() * 2 {
            let i = fractions[k % fractions.len()].2;
            if out[i] < sizes[i] {
                out[i] += 1;
                given += 1;
            }
            k += 1;
        }
    }
    out
}

/// Picks up to `n` calls from `calls`, stratified by direction and hour (see the module's
/// invariants). Returns the chosen calls' indices into `calls`, in time order.
pub fn sample(calls: &[Candidate], n: usize, seed: u64) -> Vec<usize> {
    let mut rng = Rng(seed);
    // A canonical order first, so the result does not depend on how the rows were read.
    let mut order: Vec<usize> = (0..calls.len()).collect();
    order.sort_by(|a, b| {
        let (x, y) = (&calls[*a], &calls[*b]);
        (x.server_id, &x.call_id).cmp(&(y.server_id, &y.call_id))
    });
    order.dedup_by(|a, b| calls[*a].server_id == calls[*b].server_id && calls[*a].call_id == calls[*b].call_id);
    let dirs = [Direction::Recibida, Direction::Realizada];
    let by_dir: Vec<Vec<usize>> =
        dirs.iter().map(|d| order.iter().copied().filter(|i| calls[*i].direction == *d).collect()).collect();
    let per_dir = allocate(n, &by_dir.iter().map(Vec::len).collect::<Vec<_>>(), true, &mut rng);
    let mut chosen = Vec::new();
    for (members, take) in by_dir.iter().zip(per_dir) {
        let hours: Vec<Vec<usize>> =
            (0..24).map(|h| members.iter().copied().filter(|i| calls[*i].hour == h).collect()).collect();
        let per_hour = allocate(take, &hours.iter().map(Vec::len).collect::<Vec<_>>(), false, &mut rng);
        for (mut pool, k) in hours.into_iter().zip(per_hour) {
            // A partial Fisher–Yates shuffle: the first `k` are a uniform random choice.
            for j in 0..k {
                let pick = j + rng.below(pool.len() - j);
                pool.swap(j, pick);
            }
            chosen.extend_from_slice(&pool[..k]);
        }
    }
    chosen.sort_by(|a, b| (&calls[*a].calldate, &calls[*a].call_id).cmp(&(&calls[*b].calldate, &calls[*b].call_id)));
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(i: usize, direction: Direction, hour: u32) -> Candidate {
        Candidate {
            server_id: 1,
            agent_id: "pbx-renta".into(),
            call_id: format!("1764000000.{i}"),
            uniqueid: format!("1764000000.{i}"),
            calldate: format!("2026-11-{:02} {hour:02}:{:02}:00", 1 + i % 28, i % 60),
            direction,
            hour,
            src: "2200".into(),
            dst: "77001234".into(),
            disposition: "ANSWERED".into(),
            billsec: 60,
            recordingfile: String::new(),
        }
    }

    /// 300 received calls, mostly in the morning, and 60 made in the afternoon.
    fn month() -> Vec<Candidate> {
        let mut v = Vec::new();
        for i in 0..300 {
            v.push(call(i, Direction::Recibida, if i % 3 == 0 { 14 } else { 8 + (i % 3) as u32 }));
        }
        for i in 300..360 {
            v.push(call(i, Direction::Realizada, 15 + (i % 2) as u32));
        }
        v
    }

    #[test]
    fn the_same_report_samples_the_same_calls_and_another_report_others() {
        let calls = month();
        let seed = seed_for(12, 1, 2026, 11);
        let a = sample(&calls, 20, seed);
        let mut shuffled = calls.clone();
        shuffled.reverse();
        let b: Vec<String> = sample(&shuffled, 20, seed).iter().map(|i| shuffled[*i].call_id.clone()).collect();
        let a_ids: Vec<String> = a.iter().map(|i| calls[*i].call_id.clone()).collect();
        assert_eq!(a_ids, b, "the order the rows were read in does not matter");
        assert_eq!(a.len(), 20);
        let other: Vec<String> =
            sample(&calls, 20, seed_for(13, 1, 2026, 11)).iter().map(|i| calls[*i].call_id.clone()).collect();
        assert_ne!(a_ids, other);
        let mut unique = a_ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 20, "no call twice");
    }

    #[test]
    fn the_sample_is_stratified_by_direction_and_hour_in_proportion() {
        let calls = month();
        for seed in [1, 2, 3, 99] {
            let s = sample(&calls, 20, seed);
            let made = s.iter().filter(|i| calls[**i].direction == Direction::Realizada).count();
            // 60 of 360 calls were made: 1 guaranteed + 19 × 59/358 ≈ 3.1 → 4 (or 3).
            assert!((3..=4).contains(&made), "seed {seed}: {made} made calls");
            let hours = |h: u32| s.iter().filter(|i| calls[**i].hour == h).count();
            // Received: 100 calls at 9, 100 at 10, 100 at 14 share about 16 places.
            for h in [9, 10, 14] {
                assert!((5..=6).contains(&hours(h)), "seed {seed}: hour {h} has {}", hours(h));
            }
            assert!(hours(15) >= 1 && hours(16) >= 1, "seed {seed}: both afternoon hours of made calls");
        }
    }

    #[test]
    fn every_direction_is_sampled_even_when_rare_and_a_small_month_is_taken_whole() {
        let mut calls: Vec<Candidate> = (0..200).map(|i| call(i, Direction::Recibida, 10)).collect();
        calls.push(call(999, Direction::Realizada, 11));
        let s = sample(&calls, 5, 7);
        assert!(s.iter().any(|i| calls[*i].direction == Direction::Realizada), "the one made call is in");
        let few: Vec<Candidate> = (0..4).map(|i| call(i, Direction::Recibida, 9)).collect();
        assert_eq!(sample(&few, 20, 7).len(), 4);
        assert!(sample(&[], 20, 7).is_empty());
        let times: Vec<&String> = s.iter().map(|i| &calls[*i].calldate).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "in time order");
    }

    #[test]
    fn allocation_is_proportional_and_never_exceeds_a_group() {
        let mut rng = Rng(1);
        assert_eq!(allocate(10, &[50, 50], false, &mut rng), vec![5, 5]);
        assert_eq!(allocate(10, &[2, 100], false, &mut rng).iter().sum::<usize>(), 10);
        assert_eq!(allocate(10, &[3, 2], false, &mut rng), vec![3, 2], "fewer calls than places");
        assert_eq!(allocate(3, &[100, 1, 0], true, &mut rng)[1], 1, "the rare group gets one");
        assert_eq!(allocate(0, &[5], true, &mut rng), vec![0]);
    }

    fn marks(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter().map(|(k, m)| (k.to_string(), m.to_string())).collect()
    }

    fn all(mark: &str) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = (0..6).map(|i| (format!("i{i}"), mark.to_string())).collect();
        v.push(("i6".into(), "no_ocurrio".into()));
        v
    }

    #[test]
    fn a_call_that_follows_the_protocol_scores_all_its_points() {
        let s = QaSettings::default();
        assert_eq!(s.items.len(), 7);
        assert_eq!(s.items.iter().map(|i| i.points).sum::<u32>(), 100);
        let sc = score(&s, &all("cumple"), "").unwrap();
        assert_eq!((sc.points, sc.max_points, sc.passed, sc.falta_grave), (100, 100, true, false));
        assert_eq!(sc.verdict(), "Cumple protocolo");
        assert_eq!(sc.lines[3].label, "Información correcta", "the scorecard is kept with the score");
    }

    #[test]
    fn a_falta_grave_fails_the_call_whatever_its_points() {
        let s = QaSettings::default();
        let mut m = all("cumple");
        m[6].1 = "ocurrio".into();
        assert!(score(&s, &m, "").unwrap_err().contains("observaciones"), "a falta grave needs its note");
        let sc = score(&s, &m, "Indicó un plazo de declaración equivocado").unwrap();
        assert_eq!(sc.points, 100);
        assert!(sc.falta_grave && !sc.passed);
        assert_eq!(sc.verdict(), "Falta grave");
        assert_eq!(sc.percent(), 0.0, "a falta grave annuls the evaluation");
        let clean = score(&s, &all("cumple"), "").unwrap();
        let month = Summary::of(2, [&sc, &clean]);
        assert_eq!((month.passed, month.faltas_graves, month.mean_percent), (1, 1, Some(50.0)));
    }

    #[test]
    fn breaches_lower_the_score_and_not_applicable_items_leave_the_maximum() {
        let s = QaSettings::default();
        let mut m = all("cumple");
        m[5].1 = "no_cumple".into(); // no closing script: -15
        m[2].1 = "no_aplica".into(); // no taxpayer data involved: out of the 100
        let sc = score(&s, &m, "No usó el cierre con guion").unwrap();
        assert_eq!((sc.points, sc.max_points), (65, 80));
        assert!((sc.percent() - 81.25).abs() < 1e-9);
        assert!(sc.passed, "81 % is over the default 80 %");
        m[4].1 = "no_cumple".into();
        let sc = score(&s, &m, "Sin cierre, tono descortés").unwrap();
        assert!(!sc.passed && !sc.falta_grave);
        assert_eq!(sc.verdict(), "Incumple protocolo");
    }

    #[test]
    fn every_item_needs_its_mark_and_a_falta_grave_only_takes_its_own_marks() {
        let s = QaSettings::default();
        let e = score(&s, &marks(&[("i0", "cumple")]), "").unwrap_err();
        assert!(e.contains("Identificación del agente") && e.contains("Información incorrecta"), "{e}");
        let mut m = all("cumple");
        m[6].1 = "cumple".into();
        assert!(score(&s, &m, "").is_err(), "a falta grave is observed or not, it is not complied with");
        assert!(not_assessable("  ").is_err());
        let na = not_assessable("Grabación no disponible en el servidor").unwrap();
        assert_eq!(na.verdict(), "No evaluable");
        let sum = Summary::of(3, [&score(&s, &all("cumple"), "").unwrap(), &na]);
        assert_eq!((sum.sampled, sum.evaluated, sum.assessable, sum.passed), (3, 2, 1, 1));
        assert_eq!(sum.mean_percent, Some(100.0));
    }

    #[test]
    fn the_scorecard_is_configurable_and_mistakes_name_the_key() {
        let toml_text = r#"
            sample_size = 8
            pass_percent = 70
            [[items]]
            label = "Saludo institucional"
            points = 40
            [[items]]
            label = "Cierre con guion"
            points = 60
            [[items]]
            label = "Trato ofensivo"
            falta_grave = true
        "#;
        let raw: RawQa = toml::from_str(toml_text).unwrap();
        let s = QaSettings::from_raw(raw).unwrap();
        assert_eq!((s.sample_size, s.pass_percent, s.items.len()), (8, 70, 3));
        assert_eq!((s.items[2].points, s.items[2].falta_grave), (0, true));
        for (text, key) in [
            ("sample_size = 0", "reports.qa.sample_size"),
            ("pass_percent = 101", "reports.qa.pass_percent"),
            ("[[items]]\nlabel = \" \"", "reports.qa.items"),
            ("[[items]]\nlabel = \"Grave\"\nfalta_grave = true", "reports.qa.items"),
            ("[[items]]\nlabel = \"A\"\n[[items]]\nlabel = \"a\"", "reports.qa.items"),
        ] {
            let raw: RawQa = toml::from_str(text).unwrap();
            let e = QaSettings::from_raw(raw).unwrap_err().to_string();
            assert!(e.contains(key), "{text}: {e}");
        }
        assert!(toml::from_str::<RawQa>("sample = 3").is_err(), "unknown keys are refused");
    }
}
