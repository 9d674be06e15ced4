//! The monthly software check (stage 2). The agent's full sample, taken on demand ("verificar
//! ahora"), pre-fills a checklist of six items; the technician confirms or overrides each one with
//! a note, reports to the chief, and the chief analyses the report: "sin novedad", or "falla
//! detectada" with the action defined (which opens a corrective ticket).
//!
//! Pure: [`findings`] reads a sample, the transitions take the instance's data and return the new
//! data and state, or why not. Invariants:
//! - An override of what the evidence says needs a note; so does a "falla".
//! - A report is submitted only with every item marked; after that the checklist is frozen.
//! - A "falla detectada" analysis needs the action defined.

use super::{Refused, State};
use centinela_shared::{Level, Outcome, Reading, SampleV1, Verdict};
use serde::{Deserialize, Serialize};

/// The checklist's items, in the order of the form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Item {
    Asterisk,
    BaseDatos,
    AppAdmin,
    DiscosRaid,
    Temperaturas,
    Respaldos,
}

impl Item {
    pub const ALL: [Item; 6] =
        [Item::Asterisk, Item::BaseDatos, Item::AppAdmin, Item::DiscosRaid, Item::Temperaturas, Item::Respaldos];

    pub fn as_str(self) -> &'static str {
        match self {
            Item::Asterisk => "asterisk",
            Item::BaseDatos => "base_datos",
            Item::AppAdmin => "app_admin",
            Item::DiscosRaid => "discos_raid",
            Item::Temperaturas => "temperaturas",
            Item::Respaldos => "respaldos",
        }
    }

    pub fn parse(s: &str) -> Option<Item> {
        Item::ALL.into_iter().find(|i| i.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Item::Asterisk => "Asterisk",
            Item::BaseDatos => "Base de datos (CDR)",
            Item::AppAdmin => "Aplicación de administración VoIP",
            Item::DiscosRaid => "Discos, RAID y sistemas de archivos",
            Item::Temperaturas => "Temperaturas y ventiladores",
            Item::Respaldos => "Respaldos",
        }
    }

    /// Which probes feed it (none: the agent does not measure it).
    fn probes(self) -> &'static [&'static str] {
        match self {
            Item::Asterisk => &["asterisk"],
            Item::BaseDatos => &["database"],
            Item::AppAdmin => &["admin_app"],
            Item::DiscosRaid => &["smart", "raid", "filesystems"],
            Item::Temperaturas => &["sensors"],
            Item::Respaldos => &[],
        }
    }
}

/// A mark on an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mark {
    Ok,
    /// Works, with something to watch.
    Advertencia,
    Falla,
    NoAplica,
}

impl Mark {
    pub const ALL: [Mark; 4] = [Mark::Ok, Mark::Advertencia, Mark::Falla, Mark::NoAplica];

    pub fn as_str(self) -> &'static str {
        match self {
            Mark::Ok => "ok",
            Mark::Advertencia => "advertencia",
            Mark::Falla => "falla",
            Mark::NoAplica => "no_aplica",
        }
    }

    pub fn parse(s: &str) -> Option<Mark> {
        Mark::ALL.into_iter().find(|m| m.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Mark::Ok => "Correcto",
            Mark::Advertencia => "Advertencia",
            Mark::Falla => "Falla",
            Mark::NoAplica => "No aplica",
        }
    }

    pub fn css(self) -> &'static str {
        match self {
            Mark::Ok => "ok",
            Mark::Advertencia => "warn",
            Mark::Falla => "crit",
            Mark::NoAplica => "muted",
        }
    }
}

/// What the evidence says about an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub mark: Mark,
    /// The reasons, in Spanish, as the agent worded them (at most 8).
    pub why: Vec<String>,
}

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub item: Item,
    /// From the latest evidence, if it says anything about the item.
    pub auto: Option<Finding>,
    /// The technician's mark (pre-filled from `auto` until they set it).
    pub mark: Option<Mark>,
    /// Whether the technician confirmed or set the mark (a pre-filled one is not confirmed).
    pub confirmed: bool,
    pub note: String,
}

