//! Per-address defence: connection caps, failed-login scoring and bans that
//! grow for repeat offenders (after SFTPGo's defender and OpenSSH's
//! MaxStartups / PerSourcePenalties).
//!
//! Pure state behind a mutex; the caller passes the clock so tests need no
//! sleeping.
//!
//! Scores, caps and bans are kept per *source group* ([`group_of`]): one
//! IPv4 address, or one IPv6 /64 (the smallest prefix a site is given, so an
//! attacker rotating through the addresses of its /64 is still one source).
//! [`Defender::failed`] is meant to be called once per failed authentication
//! attempt, not once per connection: a client may try many passwords or keys
//! on one connection.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::sftp::config::SftpServer;

/// Why a connection was refused before the SSH handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Banned { remaining: Duration },
    TooManyFromAddress,
    TooManyUnauthenticated,
}

#[derive(Debug, Default)]
struct Addr {
    connections: usize,
    failures: VecDeque<(Instant, u32)>,
    banned_until: Option<Instant>,
    bans: u32,
}

#[derive(Debug, Default)]
struct State {
    addrs: HashMap<IpAddr, Addr>,
    unauthenticated: usize,
}

/// Limits taken from `[sftp]`.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_per_ip: usize,
    pub max_unauthenticated: usize,
    pub ban_score: u32,
    pub window: Duration,
    pub ban: Duration,
    pub ban_max: Duration,
}

impl From<&SftpServer> for Limits {
    fn from(s: &SftpServer) -> Self {
        Limits {
            max_per_ip: s.max_connections_per_ip,
            max_unauthenticated: s.max_unauthenticated,
            ban_score: s.ban_score,
            window: s.ban_window,
            ban: s.ban,
            ban_max: s.ban_max,
        }
    }
}

impl Limits {
    /// The limits of an `[sftp]` section left to its defaults: the desk's
    /// sign-ins are scored with these when the daemon runs no SFTP server.
    pub fn defaults() -> Limits {
        let mut p = crate::problems::Problems::default();
        let s = super::config::SftpServerRaw::default().compile(
            std::path::Path::new("(defaults)"),
            "sftp",
            &|s: &str| std::path::PathBuf::from(s),
            &mut p,
        );
        Limits::from(&s)
    }
}

#[derive(Debug)]
pub struct Defender {
    limits: Limits,
    state: Mutex<State>,
}

/// A slot held by one connection; released on drop.
#[derive(Debug)]
pub struct Slot {
    defender: Arc<Defender>,
    ip: IpAddr,
    unauthenticated: bool,
}

impl Slot {
    /// The connection authenticated: it no longer counts against the
    /// unauthenticated cap.
    pub fn authenticated(&mut self) {
        if self.unauthenticated {
            self.unauthenticated = false;
            let mut s = self.defender.lock();
            s.unauthenticated = s.unauthenticated.saturating_sub(1);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut s = self.defender.lock();
        // `ip` is the group the slot was admitted under.
        if self.unauthenticated {
            s.unauthenticated = s.unauthenticated.saturating_sub(1);
        }
        if let Some(a) = s.addrs.get_mut(&self.ip) {
            a.connections = a.connections.saturating_sub(1);
        }
    }
}

/// Unwrap IPv4-mapped IPv6 so both spellings are one address.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// The source group an address is scored in: the IPv4 address itself
/// (IPv4-mapped IPv6 included), or the /64 an IPv6 address belongs to (its
/// interface bits zeroed).
pub fn group_of(ip: IpAddr) -> IpAddr {
    match canonical_ip(ip) {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(std::net::Ipv6Addr::from(bits))
        }
        v4 => v4,
    }
}

