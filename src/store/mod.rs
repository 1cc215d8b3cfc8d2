//! Adapters of the store ports (`app::ports::{ProfileStore, DecisionStore}`): an in-process
//! implementation and a Redis implementation (shared by several replicas).

mod memory;
pub mod redis;

pub use memory::{MemoryDecisionStore, MemoryProfileStore};
pub use redis::{RedisDecisionStore, RedisOptions, RedisProfileStore, RedisStores};
