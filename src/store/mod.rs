//! Adapters of the store ports (`app::ports::{ProfileStore, DecisionStore}`): the embedded store
//! on local disk (the default), an in-process one (tests, or `--store memory`: not durable) and a
//! Redis one (shared by several replicas).

pub mod embedded;
mod memory;
pub mod redis;

pub use embedded::{EmbeddedDecisionStore, EmbeddedOptions, EmbeddedProfileStore, EmbeddedStores};
pub use memory::{MemoryDecisionStore, MemoryProfileStore};
pub use redis::{RedisDecisionStore, RedisOptions, RedisProfileStore, RedisStores};
