//! Probe `raid`: one [`RaidArrayV1`] per md software-RAID array, with a verdict computed here.
//!
//! Sources, in order of trust (kernel 6.x, `drivers/md/md.c`):
//! - `<sys>/block/md*/md/`: `array_state`, `level`, `raid_disks`, `degraded`, `sync_action`,
//!   `sync_completed` (`done / total` sectors, `none` or `delayed`), `sync_speed` (KiB/s or `none`),
//!   `mismatch_cnt`, and per member `dev-*/{state,slot,errors}`. Inactive arrays and levels without
//!   redundancy (raid0, linear) have no `degraded`, `sync_*` or `mismatch_cnt` at all; an inactive
//!   array assembled by `mdadm --incremental` even shows empty `level` and `raid_disks`.
//! - `<proc>/mdstat`, parsed by [`parse_mdstat`], for any array whose sysfs directory is missing or
//!   unreadable; such readings say `from_mdstat: true`. mdstat prints the descriptor number
//!   (`sdb1[1]`), not the slot, so their members have `slot: None`; a member without a flag is marked
//!   `in_sync` only when the `[n/m]` count proves it, and `mismatch_cnt` is unknown.
//!
//! Invariants:
//! - Absent is not failed: no `md*/md` directory and no array in mdstat (or no mdstat at all) is
//!   [`ProbeError::NotApplicable`]. Something that exists but cannot be read or parsed is
//!   [`ProbeError::Failed`], naming the file; the readings that could be made are still pushed.
//! - An attribute the kernel does not have for this array is not a problem (its field is `None`,
//!   `0` or empty); one that exists with content the kernel never writes makes that field `None` and
//!   the probe report it. `sync_action` is empty when the kernel has none (inactive, raid0, linear).
//! - Nothing from the files can panic or hang the probe: reads are capped, only regular files are
//!   opened (a FIFO would block), bytes are decoded lossily and numbers are checked.
//!
//! Verdict defaults ([`verdict`]), in Spanish because technicians read them:
//! - Critical: `array_state` inactive or broken; the array is degraded (`degraded` > 0, fewer
//!   in-sync slots than `raid_disks`, or the `[n/m]` count in mdstat says so) → "arreglo RAID
//!   degradado: falta 1 de 2 miembros"; every faulty member → "miembro fallido: sdb1". A rebuild
//!   adds "reconstruyendo 45.2 %" and stays Critical while members are missing; a rebuild onto a
//!   replacement of a healthy array is only Warning.
//! - Warning: `readonly`, `suspended`, and `read-auto`. read-auto is normal right after boot until
//!   the first write, but while in it the kernel neither resyncs nor rebuilds, so a technician
//!   should know. Also `sync_action` frozen (nothing will rebuild or check), a member with
//!   `write_error` or `want_replacement`, and `mismatch_cnt` > 0 on raid4/5/6, where parity that
//!   does not match the data is a real inconsistency.
//! - Ok with a reason: resync, check, repair or reshape running on a non-degraded array
//!   ("verificación en curso 12.0 %"); `mismatch_cnt` > 0 on raid1/raid10, where it is usually
//!   benign (swap pages or other buffers rewritten while in flight land differently on each mirror);
//!   corrected read errors (`dev-*/errors`) as an early sign of a failing disk.
//!
//! Percentages are tenths of a percent, truncated as the kernel does for mdstat.

use super::ProbeError;
use crate::host::HostPaths;
use centinela_shared::{Level, RaidArrayV1, RaidMemberV1, Reading, Verdict};
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};

/// Largest sysfs attribute read: the kernel's are one page; a bigger file is not a sysfs value.
const ATTR_LIMIT: u64 = 64 * 1024;
/// Largest `/proc/mdstat` read: about 200 bytes per array, so this covers thousands of arrays.
const MDSTAT_LIMIT: u64 = 4 * 1024 * 1024;

/// The md probe. It keeps no state between samples. Braces, not a unit struct: `probes/mod.rs`
/// builds it with `Raid::default()`, which clippy flags on unit structs.
#[derive(Debug, Default)]
pub struct Raid {}

// ------------------------------------------------------------------------------------------------
// Pure parsers of sysfs values. Each takes the file's text as the kernel writes it ("%s\n").

/// Shows an unexpected value in a message: quoted, escaped, and short.
fn shown(text: &str) -> String {
    let t: String = text.trim().chars().take(40).collect();
    format!("{t:?}")
}

/// A one-word attribute (`array_state`, `sync_action`): printable ASCII, no spaces.
pub fn parse_word(text: &str) -> Result<String, String> {
    let t = text.trim();
    if !t.is_empty() && t.len() <= 64 && t.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(t.to_string())
    } else {
        Err(format!("unexpected value {}", shown(text)))
    }
}

/// `level`: a word, or nothing for an inactive array the kernel has not validated yet.
pub fn parse_level(text: &str) -> Result<String, String> {
    if text.trim().is_empty() { Ok(String::new()) } else { parse_word(text) }
}

/// A plain decimal counter (`degraded`, `mismatch_cnt`, `errors`).
pub fn parse_number(text: &str) -> Result<u64, String> {
    let t = text.trim();
    // `u64::from_str` accepts a leading '+', the kernel never writes one.
    if t.bytes().all(|b| b.is_ascii_digit()) {
        t.parse().map_err(|_| format!("expected a number, found {}", shown(text)))
    } else {
        Err(format!("expected a number, found {}", shown(text)))
    }
}

/// `degraded`: a member count, so it must fit the slot count type.
pub fn parse_count(text: &str) -> Result<u32, String> {
    let n = parse_number(text)?;
    u32::try_from(n).map_err(|_| format!("count out of range: {}", shown(text)))
}

/// `raid_disks`: `2`, `4 (3)` while a reshape changes it (new and old count), or nothing while an
/// inactive array has not been validated (`None`).
pub fn parse_raid_disks(text: &str) -> Result<Option<u32>, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let (now, rest) = t.split_once(' ').unwrap_or((t, ""));
    let rest = rest.trim();
    let old_ok = rest.is_empty()
        || rest.strip_prefix('(').and_then(|r| r.strip_suffix(')')).is_some_and(|r| parse_count(r).is_ok());
    if !old_ok {
        return Err(format!("unexpected value {}", shown(text)));
    }
    parse_count(now).map(Some)
}

/// `sync_completed`: `done / total` in 512-byte sectors while a sync runs; `none` when idle and
/// `delayed` while waiting for another array on the same disks (both `None`).
pub fn parse_sync_completed(text: &str) -> Result<Option<(u64, u64)>, String> {
    let t = text.trim();
    if t == "none" || t == "delayed" {
        return Ok(None);
    }
    let bad = || format!("expected \"done / total\" or none, found {}", shown(text));
    let (done, total) = t.split_once('/').ok_or_else(bad)?;
    match (parse_number(done), parse_number(total)) {
        (Ok(d), Ok(t)) => Ok(Some((d, t))),
        _ => Err(bad()),
    }
}

/// `sync_speed`: KiB/s while a sync runs, `none` otherwise.
pub fn parse_sync_speed(text: &str) -> Result<Option<u64>, String> {
    if text.trim() == "none" { Ok(None) } else { parse_number(text).map(Some) }
}

