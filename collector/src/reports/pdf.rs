//! The monthly report as a PDF, drawn by the server: the figures, the two charts as vector bars
//! and lines, the outgoing-call verification, the QA findings, the review and, at the end, every
//! formula the figures follow.
//!
//! Invariants:
//! - Pure: a [`Doc`] in, the PDF's bytes out; no I/O, no clock (the caller says when and by whom).
//! - The font is DejaVu Sans compiled in (`assets/fonts/`, with its license), never a system path;
//!   the PDF embeds the subset used, with a ToUnicode map, so its text can be searched and
//!   extracted (`pdftotext`), accents included.
//! - Layout is two passes: first the pages are laid out as lists of drawing operations (so the
//!   footer can say "página N de M"), then krilla draws them.

use super::figures::{CallTotals, Figures};
use krilla::Document;
use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::metadata::Metadata;
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::text::{Font, TextDirection};

static REGULAR: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
static BOLD: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");

/// A4, in points.
const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
const MARGIN: f32 = 48.0;
const TOP: f32 = 56.0;
const BOTTOM: f32 = PAGE_H - 54.0;
const WIDTH: f32 = PAGE_W - 2.0 * MARGIN;

const BODY: f32 = 9.0;
const SMALL: f32 = 7.5;

/// Colours: the received series blue, the made series orange (as on the page's charts).
const INK: (u8, u8, u8) = (33, 37, 41);
const MUTED: (u8, u8, u8) = (100, 106, 112);
const RULE: (u8, u8, u8) = (206, 212, 218);
const RECEIVED: (u8, u8, u8) = (31, 111, 180);
const MADE: (u8, u8, u8) = (230, 126, 34);
const CRIT: (u8, u8, u8) = (192, 57, 43);

#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error("the embedded font cannot be read")]
    Font,
    #[error("cannot write the PDF: {0}")]
    Write(String),
}

/// One evaluated (or pending) call of the QA sample, as the PDF lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct QaLine {
    pub n: i64,
    pub when: String,
    pub direction: String,
    pub parties: String,
    pub verdict: String,
    pub points: String,
    pub observations: String,
    /// A falta grave or a breach: printed in red.
    pub flagged: bool,
}

/// One step of the review, as the PDF lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryLine {
    pub when: String,
    pub who: String,
    pub what: String,
    pub text: String,
}

/// Everything the PDF shows, ready to print (texts already in Spanish).
#[derive(Debug, Clone)]
pub struct Doc<'a> {
    pub center: String,
    pub dependencia: String,
    /// "noviembre de 2026".
    pub period: String,
    pub state: String,
    pub round: u32,
    /// "03/12/2026 · entregado a tiempo".
    pub due: String,
    pub figures: &'a Figures,
    /// When the figures were computed, and their SHA-256 (hex).
    pub computed_at: String,
    pub figures_hash: String,
    /// The outgoing-call verification's result and notes (guideline a).
    pub outbound: String,
    pub summary: String,
    /// "20 llamadas en la muestra, 20 evaluadas; 17 cumplen el protocolo; 1 falta grave; promedio 88 %".
    pub qa_summary: String,
    pub qa: Vec<QaLine>,
    pub history: Vec<HistoryLine>,
    pub formulas: &'a [(&'a str, &'a str)],
    /// "27/11/2026 10:31 por Ana Pérez".
    pub generated: String,
}

/// Seconds as people read them: "1 h 02 min 05 s", "3 min 20 s", "45 s".
pub fn duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s} s"),
        (0, _) => format!("{m} min {s:02} s"),
        _ => format!("{h} h {m:02} min {s:02} s"),
    }
}

/// An optional average in seconds, rounded.
pub fn avg_duration(secs: f64) -> String {
    if secs.is_finite() && secs >= 0.0 { duration(secs.round() as u64) } else { "—".into() }
}

/// A percentage with one decimal, or "—".
pub fn percent(v: Option<f64>) -> String {
    v.filter(|v| v.is_finite()).map_or("—".into(), |v| format!("{v:.1} %"))
}

// ---- Fonts and measuring ----

struct Faces {
    regular: ttf_parser::Face<'static>,
    bold: ttf_parser::Face<'static>,
}

