//! Who is calling: the client a session is counted against (`max_sessions_per_client`) and the
//! deadline a request must start by.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::ServerError;
use crate::metrics as m;

/// The client a session belongs to for the per-client limit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum ClientKey {
    /// A bearer token, kept only as a keyed hash: the token itself is never stored here, so it
    /// cannot leak through a debug print, a log line or a metric label.
    Token(u64),
    /// The peer's IP address (authentication off). The port is left out: one trainer opens
    /// many connections.
    Peer(IpAddr),
    /// No token and no peer address (in-process calls): one shared bucket.
    #[default]
    Unknown,
}

impl ClientKey {
    /// The key of a bearer token.
    pub fn token(token: &[u8]) -> Self {
        // Keys drawn per process: a hash seen in a core dump does not identify a token elsewhere.
        static KEYS: OnceLock<std::collections::hash_map::RandomState> = OnceLock::new();
        ClientKey::Token(KEYS.get_or_init(Default::default).hash_one(token))
    }
}

/// Where a request comes from and by when it must have started.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// The client its sessions count against.
    pub client: ClientKey,
    /// The client's deadline (from `grpc-timeout`), if it set one.
    pub deadline: Option<Instant>,
}

impl Caller {
    /// The caller of a request: keyed by its bearer token when `by_token` (authentication on;
    /// the interceptor has already checked the token), else by its peer IP address. The
    /// deadline counts from now, when the request reaches the service.
    pub fn of<T>(request: &tonic::Request<T>, by_token: bool) -> Self {
        let token = by_token
            .then(|| request.metadata().get("authorization"))
            .flatten()
            .map(|v| {
                v.as_bytes()
                    .strip_prefix(b"Bearer ")
                    .unwrap_or(v.as_bytes())
            });
        let client = match (token, request.remote_addr()) {
            (Some(t), _) => ClientKey::token(t),
            (None, Some(addr)) => ClientKey::Peer(addr.ip()),
            (None, None) => ClientKey::Unknown,
        };
        let deadline = request
            .metadata()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_grpc_timeout)
            .and_then(|t| Instant::now().checked_add(t));
        Caller { client, deadline }
    }

    /// Refuses to start work once the client has stopped waiting for it.
    pub fn check_deadline(&self) -> Result<(), ServerError> {
        match self.deadline {
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    Err(ServerError::DeadlineExceeded(now - d))
                } else {
                    Ok(())
                }
            }
            None => Ok(()),
        }
    }
}

/// A `grpc-timeout` value: at most 8 digits and a unit (H, M, S, m, u, n), per the gRPC HTTP/2
/// protocol. Anything else is ignored, as tonic's own timeout layer does.
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let unit = value.chars().next_back()?;
    let digits = &value[..value.len() - unit.len_utf8()];
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        'H' => Duration::from_secs(n * 3600),
        'M' => Duration::from_secs(n * 60),
        'S' => Duration::from_secs(n),
        'm' => Duration::from_millis(n),
        'u' => Duration::from_micros(n),
        'n' => Duration::from_nanos(n),
        _ => return None,
    })
}

#[derive(Debug, Default)]
struct Counts {
    per_client: HashMap<ClientKey, usize>,
    /// How many clients hold each session count, so the busiest client's count is known
    /// without scanning every client.
    by_count: BTreeMap<usize, usize>,
}

impl Counts {
    fn shift(&mut self, from: usize, to: usize) {
        if from > 0
            && let Some(n) = self.by_count.get_mut(&from)
        {
            *n -= 1;
            if *n == 0 {
                self.by_count.remove(&from);
            }
        }
        if to > 0 {
            *self.by_count.entry(to).or_default() += 1;
        }
    }

    fn publish(&self) {
        metrics::gauge!(m::ACTIVE_CLIENTS).set(self.per_client.len() as f64);
        let busiest = self.by_count.keys().next_back().copied().unwrap_or(0);
        metrics::gauge!(m::CLIENT_SESSIONS_MAX).set(busiest as f64);
    }
}

