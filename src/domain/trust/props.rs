//! Property tests of subject patterns, against the definition written out here independently
//! of the implementation: a `*` stands for one or more characters other than `/` and `:`;
//! every other character stands for itself.
//!
//! Case counts are fixed ([`CASES`]); a failing case is saved under `proptest-regressions/`
//! (mirroring `src/`) and replayed first on every later run: commit it.

use proptest::prelude::*;

use super::subject_matches;

/// Cases per property.
const CASES: u32 = 2048;

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(CASES)
}

/// The definition, by brute force over every way to split the subject.
fn definition(pattern: &[char], subject: &[char]) -> bool {
    match pattern.split_first() {
        None => subject.is_empty(),
        Some(('*', rest)) => (1..=subject.len())
            .take_while(|&n| !matches!(subject[n - 1], '/' | ':'))
            .any(|n| definition(rest, &subject[n..])),
        Some((c, rest)) => subject.first() == Some(c) && definition(rest, &subject[1..]),
    }
}

/// Short strings over a small alphabet (separators, a multi-byte letter, `*` in patterns) so
/// matches and near misses are both common.
fn subject() -> impl Strategy<Value = String> {
    "[ab/:é-]{0,10}"
}

fn pattern() -> impl Strategy<Value = String> {
    "[ab/:é*-]{0,8}"
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn patterns_match_exactly_what_the_definition_says(p in pattern(), s in subject()) {
        let (pc, sc): (Vec<char>, Vec<char>) = (p.chars().collect(), s.chars().collect());
        prop_assert_eq!(subject_matches(&p, &s), definition(&pc, &sc), "{} vs {}", p, s);
    }

    #[test]
    fn a_pattern_without_a_star_matches_only_itself(p in "[ab/:é.-]{0,12}", s in subject()) {
        prop_assert!(subject_matches(&p, &p));
        prop_assert_eq!(subject_matches(&p, &s), p == s);
    }

    #[test]
    fn a_star_never_spans_a_separator(
        prefix in "[ab/:]{0,4}",
        left in "[ab]{0,3}",
        sep in "[/:]",
        right in "[ab]{0,3}",
        suffix in "[ab/:]{0,4}",
    ) {
        // The `*` would have to cover `left sep right`: never.
        let pattern = format!("{prefix}*{suffix}");
        let subject = format!("{prefix}{left}{sep}{right}{suffix}");
        prop_assert!(!subject_matches(&pattern, &subject), "{} vs {}", pattern, subject);
    }

    #[test]
    fn a_match_has_the_patterns_separators_in_order(p in pattern(), s in subject()) {
        let separators = |t: &str| t.chars().filter(|c| matches!(c, '/' | ':')).collect::<String>();
        if subject_matches(&p, &s) {
            prop_assert_eq!(separators(&p), separators(&s));
        }
    }

    #[test]
    fn a_star_matches_any_non_empty_run_without_separators(
        prefix in "[ab/:]{0,4}",
        run in "[abé.-]{1,8}",
        suffix in "[ab/:]{0,4}",
    ) {
        let pattern = format!("{prefix}*{suffix}");
        let subject = format!("{prefix}{run}{suffix}");
        let without_run = format!("{prefix}{suffix}");
        prop_assert!(subject_matches(&pattern, &subject));
        prop_assert!(!subject_matches(&pattern, &without_run));
    }
}
