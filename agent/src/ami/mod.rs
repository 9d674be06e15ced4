//! The Asterisk Manager Interface (AMI) client used by the asterisk probe: [`frame`] parses the wire
//! format, [`client`] runs one connection with deadlines and classified errors, [`replay`] is a test
//! double serving the transcripts captured from Asterisk 22 (`shared/fixtures/asterisk`).
//!
//! Invariant: nothing in this module panics on bytes from the network; every wait has a deadline.

pub mod client;
pub mod frame;
pub mod md5;
pub mod replay;

pub use client::{Action, AmiClient, AmiError, Auth, ClientConfig, FailureKind, List};
pub use frame::{Banner, InvalidFrame, Kind, Message};
