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
        fn every_tool_call_round_trips(action in arb_action(), prose in "[a-zA-Z .,]{0,30}") {
            let text = format!("{prose}\n{}\n", as_tool_call(&action));
            prop_assert_eq!(parse_text(&text), Ok(action));
        }
    }
}
