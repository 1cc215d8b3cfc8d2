//! Bounded slots for connections that have not yet shown they are real clients: TLS handshakes
//! in progress on the gRPC port (security::tls), requests not yet read on the metrics port
//! (telemetry::prometheus).
//!
//! A connection that opens a socket and never speaks costs the attacker nothing, so a plain
//! "N at once, then refuse" limit lets a few hundred idle sockets lock out every new client,
//! health probes included. Here:
//! - one source address (an IPv6 source: its /64 network) holds at most `max_per_source`
//!   slots, so one host (or one NAT) cannot take them all: the rest stay for other sources;
//! - when a limit is reached, the *oldest silent* slot (a connection that has not sent a byte,
//!   or has sat past the busy timeout) is closed to make room for the new one, instead of
//!   refusing the newcomer: an idle flood then only evicts itself, and a real client, which
//!   speaks within a round trip, gets through; only when every slot belongs to a connection
//!   that is talking is the new one refused;
//! - past half of `max` in use ("under pressure"), new slots get the short `busy_timeout`.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// Limits of a [`Slots`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotLimits {
    /// Slots in use at once, all sources together.
    pub max: usize,
    /// Slots one source address may hold at once (at most `max`).
    pub max_per_source: usize,
    /// How long a slot may be held normally.
    pub timeout: Duration,
    /// How long a slot taken under pressure (more than half of `max` in use) may be held; also
    /// the age past which a slot that did speak may be evicted for a newcomer.
    pub busy_timeout: Duration,
}

impl SlotLimits {
    /// Checks the limits make sense (`max_per_source` within 1..=`max`, `busy_timeout` no longer
    /// than `timeout`); the message names the setting.
    pub fn check(&self, what: &str) -> Result<(), String> {
        if self.max == 0 || self.max_per_source == 0 {
            return Err(format!("{what}: the slot limits must be at least 1"));
        }
        if self.max_per_source > self.max {
            return Err(format!(
                "{what}: the limit per source ({}) is above the total ({})",
                self.max_per_source, self.max
            ));
        }
        if self.busy_timeout.is_zero() || self.busy_timeout > self.timeout {
            return Err(format!(
                "{what}: the busy timeout ({} ms) must be above 0 and at most the timeout ({} ms)",
                self.busy_timeout.as_millis(),
                self.timeout.as_millis()
            ));
        }
        Ok(())
    }
}

struct Entry {
    source: IpAddr,
    started: Instant,
    spoke: bool,
    evict: oneshot::Sender<()>,
}

#[derive(Default)]
struct Table {
    next_id: u64,
    /// By id, that is oldest first.
    entries: BTreeMap<u64, Entry>,
    per_source: HashMap<IpAddr, usize>,
    evicted: u64,
    refused: u64,
}

impl Table {
    fn remove(&mut self, id: u64) -> Option<Entry> {
        let entry = self.entries.remove(&id)?;
        if let Some(n) = self.per_source.get_mut(&entry.source) {
            *n -= 1;
            if *n == 0 {
                self.per_source.remove(&entry.source);
            }
        }
        Some(entry)
    }

    /// Closes the oldest evictable slot (of `source` when given); false when there is none.
    fn evict_oldest(&mut self, source: Option<IpAddr>, busy_timeout: Duration) -> bool {
        let victim = self
            .entries
            .iter()
            .filter(|(_, e)| source.is_none_or(|s| e.source == s))
            .find(|(_, e)| !e.spoke || e.started.elapsed() >= busy_timeout)
            .map(|(id, _)| *id);
        let Some(entry) = victim.and_then(|id| self.remove(id)) else {
            return false;
        };
        let _ = entry.evict.send(());
        self.evicted += 1;
        true
    }
}

/// A set of bounded slots (see the module documentation). Cheap to clone.
#[derive(Clone)]
pub struct Slots {
    limits: Arc<SlotLimits>,
    table: Arc<Mutex<Table>>,
}

/// Why [`Slots::admit`] refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused;

impl Slots {
    pub fn new(limits: SlotLimits) -> Self {
        Slots {
            limits: Arc::new(limits),
            table: Arc::default(),
        }
    }

    /// A slot for a new connection from `source`, making room by evicting the oldest silent slot
    /// (of the same source when it is the source's limit that is reached).
    pub fn admit(&self, source: IpAddr) -> Result<Slot, Refused> {
        let source = source_key(source);
        let limits = &*self.limits;
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        let held = table.per_source.get(&source).copied().unwrap_or(0);
        if held >= limits.max_per_source && !table.evict_oldest(Some(source), limits.busy_timeout) {
            table.refused += 1;
            return Err(Refused);
        }
        if table.entries.len() >= limits.max && !table.evict_oldest(None, limits.busy_timeout) {
            table.refused += 1;
            return Err(Refused);
        }
        let (evict, evicted) = oneshot::channel();
        let id = table.next_id;
        table.next_id += 1;
        table.entries.insert(
            id,
            Entry {
                source,
                started: Instant::now(),
                spoke: false,
                evict,
            },
        );
        *table.per_source.entry(source).or_insert(0) += 1;
        let timeout = if table.entries.len() > limits.max / 2 {
            limits.busy_timeout
        } else {
            limits.timeout
        };
        Ok(Slot {
            table: self.table.clone(),
            id,
            evicted,
            gone: false,
            timeout,
        })
    }

