//! The business calendar (being written; see issue 5).