impl Faces {
    fn load() -> Result<Faces, PdfError> {
        let parse = |d: &'static [u8]| ttf_parser::Face::parse(d, 0).map_err(|_| PdfError::Font);
        Ok(Faces { regular: parse(REGULAR)?, bold: parse(BOLD)? })
    }

    fn width(&self, text: &str, size: f32, bold: bool) -> f32 {
        let face = if bold { &self.bold } else { &self.regular };
        let upem = f32::from(face.units_per_em());
        let units: u32 = text
            .chars()
            .map(|c| {
                let g = face.glyph_index(c).unwrap_or(ttf_parser::GlyphId(0));
                u32::from(face.glyph_hor_advance(g).unwrap_or(0))
            })
            .sum();
        units as f32 * size / upem
    }

    /// Splits `text` into lines no wider than `max` (words longer than a line are cut).
    fn wrap(&self, text: &str, size: f32, bold: bool, max: f32) -> Vec<String> {
        let mut lines = Vec::new();
        for para in text.split('\n') {
            let mut line = String::new();
            for word in para.split_whitespace() {
                let candidate = if line.is_empty() { word.to_string() } else { format!("{line} {word}") };
                if self.width(&candidate, size, bold) <= max {
                    line = candidate;
                    continue;
                }
                if !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                }
                // A word wider than the line: cut it where it fills the line.
                let mut rest = word.to_string();
                while self.width(&rest, size, bold) > max && rest.chars().count() > 1 {
                    let mut cut = rest.chars().count() - 1;
                    while cut > 1 && self.width(&rest.chars().take(cut).collect::<String>(), size, bold) > max {
                        cut -= 1;
                    }
                    lines.push(rest.chars().take(cut).collect());
                    rest = rest.chars().skip(cut).collect();
                }
                line = rest;
            }
            lines.push(line);
        }
        lines
    }
}

// ---- The display list ----

#[derive(Debug, Clone)]
enum Op {
    Text { x: f32, y: f32, size: f32, bold: bool, color: (u8, u8, u8), text: String },
    Rect { x: f32, y: f32, w: f32, h: f32, color: (u8, u8, u8) },
    Line { points: Vec<(f32, f32)>, width: f32, color: (u8, u8, u8) },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Right,
}

struct Layout<'f> {
    faces: &'f Faces,
    pages: Vec<Vec<Op>>,
    /// The top of the free space on the current page.
    y: f32,
}

impl<'f> Layout<'f> {
    fn new(faces: &'f Faces) -> Self {
        Layout { faces, pages: vec![vec![]], y: TOP }
    }

    fn page(&mut self) -> &mut Vec<Op> {
        self.pages.last_mut().expect("at least one page")
    }

    fn new_page(&mut self) {
        self.pages.push(vec![]);
        self.y = TOP;
    }

    /// Makes room for `h` points, on a new page if needed.
    fn ensure(&mut self, h: f32) {
        if self.y + h > BOTTOM && self.y > TOP {
            self.new_page();
        }
    }

    fn gap(&mut self, h: f32) {
        self.y += h;
    }

    fn text_at(&mut self, x: f32, baseline: f32, size: f32, bold: bool, color: (u8, u8, u8), text: &str) {
        if !text.is_empty() {
            self.page().push(Op::Text { x, y: baseline, size, bold, color, text: text.to_string() });
        }
    }

    fn text_right(&mut self, right: f32, baseline: f32, size: f32, bold: bool, color: (u8, u8, u8), text: &str) {
        let w = self.faces.width(text, size, bold);
        self.text_at(right - w, baseline, size, bold, color, text);
    }

    fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, color: (u8, u8, u8)) {
        if w > 0.0 && h > 0.0 {
            self.page().push(Op::Rect { x, y, w, h, color });
        }
    }

    fn line(&mut self, points: Vec<(f32, f32)>, width: f32, color: (u8, u8, u8)) {
        self.page().push(Op::Line { points, width, color });
    }

    /// A wrapped paragraph at the left margin (plus `indent`).
    fn paragraph(&mut self, text: &str, size: f32, bold: bool, color: (u8, u8, u8), indent: f32) {
        let lead = size * 1.4;
        for l in self.faces.wrap(text, size, bold, WIDTH - indent) {
            self.ensure(lead);
            self.y += lead;
            let y = self.y - size * 0.35;
            self.text_at(MARGIN + indent, y, size, bold, color, &l);
        }
    }

    fn heading(&mut self, text: &str) {
        // A heading never ends a page: it keeps at least three lines of what follows with it.
        self.ensure(70.0);
        self.gap(10.0);
        self.paragraph(text, 12.0, true, INK, 0.0);
        let y = self.y + 3.0;
        self.line(vec![(MARGIN, y), (MARGIN + WIDTH, y)], 0.6, RULE);
        self.gap(6.0);
    }

    /// A table whose cells wrap within their column. `widths` are fractions of the text width.
    fn table(&mut self, headers: &[&str], widths: &[f32], aligns: &[Align], rows: &[(Vec<String>, bool)]) {
        let size = BODY - 0.5;
        let lead = size * 1.35;
        let cols: Vec<(f32, f32)> = {
            let mut x = MARGIN;
            widths
                .iter()
                .map(|w| {
                    let c = (x, w * WIDTH);
                    x += w * WIDTH;
                    c
                })
                .collect()
        };
        let draw_header = |me: &mut Layout| {
            let lines: Vec<Vec<String>> =
                headers.iter().zip(&cols).map(|(h, (_, w))| me.faces.wrap(h, size, true, w - 6.0)).collect();
            let n = lines.iter().map(Vec::len).max().unwrap_or(1) as f32;
            me.ensure(n * lead + 2.0 * lead);
            let top = me.y;
            me.rect(MARGIN, top, WIDTH, n * lead + 4.0, (236, 240, 244));
            for ((ls, (x, w)), align) in lines.iter().zip(&cols).zip(aligns) {
                for (i, l) in ls.iter().enumerate() {
                    let base = top + 2.0 + (i as f32 + 1.0) * lead - size * 0.3;
                    match align {
                        Align::Left => me.text_at(x + 3.0, base, size, true, INK, l),
                        Align::Right => me.text_right(x + w - 3.0, base, size, true, INK, l),
                    }
                }
            }
            me.y = top + n * lead + 4.0;
        };
        draw_header(self);
        for (cells, flagged) in rows {
            let lines: Vec<Vec<String>> =
                cells.iter().zip(&cols).map(|(c, (_, w))| self.faces.wrap(c, size, false, w - 6.0)).collect();
            let n = lines.iter().map(Vec::len).max().unwrap_or(1) as f32;
            if self.y + n * lead + 4.0 > BOTTOM {
                self.new_page();
                draw_header(self);
            }
            let top = self.y;
            let color = if *flagged { CRIT } else { INK };
            for ((ls, (x, w)), align) in lines.iter().zip(&cols).zip(aligns) {
                for (i, l) in ls.iter().enumerate() {
                    let base = top + 2.0 + (i as f32 + 1.0) * lead - size * 0.3;
                    match align {
                        Align::Left => self.text_at(x + 3.0, base, size, false, color, l),
                        Align::Right => self.text_right(x + w - 3.0, base, size, false, color, l),
                    }
                }
            }
            self.y = top + n * lead + 4.0;
            let y = self.y;
            self.line(vec![(MARGIN, y), (MARGIN + WIDTH, y)], 0.3, RULE);
        }
        self.gap(4.0);
    }

    /// Label/value pairs in two columns.
    fn facts(&mut self, pairs: &[(&str, String)]) {
        let size = BODY;
        let label_w = 150.0;
        for (k, v) in pairs {
            let lines = self.faces.wrap(v, size, false, WIDTH - label_w);
            let lead = size * 1.45;
            self.ensure(lead * lines.len() as f32);
            let top = self.y;
            self.text_at(MARGIN, top + lead - size * 0.35, size, true, MUTED, k);
            for (i, l) in lines.iter().enumerate() {
                self.text_at(MARGIN + label_w, top + (i as f32 + 1.0) * lead - size * 0.35, size, false, INK, l);
            }
            self.y = top + lead * lines.len().max(1) as f32;
        }
    }

    /// The chart's frame: a nice maximum, horizontal grid lines with their values; returns the
    /// plot area (x, y, w, h) and the maximum.
    fn chart_frame(&mut self, title: &str, max: u64, height: f32) -> (f32, f32, f32, f32, f64) {
        self.ensure(height + 52.0);
        self.gap(4.0);
        self.paragraph(title, 10.0, true, INK, 0.0);
        self.gap(6.0);
        let (x0, y0, w, h) = (MARGIN + 34.0, self.y + 4.0, WIDTH - 34.0, height);
        let top = nice_max(max);
        let steps = 4;
        for i in 0..=steps {
            let v = top * f64::from(i) / f64::from(steps);
            let y = y0 + h - (v / top) as f32 * h;
            self.line(vec![(x0, y), (x0 + w, y)], if i == 0 { 0.8 } else { 0.3 }, if i == 0 { MUTED } else { RULE });
            let label = if top >= 10.0 || v.fract() == 0.0 { format!("{v:.0}") } else { format!("{v:.1}") };
            self.text_right(x0 - 4.0, y + 2.5, SMALL, false, MUTED, &label);
        }
        (x0, y0, w, h, top)
    }

    fn legend(&mut self, x: f32, y: f32) {
        self.rect(x, y - 6.0, 8.0, 6.0, RECEIVED);
        self.text_at(x + 11.0, y, SMALL, false, INK, "Recibidas");
        let x2 = x + 16.0 + self.faces.width("Recibidas", SMALL, false);
        self.rect(x2, y - 6.0, 8.0, 6.0, MADE);
        self.text_at(x2 + 11.0, y, SMALL, false, INK, "Realizadas");
    }

    /// Calls per day of the month: received and made bars side by side.
    fn day_chart(&mut self, by_day: &[(u64, u64)]) {
        let max = by_day.iter().map(|(a, b)| (*a).max(*b)).max().unwrap_or(0);
        let (x0, y0, w, h, top) = self.chart_frame("Llamadas por día", max, 150.0);
        let n = by_day.len().max(1) as f32;
        let slot = w / n;
        let bar = (slot * 0.38).max(0.5);
        for (i, (rec, made)) in by_day.iter().enumerate() {
            let x = x0 + slot * i as f32 + slot * 0.1;
            let hr = (*rec as f64 / top) as f32 * h;
            let hm = (*made as f64 / top) as f32 * h;
            self.rect(x, y0 + h - hr, bar, hr, RECEIVED);
            self.rect(x + bar, y0 + h - hm, bar, hm, MADE);
            let day = i + 1;
            let every = if by_day.len() > 20 { 2 } else { 1 };
            if day == 1 || day % every == 1 || every == 1 {
                let label = day.to_string();
                let lw = self.faces.width(&label, SMALL, false);
                self.text_at(x0 + slot * i as f32 + (slot - lw) / 2.0, y0 + h + 10.0, SMALL, false, MUTED, &label);
            }
        }
        self.legend(x0, y0 + h + 24.0);
        self.y = y0 + h + 30.0;
    }

    /// The hour-of-day profile: one line per direction over 0–23 h.
    fn hour_chart(&mut self, by_hour: &[(u64, u64)]) {
        let max = by_hour.iter().map(|(a, b)| (*a).max(*b)).max().unwrap_or(0);
        let (x0, y0, w, h, top) = self.chart_frame("Perfil por hora del día (llamadas en cada hora)", max, 130.0);
        let step = w / 24.0;
        let at = |i: usize, v: u64| (x0 + step * (i as f32 + 0.5), y0 + h - (v as f64 / top) as f32 * h);
        for (pick, color) in [(0usize, RECEIVED), (1usize, MADE)] {
            let pts: Vec<(f32, f32)> =
                by_hour.iter().enumerate().map(|(i, p)| at(i, if pick == 0 { p.0 } else { p.1 })).collect();
            if pts.len() > 1 {
                self.line(pts.clone(), 1.6, color);
            }
            for (x, y) in pts {
                self.rect(x - 1.4, y - 1.4, 2.8, 2.8, color);
            }
        }
        for i in (0..24).step_by(2) {
            let label = format!("{i:02}");
            let lw = self.faces.width(&label, SMALL, false);
            self.text_at(x0 + step * (i as f32 + 0.5) - lw / 2.0, y0 + h + 10.0, SMALL, false, MUTED, &label);
        }
        self.legend(x0, y0 + h + 24.0);
        self.y = y0 + h + 30.0;
    }
}

