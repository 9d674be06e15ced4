//! The verdicts of the `smart` probe: pure functions of one reading (and of the counts the same
//! disk had in the previous sample). The rules and their defaults are listed in the probe's
//! module documentation (`smart/mod.rs`); reasons are in Spanish, as the technician reads them.

use super::nvme::Controller;
use centinela_shared::{AtaDiskV1, DiskAccess, Level, NvmeDiskV1, SmartStatus, Verdict};

/// ATA temperature limits (°C): (warning, critical) for a rotating or unknown disk, and for an SSD.
pub const ATA_HDD_TEMP: (i16, i16) = (60, 70);
pub const ATA_SSD_TEMP: (i16, i16) = (70, 80);
/// NVMe temperature limits (°C) when the controller reports no WCTEMP/CCTEMP of its own.
pub const NVME_TEMP: (i16, i16) = (70, 80);

/// The error counts whose growth between two samples of the same disk is reported.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Counts {
    /// Growth is only measured against the same disk (a swapped disk starts over).
    pub serial: Option<String>,
    pub reallocated: Option<u64>,
    pub pending: Option<u64>,
    pub offline_uncorrectable: Option<u64>,
    pub reported_uncorrectable: Option<u64>,
    pub udma_crc_errors: Option<u64>,
    pub media_errors: Option<u64>,
}

impl Counts {
    pub fn of_ata(d: &AtaDiskV1) -> Self {
        Self {
            serial: d.serial.clone(),
            reallocated: d.reallocated,
            pending: d.pending,
            offline_uncorrectable: d.offline_uncorrectable,
            reported_uncorrectable: d.reported_uncorrectable,
            udma_crc_errors: d.udma_crc_errors,
            media_errors: None,
        }
    }

    pub fn of_nvme(d: &NvmeDiskV1) -> Self {
        Self { serial: d.serial.clone(), media_errors: d.media_errors, ..Self::default() }
    }
}

/// Which count of [`Counts`] a figure is.
type CountField = fn(&Counts) -> Option<u64>;

/// " (+N desde la muestra anterior)" when a count grew since the previous sample of the same disk.
fn growth(
    now: Option<u64>,
    before: Option<&Counts>,
    field: fn(&Counts) -> Option<u64>,
    serial: &Option<String>,
) -> String {
    match (now, before.filter(|b| &b.serial == serial).and_then(field)) {
        (Some(n), Some(b)) if n > b => format!(" (+{} desde la muestra anterior)", n - b),
        _ => String::new(),
    }
}

/// Verdicts shared by both kinds: an unread disk.
fn access_verdict(access: &DiskAccess) -> Option<Verdict> {
    let mut v = Verdict::ok();
    match access {
        DiskAccess::Read => return None,
        DiskAccess::Standby => v.raise(Level::Ok, "en reposo (standby): no se despertó el disco para leerlo"),
        DiskAccess::NotSupported(why) => v.raise(Level::Ok, format!("SMART no disponible por este medio: {why}")),
        DiskAccess::PermissionDenied(why) => v.raise(Level::Warning, format!("sin permiso para leer SMART: {why}")),
        DiskAccess::Error(why) => v.raise(Level::Warning, format!("no se pudo leer la salud del disco: {why}")),
    }
    Some(v)
}

fn temperature(v: &mut Verdict, c: Option<i16>, (warning, critical): (i16, i16)) {
    match c {
        Some(c) if c >= critical => {
            v.raise(Level::Critical, format!("temperatura {c} °C (crítica desde {critical} °C)"));
        }
        Some(c) if c >= warning => v.raise(Level::Warning, format!("temperatura {c} °C (alta desde {warning} °C)")),
        _ => {}
    }
}

fn incomplete(v: &mut Verdict, errors: &[String]) {
    if !errors.is_empty() {
        v.raise(Level::Warning, format!("lectura incompleta: {}", errors.join("; ")));
    }
}

/// The verdict of one ATA disk.
pub fn ata_verdict(d: &AtaDiskV1, before: Option<&Counts>) -> Verdict {
    if let Some(v) = access_verdict(&d.access) {
        return v;
    }
    let mut v = Verdict::ok();
    match d.smart_status {
        Some(SmartStatus::Failing) => v.raise(Level::Critical, "el disco se declara en falla (SMART FAILING)"),
        Some(SmartStatus::Unknown) => {
            v.raise(Level::Warning, "estado SMART no reconocido (el disco no responde PASSED ni FAILING)")
        }
        Some(SmartStatus::Passed) | None => {}
    }
    for a in d.attributes.iter().filter(|a| a.failing_now) {
        v.raise(
            Level::Critical,
            format!(
                "atributo pre-falla {} {} en o bajo su umbral (valor {}, umbral {})",
                a.id,
                a.name,
                a.value,
                a.threshold.unwrap_or(0)
            ),
        );
    }
    let counters: [(Option<u64>, CountField, &str); 5] = [
        (d.reallocated, |c| c.reallocated, "sectores reasignados (atributo 5)"),
        (d.pending, |c| c.pending, "sectores pendientes de reasignar (atributo 197)"),
        (d.offline_uncorrectable, |c| c.offline_uncorrectable, "sectores incorregibles (atributo 198)"),
        (d.reported_uncorrectable, |c| c.reported_uncorrectable, "errores incorregibles informados (atributo 187)"),
        (d.udma_crc_errors, |c| c.udma_crc_errors, "errores CRC de UDMA (atributo 199): revisar el cable SATA"),
    ];
    for (count, field, what) in counters {
        if let Some(n) = count.filter(|n| *n > 0) {
            v.raise(Level::Warning, format!("{n} {what}{}", growth(count, before, field, &d.serial)));
        }
    }
    let limits = if d.rotational == Some(false) { ATA_SSD_TEMP } else { ATA_HDD_TEMP };
    temperature(&mut v, d.temperature_c, limits);
    incomplete(&mut v, &d.errors);
    v
}

