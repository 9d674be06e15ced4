//! The ticket state machine (being written; see issue 5).