/// The smallest 1, 2 or 5 × 10ⁿ at or above `max` (at least 1).
fn nice_max(max: u64) -> f64 {
    let max = (max as f64).max(1.0);
    let mag = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * mag).find(|v| *v >= max).unwrap_or(max)
}

fn totals_rows(r: &CallTotals, m: &CallTotals) -> Vec<(Vec<String>, bool)> {
    let row = |label: &str, a: String, b: String| (vec![label.to_string(), a, b], false);
    vec![
        row("Llamadas", r.calls.to_string(), m.calls.to_string()),
        row("Contestadas", r.answered.to_string(), m.answered.to_string()),
        row("No contestadas", r.no_answer.to_string(), m.no_answer.to_string()),
        row("Ocupado", r.busy.to_string(), m.busy.to_string()),
        row("Fallidas", r.failed.to_string(), m.failed.to_string()),
        row("Tiempo de conversación (total)", duration(r.talk_s), duration(m.talk_s)),
        row("Tiempo de conversación (promedio)", avg_duration(r.avg_talk_s), avg_duration(m.avg_talk_s)),
    ]
}

/// Lays the report out and writes the PDF.
pub fn render(doc: &Doc) -> Result<Vec<u8>, PdfError> {
    let faces = Faces::load()?;
    let mut l = Layout::new(&faces);
    let f = doc.figures;

    l.paragraph(
        "Ministerio de Hacienda · Unidad de Administración de Centros Telefónicos (UACT)",
        SMALL,
        false,
        MUTED,
        0.0,
    );
    l.gap(4.0);
    l.paragraph("Informe mensual de servicios", 18.0, true, INK, 0.0);
    l.paragraph(
        &format!("Centro Telefónico {} · {} · {}", doc.center, doc.dependencia, doc.period),
        11.0,
        false,
        INK,
        0.0,
    );
    l.gap(8.0);
    l.facts(&[
        ("Estado", doc.state.clone()),
        ("Ronda de revisión", if doc.round == 0 { "sin enviar".into() } else { doc.round.to_string() }),
        ("Vence", doc.due.clone()),
        ("Servidores", if f.servers.is_empty() { "—".into() } else { f.servers.join(", ") }),
        ("Datos leídos", format!("{} filas de CDR, {} llamadas ({} internas)", f.cdr_rows, f.calls, f.internal)),
        ("Cifras calculadas", doc.computed_at.clone()),
        ("Huella (SHA-256)", doc.figures_hash.clone()),
    ]);

    l.heading("Llamadas recibidas y realizadas");
    l.table(
        &["", "Recibidas", "Realizadas"],
        &[0.5, 0.25, 0.25],
        &[Align::Left, Align::Right, Align::Right],
        &totals_rows(&f.received, &f.made),
    );

    l.heading("Colas de atención (queue_log)");
    if f.queues.is_empty() {
        l.paragraph("Sin datos de colas en el mes (el servidor no envió queue_log).", BODY, false, MUTED, 0.0);
    } else {
        // One column per queue (at most four per table): the indicators read down the page.
        for chunk in f.queues.chunks(4) {
            let metric = |label: &str, value: &dyn Fn(&super::figures::QueueFigures) -> String| {
                let mut row = vec![label.to_string()];
                row.extend(chunk.iter().map(value));
                (row, false)
            };
            let rows = vec![
                metric("Ofrecidas", &|q| q.offered.to_string()),
                metric("Contestadas", &|q| q.answered.to_string()),
                metric("Abandonadas", &|q| q.abandoned.to_string()),
                metric("Sin atender (tiempo agotado)", &|q| q.timed_out.to_string()),
                metric(&format!("Nivel de servicio ({} s)", f.service_level_s), &|q| percent(q.service_level_pct)),
                metric("Tiempo promedio de espera", &|q| q.asa_s.map_or("—".into(), avg_duration)),
                metric("Tiempo de conversación (promedio)", &|q| q.avg_talk_s.map_or("—".into(), avg_duration)),
                metric("Abandono", &|q| percent(q.abandon_rate_pct)),
            ];
            let mut headers: Vec<&str> = vec!["Cola"];
            headers.extend(chunk.iter().map(|q| q.queue.as_str()));
            let w = 0.6 / chunk.len() as f32;
            let mut widths = vec![0.4];
            widths.extend(std::iter::repeat_n(w, chunk.len()));
            let mut aligns = vec![Align::Left];
            aligns.extend(std::iter::repeat_n(Align::Right, chunk.len()));
            l.table(&headers, &widths, &aligns, &rows);
        }
    }

    l.day_chart(&f.by_day);
    l.gap(6.0);
    l.hour_chart(&f.by_hour);

    if !f.top_destinations.is_empty() {
        l.heading("Destinos más llamados (llamadas realizadas)");
        let rows: Vec<(Vec<String>, bool)> =
            f.top_destinations.iter().map(|(n, c, a)| (vec![n.clone(), c.to_string(), a.to_string()], false)).collect();
        l.table(
            &["Número", "Llamadas", "Contestadas"],
            &[0.5, 0.25, 0.25],
            &[Align::Left, Align::Right, Align::Right],
            &rows,
        );
    }

    l.heading("Verificación mensual de llamadas salientes");
    l.paragraph(&doc.outbound, BODY, false, INK, 0.0);

    l.heading("Calidad de las grabaciones (ficha de evaluación)");
    l.paragraph(&doc.qa_summary, BODY, false, INK, 0.0);
    if !doc.qa.is_empty() {
        l.gap(4.0);
        let rows: Vec<(Vec<String>, bool)> = doc
            .qa
            .iter()
            .map(|q| {
                (
                    vec![
                        q.n.to_string(),
                        q.when.clone(),
                        q.direction.clone(),
                        q.parties.clone(),
                        q.verdict.clone(),
                        q.points.clone(),
                        q.observations.clone(),
                    ],
                    q.flagged,
                )
            })
            .collect();
        l.table(
            &["N.º", "Fecha y hora", "Tipo", "Origen → destino", "Resultado", "Puntos", "Observaciones"],
            &[0.05, 0.14, 0.09, 0.15, 0.13, 0.12, 0.32],
            &[Align::Right, Align::Left, Align::Left, Align::Left, Align::Left, Align::Right, Align::Left],
            &rows,
        );
    }

    l.heading("Conclusiones del técnico");
    let summary = if doc.summary.trim().is_empty() { "Sin conclusiones anotadas." } else { doc.summary.as_str() };
    l.paragraph(summary, BODY, false, INK, 0.0);

    l.heading("Revisión del informe");
    if doc.history.is_empty() {
        l.paragraph("Sin pasos registrados.", BODY, false, MUTED, 0.0);
    } else {
        let rows: Vec<(Vec<String>, bool)> = doc
            .history
            .iter()
            .map(|h| (vec![h.when.clone(), h.who.clone(), h.what.clone(), h.text.clone()], false))
            .collect();
        l.table(&["Fecha", "Quién", "Paso", "Detalle"], &[0.18, 0.18, 0.24, 0.4], &[Align::Left; 4], &rows);
    }

    l.heading("Fórmulas de las cifras");
    for (name, formula) in doc.formulas {
        l.paragraph(name, SMALL + 0.5, true, INK, 0.0);
        l.paragraph(formula, SMALL + 0.5, false, INK, 10.0);
        l.gap(2.0);
    }

    let pages = std::mem::take(&mut l.pages);
    draw(doc, pages, &faces)
}