/// The Spanish gloss of a critical warning bit's wire name.
fn warning_gloss(name: &str) -> &'static str {
    match name {
        "spare" => "reserva disponible bajo el umbral",
        "temperature" => "temperatura fuera de rango",
        "reliability" => "fiabilidad del subsistema NVM degradada",
        "read_only" => "medio en solo lectura",
        "volatile_backup" => "falló el respaldo de la memoria volátil",
        "pmr_read_only" => "memoria persistente (PMR) en solo lectura",
        _ => "bit reservado",
    }
}

/// The verdict of one NVMe controller. `controller` gives its own temperature limits.
pub fn nvme_verdict(d: &NvmeDiskV1, controller: Option<&Controller>, before: Option<&Counts>) -> Verdict {
    if let Some(v) = access_verdict(&d.access) {
        return v;
    }
    let mut v = Verdict::ok();
    if let Some(cw) = d.critical_warning.filter(|cw| *cw != 0) {
        let named: Vec<String> = d.critical_warnings.iter().map(|n| format!("{n} ({})", warning_gloss(n))).collect();
        v.raise(Level::Critical, format!("advertencia crítica del controlador 0x{cw:02X}: {}", named.join(", ")));
    }
    if let (Some(spare), Some(threshold)) = (d.available_spare_pct, d.spare_threshold_pct)
        && spare < threshold
    {
        v.raise(Level::Critical, format!("reserva disponible {spare} % bajo su umbral {threshold} %"));
    }
    if let Some(used) = d.percentage_used.filter(|u| *u >= 100) {
        v.raise(Level::Warning, format!("vida útil estimada consumida: {used} %"));
    }
    if let Some(n) = d.media_errors.filter(|n| *n > 0) {
        let grew = growth(d.media_errors, before, |c| c.media_errors, &d.serial);
        v.raise(Level::Warning, format!("{n} errores de medio o de integridad de datos{grew}"));
    }
    let limits = (
        controller.and_then(|c| c.warning_temp_c).unwrap_or(NVME_TEMP.0),
        controller.and_then(|c| c.critical_temp_c).unwrap_or(NVME_TEMP.1),
    );
    temperature(&mut v, d.temperature_c, limits);
    incomplete(&mut v, &d.errors);
    v
}

#[cfg(test)]
mod tests {
    use super::super::ata::tests::{DATA, SENSE_FAILING, ck_reply, edit_attribute, hex};
    use super::super::nvme::tests::{LOG, LOG_CRITICAL_04};
    use super::super::read::tests::{FakeAta, FakeNvme};
    use super::super::read::{blank_ata, read_ata, read_nvme};
    use super::*;

    fn lab_ata() -> AtaDiskV1 {
        read_ata("sda", &mut FakeAta::lab())
    }

    #[test]
    fn the_healthy_lab_disks_are_ok_without_reasons() {
        assert_eq!(ata_verdict(&lab_ata(), None), Verdict::ok());
        let r = read_nvme("nvme0", &mut FakeNvme::lab(LOG));
        assert_eq!(nvme_verdict(&r.disk, r.controller.as_ref(), None), Verdict::ok());
    }

    #[test]
    fn a_disk_that_declares_itself_failing_is_critical() {
        let d = read_ata("sda", &mut FakeAta { status: Some(Ok(ck_reply(SENSE_FAILING))), ..FakeAta::lab() });
        let v = ata_verdict(&d, None);
        assert_eq!(v.level, Level::Critical);
        assert_eq!(v.reasons, ["el disco se declara en falla (SMART FAILING)"]);
    }

    #[test]
    fn a_prefail_attribute_at_threshold_is_critical_naming_it() {
        let mut data = hex(DATA);
        edit_attribute(&mut data, 1, 6, 0); // Raw_Read_Error_Rate at its threshold 6
        let d = read_ata("sda", &mut FakeAta { data: Some(Ok(data)), ..FakeAta::lab() });
        let v = ata_verdict(&d, None);
        assert_eq!(v.level, Level::Critical);
        assert!(v.reasons[0].contains("1 Raw_Read_Error_Rate") && v.reasons[0].contains("umbral 6"), "{v:?}");
    }

