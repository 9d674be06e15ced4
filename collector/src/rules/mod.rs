//! Alert rules over incoming samples (being written; see issue 5).