/// `dev-*/slot`: the slot number, or `none` (spare, failed, not yet added) or `journal` (`None`).
pub fn parse_slot(text: &str) -> Result<Option<u32>, String> {
    match text.trim() {
        "none" | "journal" => Ok(None),
        _ => parse_count(text).map(Some),
    }
}

/// `dev-*/state`: the comma list (`in_sync`, `faulty`, `spare`, `write_mostly`, `write_error`,
/// `want_replacement`, `replacement`, `blocked`, `journal`, ...). Words are kept as written.
pub fn parse_member_state(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|w| !w.is_empty()).map(str::to_string).collect()
}

// ------------------------------------------------------------------------------------------------
// /proc/mdstat

/// One array as `/proc/mdstat` shows it (`md_seq_show` in `drivers/md/md.c`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MdstatArray {
    /// e.g. `md0`.
    pub name: String,
    /// `active` or `inactive` (`broken` if a kernel prints it).
    pub state: String,
    /// `read-only` or `auto-read-only`, printed in parentheses after `active`.
    pub read_only: Option<String>,
    /// The personality, e.g. `raid1`; inactive arrays have none.
    pub level: Option<String>,
    /// In the kernel's order: most recently added first.
    pub members: Vec<MdstatMember>,
    /// Array size in 1 KiB blocks (for an inactive array, the members' total).
    pub blocks: Option<u64>,
    /// Superblock format, e.g. `1.2`; absent for 0.90.
    pub superblock: Option<String>,
    /// `[n/m]`: configured slots and working (in-sync) members, redundant levels only.
    pub slots: Option<(u32, u32)>,
    /// `[UU_]`: one character per slot, `_` when the slot has no in-sync member.
    pub status: Option<String>,
    /// The progress line of a running resync, recovery, check or reshape.
    pub progress: Option<MdstatProgress>,
    /// A sync that is not running: `resync=DELAYED`, `resync=PENDING`, `recover=REMOTE`...
    pub waiting: Option<String>,
}

/// One member token, e.g. `sdb1[1](F)`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MdstatMember {
    pub device: String,
    /// The descriptor number in brackets (not the slot).
    pub desc_nr: Option<u32>,
    /// `(W)`
    pub write_mostly: bool,
    /// `(J)`
    pub journal: bool,
    /// `(F)`
    pub faulty: bool,
    /// `(S)`: not in a slot (a hot spare, or every member of an inactive array).
    pub spare: bool,
    /// `(R)`
    pub replacement: bool,
}

/// `[==>....]  recovery = 12.6% (132224/1046528) finish=0.6min speed=26444K/sec`
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MdstatProgress {
    /// As printed: `recovery`, `resync` (also shown for repair), `check` or `reshape`.
    pub action: String,
    /// Tenths of a percent (`12.6%` → 126).
    pub per_mille: Option<u32>,
    /// (done, total) in 1 KiB blocks.
    pub blocks: Option<(u64, u64)>,
    /// `speed=` in KiB/s.
    pub speed_kib: Option<u64>,
}

/// Parses `/proc/mdstat`. Lines it does not understand are skipped, so a truncated or garbled file
/// yields what could be read; an array's header line starts it, indented lines add to it.
pub fn parse_mdstat(text: &str) -> Vec<MdstatArray> {
    let mut arrays: Vec<MdstatArray> = Vec::new();
    let mut in_array = false;
    for line in text.lines() {
        if line.starts_with(char::is_whitespace) {
            if in_array && let Some(a) = arrays.last_mut() {
                parse_mdstat_detail(a, line);
            }
            continue;
        }
        in_array = false;
        if let Some(a) = parse_mdstat_header(line) {
            arrays.push(a);
            in_array = true;
        }
    }
    arrays
}

/// `md0 : active (auto-read-only) raid1 sdb1[1](W) sda1[0]` or `md127 : inactive sdb[1](S)`.
fn parse_mdstat_header(line: &str) -> Option<MdstatArray> {
    let (name, rest) = line.split_once(" : ")?;
    let name = name.trim();
    if name.is_empty() || name.contains(char::is_whitespace) || name == "Personalities" {
        return None;
    }
    let mut tokens = rest.split_whitespace().peekable();
    let state = tokens.next()?;
    if !matches!(state, "active" | "inactive" | "broken") {
        return None;
    }
    let mut a = MdstatArray { name: name.to_string(), state: state.to_string(), ..Default::default() };
    while let Some(ro) = tokens.peek().and_then(|t| t.strip_prefix('(')?.strip_suffix(')')) {
        a.read_only = Some(ro.to_string());
        tokens.next();
    }
    // Only a running array prints its personality; it is the one token without brackets.
    if a.state != "inactive" && tokens.peek().is_some_and(|t| !t.contains('[')) {
        a.level = tokens.next().map(str::to_string);
    }
    a.members = tokens.filter_map(parse_mdstat_member).collect();
    Some(a)
}

/// `sdb1[1](W)(F)`: name, descriptor number, then flags in the kernel's order W, J, F or S, R.
fn parse_mdstat_member(token: &str) -> Option<MdstatMember> {
    let (device, rest) = token.split_once('[')?;
    if device.is_empty() {
        return None;
    }
    let mut m = MdstatMember { device: device.to_string(), ..Default::default() };
    // A truncated token (`sdb1[`) still names a member; its number is just unknown.
    let Some((nr, mut flags)) = rest.split_once(']') else { return Some(m) };
    m.desc_nr = nr.parse().ok();
    while let Some((flag, more)) = flags.strip_prefix('(').and_then(|f| f.split_once(')')) {
        match flag {
            "W" => m.write_mostly = true,
            "J" => m.journal = true,
            "F" => m.faulty = true,
            "S" => m.spare = true,
            "R" => m.replacement = true,
            _ => {}
        }
        flags = more;
    }
    Some(m)
}

/// An indented line: blocks and status, progress, a waiting sync, or the bitmap (ignored).
fn parse_mdstat_detail(a: &mut MdstatArray, line: &str) {
    let t = line.trim();
    if t.is_empty() || t.starts_with("bitmap:") {
        return;
    }
    for prefix in ["resync=", "recover=", "reshape="] {
        if t.starts_with(prefix) {
            a.waiting = Some(t.to_string());
            return;
        }
    }
    if let Some(p) = parse_mdstat_progress(t) {
        a.progress = Some(p);
        return;
    }
    let tokens: Vec<&str> = t.split_whitespace().collect();
    for (i, tok) in tokens.iter().enumerate() {
        match *tok {
            "blocks" if i > 0 => a.blocks = a.blocks.or_else(|| tokens[i - 1].parse().ok()),
            "super" => a.superblock = tokens.get(i + 1).map(|s| s.to_string()),
            _ => {
                let Some(inner) = tok.strip_prefix('[').and_then(|r| r.strip_suffix(']')) else { continue };
                if let Some((n, m)) = inner.split_once('/') {
                    if let (Ok(n), Ok(m)) = (n.parse(), m.parse()) {
                        a.slots = Some((n, m));
                    }
                } else if !inner.is_empty() && inner.chars().all(|c| c == 'U' || c == '_') {
                    a.status = Some(inner.to_string());
                }
            }
        }
    }
}