    #[test]
    fn reallocated_and_pending_sectors_warn_with_their_counts_and_growth() {
        let mut data = hex(DATA);
        edit_attribute(&mut data, 5, 100, 8);
        super::super::ata::tests::add_attribute(&mut data, 197, 0x0012, 100, 2);
        super::super::ata::tests::add_attribute(&mut data, 199, 0x003E, 200, 1);
        let d = read_ata("sda", &mut FakeAta { data: Some(Ok(data)), ..FakeAta::lab() });
        let v = ata_verdict(&d, None);
        assert_eq!(v.level, Level::Warning);
        assert_eq!(
            v.reasons,
            [
                "8 sectores reasignados (atributo 5)",
                "2 sectores pendientes de reasignar (atributo 197)",
                "1 errores CRC de UDMA (atributo 199): revisar el cable SATA",
            ]
        );
        let before = Counts { reallocated: Some(5), ..Counts::of_ata(&d) };
        let v = ata_verdict(&d, Some(&before));
        assert_eq!(v.reasons[0], "8 sectores reasignados (atributo 5) (+3 desde la muestra anterior)");
        // Another disk in the same slot: no growth is claimed.
        let swapped = Counts { serial: Some("OTHER".into()), ..before };
        assert_eq!(ata_verdict(&d, Some(&swapped)).reasons[0], "8 sectores reasignados (atributo 5)");
    }

    #[test]
    fn hot_disks_warn_then_turn_critical_with_ssd_limits_ten_degrees_higher() {
        let mut d = lab_ata();
        d.temperature_c = Some(61);
        assert_eq!(ata_verdict(&d, None).level, Level::Warning);
        d.temperature_c = Some(70);
        assert_eq!(ata_verdict(&d, None).level, Level::Critical);
        d.rotational = Some(false);
        assert_eq!(ata_verdict(&d, None).level, Level::Warning);
    }

    #[test]
    fn unread_disks_are_ok_when_asleep_or_unsupported_and_warn_when_denied_or_broken() {
        let v = ata_verdict(&blank_ata("sdb", DiskAccess::Standby), None);
        assert_eq!(v.level, Level::Ok);
        assert!(v.reasons[0].contains("standby"), "{v:?}");
        let v = ata_verdict(&blank_ata("sdb", DiskAccess::NotSupported("sense key 5, ASC/ASCQ 20/00".into())), None);
        assert_eq!(v.level, Level::Ok);
        assert!(v.reasons[0].contains("20/00"));
        let v = ata_verdict(&blank_ata("sdb", DiskAccess::PermissionDenied("needs CAP_SYS_RAWIO".into())), None);
        assert_eq!(v.level, Level::Warning);
        assert!(v.reasons[0].contains("CAP_SYS_RAWIO"));
        assert_eq!(ata_verdict(&blank_ata("sdb", DiskAccess::Error("EIO".into())), None).level, Level::Warning);
        let mut d = lab_ata();
        d.errors.push("SMART READ DATA: bad checksum".into());
        let v = ata_verdict(&d, None);
        assert_eq!(v.level, Level::Warning);
        assert_eq!(v.reasons, ["lectura incompleta: SMART READ DATA: bad checksum"]);
    }

    #[test]
    fn an_nvme_critical_warning_is_critical_naming_the_bits() {
        let r = read_nvme("nvme0", &mut FakeNvme::lab(LOG_CRITICAL_04));
        let v = nvme_verdict(&r.disk, r.controller.as_ref(), None);
        assert_eq!(v.level, Level::Critical);
        assert_eq!(
            v.reasons,
            ["advertencia crítica del controlador 0x04: reliability (fiabilidad del subsistema NVM degradada)"]
        );
    }

    #[test]
    fn nvme_spare_wear_media_errors_and_temperature_follow_the_defaults() {
        let r = read_nvme("nvme0", &mut FakeNvme::lab(LOG));
        let mut d = r.disk.clone();
        d.available_spare_pct = Some(5);
        d.spare_threshold_pct = Some(10);
        d.percentage_used = Some(104);
        d.media_errors = Some(3);
        let v = nvme_verdict(&d, r.controller.as_ref(), Some(&Counts { media_errors: Some(1), ..Counts::of_nvme(&d) }));
        assert_eq!(v.level, Level::Critical);
        assert_eq!(
            v.reasons,
            [
                "reserva disponible 5 % bajo su umbral 10 %",
                "vida útil estimada consumida: 104 %",
                "3 errores de medio o de integridad de datos (+2 desde la muestra anterior)",
            ]
        );
        let mut d = r.disk.clone();
        d.temperature_c = Some(72);
        // The controller's own WCTEMP (70 °C) and CCTEMP (100 °C) apply; without them 70/80.
        assert_eq!(nvme_verdict(&d, r.controller.as_ref(), None).level, Level::Warning);
        d.temperature_c = Some(85);
        assert_eq!(nvme_verdict(&d, r.controller.as_ref(), None).level, Level::Warning);
        assert_eq!(nvme_verdict(&d, None, None).level, Level::Critical);
    }
}