fn fill(c: (u8, u8, u8)) -> Fill {
    Fill { paint: rgb::Color::new(c.0, c.1, c.2).into(), opacity: NormalizedF32::ONE, rule: Default::default() }
}

fn draw(doc: &Doc, pages: Vec<Vec<Op>>, faces: &Faces) -> Result<Vec<u8>, PdfError> {
    let regular = Font::new(REGULAR.into(), 0).ok_or(PdfError::Font)?;
    let bold = Font::new(BOLD.into(), 0).ok_or(PdfError::Font)?;
    let mut document = Document::new();
    document.set_metadata(
        Metadata::new()
            .title(format!("Informe mensual de servicios · {} · {}", doc.center, doc.period))
            .language("es".into())
            .creator("Centinela (UACT)".into()),
    );
    let total = pages.len();
    for (i, ops) in pages.into_iter().enumerate() {
        let settings = PageSettings::from_wh(PAGE_W, PAGE_H).ok_or_else(|| PdfError::Write("page size".into()))?;
        let mut page = document.start_page_with(settings);
        let mut s = page.surface();
        let footer = [
            Op::Line {
                points: vec![(MARGIN, PAGE_H - 40.0), (PAGE_W - MARGIN, PAGE_H - 40.0)],
                width: 0.4,
                color: RULE,
            },
            Op::Text {
                x: MARGIN,
                y: PAGE_H - 28.0,
                size: SMALL,
                bold: false,
                color: MUTED,
                text: format!(
                    "Centinela · Informe mensual {} · {} · generado el {}",
                    doc.center, doc.period, doc.generated
                ),
            },
        ];
        let page_no = format!("Página {} de {}", i + 1, total);
        let page_x = PAGE_W - MARGIN - faces.width(&page_no, SMALL, false);
        let number = Op::Text { x: page_x, y: PAGE_H - 28.0, size: SMALL, bold: false, color: MUTED, text: page_no };
        for op in ops.iter().chain(footer.iter()).chain(std::iter::once(&number)) {
            match op {
                Op::Text { x, y, size, bold: b, color, text } => {
                    s.set_stroke(None);
                    s.set_fill(Some(fill(*color)));
                    let font = if *b { bold.clone() } else { regular.clone() };
                    s.draw_text(Point::from_xy(*x, *y), font, *size, text, false, TextDirection::Auto);
                }
                Op::Rect { x, y, w, h, color } => {
                    let mut pb = PathBuilder::new();
                    if let Some(r) = Rect::from_xywh(*x, *y, *w, *h) {
                        pb.push_rect(r);
                    }
                    if let Some(path) = pb.finish() {
                        s.set_stroke(None);
                        s.set_fill(Some(fill(*color)));
                        s.draw_path(&path);
                    }
                }
                Op::Line { points, width, color } => {
                    let mut pb = PathBuilder::new();
                    for (k, (x, y)) in points.iter().enumerate() {
                        if k == 0 { pb.move_to(*x, *y) } else { pb.line_to(*x, *y) }
                    }
                    if let Some(path) = pb.finish() {
                        s.set_fill(None);
                        s.set_stroke(Some(Stroke {
                            paint: rgb::Color::new(color.0, color.1, color.2).into(),
                            width: *width,
                            ..Default::default()
                        }));
                        s.draw_path(&path);
                    }
                }
            }
        }
        s.finish();
        page.finish();
    }
    document.finish().map_err(|e| PdfError::Write(format!("{e:?}")))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::reports::figures::QueueFigures;

    pub(crate) fn figures() -> Figures {
        let mut by_day = vec![(0u64, 0u64); 30];
        for (i, d) in by_day.iter_mut().enumerate() {
            if i % 7 < 5 {
                *d = (40 + (i as u64 * 7) % 23, 9 + (i as u64 * 3) % 7);
            }
        }
        let mut by_hour = vec![(0u64, 0u64); 24];
        for (h, v) in by_hour.iter_mut().enumerate().take(17).skip(7) {
            *v = (60 + (h as u64 * 13) % 40, 15 + (h as u64 * 5) % 9);
        }
        Figures {
            center_id: 1,
            year: 2026,
            month: 11,
            servers: vec!["pbx-renta-01".into()],
            received: CallTotals {
                calls: 1043,
                answered: 951,
                no_answer: 80,
                busy: 7,
                failed: 5,
                talk_s: 171_180,
                avg_talk_s: 180.0,
            },
            made: CallTotals {
                calls: 212,
                answered: 160,
                no_answer: 40,
                busy: 10,
                failed: 2,
                talk_s: 19_200,
                avg_talk_s: 120.0,
            },
            internal: 37,
            by_day,
            by_hour,
            top_destinations: vec![("22445566".into(), 31, 28), ("77001234".into(), 12, 9)],
            queues: vec![QueueFigures {
                queue: "atencion-contribuyente".into(),
                offered: 1000,
                answered: 930,
                abandoned: 60,
                timed_out: 10,
                answered_within: 820,
                service_level_pct: Some(82.0),
                asa_s: Some(14.5),
                avg_talk_s: Some(181.0),
                abandon_rate_pct: Some(6.0),
            }],
            service_level_s: 20,
            cdr_rows: 3120,
            calls: 1292,
        }
    }

    pub(crate) fn doc(f: &Figures) -> Doc<'_> {
        static FORMULAS: [(&str, &str); 2] = [
            ("Nivel de servicio", "contestadas dentro del umbral ÷ ofrecidas × 100"),
            ("Tiempo promedio de conversación", "suma de billsec de las contestadas ÷ contestadas"),
        ];
        Doc {
            center: "Centro Renta".into(),
            dependencia: "Dirección General de Impuestos Internos".into(),
            period: "noviembre de 2026".into(),
            state: "Aprobado y remitido al jefe de centro".into(),
            round: 2,
            due: "03/12/2026 · entregado a tiempo".into(),
            figures: f,
            computed_at: "02/12/2026 08:15".into(),
            figures_hash: "ab".repeat(32),
            outbound: "Funciona correctamente: se verificaron llamadas a fijos y celulares por ambas troncales.".into(),
            summary: "Mes sin incidencias mayores; la caída del día 14 se debió a mantenimiento programado.".into(),
            qa_summary: "3 llamadas en la muestra, 3 evaluadas; 1 cumple el protocolo; 1 falta grave.".into(),
            qa: (1..=3)
                .map(|n| QaLine {
                    n,
                    when: format!("0{n}/11/2026 09:1{n}"),
                    direction: "Recibida".into(),
                    parties: "22001000 → 2201".into(),
                    verdict: if n == 2 { "Falta grave".into() } else { "Cumple protocolo".into() },
                    points: "85 / 100".into(),
                    observations: if n == 2 {
                        "Informó un plazo de declaración equivocado; se recomienda capacitación en la normativa vigente del impuesto sobre la renta.".into()
                    } else {
                        String::new()
                    },
                    flagged: n == 2,
                })
                .collect(),
            history: vec![HistoryLine {
                when: "02/12/2026 09:00".into(),
                who: "Ana Pérez".into(),
                what: "Enviado al Jefe de UACT".into(),
                text: "ronda 1".into(),
            }],
            formulas: &FORMULAS,
            generated: "27/11/2026 10:31 por Jefe UACT".into(),
        }
    }

    /// The PDF's text as `pdftotext` reads it (poppler-utils; .ci/run installs it).
    pub(crate) fn pdftotext(pdf: &[u8]) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("informe.pdf");
        std::fs::write(&path, pdf).unwrap();
        let out = std::process::Command::new("pdftotext")
            .args(["-layout", "-enc", "UTF-8"])
            .arg(&path)
            .arg("-")
            .output()
            .expect("pdftotext (apt-get install poppler-utils)");
        assert!(out.status.success(), "pdftotext: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn the_pdf_parses_and_says_the_figures_the_formulas_and_the_findings_with_accents() {
        let f = figures();
        let pdf = render(&doc(&f)).unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        let text = pdftotext(&pdf);
        for needle in [
            "Informe mensual de servicios",
            "Centro Telefónico Centro Renta",
            "noviembre de 2026",
            "Llamadas recibidas y realizadas",
            "1043",
            "951",
            "212",
            "47 h 33 min 00 s",
            "atencion-contribuyente",
            "82.0 %",
            "Llamadas por día",
            "Perfil por hora del día",
            "Verificación mensual de llamadas salientes",
            "Falta grave",
            "Fórmulas de las cifras",
            "contestadas dentro del umbral ÷ ofrecidas × 100",
            "Página 1 de",
        ] {
            assert!(text.contains(needle), "{needle:?} not in:\n{text}");
        }
    }

    #[test]
    fn long_words_and_paragraphs_wrap_inside_the_width() {
        let faces = Faces::load().unwrap();
        let lines = faces.wrap(&"palabra ".repeat(60), BODY, false, 200.0);
        assert!(lines.len() > 3 && lines.iter().all(|l| faces.width(l, BODY, false) <= 200.0));
        let long = faces.wrap(&"x".repeat(400), BODY, false, 100.0);
        assert!(long.len() > 3 && long.iter().all(|l| faces.width(l, BODY, false) <= 100.0));
        assert_eq!(nice_max(0), 1.0);
        assert_eq!(nice_max(73), 100.0);
        assert_eq!(nice_max(101), 200.0);
        assert_eq!(nice_max(5), 5.0);
        assert_eq!(duration(3725), "1 h 02 min 05 s");
        assert_eq!(duration(200), "3 min 20 s");
        assert_eq!(duration(45), "45 s");
    }

    #[test]
    fn a_month_without_calls_still_makes_a_report() {
        let f = Figures { by_day: vec![(0, 0); 30], by_hour: vec![(0, 0); 24], ..Figures::default() };
        let d = Doc { qa: vec![], history: vec![], ..doc(&f) };
        let text = pdftotext(&render(&d).unwrap());
        assert!(text.contains("Sin datos de colas"), "{text}");
    }
}
