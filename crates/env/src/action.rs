//! Agent actions: the typed form, the raw-text forms an LLM emits, and their tool schemas.
//!
//! Raw text is accepted as an OpenAI-style tool call (`{"name": ..., "arguments": ...}`, also
//! inside a ```json fence, inside `{"function": {...}}` or `{"tool_calls": [...]}`, or with
//! prose around it) or in tagged form (`<ask>...</ask>`, `<exam>cbc</exam>`,
//! `<search>...</search>`, `<diagnose>{...}</diagnose>`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Arguments of `ask_patient`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Ask {
    /// The question to the patient, in plain language.
    pub question: String,
    /// Optional exact finding id the question is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finding_id: Option<String>,
}

/// Arguments of `order_exam`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Exam {
    /// Exam id from the catalog, e.g. "cbc" or "chest_xray".
    pub exam_id: String,
    /// Optional body site, e.g. "chest".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
}

/// Arguments of `search_knowledge`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Search {
    /// What to look up.
    pub query: String,
    /// Number of passages wanted (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
}

/// One entry of a differential.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RankedDiagnosis {
    /// Disease name.
    #[serde(default)]
    pub name: String,
    /// ICD-10-CM code, if known.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub code: String,
    /// Probability in [0, 1].
    #[serde(default)]
    pub probability: f64,
}

/// Arguments of `diagnose`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Diagnose {
    /// The primary diagnosis, by name or ICD-10-CM code.
    pub primary: String,
    /// Ranked differential, most likely first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub differential: Vec<RankedDiagnosis>,
}

/// An agent action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Ask the patient.
    Ask(Ask),
    /// Order an exam.
    Exam(Exam),
    /// Search the knowledge base.
    Search(Search),
    /// Commit to a diagnosis (terminal).
    Diagnose(Diagnose),
    /// Raw model output, parsed into one of the above; kept verbatim in the trajectory.
    Text(String),
}

/// A tool the agent can call, for prompts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tool {
    /// Tool name.
    pub name: &'static str,
    /// What it does.
    pub description: &'static str,
    /// JSON Schema of its arguments.
    pub parameters: Value,
}

/// The agent's tools as OpenAI function definitions, with argument schemas generated from the
/// argument types above (so the schema and the parser cannot disagree).
pub fn tools() -> Vec<Tool> {
    fn schema<T: JsonSchema>() -> Value {
        let mut v = serde_json::to_value(schemars::schema_for!(T)).unwrap_or(Value::Null);
        if let Some(o) = v.as_object_mut() {
            o.remove("$schema");
            o.remove("title");
        }
        v
    }
    vec![
        Tool {
            name: "ask_patient",
            description: "Ask the patient a question in plain language.",
            parameters: schema::<Ask>(),
        },
        Tool {
            name: "order_exam",
            description: "Order an examination, laboratory test, imaging study or procedure from the catalog. Costs money and may cause discomfort.",
            parameters: schema::<Exam>(),
        },
        Tool {
            name: "search_knowledge",
            description: "Search the medical knowledge base. Costs a turn but no money.",
            parameters: schema::<Search>(),
        },
        Tool {
            name: "diagnose",
            description: "Commit to a final diagnosis with a ranked differential and probabilities. Ends the episode.",
            parameters: schema::<Diagnose>(),
        },
    ]
}

/// Why raw text could not be read as an action.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Neither a tool call nor a tag was found.
    #[error(
        "no action found. Reply with one tool call such as {{\"name\": \"ask_patient\", \"arguments\": {{\"question\": \"...\"}}}} (tools: ask_patient, order_exam, search_knowledge, diagnose) or one tag: <ask>question</ask>, <exam>exam_id</exam>, <search>query</search>, <diagnose>{{\"primary\": \"...\", \"differential\": [...]}}</diagnose>"
    )]
    NoAction,
    /// A tool name that does not exist.
    #[error(
        "unknown tool {0:?}; the tools are ask_patient, order_exam, search_knowledge, diagnose"
    )]
    UnknownTool(String),
    /// The tool's arguments do not fit its schema.
    #[error("bad arguments for {tool}: {reason}")]
    BadArguments {
        /// The tool.
        tool: String,
        /// What is wrong.
        reason: String,
    },
}

