//! LiteLLM's wildcard routing: `model_name: "openai/*"` with `model: "openai/*"`
//! serves every `openai/NAME`; `model_name: "*"` with `model: "*"` serves any name,
//! its provider inferred as for an un-prefixed `model`.

use provider_adapters::Endpoint;

use super::{litellm, WildcardRoute};

/// What each `*` of `pattern` matched in `name` (greedy from the left, the last `*`
/// takes the rest), or `None` if `name` does not match.
pub(crate) fn captures<'n>(pattern: &str, name: &'n str) -> Option<Vec<&'n str>> {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, rest) = parts.split_first()?;
    let mut tail = name.strip_prefix(first)?;
    let mut out = Vec::with_capacity(rest.len());
    for (i, literal) in rest.iter().enumerate() {
        let last = i + 1 == rest.len();
        let at = if last {
            // The last literal ends the name.
            // `ends_with` first: then the cut is on a character boundary.
            tail.ends_with(literal)
                .then(|| tail.len() - literal.len())?
        } else {
            tail.find(literal)
                .filter(|_| !literal.is_empty())
                .or(literal.is_empty().then_some(0))?
        };
        let (captured, after) = tail.split_at(at);
        if captured.is_empty() {
            return None;
        }
        out.push(captured);
        tail = &after[literal.len()..];
    }
    tail.is_empty().then_some(out)
}

/// `model` with each `*` replaced by the next capture (the last capture fills any
/// `*` left over).
fn substitute(model: &str, captures: &[&str]) -> String {
    let mut out = String::with_capacity(model.len() + 32);
    let mut parts = model.split('*');
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    for (i, part) in parts.enumerate() {
        out.push_str(
            captures
                .get(i)
                .or(captures.last())
                .copied()
                .unwrap_or_default(),
        );
        out.push_str(part);
    }
    out
}

/// How specific a pattern is: its literal length (LiteLLM tries the most specific
/// first; `*` alone is the last resort).
pub(crate) fn specificity(pattern: &str) -> usize {
    pattern.len() - pattern.matches('*').count()
}

impl WildcardRoute {
    /// The upstream for `name` when it matches this route: `None` when it does not,
    /// an error when it matches but no upstream can be built (no provider inferred,
    /// no key for it).
    pub fn endpoint_for(&self, name: &str) -> Option<Result<Endpoint, String>> {
        let captures = captures(&self.pattern, name)?;
        let model = substitute(&self.model, &captures);
        Some(litellm::endpoint(&model, &self.params, &self.env))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_capture_what_their_stars_match() {
        assert_eq!(captures("*", "gpt-4o"), Some(vec!["gpt-4o"]));
        assert_eq!(captures("openai/*", "openai/gpt-4o"), Some(vec!["gpt-4o"]));
        assert_eq!(captures("openai/*", "anthropic/claude"), None);
        assert_eq!(captures("openai/*", "openai/"), None);
        assert_eq!(
            captures("fo::*::static::*", "fo::hi::static::hi"),
            Some(vec!["hi", "hi"])
        );
        assert_eq!(
            captures("claude-*-latest", "claude-3-7-sonnet-latest"),
            Some(vec!["3-7-sonnet"])
        );
        assert_eq!(captures("gpt-4o", "gpt-4o"), Some(vec![]));
        assert_eq!(captures("gpt-4o", "gpt-4o-mini"), None);
        // Names come from clients: any text, cut only on character boundaries.
        assert_eq!(captures("*x", "é"), None);
        assert_eq!(captures("*é", "aé"), Some(vec!["a"]));
        assert_eq!(captures("a*", "aé"), Some(vec!["é"]));
    }

    #[test]
    fn captures_fill_the_model_pattern() {
        assert_eq!(substitute("openai/*", &["gpt-4o"]), "openai/gpt-4o");
        assert_eq!(substitute("*", &["claude-3"]), "claude-3");
        assert_eq!(
            substitute("openai/fo::*:static::*", &["a", "b"]),
            "openai/fo::a:static::b"
        );
        assert_eq!(substitute("openai/gpt-4o", &["x"]), "openai/gpt-4o");
        assert!(specificity("openai/*") > specificity("*"));
    }
}