/// `[==>....]  recovery = 12.6% (132224/1046528) finish=0.6min speed=26444K/sec`; the percent is
/// printed `%3u.%u`, so `check =100.0%` has no space after the `=`.
fn parse_mdstat_progress(t: &str) -> Option<MdstatProgress> {
    let (action, after) = ["recovery", "resync", "check", "reshape"]
        .into_iter()
        .find_map(|w| t.find(&format!("{w} =")).map(|i| (w, &t[i + w.len() + 2..])))?;
    let mut p = MdstatProgress { action: action.to_string(), ..Default::default() };
    let after = after.trim_start();
    p.per_mille = after.split_once('%').and_then(|(pct, _)| {
        let (int, frac) = pct.split_once('.').unwrap_or((pct, "0"));
        let (int, frac): (u32, u32) = (int.parse().ok()?, frac.parse().ok()?);
        (frac < 10).then_some(int.checked_mul(10)?.checked_add(frac)?.min(1000))
    });
    p.blocks = after
        .split_once('(')
        .and_then(|(_, r)| r.split_once(')'))
        .and_then(|(pair, _)| pair.split_once('/'))
        .and_then(|(d, t)| Some((d.parse().ok()?, t.parse().ok()?)));
    p.speed_kib = after.split_once("speed=").and_then(|(_, r)| r.split_once("K/sec")).and_then(|(n, _)| n.parse().ok());
    Some(p)
}

impl MdstatArray {
    /// The reading this mdstat entry supports, with its verdict.
    pub fn to_reading(&self) -> RaidArrayV1 {
        let array_state = match (self.state.as_str(), self.read_only.as_deref()) {
            ("active", Some("read-only")) => "readonly".to_string(),
            ("active", Some("auto-read-only")) => "read-auto".to_string(),
            (state, _) => state.to_string(),
        };
        let running = self.state != "inactive";
        let in_slot = |m: &&MdstatMember| !m.faulty && !m.spare && !m.journal;
        let raid_disks = match self.slots {
            Some((n, _)) => n,
            // raid0 and linear print no [n/m]: every member in a slot counts.
            None if running => u32::try_from(self.members.iter().filter(in_slot).count()).unwrap_or(u32::MAX),
            None => 0,
        };
        let degraded = match (self.slots, &self.status) {
            (Some((n, m)), _) => n.saturating_sub(m),
            (None, Some(s)) => u32::try_from(s.chars().filter(|&c| c == '_').count()).unwrap_or(u32::MAX),
            (None, None) => 0,
        };
        // A member in a slot is in sync unless a rebuild is filling it, and mdstat does not say
        // which one; it says how many are in sync. When the counts match, all of them are.
        let filling = self.members.iter().filter(in_slot).filter(|m| !m.replacement).count();
        let all_in_sync =
            running && self.slots.is_none_or(|(_, working)| usize::try_from(working).is_ok_and(|w| w == filling));
        let mut members: Vec<RaidMemberV1> = self
            .members
            .iter()
            .map(|m| {
                let mut state = Vec::new();
                let mut word = |cond: bool, w: &str| {
                    if cond {
                        state.push(w.to_string());
                    }
                };
                word(m.faulty, "faulty");
                word(all_in_sync && in_slot(&m) && !m.replacement, "in_sync");
                word(m.journal, "journal");
                word(m.write_mostly, "write_mostly");
                word(m.spare, "spare");
                word(m.replacement, "replacement");
                RaidMemberV1 { device: m.device.clone(), slot: None, state, errors: None }
            })
            .collect();
        members.sort_by(|a, b| name_key(&a.device).cmp(&name_key(&b.device)));
        let (sync_action, sync_completed, sync_speed_kib) = match (&self.progress, &self.waiting) {
            (Some(p), _) => {
                let action = if p.action == "recovery" { "recover" } else { p.action.as_str() };
                // mdstat counts 1 KiB blocks; the wire carries sectors, as sysfs does.
                let sectors = p.blocks.and_then(|(d, t)| Some((d.checked_mul(2)?, t.checked_mul(2)?)));
                (action.to_string(), sectors, p.speed_kib)
            }
            // PENDING: needed but not started (read-only arrays never sync), so idle for now.
            (None, Some(w)) if w.ends_with("PENDING") => ("idle".to_string(), None, None),
            (None, Some(w)) => (w.split('=').next().unwrap_or_default().to_string(), None, None),
            // Only redundant levels print [n/m], and only they have a sync_action.
            (None, None) if running && self.slots.is_some() => ("idle".to_string(), None, None),
            (None, None) => (String::new(), None, None),
        };
        let mut a = RaidArrayV1 {
            name: self.name.clone(),
            level: self.level.clone().unwrap_or_default(),
            array_state,
            raid_disks,
            degraded,
            sync_action,
            sync_completed,
            sync_speed_kib,
            mismatch_cnt: None,
            members,
            from_mdstat: true,
            verdict: Verdict::ok(),
        };
        a.verdict = verdict(&a);
        a
    }
}

// ------------------------------------------------------------------------------------------------
// Verdict

/// Tenths of a percent of `done` over `total`, truncated; `None` when `total` is 0.
pub fn per_mille(done: u64, total: u64) -> Option<u32> {
    if total == 0 {
        return None;
    }
    let pm = (u128::from(done) * 1000 / u128::from(total)).min(1000);
    u32::try_from(pm).ok()
}

fn percent(pm: u32) -> String {
    format!("{}.{} %", pm / 10, pm % 10)
}

/// "quedan ~1 h 57 min", "quedan ~48 min".
fn time_left(min: u64) -> String {
    match min {
        0 => "queda menos de 1 min".to_string(),
        1..60 => format!("quedan ~{min} min"),
        _ => format!("quedan ~{} h {} min", min / 60, min % 60),
    }
}

fn has(m: &RaidMemberV1, word: &str) -> bool {
    m.state.iter().any(|w| w == word)
}

