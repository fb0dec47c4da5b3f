//! Replica names, and session ids that carry the name of the replica that owns them.
//!
//! A session lives in the memory of one server process. Behind a load balancer, or with
//! several addresses, a client must send every call of a session to that process, so the id
//! says which one: `{replica_id}.{32 lowercase hex}`. The replica id is a DNS label so that a
//! Kubernetes pod name can be used as is, and contains no `.`, so the first `.` of a session id
//! separates the two parts.

use crate::ServerError;

/// Longest replica id (the length limit of a DNS label).
pub const MAX_REPLICA_ID: usize = 63;

/// Whether `name` is a valid replica id: 1 to 63 of `a-z`, `0-9`, `-`.
pub fn is_valid_replica_id(name: &str) -> bool {
    (1..=MAX_REPLICA_ID).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Checks a configured replica id.
pub fn validate_replica_id(name: &str) -> Result<(), ServerError> {
    if is_valid_replica_id(name) {
        Ok(())
    } else {
        Err(ServerError::Config(format!(
            "replica_id {name:?} is not a DNS label: use 1 to {MAX_REPLICA_ID} characters of a-z, 0-9 and -"
        )))
    }
}

/// A fresh replica id: 8 lowercase hex characters from the OS generator. Drawn per process, so
/// a restarted server is a new replica and its predecessor's session ids cannot match it.
pub fn random_replica_id() -> String {
    hex(&random_bytes::<4>())
}

/// A new unguessable session id owned by `replica`: 128 random bits after the replica id.
pub fn new_session_id(replica: &str) -> String {
    format!("{replica}.{}", hex(&random_bytes::<16>()))
}

/// The replica part and the random part of a session id, if it has the form
/// `{replica}.{random}` with a valid replica id.
pub fn split_session_id(id: &str) -> Option<(&str, &str)> {
    id.split_once('.')
        .filter(|(replica, _)| is_valid_replica_id(replica))
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The OS generator failing is unrecoverable for an id that must be unguessable.
    getrandom::fill(&mut bytes).expect("OS random number generator unavailable");
    bytes
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replica_ids_are_dns_labels() {
        for good in ["a", "medgym-0", "0123abcd", &"x".repeat(63)] {
            assert!(is_valid_replica_id(good), "{good:?}");
        }
        for bad in ["", "Medgym", "a.b", "a_b", "é", "a b", &"x".repeat(64)] {
            assert!(!is_valid_replica_id(bad), "{bad:?}");
            assert!(validate_replica_id(bad).is_err());
        }
    }

    #[test]
    fn random_replica_ids_are_eight_hex() {
        let ids: std::collections::HashSet<_> = (0..100).map(|_| random_replica_id()).collect();
        assert!(
            ids.len() > 95,
            "collisions in 32 random bits: {}",
            ids.len()
        );
        for id in &ids {
            assert_eq!(id.len(), 8);
            assert!(is_valid_replica_id(id));
            assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        }
    }

    #[test]
    fn session_ids_name_their_replica() {
        let id = new_session_id("pod-7");
        let (replica, random) = split_session_id(&id).expect("well formed");
        assert_eq!(replica, "pod-7");
        assert_eq!(random.len(), 32);
        assert!(
            random
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        );
        assert_eq!(split_session_id("0123456789abcdef0123456789abcdef"), None);
        assert_eq!(split_session_id("Bad.0123"), None);
    }
}
