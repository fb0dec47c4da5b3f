//! Property tests of the TOML config parser (`medgym serve --config`). Case counts come from
//! PROPTEST_CASES (256 by default; `tools/nightly.sh` runs a million).

use medgym_env::{EpisodeOptions, NOISE_PRESETS, NOISE_TYPES, PERSONAS};
use medgym_server::Config;
use proptest::prelude::*;

const DOCUMENTED: &str = include_str!("../../../medgym.toml");

fn weight() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        0.0f64..10.0,
        -10.0f64..0.0,
        any::<f64>().prop_filter("finite", |w| w.is_finite())
    ]
}

fn options() -> impl Strategy<Value = EpisodeOptions> {
    (
        prop::sample::select(NOISE_PRESETS.to_vec()),
        prop::collection::btree_map(
            prop::sample::select(NOISE_TYPES.to_vec()),
            0.0f64..=1.0,
            0..4,
        ),
        prop::sample::select(PERSONAS.to_vec()),
        prop::collection::vec(weight(), 8),
        1u32..1000,
        prop_oneof![0.01f64..1e6, Just(f64::MAX)],
    )
        .prop_map(|(preset, probabilities, persona, w, max_turns, budget)| {
            let mut o = EpisodeOptions::default();
            o.noise.preset = preset.to_string();
            o.noise.probabilities = probabilities
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            o.persona = persona.to_string();
            o.reward.diagnosis = w[0];
            o.reward.differential = w[1];
            o.reward.exam_quality = w[2];
            o.reward.cost = w[3];
            o.reward.turn = w[4];
            o.reward.repeat = w[5];
            o.reward.invalid = w[6];
            o.reward.information = w[7];
            o.max_turns = max_turns;
            o.budget_usd = budget;
            o
        })
}

fn config() -> impl Strategy<Value = Config> {
    (
        (any::<u32>(), any::<u32>(), any::<u32>()),
        (any::<u32>(), any::<u32>(), any::<u32>()),
        options(),
        proptest::option::of("[a-z0-9/_.-]{1,30}"),
        proptest::option::of("[a-z0-9-]{1,63}"),
    )
        .prop_map(
            |((a, b, c), (d, e, f), default_options, dir, replica)| Config {
                max_sessions: a as usize,
                max_sessions_per_client: b as usize,
                session_ttl_seconds: u64::from(c),
                max_text_bytes: d as usize,
                max_message_bytes: e as usize,
                trajectory_rotate_bytes: u64::from(f),
                default_options,
                trajectory_dir: dir.map(Into::into),
                replica_id: replica,
                ..Config::default()
            },
        )
}

proptest! {
    #[test]
    fn any_text_is_parsed_or_refused_with_a_reason(s in "\\PC{0,200}") {
        if let Err(e) = Config::from_toml(&s) {
            prop_assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn toml_like_text_is_parsed_or_refused(
        lines in prop::collection::vec(
            (
                prop::sample::select(vec![
                    "max_sessions", "max_sessions_per_client", "session_ttl_seconds",
                    "max_text_bytes", "max_message_bytes", "trajectory_dir", "replica_id",
                    "[default_options]", "persona", "max_turns", "budget_usd",
                    "[default_options.noise]", "preset", "probabilities",
                    "[default_options.reward]", "cost", "unknown_key",
                ]),
                prop::sample::select(vec![
                    "= 1", "= -1", "= 0", "= 1e400", "= \"x\"", "= \"hard\"", "= nan",
                    "= inf", "= {}", "= { fever = 2.0 }", "= [1]", "", "= 18446744073709551616",
                ]),
            ),
            0..12,
        )
    ) {
        let text: String = lines.iter().map(|(k, v)| format!("{k} {v}\n")).collect();
        match Config::from_toml(&text) {
            Ok(c) => prop_assert!(c.default_options.validate().is_ok()),
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    #[test]
    fn every_valid_config_round_trips(c in config()) {
        let text = toml::to_string(&c).expect("serialisable");
        let back = Config::from_toml(&text);
        prop_assert_eq!(back.as_ref().ok(), Some(&c), "{}\n{:?}", text, back);
    }

    #[test]
    fn dropping_lines_of_the_documented_file_gives_the_defaults_or_an_error(
        keep in prop::collection::vec(any::<bool>(), DOCUMENTED.lines().count())
    ) {
        // Every key in medgym.toml holds its default, so leaving keys out changes nothing;
        // leaving a [table] header out moves its keys elsewhere, which must be refused.
        let text: String = DOCUMENTED
            .lines()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .map(|(l, _)| format!("{l}\n"))
            .collect();
        if let Ok(mut c) = Config::from_toml(&text) {
            // A [default_options.noise] table without `preset` gets NoiseConfig's own default,
            // "", which means "none" wherever presets are read.
            if c.default_options.noise.preset.is_empty() {
                c.default_options.noise.preset = "none".into();
            }
            prop_assert_eq!(c, Config::default(), "{}", text);
        }
    }
}
