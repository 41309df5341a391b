//! Who gets a connection: a global slot count, a per-address count, and a
//! back-off for addresses that keep failing to log in.
//!
//! Slots alone let 16 idle sockets from one address lock everyone out; the
//! per-address cap and the short startup timeout (in [`crate::wire`]) bound
//! what one address can hold. Failed logins are counted per address: after
//! `failures` within a minute the address is refused outright for a back-off
//! that doubles with each round (1 s up to 60 s) and is forgotten after ten
//! quiet minutes, so guessing runs at a few attempts a minute rather than
//! hundreds a second, while a user who mistypes twice is never slowed.
//! Refusals are audited, a flood from one address as one record per second
//! with a count.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionLimits {
    /// Connections open at once, from anywhere.
    pub max_connections: usize,
    /// Connections open at once from one address.
    pub max_per_address: usize,
    /// Failed logins from one address within a minute before it backs off.
    pub failures_before_backoff: usize,
}

const FAILURE_WINDOW: Duration = Duration::from_secs(60);
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
const FORGET_AFTER: Duration = Duration::from_secs(600);
/// Refusals of one kind from one address are written at most this often.
const AUDIT_EVERY: Duration = Duration::from_secs(1);
/// Entries kept before old ones are dropped (a spray of addresses).
const MAX_TRACKED: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// Every slot is taken.
    Full,
    /// This address has its share.
    PerAddress,
    /// This address is backing off after failed logins.
    Throttled,
}

impl Refusal {
    pub fn message(&self, limits: &AdmissionLimits, wait: Option<Duration>) -> String {
        match self {
            Refusal::Full => format!("sorry, too many clients already ({} connections, server.max_connections)", limits.max_connections),
            Refusal::PerAddress => format!(
                "too many connections from this address ({}, server.max_connections_per_address): close some and try again",
                limits.max_per_address
            ),
            Refusal::Throttled => format!(
                "too many failed logins from this address: try again in {} s",
                wait.unwrap_or(FIRST_BACKOFF).as_secs_f64().ceil() as u64
            ),
        }
    }
}

#[derive(Debug, Default)]
struct Failures {
    recent: Vec<Instant>,
    strikes: u32,
    blocked_until: Option<Instant>,
    last: Option<Instant>,
}

pub struct Admission {
    pub limits: AdmissionLimits,
    slots: Arc<Semaphore>,
    per_address: Mutex<HashMap<IpAddr, usize>>,
    failures: Mutex<HashMap<IpAddr, Failures>>,
    audited: Mutex<HashMap<(IpAddr, Refusal), (Instant, u64)>>,
}

/// A connection's place; gives it back when dropped.
pub struct Ticket {
    admission: Arc<Admission>,
    ip: IpAddr,
    _slot: OwnedSemaphorePermit,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut m = self.admission.per_address.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

impl Admission {
    pub fn new(limits: AdmissionLimits) -> Arc<Admission> {
        Arc::new(Admission {
            limits,
            slots: Arc::new(Semaphore::new(limits.max_connections.max(1))),
            per_address: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            audited: Mutex::new(HashMap::new()),
        })
    }

    /// A place for a new connection from `ip`, or why not.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Ticket, Refusal> {
        let mut m = self.per_address.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.get(&ip).copied().unwrap_or(0);
        if n >= self.limits.max_per_address.max(1) {
            return Err(Refusal::PerAddress);
        }
        let slot = self.slots.clone().try_acquire_owned().map_err(|_| Refusal::Full)?;
        m.insert(ip, n + 1);
        Ok(Ticket { admission: self.clone(), ip, _slot: slot })
    }

    /// How long `ip` must still wait before it may try a password.
    pub fn backoff(&self, ip: IpAddr) -> Option<Duration> {
        let m = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let until = m.get(&ip)?.blocked_until?;
        until.checked_duration_since(Instant::now()).filter(|d| !d.is_zero())
    }

    /// Counts a failed login from `ip`.
    pub fn login_failed(&self, ip: IpAddr) {
        self.login_failed_at(ip, Instant::now());
    }

