//! Live sessions: sharded so that steps on different sessions never contend on one lock.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use medgym_env::{Env, ResetArgs};
use medgym_proto::v1 as pb;
use parking_lot::Mutex;

use crate::ServerError;

const SHARDS: usize = 64;
/// Step answers remembered per session for idempotent retries.
const REPLAY_WINDOW: usize = 16;

/// One client's episode and what the server remembers about it.
#[derive(Debug)]
pub struct Session {
    /// The environment holding the episode.
    pub env: Env,
    /// Arguments of the last reset, for autoreset (next seed).
    pub last_reset: ResetArgs,
    /// Last use, for the idle TTL.
    pub last_used: Instant,
    replies: VecDeque<(String, pb::StepResponse)>,
}

impl Session {
    /// A session around a freshly reset environment.
    pub fn new(env: Env, last_reset: ResetArgs) -> Self {
        Session {
            env,
            last_reset,
            last_used: Instant::now(),
            replies: VecDeque::new(),
        }
    }

    /// The answer already given to this request id, if any.
    pub fn replay(&self, request_id: &str) -> Option<&pb::StepResponse> {
        if request_id.is_empty() {
            return None;
        }
        self.replies
            .iter()
            .find(|(id, _)| id == request_id)
            .map(|(_, r)| r)
    }

    /// Remembers an answer for retries of the same request id.
    pub fn remember(&mut self, request_id: &str, response: &pb::StepResponse) {
        if request_id.is_empty() {
            return;
        }
        if self.replies.len() == REPLAY_WINDOW {
            self.replies.pop_front();
        }
        self.replies
            .push_back((request_id.to_string(), response.clone()));
    }
}

type Shard = Mutex<HashMap<String, Arc<Mutex<Session>>>>;

/// All live sessions.
#[derive(Debug)]
pub struct Sessions {
    shards: Box<[Shard]>,
    count: AtomicUsize,
    max: usize,
    ttl: Duration,
}

impl Sessions {
    /// A store of at most `max` sessions, each closed after `ttl` idle.
    pub fn new(max: usize, ttl: Duration) -> Self {
        Sessions {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            count: AtomicUsize::new(0),
            max,
            ttl,
        }
    }

    fn shard(&self, id: &str) -> &Shard {
        // Ids are random hex, so their first bytes spread evenly.
        let h = id
            .bytes()
            .take(8)
            .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize));
        &self.shards[h % SHARDS]
    }

    /// Number of live sessions.
    pub fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Whether there are no sessions.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds a session under a new unguessable id.
    pub fn insert(&self, session: Session) -> Result<String, ServerError> {
        // Reserve a slot first so concurrent resets cannot overshoot the limit.
        if self
            .count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .is_err()
        {
            return Err(ServerError::Capacity(self.max));
        }
        let id = new_session_id();
        self.shard(&id)
            .lock()
            .insert(id.clone(), Arc::new(Mutex::new(session)));
        metrics::gauge!(crate::metrics::ACTIVE_SESSIONS).set(self.len() as f64);
        Ok(id)
    }

    /// The session with this id.
    pub fn get(&self, id: &str) -> Result<Arc<Mutex<Session>>, ServerError> {
        self.shard(id)
            .lock()
            .get(id)
            .cloned()
            .ok_or_else(|| ServerError::UnknownSession(id.to_string()))
    }

    /// Removes a session.
    pub fn remove(&self, id: &str) -> Result<Arc<Mutex<Session>>, ServerError> {
        let s = self
            .shard(id)
            .lock()
            .remove(id)
            .ok_or_else(|| ServerError::UnknownSession(id.to_string()))?;
        self.count.fetch_sub(1, Ordering::AcqRel);
        metrics::gauge!(crate::metrics::ACTIVE_SESSIONS).set(self.len() as f64);
        Ok(s)
    }

    /// Closes sessions idle for longer than the TTL; returns how many.
    pub fn expire(&self, now: Instant) -> usize {
        let mut expired = 0;
        for shard in self.shards.iter() {
            let mut map = shard.lock();
            let before = map.len();
            // A session locked by a step in flight is in use, so it is not idle.
            map.retain(|_, s| {
                s.try_lock()
                    .is_none_or(|s| now.saturating_duration_since(s.last_used) < self.ttl)
            });
            expired += before - map.len();
        }
        if expired > 0 {
            self.count.fetch_sub(expired, Ordering::AcqRel);
            metrics::counter!(crate::metrics::EXPIRED_SESSIONS).increment(expired as u64);
            metrics::gauge!(crate::metrics::ACTIVE_SESSIONS).set(self.len() as f64);
        }
        expired
    }
}

/// 128 random bits from the OS, hex-encoded: unguessable, so one client cannot drive another's
/// session. (OS randomness is for ids only; episodes draw from their own seeded RNG.)
fn new_session_id() -> String {
    let mut bytes = [0u8; 16];
    // The OS generator failing is unrecoverable for an id that must be unguessable.
    getrandom::fill(&mut bytes).expect("OS random number generator unavailable");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgym_env::World;

    fn session() -> Session {
        let world = Arc::new(World::embedded().expect("embedded knowledge"));
        Session::new(Env::new(world), ResetArgs::default())
    }

    #[test]
    fn limit_and_expiry() {
        let store = Sessions::new(2, Duration::from_secs(10));
        let a = store.insert(session()).expect("first");
        let _b = store.insert(session()).expect("second");
        assert!(matches!(
            store.insert(session()),
            Err(ServerError::Capacity(2))
        ));
        store.remove(&a).expect("remove");
        assert!(store.get(&a).is_err());
        let _c = store.insert(session()).expect("room again");
        assert_eq!(store.expire(Instant::now()), 0);
        assert_eq!(store.expire(Instant::now() + Duration::from_secs(11)), 2);
        assert!(store.is_empty());
    }

    #[test]
    fn ids_are_unique_and_long() {
        let ids: std::collections::HashSet<_> = (0..1000).map(|_| new_session_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(ids.iter().all(|i| i.len() == 32));
    }
}
