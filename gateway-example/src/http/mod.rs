//! Pieces of the HTTP edge that every route shares and that depend on no route.

pub mod error;
