//! Monthly service reports (stage 4 of the procedure): the calls received and made by each call
//! center, computed from the CDR (and `queue_log`) its servers ship ([`classify`], [`figures`]),
//! the recording QA ([`qa`]), the report's review loop ([`workflow`], [`store`]) and its PDF
//! ([`pdf`]).
//!
//! Invariants:
//! - Months and days are the collector's configured time zone's (`[calendar] time_zone`), and so is
//!   `calldate` (a PBX writes local time; the PBXs of one ministry share the zone).
//! - Figures are a pure function of the stored rows and the classification settings: the same
//!   month computes to the same numbers, and every formula is stated with them ([`figures::FORMULAS`]).
//! - A submitted QA score, and every round of the review, never change.

pub mod classify;
pub mod figures;
pub mod pdf;
pub mod qa;
pub mod queues;
pub mod settings;
pub mod source;
pub mod store;
pub mod workflow;