/// Reads raw agent text as an action.
pub fn parse_text(text: &str) -> Result<Action, ParseError> {
    let json = first_tool_call(text);
    let tag = first_tag(text);
    // Whichever comes first in the text wins, so prose quoting a later example does not.
    match (json, tag) {
        (Some((jp, call)), Some((tp, _))) if jp <= tp => call,
        (_, Some((_, action))) => action,
        (Some((_, call)), None) => call,
        (None, None) => Err(ParseError::NoAction),
    }
}

/// Whether raw agent text might read as a `search` action, answered without parsing it, for a
/// caller that must decide where to run a step (a search costs ~100× an ask) before running it.
///
/// Never false for text that [`parse_text`] reads as a search: a search comes only from a
/// `<search>` tag (in any ASCII case) or a tool call whose `name` is
/// the JSON string `"search"` or `"search_knowledge"`, which the text spells with a quote before
/// it unless a `\u` escape spells a letter of it. Prose that merely says "search" is not a
/// search; a tool call quoting `"search…` in an argument, or any `\u` escape, answers true
/// though it may not be one.
pub fn text_may_search(text: &str) -> bool {
    text.contains("\"search")
        || text.contains("\\u")
        || text.match_indices('<').any(|(i, _)| {
            text.as_bytes()[i..]
                .get(..b"<search>".len())
                .is_some_and(|w| w.eq_ignore_ascii_case(b"<search>"))
        })
}

impl Action {
    /// Whether this action might search the knowledge base (see [`text_may_search`]).
    pub fn may_search(&self) -> bool {
        match self {
            Action::Search(_) => true,
            Action::Text(t) => text_may_search(t),
            Action::Ask(_) | Action::Exam(_) | Action::Diagnose(_) => false,
        }
    }
}

type Found = Option<(usize, Result<Action, ParseError>)>;

fn first_tool_call(text: &str) -> Found {
    for (pos, _) in text.match_indices('{') {
        let mut stream = serde_json::Deserializer::from_str(&text[pos..]).into_iter::<Value>();
        if let Some(Ok(value)) = stream.next()
            && let Some(call) = tool_call(&value)
        {
            return Some((pos, call));
        }
    }
    None
}

/// Finds `name` and `arguments` in the shapes models emit.
fn tool_call(value: &Value) -> Option<Result<Action, ParseError>> {
    let obj = value.as_object()?;
    if let Some(calls) = obj.get("tool_calls").and_then(Value::as_array) {
        return calls.first().and_then(tool_call);
    }
    if let Some(f) = obj.get("function").filter(|f| f.is_object()) {
        return tool_call(f);
    }
    let name = obj.get("name")?.as_str()?;
    let args = match obj.get("arguments").or_else(|| obj.get("parameters")) {
        // OpenAI sends arguments as a JSON string.
        Some(Value::String(s)) => serde_json::from_str(s).unwrap_or(Value::String(s.clone())),
        Some(v) => v.clone(),
        None => Value::Object(Default::default()),
    };
    Some(action_from(name, args))
}

fn action_from(name: &str, args: Value) -> Result<Action, ParseError> {
    fn de<T: serde::de::DeserializeOwned>(tool: &str, args: Value) -> Result<T, ParseError> {
        serde_json::from_value(args).map_err(|e| ParseError::BadArguments {
            tool: tool.to_string(),
            reason: e.to_string(),
        })
    }
    match name {
        "ask_patient" | "ask" => de(name, args).map(Action::Ask),
        "order_exam" | "exam" => de(name, args).map(Action::Exam),
        "search_knowledge" | "search" => de(name, args).map(Action::Search),
        "diagnose" => de(name, args).map(Action::Diagnose),
        other => Err(ParseError::UnknownTool(other.to_string())),
    }
}

