//! Corrective tickets ("requerimientos") (being written; see issue 5).

pub mod model;
