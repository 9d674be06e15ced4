//! The corrective ticket ("requerimiento", stage 1 of the procedure) as a state machine without I/O:
//! who may do what ([`check`]) and what each action changes ([`file`], [`apply`]).
//!
//! Solicitado → Asignado → En atención → Cerrado; Cancelado from any open state; a reopened
//! Cerrado goes back to Asignado with its technician.
//!
//! Invariants:
//! - People change tickets only through [`file`] and [`apply`], which call [`check_file`] /
//!   [`check`] first; Centinela only through [`super::auto`]. Each returns the new ticket and the
//!   timeline entries to append; the caller stores both (and the audit row) in one transaction.
//! - [`permitted`] is the whole permission rule, pinned by the role × action × state test matrix.
//!   `director` and `admin` change nothing (admin manages people and configuration, not the
//!   procedure: to act on tickets an admin gives someone the `jefe_uact` role, which is audited).
//! - Asignado and En atención tickets always have a priority and an assignee; a Cerrado ticket has a
//!   resolution. Cancelado is final (a cancelled request that is still needed is filed again).
//! - Time is an argument (`now`); nothing here reads a clock.
//!
//! Filing ([`file`]): `jefe_uact` and `tecnico` for any center, on behalf of its chief (channel
//! teléfono, mesa de servicio or Centinela); `jefe_centro` for their own centers only (channel
//! Centinela, themselves as requester). Channel "Generado automáticamente" is Centinela's alone.
//!
//! The permission matrix on existing tickets (who may, per state; "—" = nobody, the action does
//! not apply in that state):
//!
//! | action | Solicitado | Asignado | En atención | Cerrado | Cancelado |
//! |---|---|---|---|---|---|
//! | Evaluar y asignar | `jefe_uact` | — | — | — | — |
//! | Reasignar | — | `jefe_uact` | `jefe_uact` | — | — |
//! | Registrar contacto | — | assigned `tecnico`, `jefe_uact` | — | — | — |
//! | Cerrar | — | — | assigned `tecnico`, `jefe_uact` | — | — |
//! | Cancelar | `jefe_uact`; `jefe_centro` of the center, if filed by people | `jefe_uact` | `jefe_uact` | — | — |
//! | Comentar | involved | involved | involved | involved | involved |
//! | Reabrir | — | — | — | `jefe_uact` (and Centinela within the reopen window) | — |
//!
//! "Involved" = `jefe_uact`, any `tecnico` (UACT colleagues add what they know), and the
//! `jefe_centro` of the ticket's center. A `jefe_centro` may cancel any request of their center
//! while it is Solicitado, not only one they filed themselves: UACT often files on their behalf
//! after a phone call, naming them as free text. A ticket Centinela generated from a detected
//! failure is cancelled only by UACT.

use crate::auth::Role;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub type TicketId = i64;
pub type UserId = i64;
pub type CenterId = i64;
pub type ServerId = i64;

/// Longest title, in characters.
pub const MAX_TITLE: usize = 200;
/// Longest description, note, resolution or comment, in characters.
pub const MAX_TEXT: usize = 10_000;

/// The ticket's state, as the procedure names its steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Filed; waiting for the UACT chief to assess it (step 01).
    Solicitado,
    /// Assessed: priority and technician chosen (step 02).
    Asignado,
    /// The technician contacted the requester and is working on it (step 03).
    EnAtencion,
    /// Closed by the technician with the resolution (step 04).
    Cerrado,
    /// Withdrawn, with a reason.
    Cancelado,
}

impl State {
    pub const ALL: [State; 5] =
        [State::Solicitado, State::Asignado, State::EnAtencion, State::Cerrado, State::Cancelado];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Solicitado => "solicitado",
            State::Asignado => "asignado",
            State::EnAtencion => "en_atencion",
            State::Cerrado => "cerrado",
            State::Cancelado => "cancelado",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The Spanish label people see.
    pub fn label(self) -> &'static str {
        match self {
            State::Solicitado => "Solicitado",
            State::Asignado => "Asignado",
            State::EnAtencion => "En atención",
            State::Cerrado => "Cerrado",
            State::Cancelado => "Cancelado",
        }
    }

    /// Still needs work (not Cerrado nor Cancelado).
    pub fn is_open(self) -> bool {
        matches!(self, State::Solicitado | State::Asignado | State::EnAtencion)
    }
}

/// The priority the UACT chief gives when assessing. Ordered: `Low < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Priority {
    #[serde(rename = "baja")]
    Low,
    #[serde(rename = "media")]
    Medium,
    #[serde(rename = "alta")]
    High,
    #[serde(rename = "critica")]
    Critical,
}

impl Priority {
    pub const ALL: [Priority; 4] = [Priority::Low, Priority::Medium, Priority::High, Priority::Critical];

    /// The stored, wire and config name.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "baja",
            Priority::Medium => "media",
            Priority::High => "alta",
            Priority::Critical => "critica",
        }
    }

    pub fn parse(s: &str) -> Option<Priority> {
        Priority::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The Spanish label people see.
    pub fn label(self) -> &'static str {
        match self {
            Priority::Low => "Baja",
            Priority::Medium => "Media",
            Priority::High => "Alta",
            Priority::Critical => "Crítica",
        }
    }
}

/// How the request reached UACT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Channel {
    /// The center's chief phoned UACT, who filed it.
    #[serde(rename = "telefono")]
    Phone,
    /// Through the service desk ("mesa de servicio"), filed by UACT.
    #[serde(rename = "mesa_de_servicio")]
    ServiceDesk,
    /// Filed in Centinela by the person asking (or by UACT on its own initiative).
    #[serde(rename = "centinela")]
    Web,
    /// Opened by Centinela from a detected failure.
    #[serde(rename = "automatico")]
    Automatic,
}

impl Channel {
    pub const ALL: [Channel; 4] = [Channel::Phone, Channel::ServiceDesk, Channel::Web, Channel::Automatic];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Phone => "telefono",
            Channel::ServiceDesk => "mesa_de_servicio",
            Channel::Web => "centinela",
            Channel::Automatic => "automatico",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|x| x.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Channel::Phone => "Teléfono",
            Channel::ServiceDesk => "Mesa de servicio",
            Channel::Web => "Centinela",
            Channel::Automatic => "Generado automáticamente",
        }
    }
}

/// Who asked: a user, a name taken down on the phone, or Centinela itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Requester {
    User(UserId),
    Name(String),
    Centinela,
}