fn first_tag(text: &str) -> Found {
    let lower = text.to_ascii_lowercase();
    let mut best: Found = None;
    for tag in ["ask", "exam", "search", "diagnose"] {
        let open = format!("<{tag}>");
        let close = format!("</{tag}>");
        let Some(start) = lower.find(&open) else {
            continue;
        };
        if best.as_ref().is_some_and(|(p, _)| *p < start) {
            continue;
        }
        let body_start = start + open.len();
        let body_end = lower[body_start..]
            .find(&close)
            .map_or(text.len(), |e| body_start + e);
        let body = text[body_start..body_end].trim();
        best = Some((start, tag_action(tag, body)));
    }
    best
}

fn tag_action(tag: &str, body: &str) -> Result<Action, ParseError> {
    let bad = |reason: &str| ParseError::BadArguments {
        tool: tag.to_string(),
        reason: reason.to_string(),
    };
    if body.is_empty() {
        return Err(bad("the tag is empty"));
    }
    // A JSON body is the tool's arguments; a plain body is its main argument.
    if body.starts_with('{') {
        let args: Value = serde_json::from_str(body).map_err(|e| bad(&e.to_string()))?;
        let name = match tag {
            "ask" => "ask_patient",
            "exam" => "order_exam",
            "search" => "search_knowledge",
            _ => "diagnose",
        };
        return action_from(name, args);
    }
    Ok(match tag {
        "ask" => Action::Ask(Ask {
            question: body.to_string(),
            finding_id: None,
        }),
        "exam" => Action::Exam(Exam {
            exam_id: body.to_string(),
            site: None,
        }),
        "search" => Action::Search(Search {
            query: body.to_string(),
            top_k: None,
        }),
        _ => Action::Diagnose(Diagnose {
            primary: body.to_string(),
            differential: Vec::new(),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ask(q: &str) -> Action {
        Action::Ask(Ask {
            question: q.into(),
            finding_id: None,
        })
    }

    #[test]
    fn accepted_forms() {
        let table: &[(&str, Action)] = &[
            (
                r#"{"name": "ask_patient", "arguments": {"question": "Any fever?"}}"#,
                ask("Any fever?"),
            ),
            (
                r#"{"name": "ask_patient", "arguments": "{\"question\": \"Any fever?\"}"}"#,
                ask("Any fever?"),
            ),
            (
                "I will ask.\n```json\n{\"name\": \"ask_patient\", \"arguments\": {\"question\": \"Any fever?\"}}\n```",
                ask("Any fever?"),
            ),
            (
                r#"{"tool_calls": [{"type": "function", "function": {"name": "order_exam", "arguments": "{\"exam_id\": \"cbc\"}"}}]}"#,
                Action::Exam(Exam {
                    exam_id: "cbc".into(),
                    site: None,
                }),
            ),
            ("<ask>Any fever?</ask>", ask("Any fever?")),
            (
                "Let me think. <EXAM>chest_xray</EXAM>",
                Action::Exam(Exam {
                    exam_id: "chest_xray".into(),
                    site: None,
                }),
            ),
            (
                r#"<diagnose>{"primary": "Pneumonia", "differential": [{"name": "Pneumonia", "probability": 0.8}]}</diagnose>"#,
                Action::Diagnose(Diagnose {
                    primary: "Pneumonia".into(),
                    differential: vec![RankedDiagnosis {
                        name: "Pneumonia".into(),
                        code: String::new(),
                        probability: 0.8,
                    }],
                }),
            ),
            (
                "<diagnose>migraine</diagnose>",
                Action::Diagnose(Diagnose {
                    primary: "migraine".into(),
                    differential: vec![],
                }),
            ),
            (
                "<search>fever neck stiffness</search>",
                Action::Search(Search {
                    query: "fever neck stiffness".into(),
                    top_k: None,
                }),
            ),
        ];
        for (text, want) in table {
            assert_eq!(parse_text(text).as_ref(), Ok(want), "{text}");
        }
    }

    #[test]
    fn rejected_forms_explain_themselves() {
        assert_eq!(
            parse_text("I think it is the flu"),
            Err(ParseError::NoAction)
        );
        assert!(matches!(
            parse_text(r#"{"name": "prescribe", "arguments": {}}"#),
            Err(ParseError::UnknownTool(t)) if t == "prescribe"
        ));
        assert!(matches!(
            parse_text(r#"{"name": "order_exam", "arguments": {"site": "chest"}}"#),
            Err(ParseError::BadArguments { .. })
        ));
        assert!(matches!(
            parse_text("<ask></ask>"),
            Err(ParseError::BadArguments { .. })
        ));
        assert!(ParseError::NoAction.to_string().contains("<ask>"));
    }

    #[test]
    fn tool_schemas_name_their_required_arguments() {
        let tools = tools();
        assert_eq!(tools.len(), 4);
        let ask = &tools[0].parameters;
        assert_eq!(ask["required"], serde_json::json!(["question"]));
        assert!(ask["properties"]["finding_id"].is_object());
    }

    #[test]
    fn only_what_may_search_is_flagged() {
        for text in [
            "<search>fever neck stiffness</search>",
            "Let me look it up. <SEARCH>photophobia</Search>",
            r#"{"name": "search_knowledge", "arguments": {"query": "cough"}}"#,
            r#"{"name": "\u0073earch", "arguments": {"query": "cough"}}"#,
        ] {
            assert!(matches!(parse_text(text), Ok(Action::Search(_))), "{text}");
            assert!(text_may_search(text), "{text}");
        }
        // The cheap path: asks, exams and diagnoses in every form, and prose that only talks
        // about searching.
        for text in [
            "<ask>Any fever?</ask>",
            "I could search the literature, but first: <ask>Do you have a rash?</ask>",
            r#"{"name": "ask_patient", "arguments": {"question": "Any cough?"}}"#,
            r#"{"tool_calls": [{"function": {"name": "order_exam", "arguments": "{\"exam_id\": \"cbc\"}"}}]}"#,
            "<diagnose>migraine</diagnose>",
            "<searching>photophobia</searching> is not a tag",
        ] {
            assert!(!text_may_search(text), "{text}");
        }
        assert!(
            Action::Search(Search {
                query: "x".into(),
                top_k: None
            })
            .may_search()
        );
        assert!(!ask("<search>x</search>").may_search());
        assert!(Action::Text("<search>x</search>".into()).may_search());
    }

    /// A search tool call or tag in one of the forms models emit: the tool's name with any of
    /// its letters written as a `\u` escape, the tag in any case, prose around it.
    fn arb_search_text() -> impl Strategy<Value = String> {
        let name = prop_oneof![Just("search"), Just("search_knowledge")];
        let escapes = proptest::collection::vec(any::<bool>(), 16);
        let call = (name, escapes, "[a-z ]{1,20}", 0..4usize).prop_map(
            |(name, escapes, query, shape)| {
                let spelled: String = name
                    .chars()
                    .zip(escapes.iter().cycle())
                    .map(|(c, &e)| if e { format!("\\u{:04x}", c as u32) } else { c.to_string() })
                    .collect();
                let args = serde_json::json!({ "query": query }).to_string();
                match shape {
                    0 => format!(r#"{{"name": "{spelled}", "arguments": {args}}}"#),
                    1 => format!(r#"{{"name":"{spelled}","arguments":{}}}"#, serde_json::to_string(&args).unwrap_or_default()),
                    2 => format!(r#"{{"function": {{"name": "{spelled}", "parameters": {args}}}}}"#),
                    _ => format!(r#"{{"tool_calls": [{{"type": "function", "function": {{"name": "{spelled}", "arguments": {args}}}}}]}}"#),
                }
            },
        );
        let tag = (
            proptest::collection::vec(any::<bool>(), 6),
            "[a-z][a-z ]{0,19}",
        )
            .prop_map(|(upper, query)| {
                let tag: String = "search"
                    .chars()
                    .zip(upper)
                    .map(|(c, u)| if u { c.to_ascii_uppercase() } else { c })
                    .collect();
                format!("<{tag}>{query}</search>")
            });
        (
            prop_oneof![call, tag],
            "[a-zA-Z .,]{0,30}",
            "[a-zA-Z .,]{0,30}",
        )
            .prop_map(|(action, before, after)| format!("{before}{action}{after}"))
    }

    /// Text made of the pieces that tags and tool calls are made of, in any order: much of it
    /// is no action, some of it every kind of action, searches included (and spelled with
    /// escapes).
    fn arb_fragments() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("<search>"),
            Just("<SeArch>"),
            Just("</search>"),
            Just("<ask>"),
            Just("</ask>"),
            Just("{"),
            Just("}"),
            Just("\""),
            Just(r#"{"name": "#),
            Just(r#"{"name":"#),
            Just(r#"{"tool_calls": ["#),
            Just(r#"{"function": "#),
            Just("]}"),
            Just(r#""search""#),
            Just(r#""search_knowledge""#),
            Just(r#""\u0073earch""#),
            Just(r#""s\u0065arch_knowledge""#),
            Just(r#""ask_patient""#),
            Just(r#", "arguments": {"query": "fever"}}"#),
            Just(r#", "arguments": "{\"query\": \"fever\"}"}"#),
            Just(r#", "arguments": {"question": "fever?"}}"#),
            Just("search"),
            Just(" fever "),
        ];
        proptest::collection::vec(piece, 0..12).prop_map(|p| p.concat())
    }

    /// The fragments do make searches, so the property over them is not vacuous.
    #[test]
    fn fragments_make_searches() {
        use proptest::strategy::ValueTree;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let strategy = arb_fragments();
        let searches = (0..2000)
            .filter(|_| {
                let text = strategy.new_tree(&mut runner).expect("tree").current();
                matches!(parse_text(&text), Ok(Action::Search(_)))
            })
            .count();
        assert!(searches >= 100, "{searches} searches in 2000 texts");
    }

    fn arb_action() -> impl Strategy<Value = Action> {
        let s = "\\PC{1,40}";
        prop_oneof![
            (s, proptest::option::of("[a-z_:0-9]{1,12}")).prop_map(|(q, f)| Action::Ask(Ask {
                question: q,
                finding_id: f
            })),
            ("[a-z_]{1,20}", proptest::option::of("[a-z ]{1,10}"))
                .prop_map(|(e, site)| Action::Exam(Exam { exam_id: e, site })),
            (s, proptest::option::of(0u32..20))
                .prop_map(|(q, k)| Action::Search(Search { query: q, top_k: k })),
            (s, proptest::collection::vec((s, 0.0f64..1.0), 0..4)).prop_map(|(p, d)| {
                Action::Diagnose(Diagnose {
                    primary: p,
                    differential: d
                        .into_iter()
                        .map(|(name, probability)| RankedDiagnosis {
                            name,
                            code: String::new(),
                            probability,
                        })
                        .collect(),
                })
            }),
        ]
    }

    fn as_tool_call(action: &Action) -> String {
        let (name, args) = match action {
            Action::Ask(a) => ("ask_patient", serde_json::to_value(a)),
            Action::Exam(e) => ("order_exam", serde_json::to_value(e)),
            Action::Search(s) => ("search_knowledge", serde_json::to_value(s)),
            Action::Diagnose(d) => ("diagnose", serde_json::to_value(d)),
            Action::Text(_) => unreachable!("not generated"),
        };
        serde_json::json!({"name": name, "arguments": args.expect("serialisable")}).to_string()
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(s in "\\PC{0,200}") {
            let _ = parse_text(&s);
        }

        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_text(&String::from_utf8_lossy(&b));
        }

        #[test]
        fn every_search_text_may_search(text in arb_search_text()) {
            prop_assert!(matches!(parse_text(&text), Ok(Action::Search(_))), "{}", text);
            prop_assert!(text_may_search(&text), "{}", text);
        }

        #[test]
        fn text_read_as_a_search_may_search(
            text in prop_oneof![arb_fragments(), "\\PC{0,200}"],
        ) {
            if matches!(parse_text(&text), Ok(Action::Search(_))) {
                prop_assert!(text_may_search(&text), "{}", text);
            }
        }

        #[test]
        fn every_tool_call_round_trips(action in arb_action(), prose in "[a-zA-Z .,]{0,30}") {
            let text = format!("{prose}\n{}\n", as_tool_call(&action));
            prop_assert_eq!(parse_text(&text), Ok(action));
        }
    }
}