/// The health of one array from the documented defaults (see the module doc).
pub fn verdict(a: &RaidArrayV1) -> Verdict {
    let mut v = Verdict::ok();
    let active = a.array_state != "inactive";
    match a.array_state.as_str() {
        "clean" | "active" | "active-idle" | "write-pending" | "clear" => {}
        "inactive" => {
            let present: Vec<&str> = a.members.iter().map(|m| m.device.as_str()).collect();
            let present = if present.is_empty() { "ninguno".to_string() } else { present.join(", ") };
            v.raise(
                Level::Critical,
                format!("arreglo RAID inactivo: el kernel no lo puso en servicio (miembros presentes: {present})"),
            );
        }
        "broken" => v.raise(Level::Critical, "arreglo RAID roto: perdió miembros imprescindibles y rechaza escrituras"),
        "readonly" => v.raise(Level::Warning, "arreglo RAID en solo lectura: no admite escrituras ni reconstrucción"),
        "read-auto" => v.raise(
            Level::Warning,
            "arreglo RAID en solo lectura automática: pasa a escritura con la primera escritura (normal tras \
             el arranque); hasta entonces no sincroniza ni reconstruye",
        ),
        "suspended" => v.raise(Level::Warning, "arreglo RAID suspendido: la E/S está detenida"),
        other => v.raise(Level::Warning, format!("estado del arreglo desconocido: {}", shown(other))),
    }

    // Missing members: the kernel's count, or (sysfs only, where member states are exact) the slots
    // without an in-sync member, whichever is larger.
    let mut missing = a.degraded;
    if active && !a.from_mdstat && a.raid_disks > 0 {
        let mut in_sync: Vec<u32> = a
            .members
            .iter()
            .filter(|m| has(m, "in_sync") && !has(m, "faulty"))
            .filter_map(|m| m.slot)
            .filter(|&s| s < a.raid_disks)
            .collect();
        in_sync.sort_unstable();
        in_sync.dedup();
        let in_sync = u32::try_from(in_sync.len()).unwrap_or(u32::MAX);
        missing = missing.max(a.raid_disks.saturating_sub(in_sync));
    }
    if active && missing > 0 {
        let falta = if missing == 1 { "falta" } else { "faltan" };
        let reason = if a.raid_disks > 0 {
            format!("arreglo RAID degradado: {falta} {missing} de {} miembros", a.raid_disks)
        } else {
            format!("arreglo RAID degradado: {falta} {missing} miembros")
        };
        v.raise(Level::Critical, reason);
    }
    for m in a.members.iter().filter(|m| has(m, "faulty")) {
        v.raise(Level::Critical, format!("miembro fallido: {}", m.device));
    }

    let progress = a.sync_completed.and_then(|(d, t)| per_mille(d, t));
    let at = |what: &str| match progress {
        Some(pm) => format!("{what} {}", percent(pm)),
        None => format!("{what} (aún sin progreso)"),
    };
    match a.sync_action.as_str() {
        "" | "idle" => {}
        "recover" => {
            let mut reason = at("reconstruyendo");
            let targets: Vec<&str> = a
                .members
                .iter()
                .filter(|m| m.slot.is_some() && !has(m, "in_sync") && !has(m, "faulty") && !has(m, "journal"))
                .map(|m| m.device.as_str())
                .collect();
            if !targets.is_empty() {
                reason.push_str(&format!(" en {}", targets.join(", ")));
            }
            let eta = match (a.sync_completed, a.sync_speed_kib) {
                (Some((done, total)), Some(speed)) if speed > 0 && progress.is_some() => {
                    Some(total.saturating_sub(done) / 2 / speed / 60)
                }
                _ => None,
            };
            if let Some(min) = eta {
                reason.push_str(&format!(" ({})", time_left(min)));
            }
            // Degraded arrays are already Critical; a rebuild onto a replacement of a healthy
            // array (want_replacement) leaves redundancy intact, so it only warrants a Warning.
            v.raise(Level::Warning, reason);
        }
        "resync" => v.raise(Level::Ok, at("sincronización en curso")),
        "check" => v.raise(Level::Ok, at("verificación en curso")),
        "repair" => v.raise(Level::Ok, at("reparación en curso")),
        "reshape" => v.raise(Level::Ok, at("reorganización en curso")),
        "frozen" => v.raise(
            Level::Warning,
            "sincronización congelada (frozen): el kernel no reconstruirá ni verificará el arreglo",
        ),
        other => v.raise(Level::Warning, format!("acción de sincronización desconocida: {}", shown(other))),
    }

    if let Some(n) = a.mismatch_cnt.filter(|&n| n > 0) {
        let sectors =
            if n == 1 { "1 sector inconsistente".to_string() } else { format!("{n} sectores inconsistentes") };
        // While a check or repair runs, the counter is that run's so far.
        let which = if matches!(a.sync_action.as_str(), "check" | "repair") {
            "en la verificación en curso"
        } else {
            "en la última verificación"
        };
        match a.level.as_str() {
            "raid4" | "raid5" | "raid6" => {
                v.raise(Level::Warning, format!("{sectors} {which} (la paridad no coincide con los datos)"))
            }
            "raid1" | "raid10" => v.raise(
                Level::Ok,
                format!("{sectors} {which} (en {} suele ser inofensivo: swap o escrituras en vuelo)", a.level),
            ),
            _ => {}
        }
    }

    for m in &a.members {
        if has(m, "write_error") {
            v.raise(Level::Warning, format!("error de escritura en el miembro {}", m.device));
        }
        if has(m, "want_replacement") {
            v.raise(Level::Warning, format!("miembro {} marcado para reemplazo", m.device));
        }
        if let Some(n) = m.errors.filter(|&n| n > 0) {
            let errores = if n == 1 { "error de lectura corregido" } else { "errores de lectura corregidos" };
            v.raise(Level::Ok, format!("{}: {n} {errores}", m.device));
        }
    }
    v
}

// ------------------------------------------------------------------------------------------------
// I/O edge

/// Reads a kernel text file, at most `limit` bytes, decoding lossily. `Ok(None)` when it does not
/// exist. Anything but a regular file is refused: opening a FIFO would block the probe.
fn read_text(path: &Path, limit: u64) -> Result<Option<String>, String> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    let mut buf = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(limit).read_to_end(&mut buf))
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

/// An attribute the kernel may legitimately not have: absent is `None` without complaint; present
/// but unreadable or unparsable is `None` and a problem.
fn optional<T>(path: &Path, parse: impl Fn(&str) -> Result<T, String>, problems: &mut Vec<String>) -> Option<T> {
    match read_text(path, ATTR_LIMIT) {
        Ok(None) => None,
        Ok(Some(text)) => parse(&text).map_err(|e| problems.push(format!("{}: {e}", path.display()))).ok(),
        Err(e) => {
            problems.push(e);
            None
        }
    }
}

/// Sort key so `md2` comes before `md10` and `sdb` before `sdaa`.
fn name_key(name: &str) -> (usize, &str) {
    (name.len(), name)
}

/// The `md` directories under `<sys>/block`: (array name, path of its `md/`).
fn md_dirs(block: &Path) -> Result<Vec<(String, PathBuf)>, String> {
    let entries = match std::fs::read_dir(block) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot list {}: {e}", block.display())),
    };
    let mut dirs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot list {}: {e}", block.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let md = entry.path().join("md");
        // is_dir follows the /sys/block symlink and is false for a symlink loop.
        if name.starts_with("md") && md.is_dir() {
            dirs.push((name, md));
        }
    }
    Ok(dirs)
}