impl Defender {
    pub fn new(limits: Limits) -> Arc<Defender> {
        Arc::new(Defender {
            limits,
            state: Mutex::new(State::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the counters in a
        // state worse than slightly off; keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admit a new connection or say why not.
    pub fn admit(self: &Arc<Self>, ip: IpAddr, now: Instant) -> Result<Slot, Refusal> {
        let ip = group_of(ip);
        let mut s = self.lock();
        if s.addrs.len() > 10_000 {
            let window = self.limits.window;
            let ban_max = self.limits.ban_max;
            s.addrs.retain(|_, a| {
                a.connections > 0
                    || a.banned_until.is_some_and(|t| t + ban_max > now)
                    || a.failures.back().is_some_and(|(t, _)| *t + window > now)
            });
        }
        let unauth = s.unauthenticated;
        let a = s.addrs.entry(ip).or_default();
        if let Some(until) = a.banned_until
            && until > now
        {
            return Err(Refusal::Banned {
                remaining: until - now,
            });
        }
        if a.connections >= self.limits.max_per_ip {
            return Err(Refusal::TooManyFromAddress);
        }
        if unauth >= self.limits.max_unauthenticated {
            return Err(Refusal::TooManyUnauthenticated);
        }
        a.connections += 1;
        s.unauthenticated += 1;
        Ok(Slot {
            defender: self.clone(),
            ip,
            unauthenticated: true,
        })
    }

    /// Record one failed authentication attempt (score 1 for a known
    /// account, 2 for an unknown one). Call it for every attempt, including
    /// several on one connection. Returns the ban length when this failure
    /// bans the source group.
    pub fn failed(&self, ip: IpAddr, score: u32, now: Instant) -> Option<Duration> {
        let ip = group_of(ip);
        let mut s = self.lock();
        let a = s.addrs.entry(ip).or_default();
        a.failures.push_back((now, score));
        while let Some((t, _)) = a.failures.front() {
            if *t + self.limits.window <= now {
                a.failures.pop_front();
            } else {
                break;
            }
        }
        let total: u32 = a.failures.iter().map(|(_, s)| s).sum();
        if total < self.limits.ban_score {
            return None;
        }
        a.failures.clear();
        let factor = 2u32.saturating_pow(a.bans.min(20));
        let len = self
            .limits
            .ban
            .saturating_mul(factor)
            .min(self.limits.ban_max);
        a.bans += 1;
        a.banned_until = Some(now + len);
        crate::admin::metrics::inc("pasarela_sftp_bans_total", &[]);
        Some(len)
    }

    /// A ban recorded before a restart: in force until `until`.
    pub fn restore_ban(&self, ip: IpAddr, bans: u32, until: Instant) {
        let ip = group_of(ip);
        let mut s = self.lock();
        let a = s.addrs.entry(ip).or_default();
        a.bans = a.bans.max(bans);
        if a.banned_until.is_none_or(|t| t < until) {
            a.banned_until = Some(until);
        }
    }

    /// How many times this address has been banned.
    pub fn bans_of(&self, ip: IpAddr) -> u32 {
        let ip = group_of(ip);
        self.lock().addrs.get(&ip).map(|a| a.bans).unwrap_or(0)
    }

    /// Lift the ban on this address (and forget its recent failures); it
    /// keeps its count of past bans, so a repeat offender's next ban is
    /// still longer. True when a ban was in force.
    pub fn lift(&self, ip: IpAddr, now: Instant) -> bool {
        let mut s = self.lock();
        match s.addrs.get_mut(&group_of(ip)) {
            Some(a) => {
                a.failures.clear();
                a.banned_until.take().is_some_and(|t| t > now)
            }
            None => false,
        }
    }

    /// Is this address banned now?
    pub fn is_banned(&self, ip: IpAddr, now: Instant) -> bool {
        let s = self.lock();
        s.addrs
            .get(&group_of(ip))
            .and_then(|a| a.banned_until)
            .is_some_and(|t| t > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_per_ip: 2,
            max_unauthenticated: 3,
            ban_score: 4,
            window: Duration::from_secs(60),
            ban: Duration::from_secs(10),
            ban_max: Duration::from_secs(25),
        }
    }

    #[test]
    fn caps_per_address_and_unauthenticated() {
        let d = Defender::new(limits());
        let t = Instant::now();
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let s1 = d.admit(a, t).unwrap();
        let mut s2 = d.admit(a, t).unwrap();
        assert_eq!(d.admit(a, t).unwrap_err(), Refusal::TooManyFromAddress);
        let _s3 = d.admit(b, t).unwrap();
        assert_eq!(d.admit(b, t).unwrap_err(), Refusal::TooManyUnauthenticated);
        s2.authenticated();
        let _s4 = d.admit(b, t).unwrap();
        assert_eq!(d.admit(a, t).unwrap_err(), Refusal::TooManyFromAddress);
        drop(s1);
        let _s5 = d.admit(a, t).unwrap();
    }

    #[test]
    fn bans_grow_and_expire_per_address() {
        let d = Defender::new(limits());
        let t = Instant::now();
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(d.failed(a, 2, t), None);
        assert_eq!(d.failed(a, 2, t), Some(Duration::from_secs(10)));
        assert!(d.is_banned(a, t + Duration::from_secs(9)));
        assert!(!d.is_banned("127.0.0.2".parse().unwrap(), t));
        let t2 = t + Duration::from_secs(11);
        assert!(!d.is_banned(a, t2));
        d.failed(a, 2, t2);
        assert_eq!(d.failed(a, 2, t2), Some(Duration::from_secs(20)));
        let t3 = t2 + Duration::from_secs(21);
        d.failed(a, 2, t3);
        assert_eq!(d.failed(a, 2, t3), Some(Duration::from_secs(25)), "capped");
        // Old failures fall out of the window.
        let b: IpAddr = "::ffff:127.0.0.9".parse().unwrap();
        d.failed(b, 3, t);
        assert_eq!(d.failed(b, 3, t + Duration::from_secs(61)), None);
    }

    #[test]
    fn every_attempt_scores_even_on_one_connection() {
        // Four failed attempts on one connection (one slot held) ban at
        // score 4, and the ban refuses the next connection.
        let d = Defender::new(limits());
        let t = Instant::now();
        let a: IpAddr = "192.0.2.7".parse().unwrap();
        let _slot = d.admit(a, t).unwrap();
        for _ in 0..3 {
            assert_eq!(d.failed(a, 1, t), None);
        }
        assert_eq!(d.failed(a, 1, t), Some(Duration::from_secs(10)));
        assert!(matches!(d.admit(a, t), Err(Refusal::Banned { .. })));
    }

    #[test]
    fn ipv6_is_grouped_by_64_and_mapped_ipv4_by_address() {
        let d = Defender::new(limits());
        let t = Instant::now();
        // Rotating through one /64 is one source.
        d.failed("2001:db8:1:2::1".parse().unwrap(), 2, t);
        assert_eq!(
            d.failed("2001:db8:1:2:ffff:ee:dd:cc".parse().unwrap(), 2, t),
            Some(Duration::from_secs(10))
        );
        assert!(d.is_banned("2001:db8:1:2::9999".parse().unwrap(), t));
        assert!(
            !d.is_banned("2001:db8:1:3::1".parse().unwrap(), t),
            "next /64"
        );
        // The per-address connection cap counts the /64 too.
        let _s1 = d.admit("2001:db8:5:5::1".parse().unwrap(), t).unwrap();
        let _s2 = d.admit("2001:db8:5:5::2".parse().unwrap(), t).unwrap();
        assert_eq!(
            d.admit("2001:db8:5:5::3".parse().unwrap(), t).unwrap_err(),
            Refusal::TooManyFromAddress
        );
        // IPv4 is per address, whichever spelling.
        let v4: IpAddr = "198.51.100.1".parse().unwrap();
        d.failed("::ffff:198.51.100.1".parse().unwrap(), 2, t);
        assert_eq!(d.failed(v4, 2, t), Some(Duration::from_secs(10)));
        assert!(!d.is_banned("198.51.100.2".parse().unwrap(), t));
        assert_eq!(
            group_of("2001:db8:1:2:3:4:5:6".parse().unwrap()),
            "2001:db8:1:2::".parse::<IpAddr>().unwrap()
        );
        // A ban restored from the store (full address) covers its /64.
        d.restore_ban(
            "2001:db8:9:9::42".parse().unwrap(),
            1,
            t + Duration::from_secs(5),
        );
        assert!(d.is_banned("2001:db8:9:9::1".parse().unwrap(), t));
    }
}
