//! SQLite backend of the [`super::Store`] trait.
