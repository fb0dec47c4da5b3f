//! Property tests of diagnosis-name resolution, the parser an agent's diagnosis goes through.
//! Case counts come from PROPTEST_CASES (256 by default; `tools/nightly.sh` runs a million).

use medgym_clinic::{Disease, Knowledge, icd};
use proptest::prelude::*;

fn knowledge() -> &'static Knowledge {
    static K: std::sync::OnceLock<Knowledge> = std::sync::OnceLock::new();
    K.get_or_init(|| Knowledge::embedded().expect("embedded knowledge"))
}

/// Every string a disease may be named by: name, id, synonyms, code and cross-references.
fn names(d: &Disease) -> Vec<&str> {
    std::iter::once(d.name.as_str())
        .chain(std::iter::once(d.id.as_str()))
        .chain(d.synonyms.iter().map(String::as_str))
        .chain(d.icd10.as_deref())
        .chain(d.xrefs.iter().map(String::as_str))
        .collect()
}

/// How an agent may dress a name without changing it: case, separators, surrounding blanks,
/// an article, closing punctuation.
#[derive(Debug, Clone)]
struct Dress {
    upper: bool,
    separator: &'static str,
    before: &'static str,
    after: &'static str,
}

fn dress() -> impl Strategy<Value = Dress> {
    (
        any::<bool>(),
        prop::sample::select(vec![" ", "  ", "-", "_", " / ", "\t"]),
        prop::sample::select(vec!["", " ", "the ", "The ", "\n", "\"", "**"]),
        prop::sample::select(vec!["", ".", "?", " ", "\"", "!", "**", " ."]),
    )
        .prop_map(|(upper, separator, before, after)| Dress {
            upper,
            separator,
            before,
            after,
        })
}

fn dressed(name: &str, d: &Dress) -> String {
    let words: Vec<&str> = name.split(' ').collect();
    let body = words.join(d.separator);
    let body = if d.upper {
        body.to_ascii_uppercase()
    } else {
        body
    };
    format!("{}{body}{}", d.before, d.after)
}

proptest! {
    #[test]
    fn any_text_resolves_consistently(s in "\\PC{0,80}") {
        let r = knowledge().resolve_diagnosis(&s);
        match r.disease {
            // A disease brings its own code.
            Some(d) => prop_assert_eq!(r.code, d.icd10.clone()),
            // Otherwise a code is kept only when the answer has the shape of one.
            None => {
                if let Some(code) = &r.code {
                    prop_assert!(icd::is_code(code), "{code:?}");
                    prop_assert_eq!(code, &s.trim().to_ascii_uppercase());
                }
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(b in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = knowledge().resolve_diagnosis(&String::from_utf8_lossy(&b));
    }

    #[test]
    fn every_name_of_a_disease_resolves_to_it_however_dressed(
        disease in any::<prop::sample::Index>(),
        name in any::<prop::sample::Index>(),
        dress in dress(),
    ) {
        let k = knowledge();
        let d = &k.diseases[disease.index(k.diseases.len())];
        let all = names(d);
        let name = all[name.index(all.len())];
        let answer = dressed(name, &dress);
        let r = k.resolve_diagnosis(&answer);
        prop_assert_eq!(
            r.disease.map(|x| &x.id),
            Some(&d.id),
            "{:?} (from {:?}) should name {}",
            answer,
            name,
            d.id
        );
    }

    #[test]
    fn code_shaped_answers_keep_their_code(
        letter in "[A-Za-z]",
        digits in "[0-9][0-9A-Za-z]",
        tail in proptest::option::of("[0-9A-Za-z]{1,4}"),
    ) {
        let code = format!("{letter}{digits}{}", tail.map(|t| format!(".{t}")).unwrap_or_default());
        let r = knowledge().resolve_diagnosis(&format!("  {code} "));
        let upper = code.to_ascii_uppercase();
        match r.disease {
            Some(d) => prop_assert_eq!(r.code, d.icd10.clone()),
            None => prop_assert_eq!(r.code, Some(upper)),
        }
    }

    #[test]
    fn words_added_to_a_name_do_not_resolve_to_another_disease(
        disease in any::<prop::sample::Index>(),
        extra in "[a-z]{3,12}",
    ) {
        // An answer is one disease or none: a near-miss never silently becomes a different one.
        let k = knowledge();
        let d = &k.diseases[disease.index(k.diseases.len())];
        let answer = format!("{} {extra}", d.name);
        if let Some(other) = k.resolve_diagnosis(&answer).disease {
            let key = medgym_clinic::text::normalize_joined(&answer);
            prop_assert!(
                names(other).iter().any(|n| medgym_clinic::text::normalize_joined(n) == key),
                "{answer:?} resolved to {} without being one of its names",
                other.id
            );
        }
    }
}