/// The chief's analysis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Analysis {
    /// true: "falla detectada"; false: "sin novedad".
    pub fault: bool,
    /// The action defined (required for a fault).
    pub action: String,
}

/// The software instance's `data`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub lines: Vec<Line>,
    /// The evidence the checklist was pre-filled from.
    pub evidence_id: Option<i64>,
    /// Findings besides the items (an agent that did not answer).
    pub findings: Vec<String>,
    /// The technician's report to the chief.
    pub summary: String,
    pub analysis: Option<Analysis>,
}

impl Default for Report {
    fn default() -> Self {
        Report {
            lines: Item::ALL
                .into_iter()
                .map(|item| Line { item, auto: None, mark: None, confirmed: false, note: String::new() })
                .collect(),
            evidence_id: None,
            findings: Vec::new(),
            summary: String::new(),
            analysis: None,
        }
    }
}

impl Report {
    /// The stored JSON, or a fresh report for `{}` (a just-planned instance). Unreadable JSON is an
    /// error, never silently reset.
    pub fn parse(data: &str) -> Result<Report, serde_json::Error> {
        if data.trim() == "{}" || data.trim().is_empty() {
            return Ok(Report::default());
        }
        serde_json::from_str(data)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    pub fn line(&self, item: Item) -> Option<&Line> {
        self.lines.iter().find(|l| l.item == item)
    }

    /// The items marked "falla".
    pub fn faults(&self) -> Vec<&Line> {
        self.lines.iter().filter(|l| l.mark == Some(Mark::Falla)).collect()
    }
}

fn worse(a: Mark, b: Mark) -> Mark {
    let rank = |m: Mark| match m {
        Mark::NoAplica => 0,
        Mark::Ok => 1,
        Mark::Advertencia => 2,
        Mark::Falla => 3,
    };
    if rank(b) > rank(a) { b } else { a }
}

/// A filesystem has no verdict of its own (the rules judge it): at or above this it is a fault,
/// as the default `filesystem_usage` rule says.
const FS_FULL_PERCENT: f64 = 90.0;

fn item_of(r: &Reading) -> Option<(Item, &Verdict)> {
    Some(match r {
        Reading::AsteriskV1(a) => (Item::Asterisk, &a.verdict),
        Reading::DatabaseV1(d) => (Item::BaseDatos, &d.verdict),
        Reading::ShippingV1(s) => (Item::BaseDatos, &s.verdict),
        Reading::AdminAppV1(a) => (Item::AppAdmin, &a.verdict),
        Reading::AtaDiskV1(d) => (Item::DiscosRaid, &d.verdict),
        Reading::NvmeDiskV1(d) => (Item::DiscosRaid, &d.verdict),
        Reading::RaidArrayV1(a) => (Item::DiscosRaid, &a.verdict),
        Reading::TemperatureV1(t) => (Item::Temperaturas, &t.verdict),
        Reading::FanV1(f) => (Item::Temperaturas, &f.verdict),
        Reading::HostV1(_) | Reading::FilesystemV1(_) => return None,
    })
}

/// What a sample says about each item: the worst verdict of its readings with their reasons; a
/// probe that broke is a fault; a probe that does not apply marks "no aplica". Items the sample
/// says nothing about are absent.
pub fn findings(sample: &SampleV1) -> Vec<(Item, Finding)> {
    let mut out: Vec<(Item, Finding)> = Vec::new();
    let mut note = |item: Item, mark: Mark, why: Option<String>| {
        let i = match out.iter().position(|(it, _)| *it == item) {
            Some(i) => i,
            None => {
                out.push((item, Finding { mark, why: Vec::new() }));
                out.len() - 1
            }
        };
        let f = &mut out[i].1;
        f.mark = worse(f.mark, mark);
        if let Some(w) = why
            && f.why.len() < 8
            && !f.why.contains(&w)
        {
            f.why.push(w);
        }
    };
    for p in &sample.probes {
        let Some(item) = Item::ALL.into_iter().find(|i| i.probes().contains(&p.probe.as_str())) else { continue };
        match &p.outcome {
            Outcome::Ok => {}
            Outcome::NotApplicable(why) => note(item, Mark::NoAplica, Some(format!("{}: {why}", p.probe))),
            Outcome::Failed(why) => note(item, Mark::Falla, Some(format!("la sonda {} falló: {why}", p.probe))),
        }
    }
    for r in &sample.readings {
        if let Reading::FilesystemV1(f) = r {
            let pct = f.used_percent();
            if pct >= FS_FULL_PERCENT && !f.read_only {
                note(Item::DiscosRaid, Mark::Falla, Some(format!("{} al {pct:.0} % de uso", f.mount_point)));
            }
            continue;
        }
        let Some((item, v)) = item_of(r) else { continue };
        let mark = match v.level {
            Level::Ok => Mark::Ok,
            Level::Warning => Mark::Advertencia,
            Level::Critical => Mark::Falla,
        };
        if v.level == Level::Ok {
            note(item, mark, None);
        }
        for reason in &v.reasons {
            if v.level != Level::Ok {
                note(item, mark, Some(reason.clone()));
            }
        }
        if v.level != Level::Ok && v.reasons.is_empty() {
            note(item, mark, None);
        }
    }
    Item::ALL.into_iter().filter_map(|i| out.iter().find(|(it, _)| *it == i).cloned()).collect()
}

fn editable(state: State) -> Result<(), Refused> {
    match state {
        State::Programado | State::EnCurso => Ok(()),
        State::Anulado => Err(Refused("este mantenimiento fue anulado".into())),
        _ => Err(Refused("el informe ya fue enviado al Jefe de UACT; la lista ya no cambia".into())),
    }
}

/// Evidence arrived: the items it speaks about get their finding, and the marks the technician
/// has not confirmed yet follow it.
pub fn apply_evidence(
    state: State,
    mut r: Report,
    evidence_id: i64,
    sample: &SampleV1,
) -> Result<(State, Report), Refused> {
    editable(state)?;
    let found = findings(sample);
    for line in &mut r.lines {
        line.auto = found.iter().find(|(i, _)| *i == line.item).map(|(_, f)| f.clone());
        if !line.confirmed {
            line.mark = line.auto.as_ref().map(|f| f.mark);
        }
    }
    r.evidence_id = Some(evidence_id);
    Ok((State::EnCurso, r))
}

/// The agent did not answer (or refused): that is itself a finding, kept on the report.
pub fn no_answer(state: State, mut r: Report, what: &str) -> Result<(State, Report), Refused> {
    editable(state)?;
    let f = format!("El agente no respondió a «verificar ahora»: {what}");
    if !r.findings.contains(&f) {
        r.findings.push(f);
    }
    Ok((State::EnCurso, r))
}

/// The technician marks an item (confirming or overriding the evidence).
pub fn mark(state: State, mut r: Report, item: Item, mark: Mark, note: &str) -> Result<(State, Report), Refused> {
    editable(state)?;
    let note = note.trim();
    let Some(line) = r.lines.iter_mut().find(|l| l.item == item) else {
        return Err(Refused(format!("el punto «{}» no está en la lista", item.label())));
    };
    let overrides = line.auto.as_ref().is_some_and(|f| f.mark != mark);
    if overrides && note.is_empty() {
        return Err(Refused(format!(
            "«{}»: la evidencia dice {}; anote por qué lo marca {}",
            item.label(),
            line.auto.as_ref().map(|f| f.mark.label().to_lowercase()).unwrap_or_default(),
            mark.label().to_lowercase()
        )));
    }
    if mark == Mark::Falla && note.is_empty() && line.auto.is_none() {
        return Err(Refused(format!("«{}»: describa la falla en la nota", item.label())));
    }
    line.mark = Some(mark);
    line.confirmed = true;
    line.note = note.to_string();
    Ok((State::EnCurso, r))
}

/// The technician reports to the chief: every item must be confirmed.
pub fn submit(state: State, mut r: Report, summary: &str) -> Result<(State, Report), Refused> {
    editable(state)?;
    let missing: Vec<&str> =
        r.lines.iter().filter(|l| !l.confirmed || l.mark.is_none()).map(|l| l.item.label()).collect();
    if !missing.is_empty() {
        return Err(Refused(format!(
            "confirme cada punto de la lista antes de informar; faltan: {}",
            missing.join(", ")
        )));
    }
    r.summary = summary.trim().to_string();
    Ok((State::Informado, r))
}

/// The chief analyses the report.
pub fn analyse(state: State, mut r: Report, fault: bool, action: &str) -> Result<(State, Report), Refused> {
    match state {
        State::Informado => {}
        State::Analizado => return Err(Refused("este informe ya fue analizado".into())),
        _ => return Err(Refused("el técnico aún no ha informado el resultado".into())),
    }
    let action = action.trim();
    if fault && action.is_empty() {
        return Err(Refused("con «falla detectada», defina la acción a realizar".into()));
    }
    r.analysis = Some(Analysis { fault, action: action.to_string() });
    Ok((State::Analizado, r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use centinela_shared::{Envelope, decode_envelope};

    /// The readings and probe reports of every sample in the wire contract's golden files (bytes
    /// encoded by earlier releases of the agent's types), as one sample.
    fn golden_sample() -> SampleV1 {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/tests/golden");
        let mut merged: Option<SampleV1> = None;
        for name in ["sample_v1.bin", "sample_v1_hardware.bin", "sample_v1_admin_app.bin"] {
            let Ok(Envelope { body: centinela_shared::Body::SampleV1(s), .. }) =
                decode_envelope(&std::fs::read(dir.join(name)).unwrap())
            else {
                panic!("{name} is a sample")
            };
            match &mut merged {
                None => merged = Some(s),
                Some(m) => {
                    for p in s.probes {
                        if !m.probes.iter().any(|q| q.probe == p.probe) {
                            m.probes.push(p);
                        }
                    }
                    m.readings.extend(s.readings);
                }
            }
        }
        let mut s = merged.unwrap();
        assert!(s.readings.iter().any(|r| matches!(r, Reading::RaidArrayV1(_))), "the golden files hold a RAID array");
        // The golden files predate the Asterisk probe: add what it reports for an idle PBX.
        s.probes.push(centinela_shared::ProbeReport {
            probe: "asterisk".into(),
            outcome: Outcome::Ok,
            duration_us: 900,
        });
        s.readings.push(Reading::AsteriskV1(centinela_shared::AsteriskV1 {
            ami: centinela_shared::AmiState::Up,
            version: Some("20.5.2".into()),
            uptime_s: Some(86_400),
            since_reload_s: Some(3_600),
            active_channels: Some(0),
            active_calls: Some(0),
            calls_processed: Some(12),
            longest_channel: None,
            longest_channel_s: None,
            queues: vec![],
            registrations: vec![],
            endpoints: vec![],
            sip_peers: None,
            sip_registry: None,
            verdict: Verdict::ok(),
        }));
        s
    }

    fn degrade(s: &mut SampleV1) {
        for r in &mut s.readings {
            if let Reading::RaidArrayV1(a) = r {
                a.verdict = Verdict { level: Level::Critical, reasons: vec!["arreglo md0 degradado [2/1]".into()] };
            }
        }
    }

    #[test]
    fn evidence_prefills_every_item_it_speaks_about_and_leaves_backups_to_the_technician() {
        let s = golden_sample();
        let (state, r) = apply_evidence(State::Programado, Report::default(), 7, &s).unwrap();
        assert_eq!(state, State::EnCurso);
        assert_eq!(r.evidence_id, Some(7));
        assert!(r.line(Item::Asterisk).unwrap().auto.is_some());
        let backups = r.line(Item::Respaldos).unwrap();
        assert_eq!((backups.auto.clone(), backups.mark), (None, None));
        assert!(r.lines.iter().all(|l| !l.confirmed), "pre-filled is not confirmed");
    }

    #[test]
    fn a_degraded_array_in_the_evidence_marks_disks_as_a_fault_with_the_agents_reason() {
        let mut s = golden_sample();
        degrade(&mut s);
        let f = findings(&s);
        let (_, disks) = f.iter().find(|(i, _)| *i == Item::DiscosRaid).unwrap();
        assert_eq!(disks.mark, Mark::Falla);
        assert!(disks.why.iter().any(|w| w.contains("degradado")), "{disks:?}");
    }

    #[test]
    fn a_probe_that_broke_is_a_fault_and_one_that_does_not_apply_says_so() {
        let mut s = golden_sample();
        s.readings.retain(|r| !matches!(r, Reading::AdminAppV1(_) | Reading::AsteriskV1(_)));
        for p in &mut s.probes {
            if p.probe == "admin_app" {
                p.outcome = Outcome::NotApplicable("sin sección [admin_app]".into());
            }
            if p.probe == "asterisk" {
                p.outcome = Outcome::Failed("AMI rechazó el inicio de sesión".into());
            }
        }
        let f = findings(&s);
        let get = |i| f.iter().find(|(it, _)| *it == i).map(|(_, f)| f.clone());
        let ast = get(Item::Asterisk).unwrap();
        assert_eq!(ast.mark, Mark::Falla);
        assert!(ast.why[0].contains("AMI rechazó"));
        if s.probes.iter().any(|p| p.probe == "admin_app") {
            assert_eq!(get(Item::AppAdmin).unwrap().mark, Mark::NoAplica);
        }
    }

    #[test]
    fn overriding_the_evidence_needs_a_note_and_submitting_needs_every_item_confirmed() {
        let mut s = golden_sample();
        degrade(&mut s);
        let (st, r) = apply_evidence(State::Programado, Report::default(), 1, &s).unwrap();
        let disks_auto = r.line(Item::DiscosRaid).unwrap().auto.clone();
        if let Some(auto) = disks_auto.filter(|a| a.mark != Mark::Ok) {
            let e = mark(st, r.clone(), Item::DiscosRaid, Mark::Ok, "  ").unwrap_err();
            assert!(e.0.contains("anote por qué"), "{e}");
            let (_, r2) = mark(st, r.clone(), Item::DiscosRaid, auto.mark, "").unwrap();
            assert!(r2.line(Item::DiscosRaid).unwrap().confirmed, "confirming needs no note");
        }
        let e = submit(st, r.clone(), "todo bien").unwrap_err();
        assert!(e.0.contains("Respaldos"), "{e}");
        let mut cur = (st, r);
        for item in Item::ALL {
            let m = cur.1.line(item).and_then(|l| l.mark).unwrap_or(Mark::Ok);
            cur = mark(cur.0, cur.1, item, m, "revisado en consola").unwrap();
        }
        let (st, r) = submit(cur.0, cur.1, "Revisión mensual completa").unwrap();
        assert_eq!(st, State::Informado);
        assert!(mark(st, r.clone(), Item::Respaldos, Mark::Ok, "").unwrap_err().0.contains("ya fue enviado"));
        let e = analyse(st, r.clone(), true, "").unwrap_err();
        assert!(e.0.contains("defina la acción"));
        let (st, r) = analyse(st, r, true, "Reemplazar disco sda").unwrap();
        assert_eq!(st, State::Analizado);
        assert_eq!(r.analysis.unwrap().action, "Reemplazar disco sda");
    }

    #[test]
    fn an_agent_that_does_not_answer_is_recorded_as_a_finding_once() {
        let (st, r) = no_answer(State::Programado, Report::default(), "sin respuesta en 15 s").unwrap();
        let (_, r) = no_answer(st, r, "sin respuesta en 15 s").unwrap();
        assert_eq!(r.findings.len(), 1);
        assert!(r.findings[0].contains("no respondió"));
    }

    #[test]
    fn a_report_round_trips_through_its_stored_json_and_a_new_instance_starts_empty() {
        assert_eq!(Report::parse("{}").unwrap(), Report::default());
        let (_, r) = no_answer(State::Programado, Report::default(), "x").unwrap();
        assert_eq!(Report::parse(&r.to_json()).unwrap(), r);
        assert!(Report::parse("{\"lines\": 3}").is_err());
    }
}