/// Who did something: a person, or Centinela (the rule engine).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum By {
    User(UserId),
    Centinela,
}

/// What Centinela knows about a ticket it generated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Automatic {
    /// The problem's identity on its server (one open ticket per server and key).
    pub problem_key: String,
    /// The rule that detected it.
    pub rule: String,
    /// How many times the failure was detected (1 when opened).
    pub occurrences: u32,
    pub last_fired: DateTime<Utc>,
    /// When the failure last cleared; `None` while it is still detected.
    pub recovered_at: Option<DateTime<Utc>>,
}

/// A corrective ticket: plain data, stored as is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    pub id: TicketId,
    /// `None` only for a ticket Centinela opened on a server an admin has not placed in a call
    /// center yet: UACT sees it, no jefe_centro does.
    pub center_id: Option<CenterId>,
    /// The server concerned; a request filed by people may not name one.
    pub server_id: Option<ServerId>,
    pub title: String,
    pub description: String,
    pub channel: Channel,
    pub requester: Requester,
    /// Who entered it (UACT on behalf of a center, the center's chief, or Centinela).
    pub filed_by: By,
    pub state: State,
    /// `None` until the UACT chief assesses it (a generated ticket may come with one).
    pub priority: Option<Priority>,
    pub assignee: Option<UserId>,
    pub created_at: DateTime<Utc>,
    /// The first assignment.
    pub assigned_at: Option<DateTime<Utc>>,
    pub contacted_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    /// The last reopening; the time targets of the current cycle count from here.
    pub reopened_at: Option<DateTime<Utc>>,
    pub resolution: Option<String>,
    pub automatic: Option<Automatic>,
    /// An earlier ticket for the same failure (a new occurrence after the reopen window).
    pub linked_to: Option<TicketId>,
}

impl Ticket {
    pub fn is_open(&self) -> bool {
        self.state.is_open()
    }

    /// Where the time targets of the current cycle count from: filing, or the last reopening.
    pub fn clock_start(&self) -> DateTime<Utc> {
        self.reopened_at.unwrap_or(self.created_at)
    }
}

/// Someone acting on tickets: the logged-in user as the permission rules need them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: UserId,
    pub role: Role,
    /// The call centers a `jefe_centro` answers for (ignored for other roles).
    pub centers: Vec<CenterId>,
}

impl Actor {
    fn answers_for(&self, center: CenterId) -> bool {
        self.centers.contains(&center)
    }

    fn is_assignee(&self, t: &Ticket) -> bool {
        t.assignee == Some(self.user_id)
    }
}

impl From<&crate::auth::User> for Actor {
    fn from(u: &crate::auth::User) -> Self {
        Actor { user_id: u.id, role: u.role, centers: u.centers.clone() }
    }
}

/// The person a ticket is assigned to, with their role (the server looks it up), so the rules can
/// refuse to assign a ticket to someone outside UACT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assignee {
    pub user_id: UserId,
    pub role: Role,
}

/// A request as filed by people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTicket {
    pub center_id: CenterId,
    pub server_id: Option<ServerId>,
    pub title: String,
    pub description: String,
    pub channel: Channel,
    pub requester: Requester,
}

/// What people do to an existing ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Evaluar y asignar (step 02): Solicitado → Asignado.
    Assign { priority: Priority, assignee: Assignee, note: String },
    /// Another technician and/or priority while Asignado or En atención; the state stays.
    Reassign { priority: Priority, assignee: Assignee, note: String },
    /// Contactar al solicitante (step 03): Asignado → En atención, saying how.
    RecordContact { note: String },
    /// Cerrar requerimiento (step 04): En atención → Cerrado, with the resolution.
    Close { resolution: String },
    /// Any open state → Cancelado, with the reason.
    Cancel { reason: String },
    /// A note on the timeline; the state stays.
    Comment { text: String },
    /// Cerrado → Asignado (keeping the technician) or Solicitado (if it had none).
    Reopen { reason: String },
}

/// The kind of an [`Action`], without its data: what a button needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActionKind {
    Assign,
    Reassign,
    RecordContact,
    Close,
    Cancel,
    Comment,
    Reopen,
}

impl ActionKind {
    pub const ALL: [ActionKind; 7] = [
        ActionKind::Assign,
        ActionKind::Reassign,
        ActionKind::RecordContact,
        ActionKind::Close,
        ActionKind::Cancel,
        ActionKind::Comment,
        ActionKind::Reopen,
    ];

    /// The name in routes and audit rows (`ticket.<name>`).
    pub fn name(self) -> &'static str {
        match self {
            ActionKind::Assign => "assign",
            ActionKind::Reassign => "reassign",
            ActionKind::RecordContact => "record_contact",
            ActionKind::Close => "close",
            ActionKind::Cancel => "cancel",
            ActionKind::Comment => "comment",
            ActionKind::Reopen => "reopen",
        }
    }

    /// The Spanish button label.
    pub fn label(self) -> &'static str {
        match self {
            ActionKind::Assign => "Evaluar y asignar",
            ActionKind::Reassign => "Reasignar",
            ActionKind::RecordContact => "Registrar contacto con el solicitante",
            ActionKind::Close => "Cerrar requerimiento",
            ActionKind::Cancel => "Cancelar",
            ActionKind::Comment => "Comentar",
            ActionKind::Reopen => "Reabrir",
        }
    }

    /// The states in which anyone may do it.
    pub fn states(self) -> &'static [State] {
        use State::*;
        match self {
            ActionKind::Assign => &[Solicitado],
            ActionKind::Reassign => &[Asignado, EnAtencion],
            ActionKind::RecordContact => &[Asignado],
            ActionKind::Close => &[EnAtencion],
            ActionKind::Cancel => &[Solicitado, Asignado, EnAtencion],
            ActionKind::Comment => &State::ALL,
            ActionKind::Reopen => &[Cerrado],
        }
    }
}

impl Action {
    pub fn kind(&self) -> ActionKind {
        match self {
            Action::Assign { .. } => ActionKind::Assign,
            Action::Reassign { .. } => ActionKind::Reassign,
            Action::RecordContact { .. } => ActionKind::RecordContact,
            Action::Close { .. } => ActionKind::Close,
            Action::Cancel { .. } => ActionKind::Cancel,
            Action::Comment { .. } => ActionKind::Comment,
            Action::Reopen { .. } => ActionKind::Reopen,
        }
    }
}