    /// Slots in use.
    pub fn in_use(&self) -> usize {
        self.table.lock().unwrap_or_else(|p| p.into_inner()).entries.len()
    }

    /// Slots evicted for newcomers and newcomers refused, since the start.
    pub fn evicted_and_refused(&self) -> (u64, u64) {
        let table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        (table.evicted, table.refused)
    }
}

/// The source a connection is counted under: an IPv4 address (also when mapped into IPv6), or
/// the /64 network of an IPv6 address (one host commonly holds a whole /64).
fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        },
    }
}

/// One connection's slot, given back when dropped.
pub struct Slot {
    table: Arc<Mutex<Table>>,
    id: u64,
    evicted: oneshot::Receiver<()>,
    gone: bool,
    timeout: Duration,
}

impl Slot {
    /// How long the connection may hold the slot (shorter when it was taken under pressure).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The connection sent something: no longer evicted before the busy timeout.
    pub fn spoke(&self) {
        self.spoke_handle().spoke();
    }

    /// A handle that marks the slot as spoken from elsewhere (say a request handler), for as
    /// long as the slot is held.
    pub fn spoke_handle(&self) -> SpokeHandle {
        SpokeHandle {
            table: self.table.clone(),
            id: self.id,
        }
    }

    /// Resolves when the slot is taken away for a newcomer (or the slots are gone): the
    /// connection should then be closed.
    pub async fn evicted(&mut self) {
        if self.gone {
            return;
        }
        let _ = (&mut self.evicted).await;
        // A finished receiver must not be polled again.
        self.gone = true;
    }
}

/// See [`Slot::spoke_handle`].
#[derive(Clone)]
pub struct SpokeHandle {
    table: Arc<Mutex<Table>>,
    id: u64,
}

impl SpokeHandle {
    /// The connection sent something: no longer evicted before the busy timeout.
    pub fn spoke(&self) {
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = table.entries.get_mut(&self.id) {
            entry.spoke = true;
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        table.remove(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
    }

    fn slots(max: usize, per_source: usize) -> Slots {
        Slots::new(SlotLimits {
            max,
            max_per_source: per_source,
            timeout: Duration::from_secs(10),
            busy_timeout: Duration::from_secs(1),
        })
    }

    fn is_evicted(slot: &mut Slot) -> bool {
        slot.evicted.try_recv().is_ok()
    }

    #[test]
    fn a_source_at_its_limit_evicts_its_own_oldest_silent_slot() {
        let s = slots(8, 2);
        let mut a = s.admit(ip(1)).expect("first");
        let mut b = s.admit(ip(1)).expect("second");
        let mut other = s.admit(ip(2)).expect("another source");
        let _c = s.admit(ip(1)).expect("third evicts the first");
        assert!(is_evicted(&mut a));
        assert!(!is_evicted(&mut b));
        assert!(!is_evicted(&mut other), "another source's slot is not touched");
        assert_eq!(s.in_use(), 3);
    }

    #[test]
    fn when_full_the_oldest_silent_slot_goes_and_talking_ones_stay() {
        let s = slots(3, 3);
        let mut talking = s.admit(ip(1)).expect("1");
        talking.spoke();
        let mut idle = s.admit(ip(2)).expect("2");
        let _third = s.admit(ip(3)).expect("3");
        let _new = s.admit(ip(4)).expect("room made");
        assert!(!is_evicted(&mut talking));
        assert!(is_evicted(&mut idle));
    }

    #[test]
    fn refused_only_when_every_slot_is_talking() {
        let s = slots(2, 2);
        let a = s.admit(ip(1)).expect("1");
        let b = s.admit(ip(2)).expect("2");
        a.spoke();
        b.spoke();
        assert_eq!(s.admit(ip(3)).err(), Some(Refused));
        drop(a);
        assert!(s.admit(ip(3)).is_ok(), "a slot given back is free again");
        assert_eq!(s.evicted_and_refused(), (0, 1));
    }

    #[test]
    fn past_half_the_slots_the_timeout_is_short() {
        let s = slots(4, 4);
        let first = s.admit(ip(1)).expect("1");
        let second = s.admit(ip(1)).expect("2");
        let third = s.admit(ip(1)).expect("3");
        assert_eq!(first.timeout(), Duration::from_secs(10));
        assert_eq!(second.timeout(), Duration::from_secs(10));
        assert_eq!(third.timeout(), Duration::from_secs(1));
    }

    #[test]
    fn an_ipv6_host_counts_as_its_64_network() {
        let s = slots(8, 1);
        let a: IpAddr = "2001:db8:1:2::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("ip");
        let other: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        let mut first = s.admit(a).expect("first");
        let _second = s.admit(b).expect("same /64: evicts the first");
        assert!(is_evicted(&mut first));
        let _third = s.admit(other).expect("another /64");
        assert_eq!(s.in_use(), 2);
    }

    #[test]
    fn limits_are_checked() {
        let ok = SlotLimits {
            max: 4,
            max_per_source: 2,
            timeout: Duration::from_secs(10),
            busy_timeout: Duration::from_secs(1),
        };
        assert!(ok.check("x").is_ok());
        let per_source_above = SlotLimits {
            max_per_source: 5,
            ..ok.clone()
        };
        assert!(per_source_above.check("x").is_err());
        let busy_above = SlotLimits {
            busy_timeout: Duration::from_secs(11),
            ..ok
        };
        assert!(busy_above.check("x").is_err());
    }
}
