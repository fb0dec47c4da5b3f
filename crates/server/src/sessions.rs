//! Live sessions: sharded so that steps on different sessions never contend on one lock.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use medgym_env::{Env, ResetArgs};
use medgym_proto::v1 as pb;
use parking_lot::Mutex;

use crate::ServerError;
use crate::clients::{ClientCounts, ClientKey};
use crate::replica;

const SHARDS: usize = 64;
/// Step answers remembered per session for idempotent retries.
const REPLAY_WINDOW: usize = 16;

/// One client's episode and what the server remembers about it.
#[derive(Debug)]
pub struct Session {
    /// The environment holding the episode.
    pub env: Env,
    /// Arguments of the last reset, for autoreset (next seed); without an episode id, which
    /// every episode draws anew.
    pub last_reset: ResetArgs,
    /// Last use, for the idle TTL.
    pub last_used: Instant,
    replies: VecDeque<(String, pb::StepResponse)>,
    /// Whose `max_sessions_per_client` share this session takes.
    client: ClientKey,
}

impl Session {
    /// A session around a freshly reset environment.
    pub fn new(env: Env, last_reset: ResetArgs) -> Self {
        Session {
            env,
            last_reset,
            last_used: Instant::now(),
            replies: VecDeque::new(),
            client: ClientKey::Unknown,
        }
    }

