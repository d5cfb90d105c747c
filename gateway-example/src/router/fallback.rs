//! Which groups a failed request goes to next, by LiteLLM's rules.

use crate::config::{Fallback, RouterConfig};

/// How a group failed, for choosing its fallbacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The prompt is longer than the model's context window (not retried).
    ContextWindow,
    /// The provider refused the content (not retried).
    ContentPolicy,
    /// Retries spent on errors worth retrying (429, 5xx, timeouts, unreachable), or
    /// every deployment cooling or at its limit.
    Exhausted,
    /// The request itself is wrong (another 4xx): no other group would do better.
    Final,
}

/// The groups to try after `model` failed so, in order: the kind's own list
/// (`context_window_fallbacks`, `content_policy_fallbacks`) when it has an entry for
/// `model`, else `fallbacks`' entry, else `default_fallbacks`. Nothing for
/// [`Failure::Final`].
pub(crate) fn fallbacks<'c>(
    config: &'c RouterConfig,
    model: &str,
    failure: Failure,
) -> Vec<&'c str> {
    let entry = |list: &'c [Fallback]| {
        list.iter()
            .find(|f| f.model == model)
            .map(|f| f.to.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let specific = match failure {
        Failure::Final => return Vec::new(),
        Failure::ContextWindow => entry(&config.context_window_fallbacks),
        Failure::ContentPolicy => entry(&config.content_policy_fallbacks),
        Failure::Exhausted => None,
    };
    specific
        .or_else(|| entry(&config.fallbacks))
        .unwrap_or_else(|| {
            config
                .default_fallbacks
                .iter()
                .map(String::as_str)
                .collect()
        })
        .into_iter()
        .filter(|name| *name != model)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> RouterConfig {
        let f = |model: &str, to: &[&str]| Fallback {
            model: model.into(),
            to: to.iter().map(|s| s.to_string()).collect(),
        };
        RouterConfig {
            fallbacks: vec![f("gpt", &["claude", "gemini"])],
            context_window_fallbacks: vec![f("gpt", &["gpt-long"])],
            content_policy_fallbacks: vec![f("claude", &["local"])],
            default_fallbacks: vec!["cheap".into()],
            ..RouterConfig::default()
        }
    }

    #[test]
    fn each_failure_goes_to_its_own_list_first() {
        let c = config();
        assert_eq!(
            fallbacks(&c, "gpt", Failure::Exhausted),
            ["claude", "gemini"]
        );
        assert_eq!(fallbacks(&c, "gpt", Failure::ContextWindow), ["gpt-long"]);
        assert_eq!(fallbacks(&c, "claude", Failure::ContentPolicy), ["local"]);
        // No entry of its own kind: the group's `fallbacks`.
        assert_eq!(
            fallbacks(&c, "gpt", Failure::ContentPolicy),
            ["claude", "gemini"]
        );
    }

    #[test]
    fn a_group_without_an_entry_gets_the_default_fallbacks() {
        let c = config();
        assert_eq!(fallbacks(&c, "other", Failure::Exhausted), ["cheap"]);
        assert_eq!(
            fallbacks(&c, "cheap", Failure::Exhausted),
            Vec::<&str>::new()
        );
    }

    #[test]
    fn a_wrong_request_goes_nowhere() {
        assert!(fallbacks(&config(), "gpt", Failure::Final).is_empty());
    }
}
