//! Personas: how a patient talks and what they are willing to say.
//!
//! A persona changes wording, verbosity or disclosure, never the facts: with noise `none` a
//! patient of any persona affirms only findings the case has and denies only findings it lacks.
//! What each one does is listed in docs/personas.md.

/// The patient's temperament or bias.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Persona {
    /// Plain, cooperative answers.
    Neutral,
    /// Worried: amplifies in words, asks whether it is serious, longer answers.
    Anxious,
    /// Minimises: short answers, plays severity down in words, volunteers no detail.
    Stoic,
    /// Long answers with every detail and an aside about something else.
    Talkative,
    /// Does not know medical words: a question in jargon is not understood.
    LowHealthLiteracy,
    /// Suspicious: the first question about a symptom they have is met with "why do you ask?".
    Distrustful,
    /// AgentClinic recency bias: someone they know was just diagnosed with a disease.
    RecencyBias,
    /// AgentClinic frequency bias: keeps hearing about a disease and thinks it is that.
    FrequencyBias,
    /// AgentClinic false-consensus bias: everyone they know with these symptoms had a disease.
    FalseConsensusBias,
    /// AgentClinic self-diagnosis bias: has looked it up and is sure of a diagnosis.
    SelfDiagnosisBias,
    /// AgentClinic cultural bias: reluctant to talk about intimate topics at first.
    CulturalBias,
    /// AgentClinic education bias: doubts the doctor, answers in clinical words.
    EducationBias,
    /// AgentClinic socioeconomic bias: worried about cost and time off work, plays it down.
    SocioeconomicBias,
}