/// Why an action was refused, in Spanish, saying what to do instead. The web layer maps the
/// variants to 403, 409 and 422.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// The actor's role or relation to the ticket does not allow it.
    #[error("{0}")]
    NotAllowed(String),
    /// Nobody may do it in the ticket's current state.
    #[error("{0}")]
    WrongState(String),
    /// The action's data is missing or unacceptable (an empty resolution...).
    #[error("{0}")]
    Invalid(String),
}

impl Denied {
    pub fn message(&self) -> &str {
        match self {
            Denied::NotAllowed(m) | Denied::WrongState(m) | Denied::Invalid(m) => m,
        }
    }
}

/// What happened, on a ticket's timeline. Stored as JSON; `name()` is the audit action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    Filed {
        channel: Channel,
    },
    Assigned {
        priority: Priority,
        assignee: UserId,
    },
    Reassigned {
        priority: Priority,
        assignee: UserId,
        previous_priority: Option<Priority>,
        previous_assignee: Option<UserId>,
    },
    Contacted,
    Closed,
    Cancelled,
    Commented,
    Reopened,
    /// The failure was detected again while the ticket was open.
    Occurrence {
        count: u32,
    },
    /// The failure cleared ("Recuperado"); the ticket stays open.
    Recovered,
}

impl Event {
    pub fn name(&self) -> &'static str {
        match self {
            Event::Filed { .. } => "filed",
            Event::Assigned { .. } => "assigned",
            Event::Reassigned { .. } => "reassigned",
            Event::Contacted => "contacted",
            Event::Closed => "closed",
            Event::Cancelled => "cancelled",
            Event::Commented => "commented",
            Event::Reopened => "reopened",
            Event::Occurrence { .. } => "occurrence",
            Event::Recovered => "recovered",
        }
    }

    /// The Spanish heading of the timeline entry.
    pub fn label(&self) -> &'static str {
        match self {
            Event::Filed { channel: Channel::Automatic } => "Generado automáticamente",
            Event::Filed { .. } => "Requerimiento registrado",
            Event::Assigned { .. } => "Evaluado y asignado",
            Event::Reassigned { .. } => "Reasignado",
            Event::Contacted => "Contacto con el solicitante",
            Event::Closed => "Cerrado",
            Event::Cancelled => "Cancelado",
            Event::Commented => "Comentario",
            Event::Reopened => "Reabierto",
            Event::Occurrence { .. } => "La falla se detectó de nuevo",
            Event::Recovered => "Recuperado",
        }
    }
}

/// One line of a ticket's timeline: who, when, what, old → new state, and the text they wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    pub by: By,
    pub event: Event,
    /// `None` when the ticket was created by this entry.
    pub from: Option<State>,
    pub to: State,
    pub text: String,
}

fn not_allowed(m: &str) -> Denied {
    Denied::NotAllowed(m.to_string())
}

fn invalid(m: &str) -> Denied {
    Denied::Invalid(m.to_string())
}

/// `director` and `admin` never change tickets.
fn refuse_read_only(actor: &Actor) -> Result<(), Denied> {
    match actor.role {
        Role::Director => {
            Err(not_allowed("Su rol es de solo lectura: puede consultar los requerimientos, no modificarlos."))
        }
        Role::Admin => Err(not_allowed(
            "El rol Administrador gestiona usuarios y configuración, no los requerimientos; pida este cambio al Jefe de UACT.",
        )),
        Role::JefeUact | Role::Tecnico | Role::JefeCentro => Ok(()),
    }
}

/// Whether `actor` may file `form` (the permission part, and the form's data).
pub fn check_file(form: &NewTicket, actor: &Actor) -> Result<(), Denied> {
    refuse_read_only(actor)?;
    match actor.role {
        Role::JefeCentro => {
            if !actor.answers_for(form.center_id) {
                return Err(not_allowed(
                    "Solo puede registrar requerimientos de su centro telefónico; elija uno de sus centros.",
                ));
            }
            if form.channel != Channel::Web {
                return Err(invalid("Lo que usted registra en Centinela lleva el canal «Centinela»."));
            }
            if form.requester != Requester::User(actor.user_id) {
                return Err(invalid("Usted es el solicitante de lo que registra; deje el solicitante en blanco."));
            }
        }
        _ => {
            if form.channel == Channel::Automatic {
                return Err(invalid(
                    "El canal «Generado automáticamente» es solo de Centinela; elija teléfono, mesa de servicio o Centinela.",
                ));
            }
            match &form.requester {
                Requester::Name(n) if n.trim().is_empty() => {
                    return Err(invalid("Escriba el nombre de quien hizo la solicitud."));
                }
                Requester::Centinela => {
                    return Err(invalid("Indique quién hizo la solicitud: un usuario o el nombre de la persona."));
                }
                Requester::User(_) | Requester::Name(_) => {}
            }
        }
    }
    let title = form.title.trim();
    if title.is_empty() {
        return Err(invalid("Escriba un título: en pocas palabras, qué falla o qué se necesita."));
    }
    if title.chars().count() > MAX_TITLE {
        return Err(Denied::Invalid(format!(
            "El título supera {MAX_TITLE} caracteres; resúmalo y ponga el detalle en la descripción."
        )));
    }
    check_length(&form.description)
}

