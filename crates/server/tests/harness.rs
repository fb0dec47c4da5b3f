//! The fuzz harness on stable Rust: random bytes and mutated valid encodings of Reset and Step
//! requests through the real service code. Case counts come from PROPTEST_CASES (256 by
//! default; `tools/nightly.sh` runs a million). `fuzz/` runs the same harness under libFuzzer.

use std::sync::{Arc, Mutex, OnceLock};

use medgym_env::World;
use medgym_proto::v1 as pb;
use medgym_server::harness::{Harness, Outcome};
use proptest::prelude::*;
use prost::Message;
use tonic::Code;

fn harness() -> &'static Mutex<Harness> {
    static H: OnceLock<Mutex<Harness>> = OnceLock::new();
    H.get_or_init(|| {
        let world = Arc::new(World::embedded().expect("embedded knowledge"));
        Mutex::new(Harness::new(world))
    })
}

fn run(data: &[u8]) -> Outcome {
    // A failed case poisons the lock; the harness itself is still usable for shrinking.
    let mut h = harness()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    h.run(data)
}

/// Codes a request may be refused with. INTERNAL would mean the server blamed itself for a
/// client's input; UNKNOWN would mean an error escaped the mapping in error.rs.
fn proper(outcome: Outcome) -> bool {
    match outcome {
        Outcome::Undecodable | Outcome::Answered => true,
        Outcome::Refused(code) => matches!(
            code,
            Code::InvalidArgument
                | Code::NotFound
                | Code::FailedPrecondition
                | Code::ResourceExhausted
        ),
    }
}

/// Text that is sometimes sensible, sometimes hostile: tool calls, tags, control characters,
/// and now and then more than the 16 KiB text limit.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "\\PC{0,40}",
        2 => prop::sample::select(vec![
            "Do you have a fever?",
            "<ask>any chest pain?</ask>",
            "<exam>cbc</exam>",
            "<diagnose>pneumonia</diagnose>",
            r#"{"name": "order_exam", "arguments": {"exam_id": "vital_signs"}}"#,
            r#"{"name": "search_knowledge", "arguments": {"query": "fever", "top_k": 4000000000}}"#,
            "cbc",
            "J18.9",
            "",
        ])
        .prop_map(String::from),
        1 => any::<String>(),
        1 => (0usize..40_000).prop_map(|n| "x".repeat(n)),
    ]
}

fn action() -> impl Strategy<Value = Option<pb::Action>> {
    use pb::action::Kind;
    let kind = prop_oneof![
        (text(), text()).prop_map(|(question, finding_id)| Kind::Ask(pb::Ask {
            question,
            finding_id
        })),
        (text(), text()).prop_map(|(exam_id, site)| Kind::Exam(pb::Exam { exam_id, site })),
        (text(), any::<u32>()).prop_map(|(query, top_k)| Kind::Search(pb::Search { query, top_k })),
        (
            text(),
            prop::collection::vec((text(), text(), any::<f64>()), 0..40)
        )
            .prop_map(|(primary, d)| Kind::Diagnose(pb::Diagnose {
                primary,
                differential: d
                    .into_iter()
                    .map(|(name, code, probability)| pb::RankedDiagnosis {
                        name,
                        code,
                        probability
                    })
                    .collect(),
            })),
        text().prop_map(Kind::Text),
    ];
    prop::option::weighted(
        0.95,
        prop::option::of(kind).prop_map(|kind| pb::Action { kind }),
    )
}

fn step() -> impl Strategy<Value = pb::StepRequest> {
    (text(), action(), "[a-z0-9]{0,4}").prop_map(|(session_id, action, request_id)| {
        pb::StepRequest {
            session_id,
            action,
            request_id,
        }
    })
}

fn options() -> impl Strategy<Value = Option<pb::EpisodeOptions>> {
    let noise = (
        text(),
        prop::collection::btree_map(text(), any::<f64>(), 0..4),
    )
        .prop_map(|(preset, probabilities)| pb::NoiseConfig {
            preset,
            probabilities,
        });
    let reward = prop::collection::vec(any::<f64>(), 8).prop_map(|w| pb::RewardWeights {
        diagnosis: w[0],
        differential: w[1],
        exam_quality: w[2],
        cost: w[3],
        turn: w[4],
        repeat: w[5],
        invalid: w[6],
        explicit: w[7] > 0.0,
        information: w[7],
    });
    prop::option::of(
        (
            prop::option::of(noise),
            text(),
            prop::option::of(reward),
            any::<u32>(),
            any::<f64>(),
        )
            .prop_map(|(noise, persona, reward, max_turns, budget_usd)| {
                pb::EpisodeOptions {
                    noise,
                    persona,
                    reward,
                    max_turns,
                    budget_usd,
                }
            }),
    )
}

fn reset() -> impl Strategy<Value = pb::ResetRequest> {
    (
        text(),
        text(),
        text(),
        prop::option::of(any::<u64>()),
        options(),
    )
        .prop_map(|(task_id, domain, split, seed, options)| pb::ResetRequest {
            task_id,
            domain,
            split,
            seed,
            options,
        })
}

/// A valid encoding with its selector byte (0: reset, 1: step on the live session, 2: step as
/// given), before any mutation.
fn encoded() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        reset().prop_map(|r| [vec![0], r.encode_to_vec()].concat()),
        (step(), any::<bool>()).prop_map(|(s, auto)| {
            [vec![if auto { 0x82 } else { 1 }], s.encode_to_vec()].concat()
        }),
        step().prop_map(|s| [vec![2], s.encode_to_vec()].concat()),
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    Truncate(prop::sample::Index),
    Flip(prop::sample::Index, u8),
    Insert(prop::sample::Index, Vec<u8>),
}

fn mutate(mut bytes: Vec<u8>, m: &Mutation) -> Vec<u8> {
    if bytes.len() < 2 {
        return bytes;
    }
    // Position 0 is the selector; mutate the message after it.
    match m {
        Mutation::Truncate(i) => bytes.truncate(1 + i.index(bytes.len() - 1)),
        Mutation::Flip(i, mask) => {
            let at = 1 + i.index(bytes.len() - 1);
            bytes[at] ^= mask | 1;
        }
        Mutation::Insert(i, extra) => {
            let at = 1 + i.index(bytes.len() - 1);
            bytes.splice(at..at, extra.iter().copied());
        }
    }
    bytes
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<prop::sample::Index>().prop_map(Mutation::Truncate),
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, m)| Mutation::Flip(i, m)),
        (
            any::<prop::sample::Index>(),
            prop::collection::vec(any::<u8>(), 1..8)
        )
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
    ]
}

proptest! {
    #[test]
    fn random_bytes_get_a_proper_answer(data in prop::collection::vec(any::<u8>(), 0..512)) {
        let outcome = run(&data);
        prop_assert!(proper(outcome), "{outcome:?}");
    }

    #[test]
    fn valid_requests_with_random_fields_are_handled(data in encoded()) {
        let outcome = run(&data);
        prop_assert!(outcome != Outcome::Undecodable, "a valid encoding must decode");
        prop_assert!(proper(outcome), "{outcome:?}");
    }

    #[test]
    fn mutated_requests_get_a_proper_answer(
        data in encoded(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let data = mutations.iter().fold(data, mutate);
        let outcome = run(&data);
        prop_assert!(proper(outcome), "{outcome:?}");
    }
}