impl Persona {
    /// Every persona, in the order `PERSONAS` lists them.
    pub const ALL: [Persona; 13] = [
        Persona::Neutral,
        Persona::Anxious,
        Persona::Stoic,
        Persona::Talkative,
        Persona::LowHealthLiteracy,
        Persona::Distrustful,
        Persona::RecencyBias,
        Persona::FrequencyBias,
        Persona::FalseConsensusBias,
        Persona::SelfDiagnosisBias,
        Persona::CulturalBias,
        Persona::EducationBias,
        Persona::SocioeconomicBias,
    ];

    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            Persona::Neutral => "neutral",
            Persona::Anxious => "anxious",
            Persona::Stoic => "stoic",
            Persona::Talkative => "talkative",
            Persona::LowHealthLiteracy => "low_health_literacy",
            Persona::Distrustful => "distrustful",
            Persona::RecencyBias => "recency_bias",
            Persona::FrequencyBias => "frequency_bias",
            Persona::FalseConsensusBias => "false_consensus_bias",
            Persona::SelfDiagnosisBias => "self_diagnosis_bias",
            Persona::CulturalBias => "cultural_bias",
            Persona::EducationBias => "education_bias",
            Persona::SocioeconomicBias => "socioeconomic_bias",
        }
    }

    /// The persona of a wire name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Whether the persona names a disease of its own (a wrong one).
    pub fn names_a_disease(self) -> bool {
        matches!(
            self,
            Persona::RecencyBias
                | Persona::FrequencyBias
                | Persona::FalseConsensusBias
                | Persona::SelfDiagnosisBias
        )
    }

    /// A sentence added to the presenting complaint, if the persona shows from the start.
    pub fn opening(self, variant: u64) -> Option<&'static str> {
        let options: &[&str] = match self {
            Persona::Anxious => &[
                "I've been so worried about this, I couldn't sleep last night.",
                "I'm really scared it's something serious.",
            ],
            Persona::Stoic => &["I wouldn't have come, but my family insisted."],
            Persona::Talkative => &[
                "Where do I even start, doctor, it's been quite a month.",
                "I'll tell you everything, I've written some of it down.",
            ],
            Persona::Distrustful => &["I've not had good experiences with doctors."],
            Persona::EducationBias => &["I hope I'll be seen by someone senior today."],
            Persona::SocioeconomicBias => &["I can't really afford to be off work for long."],
            Persona::CulturalBias => &["I'd prefer to keep this as short as we can."],
            _ => &[],
        };
        (!options.is_empty()).then(|| pick(variant, options))
    }

    /// What the patient says to a question they did not understand.
    pub fn not_understood(self, variant: u64) -> &'static str {
        pick(
            variant,
            match self {
                Persona::Anxious => &[
                    "Sorry, I'm all over the place today. What do you mean?",
                    "I don't follow, doctor. Is that something bad?",
                ],
                Persona::Stoic => &["Not sure what you mean.", "Come again?"],
                Persona::Distrustful => &[
                    "I don't see what you're getting at.",
                    "What kind of question is that?",
                ],
                Persona::LowHealthLiteracy => &[
                    "Sorry, I don't understand. Can you say it in plain words?",
                    "I'm not sure what that means.",
                ],
                Persona::EducationBias => {
                    &["That question doesn't make much sense. Could you be more precise?"]
                }
                _ => &[
                    "I'm not sure what you mean.",
                    "Sorry, I don't follow. Could you ask that another way?",
                    "I don't understand the question.",
                ],
            },
        )
    }

    /// Opening words of an affirmative answer.
    pub fn yes(self, variant: u64) -> &'static str {
        pick(
            variant,
            match self {
                Persona::Anxious => &["Yes, and it's really worrying me. I've had", "Yes! I have"],
                Persona::Stoic => &["A bit of", "Some"],
                Persona::Distrustful => &["Yes, if you must know, I've had", "I have"],
                Persona::LowHealthLiteracy => &["Yes, I've got", "Yeah, I have"],
                Persona::Talkative => &[
                    "Oh yes, now that you mention it, I've had",
                    "Yes, I've definitely had",
                ],
                _ => &["Yes, I've had", "Yes, there's", "I do have"],
            },
        )
    }

    /// A denial of a finding the case lacks; `pertinent` when the case lists it as a
    /// pertinent negative (said more firmly).
    pub fn no(self, lay: &str, pertinent: bool, variant: u64) -> String {
        match self {
            Persona::Stoic | Persona::Distrustful => format!("No {lay}."),
            Persona::Anxious => format!(
                "{} {lay}. Should I have?",
                pick(variant, &["No, I don't think I've had any", "No... no"])
            ),
            Persona::LowHealthLiteracy => format!("No, nothing like {lay}."),
            _ if pertinent => format!(
                "{} no {lay}.",
                pick(variant, &["No,", "No, definitely", "Not at all,"])
            ),
            _ => format!(
                "{} {lay}.",
                pick(
                    variant,
                    &[
                        "No, I haven't had any",
                        "No, no",
                        "Not that I've noticed, no"
                    ]
                )
            ),
        }
    }

    /// How the patient puts a severity in words.
    pub fn severity(self, severity: medgym_clinic::Severity, lay: &str) -> String {
        use medgym_clinic::Severity::*;
        match (self, severity) {
            (Persona::Stoic | Persona::SocioeconomicBias, Severe) => {
                format!("The {lay} is bad, I suppose. Maybe 7 out of 10, but I can manage.")
            }
            (Persona::Stoic | Persona::SocioeconomicBias, Moderate) => {
                format!("The {lay}? It's not that bad, maybe 4 out of 10.")
            }
            (Persona::Stoic | Persona::SocioeconomicBias, Mild) => {
                format!("The {lay} is nothing really, 1 or 2 out of 10.")
            }
            (Persona::Anxious, Severe) => {
                format!("The {lay} is unbearable, 10 out of 10, I've never felt anything like it.")
            }
            (Persona::Anxious, Moderate) => {
                format!("The {lay} is awful, at least 7 out of 10.")
            }
            (Persona::Anxious, Mild) => {
                format!("The {lay} is maybe 4 out of 10, but it frightens me.")
            }
            (Persona::LowHealthLiteracy, Severe) => format!("The {lay} is really bad."),
            (Persona::LowHealthLiteracy, Moderate) => format!("The {lay} is pretty bad."),
            (Persona::LowHealthLiteracy, Mild) => format!("The {lay} is not too bad."),
            (_, Severe) => format!("The {lay} is really bad, maybe 8 out of 10."),
            (_, Moderate) => format!("The {lay} is moderate, about 5 out of 10."),
            (_, Mild) => format!("The {lay} is mild, 2 or 3 out of 10."),
        }
    }

    /// Whether an affirmative answer carries the case's detail sentence unasked.
    pub fn volunteers_detail(self) -> bool {
        !matches!(self, Persona::Stoic | Persona::Distrustful)
    }

    /// Whether an affirmative answer mentions onset and site unasked.
    pub fn volunteers_context(self) -> bool {
        !matches!(self, Persona::Stoic)
    }

    /// A sentence appended to an answer, if the persona adds one.
    pub fn aside(self, variant: u64) -> Option<&'static str> {
        let options: &[&str] = match self {
            Persona::Anxious => &[
                "Is that something serious?",
                "Do you think it's dangerous?",
                "I keep reading awful things online.",
            ],
            Persona::Talkative => &[
                "My sister had something similar last year, though hers cleared up by itself.",
                "I only noticed because my neighbour asked me about it over the fence.",
                "It reminds me of when I was on holiday in Spain, I was poorly the whole week.",
            ],
            Persona::EducationBias => &[
                "Are you fully qualified? I'd like someone senior to look at this.",
                "I read that doctors your age often miss things.",
            ],
            Persona::SocioeconomicBias => &[
                "I hope this won't need lots of expensive tests.",
                "I really can't take much time off work for this.",
            ],
            _ => &[],
        };
        (!options.is_empty()).then(|| pick(variant, options))
    }

    /// The persona's words around a disease it has in mind (`{}` is the disease).
    pub fn bias_remark(self, variant: u64) -> Option<&'static str> {
        let options: &[&str] = match self {
            Persona::RecencyBias => &[
                "A friend of mine was just diagnosed with {} — could it be that?",
                "My neighbour has just been told she has {}, and it started just like this.",
            ],
            Persona::FrequencyBias => &[
                "I keep hearing about {} everywhere; I'm sure that's what this is.",
                "There's been so much about {} in the news lately, it must be that.",
            ],
            Persona::FalseConsensusBias => &[
                "Everyone I know who had this turned out to have {}.",
                "Most people with these symptoms have {}, don't they?",
            ],
            Persona::SelfDiagnosisBias => &[
                "I've looked this up online and I'm pretty sure it's {}.",
                "I already know it's {}, I just need you to confirm it.",
            ],
            _ => &[],
        };
        (!options.is_empty()).then(|| pick(variant, options))
    }

    /// What the patient says when they hold an answer back.
    pub fn withhold(self, variant: u64) -> &'static str {
        pick(
            variant,
            match self {
                Persona::Distrustful => &[
                    "Why do you need to know that?",
                    "I'd rather know why you're asking first.",
                ],
                Persona::CulturalBias => &[
                    "That's not something I'm comfortable talking about.",
                    "I'd rather not discuss that, if it's all the same.",
                ],
                _ => &["I'd rather not say."],
            },
        )
    }

    /// A remark during an examination, if the persona makes one.
    pub fn exam_remark(self, variant: u64) -> Option<&'static str> {
        let options: &[&str] = match self {
            Persona::SocioeconomicBias => &[
                "(The patient asks how much this test will cost.)",
                "(The patient asks whether this test is really necessary.)",
            ],
            Persona::Anxious => &["(The patient asks anxiously what the result means.)"],
            Persona::Distrustful => &["(The patient asks why this test is needed.)"],
            _ => &[],
        };
        (!options.is_empty()).then(|| pick(variant, options))
    }
}

/// One of several phrasings, chosen by a variant number.
pub(crate) fn pick<'a>(variant: u64, options: &[&'a str]) -> &'a str {
    options[(variant % options.len() as u64) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Persona::ALL {
            assert_eq!(Persona::from_name(p.name()), Some(p));
        }
        assert_eq!(Persona::from_name("grumpy"), None);
    }
}
