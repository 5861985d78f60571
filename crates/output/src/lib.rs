//! Presenters: turn the engine's exchanges into output for people and machines.

pub mod jsonl;
pub mod report;

pub use jsonl::JsonlWriter;