    fn login_failed_at(&self, ip: IpAddr, now: Instant) {
        let mut m = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() >= MAX_TRACKED {
            m.retain(|_, f| f.last.is_some_and(|l| now.duration_since(l) < FAILURE_WINDOW));
        }
        let f = m.entry(ip).or_default();
        if f.last.is_some_and(|l| now.duration_since(l) > FORGET_AFTER) {
            *f = Failures::default();
        }
        f.last = Some(now);
        f.recent.retain(|t| now.duration_since(*t) < FAILURE_WINDOW);
        f.recent.push(now);
        if f.recent.len() >= self.limits.failures_before_backoff.max(1) {
            let wait = FIRST_BACKOFF.saturating_mul(1u32 << f.strikes.min(16)).min(MAX_BACKOFF);
            f.strikes += 1;
            f.blocked_until = Some(now + wait);
            f.recent.clear();
            tracing::warn!(client = %ip, wait_s = wait.as_secs(), "failed logins: address backs off");
        }
    }

    /// Whether a refusal of `what` from `ip` should be written now; if so,
    /// how many were not written since the last one.
    pub fn audit_now(&self, ip: IpAddr, what: Refusal) -> Option<u64> {
        let now = Instant::now();
        let mut m = self.audited.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() >= MAX_TRACKED {
            m.retain(|_, (t, _)| now.duration_since(*t) < AUDIT_EVERY);
        }
        match m.get_mut(&(ip, what)) {
            Some((t, skipped)) if now.duration_since(*t) < AUDIT_EVERY => {
                *skipped += 1;
                None
            }
            Some((t, skipped)) => {
                *t = now;
                Some(std::mem::take(skipped))
            }
            None => {
                m.insert((ip, what), (now, 0));
                Some(0)
            }
        }
    }

    pub fn open_from(&self, ip: IpAddr) -> usize {
        self.per_address.lock().unwrap_or_else(|p| p.into_inner()).get(&ip).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> AdmissionLimits {
        AdmissionLimits { max_connections: 4, max_per_address: 2, failures_before_backoff: 3 }
    }

    #[test]
    fn slots_per_address_and_overall() {
        let a = Admission::new(limits());
        let (x, y, z): (IpAddr, IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap(), "10.0.0.3".parse().unwrap());
        let t1 = a.admit(x).unwrap();
        let _t2 = a.admit(x).unwrap();
        assert_eq!(a.admit(x).err(), Some(Refusal::PerAddress));
        let _t3 = a.admit(y).unwrap();
        let _t4 = a.admit(y).unwrap();
        assert_eq!(a.admit(z).err(), Some(Refusal::Full));
        drop(t1);
        assert_eq!(a.open_from(x), 1);
        assert!(a.admit(z).is_ok());
    }

    #[test]
    fn failed_logins_back_off_doubling_and_are_forgotten() {
        let a = Admission::new(limits());
        let ip: IpAddr = "10.0.0.9".parse().unwrap();
        let t0 = Instant::now();
        a.login_failed_at(ip, t0);
        a.login_failed_at(ip, t0);
        assert!(a.backoff(ip).is_none(), "two mistakes do not slow anyone");
        a.login_failed_at(ip, t0);
        let first = a.failures.lock().unwrap()[&ip].blocked_until.unwrap() - t0;
        assert_eq!(first, FIRST_BACKOFF);
        for _ in 0..3 {
            a.login_failed_at(ip, t0);
        }
        let second = a.failures.lock().unwrap()[&ip].blocked_until.unwrap() - t0;
        assert_eq!(second, FIRST_BACKOFF * 2);
        // Quiet for long enough: a fresh start.
        let later = t0 + FORGET_AFTER + Duration::from_secs(1);
        a.login_failed_at(ip, later);
        assert_eq!(a.failures.lock().unwrap()[&ip].strikes, 0);
    }

    #[test]
    fn a_flood_of_refusals_is_summarised() {
        let a = Admission::new(limits());
        let ip: IpAddr = "10.0.0.7".parse().unwrap();
        assert_eq!(a.audit_now(ip, Refusal::Full), Some(0));
        assert_eq!(a.audit_now(ip, Refusal::Full), None);
        assert_eq!(a.audit_now(ip, Refusal::Full), None);
        assert_eq!(a.audit_now(ip, Refusal::PerAddress), Some(0));
        a.audited.lock().unwrap().get_mut(&(ip, Refusal::Full)).unwrap().0 -= AUDIT_EVERY;
        assert_eq!(a.audit_now(ip, Refusal::Full), Some(2));
    }
}