/// Files a request: a new ticket in Solicitado and its first timeline entry. `id` is the id the
/// store will insert it under.
pub fn file(
    id: TicketId,
    form: NewTicket,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(Ticket, Vec<TimelineEntry>), Denied> {
    check_file(&form, actor)?;
    let requester = match form.requester {
        Requester::Name(n) => Requester::Name(n.trim().to_string()),
        other => other,
    };
    let ticket = Ticket {
        id,
        center_id: Some(form.center_id),
        server_id: form.server_id,
        title: form.title.trim().to_string(),
        description: form.description.trim().to_string(),
        channel: form.channel,
        requester,
        filed_by: By::User(actor.user_id),
        state: State::Solicitado,
        priority: None,
        assignee: None,
        created_at: now,
        assigned_at: None,
        contacted_at: None,
        closed_at: None,
        cancelled_at: None,
        reopened_at: None,
        resolution: None,
        automatic: None,
        linked_to: None,
    };
    let entry = TimelineEntry {
        at: now,
        by: By::User(actor.user_id),
        event: Event::Filed { channel: form.channel },
        from: None,
        to: State::Solicitado,
        text: String::new(),
    };
    Ok((ticket, vec![entry]))
}

/// Why nobody may do `kind` in `state`, and what to do instead.
fn wrong_state(kind: ActionKind, state: State) -> String {
    use ActionKind as K;
    use State::*;
    match (kind, state) {
        (_, Cancelado) => {
            "El requerimiento está cancelado y no admite cambios; si el problema sigue, registre uno nuevo."
        }
        (K::Reopen, _) => "Solo se reabre un requerimiento cerrado; este sigue abierto.",
        (_, Cerrado) => "El requerimiento está cerrado; el Jefe de UACT puede reabrirlo si hace falta.",
        (K::Assign, _) => "Ya está asignado; use «Reasignar» para cambiar el técnico o la prioridad.",
        (K::Reassign | K::RecordContact | K::Close, Solicitado) => {
            "Todavía no está asignado: primero el Jefe de UACT debe evaluarlo y asignarlo a un técnico."
        }
        (K::RecordContact, _) => {
            "El contacto con el solicitante ya está registrado; deje constancia de otro contacto con un comentario."
        }
        (K::Close, _) => "Primero registre el contacto con el solicitante (paso 03 del procedimiento); luego ciérrelo.",
        _ => "Esta acción no corresponde al estado del requerimiento.",
    }
    .to_string()
}

/// Whether `actor` may do `kind` on `ticket` now: the role × action × state matrix, without the
/// action's data (what a page needs to decide which buttons to show).
pub fn permitted(kind: ActionKind, actor: &Actor, ticket: &Ticket) -> Result<(), Denied> {
    refuse_read_only(actor)?;
    if actor.role == Role::JefeCentro && !ticket.center_id.is_some_and(|c| actor.answers_for(c)) {
        return Err(not_allowed(
            "Este requerimiento es de otro centro telefónico; solo puede actuar sobre los de su centro.",
        ));
    }
    if !kind.states().contains(&ticket.state) {
        return Err(Denied::WrongState(wrong_state(kind, ticket.state)));
    }
    let chief = actor.role == Role::JefeUact;
    let refusal = match kind {
        ActionKind::Assign | ActionKind::Reassign if !chief => {
            "Solo el Jefe de UACT evalúa, prioriza y asigna los requerimientos."
        }
        ActionKind::Reopen if !chief => "Solo el Jefe de UACT puede reabrir un requerimiento; coméntele por qué.",
        ActionKind::RecordContact | ActionKind::Close if !chief && !actor.is_assignee(ticket) => {
            if actor.role == Role::Tecnico {
                "Este requerimiento está asignado a otro técnico; pida al Jefe de UACT que se lo reasigne."
            } else {
                "Lo registra el técnico asignado (o el Jefe de UACT); deje un comentario si tiene información."
            }
        }
        ActionKind::Cancel if !chief => match actor.role {
            Role::JefeCentro if ticket.automatic.is_some() => {
                "Este requerimiento lo generó Centinela al detectar una falla; solo el Jefe de UACT puede cancelarlo."
            }
            Role::JefeCentro if ticket.state != State::Solicitado => {
                "Ya fue asignado a un técnico; pida al Jefe de UACT que lo cancele."
            }
            Role::JefeCentro => return Ok(()),
            _ => {
                "Solo el Jefe de UACT (o el Jefe de Centro, mientras está Solicitado) puede cancelar un requerimiento."
            }
        },
        _ => return Ok(()),
    };
    Err(not_allowed(refusal))
}

fn check_length(text: &str) -> Result<(), Denied> {
    if text.chars().count() > MAX_TEXT {
        return Err(Denied::Invalid(format!(
            "El texto supera {MAX_TEXT} caracteres; resúmalo o divídalo en varios comentarios."
        )));
    }
    Ok(())
}

fn required(text: &str, missing: &str) -> Result<(), Denied> {
    if text.trim().is_empty() {
        return Err(invalid(missing));
    }
    check_length(text)
}

fn check_assignee(a: &Assignee) -> Result<(), Denied> {
    match a.role {
        Role::Tecnico | Role::JefeUact => Ok(()),
        _ => Err(invalid("Asigne el requerimiento a un técnico de UACT (o al Jefe de UACT).")),
    }
}

/// Whether `actor` may do `action` on `ticket`: [`permitted`], then the action's data.
pub fn check(action: &Action, actor: &Actor, ticket: &Ticket) -> Result<(), Denied> {
    permitted(action.kind(), actor, ticket)?;
    match action {
        Action::Assign { assignee, note, .. } => {
            check_assignee(assignee)?;
            check_length(note)
        }
        Action::Reassign { priority, assignee, note } => {
            check_assignee(assignee)?;
            if ticket.assignee == Some(assignee.user_id) && ticket.priority == Some(*priority) {
                return Err(invalid("No hay cambios: elija otro técnico u otra prioridad."));
            }
            check_length(note)
        }
        Action::RecordContact { note } => required(
            note,
            "Indique cómo se contactó al solicitante (por ejemplo: «llamada a la extensión 1234, habló con la jefa del centro»).",
        ),
        Action::Close { resolution } => {
            required(resolution, "Escriba la solución aplicada: es obligatoria para cerrar el requerimiento.")
        }
        Action::Cancel { reason } => required(reason, "Indique el motivo de la cancelación."),
        Action::Comment { text } => required(text, "El comentario está vacío; escriba algo antes de enviarlo."),
        Action::Reopen { reason } => required(reason, "Indique por qué se reabre el requerimiento."),
    }
}

/// Puts a Cerrado ticket back to work: Asignado with its technician, or Solicitado if it had none.
/// The earlier contact and resolution stay on the timeline.
pub(crate) fn reopen(t: &mut Ticket, now: DateTime<Utc>) {
    t.state = if t.assignee.is_some() { State::Asignado } else { State::Solicitado };
    t.reopened_at = Some(now);
    t.contacted_at = None;
    t.closed_at = None;
    t.resolution = None;
}

/// Does `action` as `actor`: the new ticket and the timeline entries to append.
pub fn apply(
    ticket: &Ticket,
    action: Action,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(Ticket, Vec<TimelineEntry>), Denied> {
    check(&action, actor, ticket)?;
    let mut t = ticket.clone();
    let (event, text) = match action {
        Action::Assign { priority, assignee, note } => {
            t.state = State::Asignado;
            t.priority = Some(priority);
            t.assignee = Some(assignee.user_id);
            t.assigned_at = Some(now);
            (Event::Assigned { priority, assignee: assignee.user_id }, note)
        }
        Action::Reassign { priority, assignee, note } => {
            let event = Event::Reassigned {
                priority,
                assignee: assignee.user_id,
                previous_priority: t.priority,
                previous_assignee: t.assignee,
            };
            t.priority = Some(priority);
            t.assignee = Some(assignee.user_id);
            (event, note)
        }
        Action::RecordContact { note } => {
            t.state = State::EnAtencion;
            t.contacted_at = Some(now);
            (Event::Contacted, note)
        }
        Action::Close { resolution } => {
            t.state = State::Cerrado;
            t.closed_at = Some(now);
            t.resolution = Some(resolution.trim().to_string());
            (Event::Closed, resolution)
        }
        Action::Cancel { reason } => {
            t.state = State::Cancelado;
            t.cancelled_at = Some(now);
            (Event::Cancelled, reason)
        }
        Action::Comment { text } => (Event::Commented, text),
        Action::Reopen { reason } => {
            reopen(&mut t, now);
            (Event::Reopened, reason)
        }
    };
    let entry = TimelineEntry {
        at: now,
        by: By::User(actor.user_id),
        event,
        from: Some(ticket.state),
        to: t.state,
        text: text.trim().to_string(),
    };
    Ok((t, vec![entry]))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::TimeZone;

    pub const CENTER: CenterId = 3;
    pub const OTHER_CENTER: CenterId = 4;
    pub const CHIEF: UserId = 10;
    pub const TECH: UserId = 20;
    pub const OTHER_TECH: UserId = 21;
    pub const CENTER_CHIEF: UserId = 30;

    pub fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 15, 0, 0).unwrap()
    }

    fn actor(user_id: UserId, role: Role, centers: &[CenterId]) -> Actor {
        Actor { user_id, role, centers: centers.to_vec() }
    }

    pub fn chief() -> Actor {
        actor(CHIEF, Role::JefeUact, &[])
    }
    pub fn tech() -> Actor {
        actor(TECH, Role::Tecnico, &[])
    }
    pub fn center_chief() -> Actor {
        actor(CENTER_CHIEF, Role::JefeCentro, &[CENTER])
    }

    pub fn form() -> NewTicket {
        NewTicket {
            center_id: CENTER,
            server_id: Some(7),
            title: "  No entran llamadas a la cola de renta  ".into(),
            description: "Desde las 14:00 los contribuyentes escuchan ocupado.".into(),
            channel: Channel::Phone,
            requester: Requester::Name("  Ana Pérez ".into()),
        }
    }

    fn assign_to(user_id: UserId, priority: Priority) -> Action {
        Action::Assign { priority, assignee: Assignee { user_id, role: Role::Tecnico }, note: String::new() }
    }

    /// A ticket filed by UACT by phone and walked by the chief and the technician to `state`.
    pub fn ticket_in(state: State) -> Ticket {
        let mut now = t0();
        let mut step = |t: &Ticket, a: Action, who: &Actor| {
            now += chrono::TimeDelta::minutes(10);
            apply(t, a, who, now).unwrap().0
        };
        let (mut t, _) = file(1, form(), &tech(), t0()).unwrap();
        if state == State::Cancelado {
            return step(&t, Action::Cancel { reason: "duplicado".into() }, &chief());
        }
        if state == State::Solicitado {
            return t;
        }
        t = step(&t, assign_to(TECH, Priority::High), &chief());
        if state == State::Asignado {
            return t;
        }
        t = step(&t, Action::RecordContact { note: "llamada a la jefa".into() }, &tech());
        if state == State::EnAtencion {
            return t;
        }
        step(&t, Action::Close { resolution: "troncal reconfigurada".into() }, &tech())
    }

    #[test]
    fn a_request_filed_by_phone_starts_solicitado_without_priority() {
        let (t, entries) = file(42, form(), &tech(), t0()).unwrap();
        assert_eq!(t.id, 42);
        assert_eq!(t.state, State::Solicitado);
        assert_eq!(t.title, "No entran llamadas a la cola de renta");
        assert_eq!(t.requester, Requester::Name("Ana Pérez".into()));
        assert_eq!(t.filed_by, By::User(TECH));
        assert_eq!((t.priority, t.assignee), (None, None));
        assert_eq!(t.created_at, t0());
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].event, Event::Filed { channel: Channel::Phone });
        assert_eq!((entries[0].from, entries[0].to), (None, State::Solicitado));
    }

    #[test]
    fn who_may_file_a_request_and_through_which_channel() {
        let own = NewTicket { channel: Channel::Web, requester: Requester::User(CENTER_CHIEF), ..form() };
        let cases: [(Actor, NewTicket, bool); 11] = [
            (chief(), form(), true),
            (tech(), form(), true),
            (tech(), NewTicket { channel: Channel::ServiceDesk, center_id: OTHER_CENTER, ..form() }, true),
            (chief(), NewTicket { channel: Channel::Web, requester: Requester::User(CHIEF), ..form() }, true),
            (center_chief(), own.clone(), true),
            (center_chief(), NewTicket { center_id: OTHER_CENTER, ..own.clone() }, false),
            (center_chief(), NewTicket { channel: Channel::Phone, ..own.clone() }, false),
            (center_chief(), NewTicket { requester: Requester::Name("otro".into()), ..own.clone() }, false),
            (actor(1, Role::Admin, &[]), form(), false),
            (actor(2, Role::Director, &[]), form(), false),
            (tech(), NewTicket { channel: Channel::Automatic, ..form() }, false),
        ];
        for (i, (who, f, allowed)) in cases.into_iter().enumerate() {
            assert_eq!(check_file(&f, &who).is_ok(), allowed, "case {i}: {who:?} {f:?}");
        }
    }

    #[test]
    fn filing_refuses_empty_or_overlong_text_and_says_what_to_write() {
        for (f, needle) in [
            (NewTicket { title: "   ".into(), ..form() }, "Escriba un título"),
            (NewTicket { title: "x".repeat(MAX_TITLE + 1), ..form() }, "supera 200 caracteres"),
            (NewTicket { description: "x".repeat(MAX_TEXT + 1), ..form() }, "supera 10000 caracteres"),
            (NewTicket { requester: Requester::Name(" ".into()), ..form() }, "nombre de quien"),
            (NewTicket { requester: Requester::Centinela, ..form() }, "quién hizo la solicitud"),
        ] {
            let e = check_file(&f, &chief()).unwrap_err();
            assert!(matches!(e, Denied::Invalid(_)) && e.message().contains(needle), "{e}");
        }
    }

    #[test]
    fn the_corrective_procedure_walks_solicitado_asignado_en_atencion_cerrado() {
        let (t, _) = file(1, form(), &tech(), t0()).unwrap();
        let at = |m| t0() + chrono::TimeDelta::minutes(m);

        let (t, e) = apply(&t, assign_to(TECH, Priority::Critical), &chief(), at(5)).unwrap();
        assert_eq!(
            (t.state, t.priority, t.assignee, t.assigned_at),
            (State::Asignado, Some(Priority::Critical), Some(TECH), Some(at(5)))
        );
        assert_eq!(e[0].event, Event::Assigned { priority: Priority::Critical, assignee: TECH });
        assert_eq!((e[0].from, e[0].to, e[0].by), (Some(State::Solicitado), State::Asignado, By::User(CHIEF)));

        let (t, e) = apply(&t, Action::RecordContact { note: " llamé a la jefa ".into() }, &tech(), at(20)).unwrap();
        assert_eq!((t.state, t.contacted_at), (State::EnAtencion, Some(at(20))));
        assert_eq!((e[0].event.clone(), e[0].text.as_str()), (Event::Contacted, "llamé a la jefa"));

        let (t, e) = apply(&t, Action::Close { resolution: "Se reinició la troncal".into() }, &tech(), at(90)).unwrap();
        assert_eq!((t.state, t.closed_at), (State::Cerrado, Some(at(90))));
        assert_eq!(t.resolution.as_deref(), Some("Se reinició la troncal"));
        assert_eq!((e[0].from, e[0].to, e[0].by), (Some(State::EnAtencion), State::Cerrado, By::User(TECH)));
    }

    #[test]
    fn reassigning_changes_technician_or_priority_and_keeps_the_state() {
        for state in [State::Asignado, State::EnAtencion] {
            let t = ticket_in(state);
            let action = Action::Reassign {
                priority: Priority::Medium,
                assignee: Assignee { user_id: OTHER_TECH, role: Role::Tecnico },
                note: "vacaciones".into(),
            };
            let (n, e) = apply(&t, action, &chief(), t0() + chrono::TimeDelta::hours(3)).unwrap();
            assert_eq!((n.state, n.assignee, n.priority), (state, Some(OTHER_TECH), Some(Priority::Medium)));
            assert_eq!(n.assigned_at, t.assigned_at, "the first assignment time is kept");
            assert_eq!(
                e[0].event,
                Event::Reassigned {
                    priority: Priority::Medium,
                    assignee: OTHER_TECH,
                    previous_priority: Some(Priority::High),
                    previous_assignee: Some(TECH)
                }
            );
            assert_eq!((e[0].from, e[0].to), (Some(state), state));
        }
    }

    #[test]
    fn reassigning_to_the_same_technician_and_priority_is_refused_as_no_change() {
        let t = ticket_in(State::Asignado);
        let same = Action::Reassign {
            priority: Priority::High,
            assignee: Assignee { user_id: TECH, role: Role::Tecnico },
            note: String::new(),
        };
        assert!(matches!(check(&same, &chief(), &t), Err(Denied::Invalid(m)) if m.contains("No hay cambios")));
        let reprioritized = Action::Reassign {
            priority: Priority::Critical,
            assignee: Assignee { user_id: TECH, role: Role::Tecnico },
            note: String::new(),
        };
        assert!(check(&reprioritized, &chief(), &t).is_ok());
    }

    #[test]
    fn a_ticket_is_assigned_only_to_uact_staff() {
        let t = ticket_in(State::Solicitado);
        for (role, ok) in [
            (Role::Tecnico, true),
            (Role::JefeUact, true),
            (Role::JefeCentro, false),
            (Role::Director, false),
            (Role::Admin, false),
        ] {
            let a = Action::Assign {
                priority: Priority::Low,
                assignee: Assignee { user_id: 99, role },
                note: String::new(),
            };
            assert_eq!(check(&a, &chief(), &t).is_ok(), ok, "{role:?}");
        }
    }

    #[test]
    fn cancelling_records_the_reason_and_is_final() {
        for state in [State::Solicitado, State::Asignado, State::EnAtencion] {
            let (t, e) =
                apply(&ticket_in(state), Action::Cancel { reason: "duplicado del #3".into() }, &chief(), t0()).unwrap();
            assert_eq!((t.state, t.cancelled_at), (State::Cancelado, Some(t0())));
            assert_eq!((e[0].event.clone(), e[0].text.as_str()), (Event::Cancelled, "duplicado del #3"));
        }
        let cancelled = ticket_in(State::Cancelado);
        for kind in ActionKind::ALL.into_iter().filter(|k| *k != ActionKind::Comment) {
            assert!(matches!(permitted(kind, &chief(), &cancelled), Err(Denied::WrongState(_))), "{kind:?}");
        }
    }

    #[test]
    fn the_center_chief_cancels_only_while_solicitado_and_only_requests_filed_by_people() {
        let cancel = Action::Cancel { reason: "ya se resolvió solo".into() };
        assert!(check(&cancel, &center_chief(), &ticket_in(State::Solicitado)).is_ok());
        let e = check(&cancel, &center_chief(), &ticket_in(State::Asignado)).unwrap_err();
        assert!(matches!(&e, Denied::NotAllowed(m) if m.contains("pida al Jefe de UACT")), "{e}");
        let mut generated = ticket_in(State::Solicitado);
        generated.automatic = Some(Automatic {
            problem_key: "raid:md0".into(),
            rule: "raid_degradado".into(),
            occurrences: 1,
            last_fired: t0(),
            recovered_at: None,
        });
        let e = check(&cancel, &center_chief(), &generated).unwrap_err();
        assert!(e.message().contains("lo generó Centinela"), "{e}");
        assert!(check(&cancel, &chief(), &generated).is_ok());
    }

    #[test]
    fn closing_needs_a_resolution_and_every_text_action_needs_its_text() {
        let blank = "  \n ".to_string();
        for (state, action, needle) in [
            (State::EnAtencion, Action::Close { resolution: blank.clone() }, "solución aplicada"),
            (State::Asignado, Action::RecordContact { note: blank.clone() }, "cómo se contactó"),
            (State::Asignado, Action::Cancel { reason: blank.clone() }, "motivo"),
            (State::Asignado, Action::Comment { text: blank.clone() }, "comentario está vacío"),
            (State::Cerrado, Action::Reopen { reason: blank.clone() }, "por qué se reabre"),
            (State::Asignado, Action::Comment { text: "x".repeat(MAX_TEXT + 1) }, "supera"),
        ] {
            let e = check(&action, &chief(), &ticket_in(state)).unwrap_err();
            assert!(matches!(&e, Denied::Invalid(m) if m.contains(needle)), "{action:?}: {e}");
        }
    }

    #[test]
    fn closing_before_contacting_the_requester_says_to_record_the_contact_first() {
        let e = check(&Action::Close { resolution: "listo".into() }, &tech(), &ticket_in(State::Asignado)).unwrap_err();
        assert!(matches!(&e, Denied::WrongState(m) if m.contains("Primero registre el contacto")), "{e}");
    }

    #[test]
    fn reopening_returns_to_the_same_technician_and_clears_the_resolution() {
        let closed = ticket_in(State::Cerrado);
        let later = t0() + chrono::TimeDelta::days(2);
        let (t, e) =
            apply(&closed, Action::Reopen { reason: "sigue sin entrar llamadas".into() }, &chief(), later).unwrap();
        assert_eq!((t.state, t.assignee, t.priority), (State::Asignado, Some(TECH), Some(Priority::High)));
        assert_eq!((t.reopened_at, t.closed_at, t.contacted_at, t.resolution.clone()), (Some(later), None, None, None));
        assert_eq!(t.clock_start(), later);
        assert_eq!((e[0].event.clone(), e[0].from, e[0].to), (Event::Reopened, Some(State::Cerrado), State::Asignado));
        // The technician then contacts and closes again.
        let (t, _) = apply(&t, Action::RecordContact { note: "de nuevo".into() }, &tech(), later).unwrap();
        let (t, _) = apply(&t, Action::Close { resolution: "cable cambiado".into() }, &tech(), later).unwrap();
        assert_eq!(t.state, State::Cerrado);
    }

    #[test]
    fn a_reopened_ticket_without_a_technician_goes_back_to_solicitado() {
        let mut closed = ticket_in(State::Cerrado);
        closed.assignee = None;
        let (t, _) = apply(&closed, Action::Reopen { reason: "otra vez".into() }, &chief(), t0()).unwrap();
        assert_eq!(t.state, State::Solicitado);
    }

    #[test]
    fn comments_leave_the_state_alone_and_are_open_to_everyone_involved() {
        for state in State::ALL {
            let t = ticket_in(state);
            for who in [chief(), tech(), actor(OTHER_TECH, Role::Tecnico, &[]), center_chief()] {
                let (n, e) = apply(&t, Action::Comment { text: "dato".into() }, &who, t0()).unwrap();
                assert_eq!(n, t);
                assert_eq!((e[0].event.clone(), e[0].from, e[0].to), (Event::Commented, Some(state), state));
            }
        }
    }

    #[test]
    fn denials_are_in_spanish_and_say_what_to_do() {
        let t = ticket_in(State::Asignado);
        let e =
            check(&Action::RecordContact { note: "x".into() }, &actor(OTHER_TECH, Role::Tecnico, &[]), &t).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Este requerimiento está asignado a otro técnico; pida al Jefe de UACT que se lo reasigne."
        );
        let e = check(&assign_to(TECH, Priority::Low), &chief(), &t).unwrap_err();
        assert!(matches!(&e, Denied::WrongState(m) if m.contains("use «Reasignar»")), "{e}");
        let e = permitted(ActionKind::Comment, &actor(2, Role::Director, &[]), &t).unwrap_err();
        assert!(e.message().contains("solo lectura"), "{e}");
    }

    #[test]
    fn ticket_and_timeline_round_trip_through_json_with_spanish_wire_names() {
        let (t, e) = apply(&ticket_in(State::Solicitado), assign_to(TECH, Priority::Critical), &chief(), t0()).unwrap();
        let json = serde_json::to_string(&t).unwrap();
        assert!(json.contains("\"state\":\"asignado\"") && json.contains("\"priority\":\"critica\""), "{json}");
        assert!(json.contains("\"channel\":\"telefono\""), "{json}");
        assert_eq!(serde_json::from_str::<Ticket>(&json).unwrap(), t);
        let json = serde_json::to_string(&e).unwrap();
        assert!(
            json.contains("\"kind\":\"assigned\"") && json.contains("\"by\":{\"kind\":\"user\",\"id\":10}"),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<Vec<TimelineEntry>>(&json).unwrap(), e);
        assert_eq!(serde_json::to_string(&State::EnAtencion).unwrap(), "\"en_atencion\"");
    }

    #[test]
    fn names_and_labels_round_trip() {
        for s in State::ALL {
            assert_eq!(State::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{}\"", s.as_str()));
        }
        for p in Priority::ALL {
            assert_eq!(Priority::parse(p.as_str()), Some(p));
            assert_eq!(serde_json::to_string(&p).unwrap(), format!("\"{}\"", p.as_str()));
        }
        for c in Channel::ALL {
            assert_eq!(Channel::parse(c.as_str()), Some(c));
            assert_eq!(serde_json::to_string(&c).unwrap(), format!("\"{}\"", c.as_str()));
        }
        let labels: Vec<_> = State::ALL.iter().map(|s| s.label()).collect();
        assert_eq!(labels, ["Solicitado", "Asignado", "En atención", "Cerrado", "Cancelado"]);
        assert!(Priority::Low < Priority::Critical);
    }

    /// The actors of the matrix: every role, and for `tecnico` and `jefe_centro` both relations to
    /// the ticket (the assigned technician or another one; the ticket's center or another one).
    fn matrix_actors() -> [(&'static str, Actor); 7] {
        [
            ("admin", actor(1, Role::Admin, &[])),
            ("jefe_uact", chief()),
            ("tecnico_asignado", tech()),
            ("tecnico_otro", actor(OTHER_TECH, Role::Tecnico, &[])),
            ("jefe_centro_propio", center_chief()),
            ("jefe_centro_ajeno", actor(31, Role::JefeCentro, &[OTHER_CENTER])),
            ("director", actor(2, Role::Director, &[CENTER])),
        ]
    }

    /// A valid action of each kind, so that only permission and state decide.
    fn sample_action(kind: ActionKind) -> Action {
        let other = Assignee { user_id: OTHER_TECH, role: Role::Tecnico };
        match kind {
            ActionKind::Assign => assign_to(TECH, Priority::High),
            ActionKind::Reassign => Action::Reassign { priority: Priority::High, assignee: other, note: String::new() },
            ActionKind::RecordContact => Action::RecordContact { note: "llamada".into() },
            ActionKind::Close => Action::Close { resolution: "resuelto".into() },
            ActionKind::Cancel => Action::Cancel { reason: "duplicado".into() },
            ActionKind::Comment => Action::Comment { text: "nota".into() },
            ActionKind::Reopen => Action::Reopen { reason: "volvió a fallar".into() },
        }
    }

    /// The permission matrix, written out: for each actor and action, one mark per state in the
    /// order Solicitado, Asignado, En atención, Cerrado, Cancelado (Y = allowed, . = denied).
    const MATRIX: &str = "
        admin               assign          . . . . .
        admin               reassign        . . . . .
        admin               record_contact  . . . . .
        admin               close           . . . . .
        admin               cancel          . . . . .
        admin               comment         . . . . .
        admin               reopen          . . . . .
        jefe_uact           assign          Y . . . .
        jefe_uact           reassign        . Y Y . .
        jefe_uact           record_contact  . Y . . .
        jefe_uact           close           . . Y . .
        jefe_uact           cancel          Y Y Y . .
        jefe_uact           comment         Y Y Y Y Y
        jefe_uact           reopen          . . . Y .
        tecnico_asignado    assign          . . . . .
        tecnico_asignado    reassign        . . . . .
        tecnico_asignado    record_contact  . Y . . .
        tecnico_asignado    close           . . Y . .
        tecnico_asignado    cancel          . . . . .
        tecnico_asignado    comment         Y Y Y Y Y
        tecnico_asignado    reopen          . . . . .
        tecnico_otro        assign          . . . . .
        tecnico_otro        reassign        . . . . .
        tecnico_otro        record_contact  . . . . .
        tecnico_otro        close           . . . . .
        tecnico_otro        cancel          . . . . .
        tecnico_otro        comment         Y Y Y Y Y
        tecnico_otro        reopen          . . . . .
        jefe_centro_propio  assign          . . . . .
        jefe_centro_propio  reassign        . . . . .
        jefe_centro_propio  record_contact  . . . . .
        jefe_centro_propio  close           . . . . .
        jefe_centro_propio  cancel          Y . . . .
        jefe_centro_propio  comment         Y Y Y Y Y
        jefe_centro_propio  reopen          . . . . .
        jefe_centro_ajeno   assign          . . . . .
        jefe_centro_ajeno   reassign        . . . . .
        jefe_centro_ajeno   record_contact  . . . . .
        jefe_centro_ajeno   close           . . . . .
        jefe_centro_ajeno   cancel          . . . . .
        jefe_centro_ajeno   comment         . . . . .
        jefe_centro_ajeno   reopen          . . . . .
        director            assign          . . . . .
        director            reassign        . . . . .
        director            record_contact  . . . . .
        director            close           . . . . .
        director            cancel          . . . . .
        director            comment         . . . . .
        director            reopen          . . . . .
    ";

    #[test]
    fn the_role_action_state_matrix_is_exactly_the_documented_one() {
        let mut expected = std::collections::HashMap::new();
        for line in MATRIX.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(cols.len(), 7, "{line}");
            for (state, mark) in State::ALL.iter().zip(&cols[2..]) {
                assert!(matches!(*mark, "Y" | "."), "{line}");
                let old = expected.insert((cols[0].to_string(), cols[1].to_string(), *state), *mark == "Y");
                assert!(old.is_none(), "duplicate row: {line}");
            }
        }
        let tickets: Vec<Ticket> = State::ALL.into_iter().map(ticket_in).collect();
        let mut cells = 0;
        for (name, who) in matrix_actors() {
            for kind in ActionKind::ALL {
                for t in &tickets {
                    let want = expected[&(name.to_string(), kind.name().to_string(), t.state)];
                    let allowed = permitted(kind, &who, t);
                    let checked = check(&sample_action(kind), &who, t);
                    assert_eq!(allowed.is_ok(), want, "{name} {} in {}: {allowed:?}", kind.name(), t.state.as_str());
                    assert_eq!(checked.is_ok(), want, "{name} {} in {}: {checked:?}", kind.name(), t.state.as_str());
                    let applied = apply(t, sample_action(kind), &who, t0());
                    assert_eq!(applied.is_ok(), want);
                    if let Ok((n, e)) = applied {
                        assert_eq!(e.len(), 1);
                        assert_eq!((e[0].from, e[0].to, e[0].by), (Some(t.state), n.state, By::User(who.user_id)));
                    }
                    cells += 1;
                }
            }
        }
        assert_eq!(cells, expected.len());
        assert_eq!(cells, 7 * 7 * 5);
    }

    #[test]
    fn every_transition_lands_in_the_documented_state() {
        let transitions = [
            (State::Solicitado, ActionKind::Assign, State::Asignado),
            (State::Solicitado, ActionKind::Cancel, State::Cancelado),
            (State::Asignado, ActionKind::Reassign, State::Asignado),
            (State::Asignado, ActionKind::RecordContact, State::EnAtencion),
            (State::Asignado, ActionKind::Cancel, State::Cancelado),
            (State::EnAtencion, ActionKind::Reassign, State::EnAtencion),
            (State::EnAtencion, ActionKind::Close, State::Cerrado),
            (State::EnAtencion, ActionKind::Cancel, State::Cancelado),
            (State::Cerrado, ActionKind::Reopen, State::Asignado),
        ];
        for (from, kind, to) in transitions {
            let (n, _) = apply(&ticket_in(from), sample_action(kind), &chief(), t0()).unwrap();
            assert_eq!(n.state, to, "{} from {}", kind.name(), from.as_str());
        }
        // No other action changes the state of any ticket.
        for from in State::ALL {
            for kind in ActionKind::ALL {
                if transitions.iter().any(|(f, k, _)| *f == from && *k == kind) {
                    continue;
                }
                if let Ok((n, _)) = apply(&ticket_in(from), sample_action(kind), &chief(), t0()) {
                    assert_eq!(n.state, from, "{} in {}", kind.name(), from.as_str());
                }
            }
        }
    }
}