/// Live sessions per client, against `max_sessions_per_client`. Touched on reset, close and
/// expiry only, never on the step path.
#[derive(Debug)]
pub struct ClientCounts {
    max: usize,
    counts: Mutex<Counts>,
}

impl ClientCounts {
    /// Counts allowing `max` live sessions per client.
    pub fn new(max: usize) -> Self {
        ClientCounts {
            max,
            counts: Mutex::new(Counts::default()),
        }
    }

    /// Takes one of the client's slots, or refuses when it holds `max` sessions.
    pub fn acquire(&self, client: &ClientKey) -> Result<(), ServerError> {
        let mut c = self.counts.lock();
        let n = c.per_client.get(client).copied().unwrap_or(0);
        if n >= self.max {
            metrics::counter!(m::CLIENT_LIMIT_HITS).increment(1);
            return Err(ServerError::ClientCapacity(self.max));
        }
        c.per_client.insert(client.clone(), n + 1);
        c.shift(n, n + 1);
        c.publish();
        Ok(())
    }

    /// Gives a slot back (its session was closed or expired, or never inserted).
    pub fn release(&self, client: &ClientKey) {
        let mut c = self.counts.lock();
        let Some(n) = c.per_client.get(client).copied() else {
            return;
        };
        if n <= 1 {
            c.per_client.remove(client);
        } else {
            c.per_client.insert(client.clone(), n - 1);
        }
        c.shift(n, n - 1);
        c.publish();
    }

    /// Live sessions of one client.
    pub fn of(&self, client: &ClientKey) -> usize {
        self.counts
            .lock()
            .per_client
            .get(client)
            .copied()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_client_slots_are_counted_and_freed() {
        let counts = ClientCounts::new(2);
        let a = ClientKey::token(b"alpha");
        let b = ClientKey::Peer("10.0.0.7".parse().expect("ip"));
        counts.acquire(&a).expect("1st");
        counts.acquire(&a).expect("2nd");
        let err = counts.acquire(&a).expect_err("3rd is over the limit");
        assert_eq!(err.code(), tonic::Code::ResourceExhausted);
        assert!(err.to_string().contains("max_sessions_per_client"));
        counts.acquire(&b).expect("another client is not affected");
        assert_eq!(counts.counts.lock().by_count.keys().next_back(), Some(&2));
        counts.release(&a);
        assert_eq!(counts.of(&a), 1);
        counts.acquire(&a).expect("a freed slot is reusable");
        counts.release(&a);
        counts.release(&a);
        counts.release(&a);
        assert_eq!(counts.of(&a), 0, "releasing more than held is harmless");
        assert_eq!(counts.counts.lock().by_count.keys().next_back(), Some(&1));
        assert_ne!(ClientKey::token(b"alpha"), ClientKey::token(b"beta"));
        assert!(
            !format!("{a:?}").contains("alpha"),
            "no token in debug output"
        );
    }

    #[test]
    fn grpc_timeouts_parse_like_the_spec() {
        assert_eq!(parse_grpc_timeout("1n"), Some(Duration::from_nanos(1)));
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("3S"), Some(Duration::from_secs(3)));
        assert_eq!(parse_grpc_timeout("2H"), Some(Duration::from_secs(7200)));
        for bad in ["", "m", "123456789S", "5x", "-1S", "1.5S", "é"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_request_names_its_caller() {
        let mut r = tonic::Request::new(());
        r.metadata_mut()
            .insert("authorization", "Bearer alpha".parse().expect("ascii"));
        r.metadata_mut()
            .insert("grpc-timeout", "0n".parse().expect("ascii"));
        let c = Caller::of(&r, true);
        assert_eq!(c.client, ClientKey::token(b"alpha"));
        assert!(matches!(
            c.check_deadline(),
            Err(ServerError::DeadlineExceeded(_))
        ));
        let c = Caller::of(&r, false);
        assert_eq!(c.client, ClientKey::Unknown, "no auth and no peer address");
        assert!(Caller::default().check_deadline().is_ok());
    }
}