/// Reads one array from its `md/` directory; `None` when `array_state` is `clear` (the device node
/// exists but no array is configured). `Err` when what the verdict stands on cannot be read
/// (`array_state`, the member list or a member's `state`): the caller falls back to mdstat.
fn read_sysfs_array(name: &str, md: &Path, problems: &mut Vec<String>) -> Result<Option<RaidArrayV1>, String> {
    let path = md.join("array_state");
    let text = read_text(&path, ATTR_LIMIT)?.ok_or_else(|| format!("{} is missing", path.display()))?;
    let array_state = parse_word(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if array_state == "clear" {
        return Ok(None);
    }
    let members = read_members(md, problems)?;
    let attr = |file: &str| md.join(file);
    let level = optional(&attr("level"), parse_level, problems).unwrap_or_default();
    let raid_disks = optional(&attr("raid_disks"), parse_raid_disks, problems).flatten().unwrap_or(0);
    let degraded = optional(&attr("degraded"), parse_count, problems).unwrap_or(0);
    let sync_action = optional(&attr("sync_action"), parse_word, problems).unwrap_or_default();
    let sync_completed = optional(&attr("sync_completed"), parse_sync_completed, problems).flatten();
    let sync_speed_kib = optional(&attr("sync_speed"), parse_sync_speed, problems).flatten();
    let mismatch_cnt = optional(&attr("mismatch_cnt"), parse_number, problems);
    let mut a = RaidArrayV1 {
        name: name.to_string(),
        level,
        array_state,
        raid_disks,
        degraded,
        sync_action,
        sync_completed,
        sync_speed_kib,
        mismatch_cnt,
        members,
        from_mdstat: false,
        verdict: Verdict::ok(),
    };
    a.verdict = verdict(&a);
    Ok(Some(a))
}

/// The `dev-*` directories, sorted by slot (spares and failed members last), then name.
fn read_members(md: &Path, problems: &mut Vec<String>) -> Result<Vec<RaidMemberV1>, String> {
    let list_err = |e: std::io::Error| format!("cannot list {}: {e}", md.display());
    let mut members = Vec::new();
    for entry in std::fs::read_dir(md).map_err(list_err)? {
        let entry = entry.map_err(list_err)?;
        let file_name = entry.file_name();
        let file_name = file_name.to_string_lossy();
        let Some(device) = file_name.strip_prefix("dev-").filter(|d| !d.is_empty()) else { continue };
        let dir = entry.path();
        if !dir.is_dir() {
            continue;
        }
        let state_path = dir.join("state");
        let state =
            read_text(&state_path, ATTR_LIMIT)?.ok_or_else(|| format!("{} is missing", state_path.display()))?;
        members.push(RaidMemberV1 {
            device: device.to_string(),
            slot: optional(&dir.join("slot"), parse_slot, problems).flatten(),
            state: parse_member_state(&state),
            errors: optional(&dir.join("errors"), parse_number, problems),
        });
    }
    members.sort_by(|a, b| {
        (a.slot.is_none(), a.slot, name_key(&a.device)).cmp(&(b.slot.is_none(), b.slot, name_key(&b.device)))
    });
    Ok(members)
}

impl Raid {
    pub fn collect(&mut self, paths: &HostPaths, out: &mut Vec<Reading>) -> Result<(), ProbeError> {
        let block = paths.sys.join("block");
        let mdstat_path = paths.proc.join("mdstat");
        let mdstat = read_text(&mdstat_path, MDSTAT_LIMIT).map(|t| t.map(|t| parse_mdstat(&t)));
        let from_mdstat = |name: &str| match &mdstat {
            Ok(Some(list)) => list.iter().find(|m| m.name == name).map(MdstatArray::to_reading),
            _ => None,
        };

        let mut problems = Vec::new();
        let mut arrays = Vec::new();
        let listed = md_dirs(&block);
        let sys_names: Vec<String> =
            listed.as_ref().map(|d| d.iter().map(|(n, _)| n.clone()).collect()).unwrap_or_default();
        for (name, md) in listed.as_deref().unwrap_or_default() {
            match read_sysfs_array(name, md, &mut problems) {
                Ok(None) => {}
                Ok(Some(a)) => arrays.push(a),
                Err(why) => match from_mdstat(name) {
                    Some(a) => arrays.push(a),
                    None => problems.push(format!("{why}; {} does not list {name} either", mdstat_path.display())),
                },
            }
        }
        // Arrays sysfs does not show (no md directories, or <sys>/block unreadable) come from mdstat.
        match &mdstat {
            Ok(Some(list)) => {
                arrays.extend(list.iter().filter(|m| !sys_names.contains(&m.name)).map(MdstatArray::to_reading))
            }
            Ok(None) => {}
            // Only a problem if mdstat was needed: sysfs showed no array at all.
            Err(e) if sys_names.is_empty() => problems.push(e.clone()),
            Err(_) => {}
        }
        if let Err(e) = &listed
            && arrays.is_empty()
        {
            problems.push(e.clone());
        }

        arrays.sort_by(|a, b| name_key(&a.name).cmp(&name_key(&b.name)));
        let found = !arrays.is_empty();
        out.extend(arrays.into_iter().map(Reading::RaidArrayV1));
        if !problems.is_empty() {
            return Err(ProbeError::Failed(problems.join("; ")));
        }
        if !found {
            let mdstat_says = match mdstat {
                Ok(None) => "no existe (módulo md sin cargar)",
                _ => "no lista ninguno",
            };
            return Err(ProbeError::NotApplicable(format!(
                "sin arreglos md: no hay {}/md*/md y {} {mdstat_says}",
                block.display(),
                mdstat_path.display()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PERS: &str = "Personalities : [raid1] [linear] [multipath] [raid0] [raid6] [raid5] [raid4] [raid10] \n";

    fn one(text: &str) -> MdstatArray {
        let mut all = parse_mdstat(&format!("{PERS}{text}unused devices: <none>\n"));
        assert_eq!(all.len(), 1, "{all:?}");
        all.remove(0)
    }

    fn member(device: &str, slot: Option<u32>, state: &str) -> RaidMemberV1 {
        RaidMemberV1 { device: device.into(), slot, state: parse_member_state(state), errors: Some(0) }
    }

    /// A sysfs reading: `raid_disks` members in slots 0.. and in sync, idle, clean.
    fn array(level: &str, raid_disks: u32) -> RaidArrayV1 {
        RaidArrayV1 {
            name: "md0".into(),
            level: level.into(),
            array_state: "clean".into(),
            raid_disks,
            degraded: 0,
            sync_action: "idle".into(),
            sync_completed: None,
            sync_speed_kib: None,
            mismatch_cnt: Some(0),
            members: (0..raid_disks)
                .map(|i| member(&format!("sd{}1", (b'a' + i as u8) as char), Some(i), "in_sync"))
                .collect(),
            from_mdstat: false,
            verdict: Verdict::ok(),
        }
    }

    #[test]
    fn a_healthy_raid1_with_a_bitmap_parses_fully() {
        let a = one("md0 : active raid1 sdb1[1] sda1[0]\n      976628736 blocks super 1.2 [2/2] [UU]\n      \
             bitmap: 0/8 pages [0KB], 65536KB chunk\n\n");
        assert_eq!((a.name.as_str(), a.state.as_str(), a.level.as_deref()), ("md0", "active", Some("raid1")));
        let devs: Vec<_> = a.members.iter().map(|m| (m.device.as_str(), m.desc_nr)).collect();
        assert_eq!(devs, [("sdb1", Some(1)), ("sda1", Some(0))]);
        assert_eq!((a.blocks, a.superblock.as_deref()), (Some(976_628_736), Some("1.2")));
        assert_eq!((a.slots, a.status.as_deref()), (Some((2, 2)), Some("UU")));
        assert_eq!((&a.progress, &a.waiting, &a.read_only), (&None, &None, &None));
        let r = a.to_reading();
        assert_eq!((r.raid_disks, r.degraded, r.sync_action.as_str(), r.from_mdstat), (2, 0, "idle", true));
        assert!(r.members.iter().all(|m| m.state == ["in_sync"] && m.slot.is_none()), "{r:?}");
        assert_eq!(r.verdict, Verdict::ok());
    }

    #[test]
    fn a_failed_member_marks_the_array_degraded() {
        let r = one("md0 : active raid1 sdb1[1](F) sda1[0]\n      976628736 blocks super 1.2 [2/1] [U_]\n      \n")
            .to_reading();
        assert_eq!((r.raid_disks, r.degraded), (2, 1));
        let states: Vec<_> = r.members.iter().map(|m| (m.device.as_str(), m.state.clone())).collect();
        assert_eq!(states, [("sda1", vec!["in_sync".to_string()]), ("sdb1", vec!["faulty".to_string()])]);
        assert_eq!(r.verdict.level, Level::Critical);
        assert_eq!(r.verdict.reasons, ["arreglo RAID degradado: falta 1 de 2 miembros", "miembro fallido: sdb1"]);
    }

    #[test]
    fn raid5_raid6_and_raid10_status_lines_yield_the_slot_count() {
        let a =
            one("md0 : active raid5 sdd1[3] sdc1[1] sdb1[0]\n      3906762752 blocks super 1.2 level 5, 512k chunk, \
             algorithm 2 [3/2] [UU_]\n      \n");
        assert_eq!((a.level.as_deref(), a.slots, a.status.as_deref()), (Some("raid5"), Some((3, 2)), Some("UU_")));
        let a =
            one("md0 : active raid6 sdd1[3] sdc1[2] sdb1[1] sda1[0]\n      3906762752 blocks super 1.2 level 6, 512k \
             chunk, algorithm 2 [4/4] [UUUU]\n      \n");
        assert_eq!((a.level.as_deref(), a.slots), (Some("raid6"), Some((4, 4))));
        let a = one(
            "md1 : active raid10 sdd2[3] sdc2[2] sdb2[1] sda2[0]\n      1953260544 blocks super 1.2 512K chunks 2 \
             near-copies [4/3] [UU_U]\n      bitmap: 1/15 pages [4KB], 65536KB chunk\n\n",
        );
        assert_eq!((a.level.as_deref(), a.slots, a.status.as_deref()), (Some("raid10"), Some((4, 3)), Some("UU_U")));
        assert_eq!(a.to_reading().degraded, 1);
    }

    #[test]
    fn a_recovery_line_gives_action_percent_blocks_and_speed() {
        let a = one("md0 : active raid1 sdc1[2] sdb1[1](F) sda1[0]\n      1046528 blocks super 1.2 [2/1] [U_]\n      \
             [==>..................]  recovery = 12.6% (132224/1046528) finish=0.6min speed=26444K/sec\n      \n");
        let p = a.progress.clone().unwrap();
        assert_eq!(p.action, "recovery");
        assert_eq!((p.per_mille, p.blocks, p.speed_kib), (Some(126), Some((132_224, 1_046_528)), Some(26_444)));
        let r = a.to_reading();
        assert_eq!(r.sync_action, "recover");
        assert_eq!(r.sync_completed, Some((264_448, 2_093_056)), "1 KiB blocks become sectors");
        // The rebuilding sdc1 is in a slot but not in sync, and mdstat does not say which one it is.
        assert!(r.members.iter().all(|m| !has(m, "in_sync")), "{r:?}");
        assert_eq!(r.verdict.level, Level::Critical);
        assert_eq!(
            r.verdict.reasons,
            [
                "arreglo RAID degradado: falta 1 de 2 miembros",
                "miembro fallido: sdb1",
                "reconstruyendo 12.6 % (queda menos de 1 min)",
            ]
        );
    }

    #[test]
    fn resync_and_check_lines_parse_including_a_full_percent() {
        let a = one("md0 : active raid1 sdb1[1] sda1[0]\n      1046528 blocks super 1.2 [2/2] [UU]\n      \
             [=>...................]  resync =  8.4% (88512/1046528) finish=0.7min speed=22128K/sec\n      \n");
        assert_eq!(a.progress.as_ref().map(|p| (p.action.as_str(), p.per_mille)), Some(("resync", Some(84))));
        let r = a.to_reading();
        assert_eq!((r.sync_action.as_str(), r.verdict.level), ("resync", Level::Ok));
        assert_eq!(r.verdict.reasons, ["sincronización en curso 8.4 %"]);
        let a =
            one("md0 : active raid6 sdd1[3] sdc1[2] sdb1[1] sda1[0]\n      3906762752 blocks super 1.2 level 6, 512k \
             chunk, algorithm 2 [4/4] [UUUU]\n      [====================>]  check =100.0% (1953381376/1953381376) \
             finish=0.0min speed=98765K/sec\n      \n");
        assert_eq!(a.progress.as_ref().map(|p| (p.action.as_str(), p.per_mille)), Some(("check", Some(1000))));
        assert_eq!(a.to_reading().verdict.reasons, ["verificación en curso 100.0 %"]);
    }

    #[test]
    fn spare_write_mostly_and_replacement_flags_are_read() {
        let a = one(
            "md0 : active raid1 sdd1[3](R) sdc1[2](S) sdb1[1](W) sda1[0]\n      1046528 blocks super 1.2 [2/2] [UU]\n      \
             [====>................]  recovery = 24.0% (251200/1046528) finish=0.5min speed=25120K/sec\n      \n",
        );
        let flags: Vec<_> =
            a.members.iter().map(|m| (m.device.as_str(), m.replacement, m.spare, m.write_mostly, m.faulty)).collect();
        assert_eq!(
            flags,
            [
                ("sdd1", true, false, false, false),
                ("sdc1", false, true, false, false),
                ("sdb1", false, false, true, false),
                ("sda1", false, false, false, false),
            ]
        );
        let r = a.to_reading();
        let states: Vec<_> = r.members.iter().map(|m| (m.device.as_str(), m.state.join(","))).collect();
        assert_eq!(
            states,
            [
                ("sda1", "in_sync".into()),
                ("sdb1", "in_sync,write_mostly".into()),
                ("sdc1", "spare".into()),
                ("sdd1", "replacement".into())
            ]
        );
        // Copying onto a replacement while both mirrors are in sync: redundancy is intact.
        assert_eq!(r.verdict.level, Level::Warning);
        assert_eq!(r.verdict.reasons.len(), 1);
        assert!(r.verdict.reasons[0].starts_with("reconstruyendo 24.0 %"), "{:?}", r.verdict);
    }

    #[test]
    fn an_inactive_array_has_no_level_and_only_spares() {
        let a = one("md127 : inactive sdb[1](S) sdc[0](S)\n      1953260976 blocks super 1.2\n       \n");
        assert_eq!((a.state.as_str(), a.level.as_deref(), a.slots), ("inactive", None, None));
        assert!(a.members.iter().all(|m| m.spare));
        let r = a.to_reading();
        assert_eq!(
            (r.array_state.as_str(), r.level.as_str(), r.raid_disks, r.sync_action.as_str()),
            ("inactive", "", 0, "")
        );
        assert_eq!(r.verdict.level, Level::Critical);
        assert_eq!(
            r.verdict.reasons,
            ["arreglo RAID inactivo: el kernel no lo puso en servicio (miembros presentes: sdb, sdc)"]
        );
    }

    #[test]
    fn read_only_and_auto_read_only_map_to_the_sysfs_states() {
        let a = one(
            "md0 : active (auto-read-only) raid1 sdb1[1] sda1[0]\n      1046528 blocks super 1.2 [2/2] [UU]\n      \
             \tresync=PENDING\n      \n",
        );
        assert_eq!((a.read_only.as_deref(), a.waiting.as_deref()), (Some("auto-read-only"), Some("resync=PENDING")));
        let r = a.to_reading();
        assert_eq!(
            (r.array_state.as_str(), r.sync_action.as_str(), r.verdict.level),
            ("read-auto", "idle", Level::Warning)
        );
        let r =
            one("md0 : active (read-only) raid1 sdb1[1] sda1[0]\n      1046528 blocks super 1.2 [2/2] [UU]\n      \n")
                .to_reading();
        assert_eq!((r.array_state.as_str(), r.verdict.level), ("readonly", Level::Warning));
    }

    #[test]
    fn a_delayed_resync_is_a_waiting_sync_without_progress() {
        let all = parse_mdstat(&format!(
            "{PERS}md1 : active raid1 sdb2[1] sda2[0]\n      1046528 blocks super 1.2 [2/2] [UU]\n      \
             \tresync=DELAYED\n      \nmd0 : active raid1 sdb1[1] sda1[0]\n      1046528 blocks super 1.2 [2/2] [UU]\n      \
             [=>...................]  resync =  5.0% (52326/1046528) finish=1.0min speed=15000K/sec\n      \n\
             unused devices: <none>\n"
        ));
        assert_eq!(all.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), ["md1", "md0"]);
        assert_eq!((all[0].waiting.as_deref(), &all[0].progress), (Some("resync=DELAYED"), &None));
        let r = all[0].to_reading();
        assert_eq!((r.sync_action.as_str(), r.sync_completed), ("resync", None));
        assert_eq!(r.verdict.reasons, ["sincronización en curso (aún sin progreso)"]);
    }

    #[test]
    fn raid0_and_0_90_metadata_have_no_redundancy_fields() {
        let a = one("md0 : active raid0 sdb1[1] sda1[0]\n      1953257472 blocks 512k chunks\n      \n");
        assert_eq!((a.level.as_deref(), a.superblock.as_deref(), a.blocks), (Some("raid0"), None, Some(1_953_257_472)));
        let r = a.to_reading();
        assert_eq!((r.raid_disks, r.degraded, r.sync_action.as_str()), (2, 0, ""));
        assert!(r.members.iter().all(|m| m.state == ["in_sync"]));
        assert_eq!(r.verdict, Verdict::ok());
    }

    #[test]
    fn an_mdstat_without_arrays_yields_none() {
        assert_eq!(parse_mdstat("Personalities : \nunused devices: <none>\n"), []);
        assert_eq!(parse_mdstat(&format!("{PERS}unused devices: <none>\n")), []);
        assert_eq!(parse_mdstat(""), []);
    }

    const BUSY: &str = "Personalities : [raid1] [raid6] [raid5] [raid4] [raid10] \n\
        md2 : active raid6 sde1[4] sdd1[3](W) sdc1[2](F) sdb1[1] sda1[0](S)\n      \
        3906762752 blocks super 1.2 level 6, 512k chunk, algorithm 2 [4/3] [UU_U]\n      \
        [=========>...........]  recovery = 45.2% (883952380/1953381376) finish=117.8min speed=151234K/sec\n      \
        bitmap: 4/15 pages [16KB], 65536KB chunk\n\n\
        md1 : active (auto-read-only) raid10 sdd2[3] sdc2[2] sdb2[1] sda2[0]\n      \
        1953260544 blocks super 1.2 512K chunks 2 near-copies [4/4] [UUUU]\n      \tresync=PENDING\n      \n\
        md127 : inactive sdf[1](S)\n      976630488 blocks super 1.2\n       \n\
        unused devices: sdg1 sdh1 \n";

    #[test]
    fn a_truncated_mdstat_yields_what_was_read_and_never_panics() {
        let full = parse_mdstat(BUSY);
        assert_eq!(full.len(), 3);
        for (cut, _) in BUSY.char_indices() {
            let part = parse_mdstat(&BUSY[..cut]);
            assert!(part.len() <= 3);
            for a in &part {
                let r = a.to_reading();
                assert!(r.verdict.level >= Level::Ok);
            }
        }
        // Cut inside the progress line: the percent survives, the rest is unknown.
        let cut = BUSY.find("(883952").unwrap() + 4;
        let a = &parse_mdstat(&BUSY[..cut])[0];
        let p = a.progress.as_ref().unwrap();
        assert_eq!((p.per_mille, p.blocks, p.speed_kib), (Some(452), None, None));
    }

    #[test]
    fn garbage_in_mdstat_never_panics() {
        // A small deterministic generator: bytes drawn from mdstat's own alphabet and some hostile ones.
        let alphabet: Vec<char> =
            "md0 :active[]()/_U=%.\n\t ()FSWRJ0123456789resync recovery check K/sec speed=é\u{fffd}\0"
                .chars()
                .collect();
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..2000 {
            let mut s = String::new();
            for _ in 0..(seed % 300) {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                s.push(alphabet[(seed >> 33) as usize % alphabet.len()]);
            }
            for a in parse_mdstat(&s) {
                let _ = a.to_reading();
            }
        }
        let absurd = "md0 : active raid1 sda1[99999999999999999999](F)\n      99999999999999999999999 blocks [4294967296/1] \
                      [UU]\n      [>]  recovery = 99999999999.9% (18446744073709551615/0) speed=18446744073709551616K/sec\n";
        let a = &parse_mdstat(absurd)[0];
        assert_eq!((a.blocks, a.slots, a.members[0].desc_nr), (None, None, None));
        let r = a.to_reading();
        assert_eq!(r.sync_completed, None, "doubling 2^64-1 blocks into sectors overflows");
        assert_eq!(r.verdict.level, Level::Critical, "a faulty member");
    }

    #[test]
    fn sysfs_values_parse_as_the_kernel_writes_them() {
        assert_eq!(parse_word("clean\n"), Ok("clean".into()));
        assert_eq!(parse_word("read-auto\n"), Ok("read-auto".into()));
        assert_eq!(parse_level("\n"), Ok(String::new()));
        assert_eq!(parse_level(""), Ok(String::new()));
        assert_eq!(parse_level("raid10\n"), Ok("raid10".into()));
        assert_eq!(parse_raid_disks("2\n"), Ok(Some(2)));
        assert_eq!(parse_raid_disks("4 (3)\n"), Ok(Some(4)), "during a reshape: new (old)");
        assert_eq!(parse_raid_disks(""), Ok(None), "inactive array, not validated yet");
        assert_eq!(parse_count("1\n"), Ok(1));
        assert_eq!(parse_number("18446744073709551615\n"), Ok(u64::MAX));
        assert_eq!(parse_sync_completed("1767898616 / 3906762752\n"), Ok(Some((1_767_898_616, 3_906_762_752))));
        assert_eq!(parse_sync_completed("none\n"), Ok(None));
        assert_eq!(parse_sync_completed("delayed\n"), Ok(None));
        assert_eq!(parse_sync_speed("151234\n"), Ok(Some(151_234)));
        assert_eq!(parse_sync_speed("none\n"), Ok(None));
        assert_eq!(parse_slot("2\n"), Ok(Some(2)));
        assert_eq!(parse_slot("none\n"), Ok(None));
        assert_eq!(parse_slot("journal\n"), Ok(None));
        assert_eq!(parse_member_state("in_sync,write_mostly\n"), ["in_sync", "write_mostly"]);
        assert_eq!(parse_member_state("faulty\n"), ["faulty"]);
        assert_eq!(parse_member_state("\n"), Vec::<String>::new());
    }

    #[test]
    fn absurd_or_garbled_sysfs_values_are_rejected_not_trusted() {
        assert!(parse_number("99999999999999999999999\n").is_err());
        assert!(parse_number("-1\n").is_err());
        assert!(parse_number("+5\n").is_err());
        assert!(parse_number("\n").is_err());
        assert!(parse_count("4294967296\n").is_err());
        assert!(parse_word("\n").is_err());
        assert!(parse_word("cle an\n").is_err());
        assert!(parse_word("cl\u{fffd}an\n").is_err(), "lossily decoded non-UTF-8");
        assert!(parse_word(&"a".repeat(65)).is_err());
        assert!(parse_raid_disks("4 (x)\n").is_err());
        assert!(parse_raid_disks("two\n").is_err());
        assert!(parse_sync_completed("12 /\n").is_err());
        assert!(parse_sync_completed("12 of 40\n").is_err());
        assert!(parse_sync_speed("fast\n").is_err());
        assert!(parse_slot("-1\n").is_err());
        let e = parse_word(&format!("{}\n", "x y".repeat(100))).unwrap_err();
        assert!(e.len() < 80, "messages quote a short prefix: {e}");
    }

    #[test]
    fn a_healthy_array_is_ok_without_reasons() {
        assert_eq!(verdict(&array("raid1", 2)), Verdict::ok());
        assert_eq!(verdict(&array("raid6", 4)), Verdict::ok());
    }

    #[test]
    fn missing_members_are_counted_in_spanish_singular_and_plural() {
        let mut a = array("raid6", 4);
        a.degraded = 2;
        a.members.truncate(2);
        let v = verdict(&a);
        assert_eq!(
            (v.level, v.reasons.as_slice()),
            (Level::Critical, ["arreglo RAID degradado: faltan 2 de 4 miembros".to_string()].as_slice())
        );
    }

    #[test]
    fn fewer_in_sync_members_than_slots_is_degraded_even_when_degraded_says_0() {
        let mut a = array("raid1", 2);
        a.members[1].state = vec!["spare".into()];
        assert_eq!(verdict(&a).reasons, ["arreglo RAID degradado: falta 1 de 2 miembros"]);
        let mut a = array("raid1", 2);
        a.members.pop();
        assert_eq!(verdict(&a).level, Level::Critical);
    }

    #[test]
    fn a_rebuild_stays_critical_while_degraded_and_names_the_target_and_time_left() {
        let mut a = array("raid5", 3);
        a.array_state = "active".into();
        a.degraded = 1;
        a.members[2] = member("sdd1", Some(2), "spare");
        a.sync_action = "recover".into();
        a.sync_completed = Some((1_767_898_616, 3_906_762_752));
        a.sync_speed_kib = Some(151_234);
        let v = verdict(&a);
        assert_eq!(v.level, Level::Critical);
        assert_eq!(
            v.reasons,
            ["arreglo RAID degradado: falta 1 de 3 miembros", "reconstruyendo 45.2 % en sdd1 (quedan ~1 h 57 min)"]
        );
    }

    #[test]
    fn a_rebuild_onto_a_replacement_of_a_healthy_array_is_a_warning() {
        let mut a = array("raid1", 2);
        a.members[1].state = parse_member_state("in_sync,want_replacement");
        a.members.push(member("sdc1", Some(1), "replacement"));
        a.sync_action = "recover".into();
        a.sync_completed = Some((100, 1000));
        let v = verdict(&a);
        assert_eq!(v.level, Level::Warning);
        assert_eq!(v.reasons, ["reconstruyendo 10.0 % en sdc1", "miembro sdb1 marcado para reemplazo"]);
    }

    #[test]
    fn a_check_or_resync_on_a_healthy_array_is_ok_with_its_progress() {
        let mut a = array("raid6", 4);
        a.sync_action = "check".into();
        a.sync_completed = Some((120, 1000));
        a.sync_speed_kib = Some(98_765);
        assert_eq!(verdict(&a), Verdict { level: Level::Ok, reasons: vec!["verificación en curso 12.0 %".into()] });
        a.sync_action = "resync".into();
        assert_eq!(verdict(&a).reasons, ["sincronización en curso 12.0 %"]);
        a.sync_action = "repair".into();
        assert_eq!(verdict(&a).reasons, ["reparación en curso 12.0 %"]);
        a.sync_action = "reshape".into();
        assert_eq!(verdict(&a).reasons, ["reorganización en curso 12.0 %"]);
    }

    #[test]
    fn inactive_and_broken_are_critical_readonly_and_read_auto_warn() {
        let mut a = array("raid1", 2);
        for (state, level) in [
            ("inactive", Level::Critical),
            ("broken", Level::Critical),
            ("readonly", Level::Warning),
            ("read-auto", Level::Warning),
            ("suspended", Level::Warning),
            ("bogus", Level::Warning),
            ("active-idle", Level::Ok),
            ("write-pending", Level::Ok),
        ] {
            a.array_state = state.into();
            assert_eq!(verdict(&a).level, level, "{state}");
        }
        a.array_state = "read-auto".into();
        assert!(verdict(&a).reasons[0].contains("normal tras el arranque"));
    }

    #[test]
    fn mismatches_warn_on_parity_levels_but_only_inform_on_mirrors() {
        let mut a = array("raid5", 3);
        a.mismatch_cnt = Some(128);
        let v = verdict(&a);
        assert_eq!(v.level, Level::Warning);
        assert_eq!(
            v.reasons,
            ["128 sectores inconsistentes en la última verificación (la paridad no coincide con los datos)"]
        );
        let mut a = array("raid1", 2);
        a.mismatch_cnt = Some(1);
        let v = verdict(&a);
        assert_eq!(v.level, Level::Ok);
        assert_eq!(
            v.reasons,
            [
                "1 sector inconsistente en la última verificación (en raid1 suele ser inofensivo: swap o escrituras en vuelo)"
            ]
        );
        let mut a = array("raid6", 4);
        a.mismatch_cnt = Some(8);
        a.sync_action = "check".into();
        assert!(
            verdict(&a).reasons.iter().any(|r| r.starts_with("8 sectores inconsistentes en la verificación en curso"))
        );
    }

    #[test]
    fn write_errors_and_want_replacement_warn_and_corrected_errors_inform() {
        let mut a = array("raid1", 2);
        a.members[0].state = parse_member_state("in_sync,write_error");
        let v = verdict(&a);
        assert_eq!(
            (v.level, v.reasons.as_slice()),
            (Level::Warning, ["error de escritura en el miembro sda1".to_string()].as_slice())
        );
        let mut a = array("raid1", 2);
        a.members[1].state = parse_member_state("in_sync,want_replacement");
        assert_eq!(verdict(&a).level, Level::Warning);
        let mut a = array("raid1", 2);
        a.members[1].errors = Some(8);
        assert_eq!(
            verdict(&a),
            Verdict { level: Level::Ok, reasons: vec!["sdb1: 8 errores de lectura corregidos".into()] }
        );
    }

    #[test]
    fn a_frozen_sync_warns_because_nothing_will_rebuild() {
        let mut a = array("raid1", 2);
        a.sync_action = "frozen".into();
        assert_eq!(verdict(&a).level, Level::Warning);
    }

    #[test]
    fn progress_is_truncated_like_the_kernel_and_survives_absurd_numbers() {
        assert_eq!(per_mille(1_767_898_616, 3_906_762_752), Some(452));
        assert_eq!(per_mille(u64::MAX, 1), Some(1000));
        assert_eq!(per_mille(5, 0), None);
        let mut a = array("raid1", 2);
        a.raid_disks = u32::MAX;
        a.degraded = u32::MAX;
        a.sync_action = "recover".into();
        a.sync_completed = Some((u64::MAX, 0));
        a.sync_speed_kib = Some(1);
        let v = verdict(&a);
        assert_eq!(v.level, Level::Critical);
        assert!(v.reasons.iter().any(|r| r == "reconstruyendo (aún sin progreso)"), "{v:?}");
    }
}