    /// The same session counted against `client`'s share.
    pub fn for_client(mut self, client: ClientKey) -> Self {
        self.client = client;
        self
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

/// A session's key: its id's random part, 32 lowercase hex digits, held in the table itself.
/// A lookup hashed the id string with SipHash and followed a pointer to compare it, which
/// was most of its cost.
type Key = [u8; 32];

type Shard = Mutex<HashMap<Key, Arc<Mutex<Session>>, BuildHasherDefault<KeyHasher>>>;

/// The table's hash of a [`Key`]: its 64-bit words folded by multiplication, then the
/// SplitMix64 finaliser so that every bit depends on every digit. The OS drew the digits, so
/// they need mixing, not SipHash's defence against chosen keys: only the server puts keys in
/// the table, so a client cannot crowd it whatever ids it sends.
#[derive(Debug, Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for word in bytes.chunks(8) {
            let mut w = [0; 8];
            w[..word.len()].copy_from_slice(word);
            self.0 = (self.0 ^ u64::from_le_bytes(w)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn finish(&self) -> u64 {
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// All live sessions of this replica.
#[derive(Debug)]
pub struct Sessions {
    /// This replica's id, the prefix of every session id it issues.
    replica: String,
    shards: Box<[Shard]>,
    count: AtomicUsize,
    max: usize,
    ttl: Duration,
    clients: ClientCounts,
}

impl Sessions {
    /// A store of at most `max` sessions, each closed after `ttl` idle, under a random
    /// replica id.
    pub fn new(max: usize, ttl: Duration) -> Self {
        Sessions {
            replica: replica::random_replica_id(),
            shards: (0..SHARDS)
                .map(|_| Mutex::new(HashMap::default()))
                .collect(),
            count: AtomicUsize::new(0),
            max,
            ttl,
            clients: ClientCounts::new(usize::MAX),
        }
    }

    /// The same store allowing at most `max` live sessions per client.
    pub fn with_client_limit(mut self, max: usize) -> Self {
        self.clients = ClientCounts::new(max);
        self
    }

    /// Live sessions of one client.
    pub fn of_client(&self, client: &ClientKey) -> usize {
        self.clients.of(client)
    }

    /// The same store issuing ids under `replica` (a valid replica id).
    pub fn with_replica(mut self, replica: String) -> Self {
        self.replica = replica;
        self
    }

    /// This replica's id.
    pub fn replica(&self) -> &str {
        &self.replica
    }

    /// The key of a session id of this replica; a session id of another replica (or none at
    /// all) is refused here, so every lookup names the owner when it is someone else.
    fn key(&self, id: &str) -> Result<Key, ServerError> {
        let ours = id
            .strip_prefix(self.replica.as_str())
            .and_then(|rest| rest.strip_prefix('.'));
        if let Some(key) = ours.and_then(|random| Key::try_from(random.as_bytes()).ok()) {
            return Ok(key);
        }
        match replica::split_session_id(id) {
            Some((owner, _)) if owner != self.replica => Err(ServerError::ForeignSession {
                owner: owner.to_string(),
                replica: self.replica.clone(),
            }),
            _ => Err(ServerError::UnknownSession(id.to_string())),
        }
    }

    /// The shard of a key, from its first digits: not from the table's hash, whose bits
    /// would then be alike for every key of a shard.
    fn shard(&self, key: &Key) -> &Shard {
        let h = key[..8].iter().fold(0usize, |h, &b| {
            h.wrapping_mul(31).wrapping_add(usize::from(b))
        });
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
        if let Err(e) = self.clients.acquire(&session.client) {
            self.count.fetch_sub(1, Ordering::AcqRel);
            return Err(e);
        }
        let id = replica::new_session_id(&self.replica);
        let key = self.key(&id)?;
        self.shard(&key)
            .lock()
            .insert(key, Arc::new(Mutex::new(session)));
        metrics::gauge!(crate::metrics::ACTIVE_SESSIONS).set(self.len() as f64);
        Ok(id)
    }

    /// The session with this id.
    pub fn get(&self, id: &str) -> Result<Arc<Mutex<Session>>, ServerError> {
        let key = self.key(id)?;
        self.shard(&key)
            .lock()
            .get(&key)
            .cloned()
            .ok_or_else(|| ServerError::UnknownSession(id.to_string()))
    }

    /// Removes a session.
    pub fn remove(&self, id: &str) -> Result<Arc<Mutex<Session>>, ServerError> {
        let key = self.key(id)?;
        let s = self
            .shard(&key)
            .lock()
            .remove(&key)
            .ok_or_else(|| ServerError::UnknownSession(id.to_string()))?;
        self.count.fetch_sub(1, Ordering::AcqRel);
        self.clients.release(&s.lock().client);
        metrics::gauge!(crate::metrics::ACTIVE_SESSIONS).set(self.len() as f64);
        Ok(s)
    }

    /// Closes sessions idle for longer than the TTL; returns how many.
    pub fn expire(&self, now: Instant) -> usize {
        let mut freed = Vec::new();
        for shard in self.shards.iter() {
            let mut map = shard.lock();
            // A session locked by a step in flight is in use, so it is not idle.
            map.retain(|_, s| {
                let Some(s) = s.try_lock() else { return true };
                let idle = now.saturating_duration_since(s.last_used) >= self.ttl;
                if idle {
                    freed.push(s.client.clone());
                }
                !idle
            });
        }
        for client in &freed {
            self.clients.release(client);
        }
        let expired = freed.len();
        if expired > 0 {
            self.count.fetch_sub(expired, Ordering::AcqRel);
            metrics::counter!(crate::metrics::EXPIRED_SESSIONS).increment(expired as u64);
            metrics::gauge!(crate::metrics::ACTIVE_SESSIONS).set(self.len() as f64);
        }
        expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgym_env::World;
    use std::hash::BuildHasher;

    fn session() -> Session {
        // One world for every session: loading it takes seconds in a debug build, which would
        // age the sessions of a TTL test made before it.
        static WORLD: std::sync::LazyLock<Arc<World>> =
            std::sync::LazyLock::new(|| Arc::new(World::embedded().expect("embedded knowledge")));
        Session::new(Env::new(Arc::clone(&WORLD)), ResetArgs::default())
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
    fn per_client_slots_are_freed_by_close_and_expiry() {
        let store = Sessions::new(10, Duration::from_secs(10)).with_client_limit(2);
        let alice = ClientKey::token(b"alice");
        let bob = ClientKey::Peer("192.0.2.1".parse().expect("ip"));
        let a1 = store
            .insert(session().for_client(alice.clone()))
            .expect("1");
        let _a2 = store
            .insert(session().for_client(alice.clone()))
            .expect("2");
        assert!(matches!(
            store.insert(session().for_client(alice.clone())),
            Err(ServerError::ClientCapacity(2))
        ));
        assert_eq!(store.len(), 2, "a refused reset holds no server slot");
        store
            .insert(session().for_client(bob.clone()))
            .expect("bob");
        store.remove(&a1).expect("close");
        store
            .insert(session().for_client(alice.clone()))
            .expect("close freed a slot");
        assert_eq!(store.expire(Instant::now() + Duration::from_secs(11)), 3);
        assert_eq!((store.of_client(&alice), store.of_client(&bob)), (0, 0));
        store
            .insert(session().for_client(alice.clone()))
            .expect("expiry freed");
    }

    #[test]
    fn ids_are_unique_and_name_the_replica() {
        let store = Sessions::new(2000, Duration::from_secs(10)).with_replica("r-1".into());
        let ids: std::collections::HashSet<_> = (0..1000)
            .map(|_| store.insert(session()).expect("room"))
            .collect();
        assert_eq!(ids.len(), 1000);
        assert!(
            ids.iter()
                .all(|i| i.len() == 4 + 32 && i.starts_with("r-1."))
        );
        // The shard comes from the random part, so sessions spread over all shards.
        let used = store.shards.iter().filter(|s| !s.lock().is_empty()).count();
        assert_eq!(used, SHARDS);
    }

    #[test]
    fn only_the_exact_id_finds_a_session() {
        let store = Sessions::new(10, Duration::from_secs(10)).with_replica("r-1".into());
        let id = store.insert(session()).expect("room");
        assert!(store.get(&id).is_ok());
        let random = &id["r-1.".len()..];
        for alias in [
            format!("r-1.{}", random.to_uppercase()),
            format!("r-1.+{}", &random[1..]),
            format!("r-1.{random}0"),
            format!("r-1.{}", &random[1..]),
            format!("r-1.{} ", &random[1..]),
            format!("r-1..{random}"),
            format!("r-1{random}"),
            format!("r-1.{}g", &random[..31]),
        ] {
            assert!(
                matches!(store.get(&alias), Err(ServerError::UnknownSession(_))),
                "{alias}"
            );
        }
    }

    #[test]
    fn a_shards_keys_spread_over_its_table() {
        // The shard and the table's hash are different functions of the key: were the shard
        // made of the hash's bits, every key of a shard would hash alike in those bits and
        // crowd into a sliver of its table.
        let store = Sessions::new(5000, Duration::from_secs(10));
        let mut low_bits = std::collections::HashSet::new();
        for _ in 0..5000 {
            let id = store.insert(session()).expect("room");
            let key = store.key(&id).expect("ours");
            if std::ptr::eq(store.shard(&key), &store.shards[0]) {
                let hash = BuildHasherDefault::<KeyHasher>::default().hash_one(key);
                low_bits.insert(hash % 64);
            }
        }
        // About 78 keys land in shard 0 and cover about 45 of 64 residues; with the shard
        // taken from these bits they would all have one.
        assert!(low_bits.len() > 16, "{}", low_bits.len());
    }

    #[test]
    fn another_replicas_session_names_both_replicas() {
        let store = Sessions::new(2, Duration::from_secs(10)).with_replica("here".into());
        let id = store.insert(session()).expect("room");
        let foreign = id.replacen("here.", "there.", 1);
        let e = store.get(&foreign).expect_err("foreign");
        assert_eq!(
            e.to_string(),
            "session belongs to replica there; this is replica here"
        );
        assert!(matches!(
            store.remove(&foreign),
            Err(ServerError::ForeignSession { .. })
        ));
        assert!(matches!(
            store.get("no-dot-at-all"),
            Err(ServerError::UnknownSession(_))
        ));
        assert!(store.get(&id).is_ok());
    }
}
