//! [`ResponseFacts`]: what a handler reports about its response, in one extension.

use http::Extensions;

use super::{
    FinishReasons, FinishReasonsCell, ModelName, OutcomeCell, UpstreamInfo, UpstreamLatency, Usage,
    UsageCell,
};

/// Response extension: every fact a handler reports about its response for the
/// request's [`Event`](super::Event), in one extension. Each extension of a response
/// is an allocation and a hash insert, and growing a response's extension map past
/// three costs one more: a proxied answer with its model, upstream, latency, usage and
/// finish reasons as six extensions made eight allocations. The events layer reads
/// these fields first and, for a fact left out, the extension of that one fact
/// ([`ModelName`], [`Usage`], …), which handlers may still insert alone.
///
/// ```
/// use limits_layer::callbacks::{ModelName, ResponseFacts, Usage};
///
/// let mut res = http::Response::new(());
/// let facts = ResponseFacts::of(res.extensions_mut());
/// facts.model = Some(ModelName("gpt-4o-mini".into()));
/// facts.usage = Some(Usage { prompt_tokens: 12, completion_tokens: 30, ..Usage::default() });
/// assert_eq!(ResponseFacts::usage(res.extensions()), Some(Usage {
///     prompt_tokens: 12,
///     completion_tokens: 30,
///     ..Usage::default()
/// }));
/// ```
#[derive(Debug, Clone, Default)]
pub struct ResponseFacts {
    /// The model (see [`ModelName`]).
    pub model: Option<ModelName>,
    /// The upstream that answered (see [`UpstreamInfo`]).
    pub upstream: Option<UpstreamInfo>,
    /// Time spent waiting for upstreams (see [`UpstreamLatency`]).
    pub upstream_latency: Option<UpstreamLatency>,
    /// The usage of a whole answer (see [`Usage`]).
    pub usage: Option<Usage>,
    /// The usage a stream records when it learns it (see [`UsageCell`]).
    pub usage_cell: Option<UsageCell>,
    /// How a stream really ended (see [`OutcomeCell`]).
    pub outcome_cell: Option<OutcomeCell>,
    /// The finish reasons of a whole answer (see [`FinishReasons`]).
    pub finish_reasons: Option<FinishReasons>,
    /// The finish reasons a stream records when it ends (see [`FinishReasonsCell`]).
    pub finish_cell: Option<FinishReasonsCell>,
}

impl ResponseFacts {
    /// The facts of `extensions`, inserted empty if there are none yet.
    pub fn of(extensions: &mut Extensions) -> &mut Self {
        extensions.get_or_insert_default()
    }

    /// The facts of `extensions`, if any.
    pub fn get(extensions: &Extensions) -> Option<&Self> {
        extensions.get()
    }

    /// A fact: `field` of this extension, else the extension of that one fact.
    fn fact<T: Clone + Send + Sync + 'static>(
        extensions: &Extensions,
        field: impl FnOnce(&Self) -> Option<T>,
    ) -> Option<T> {
        Self::get(extensions)
            .and_then(field)
            .or_else(|| extensions.get::<T>().cloned())
    }

    /// The usage of a whole answer: this extension's, else a [`Usage`] extension.
    pub fn usage(extensions: &Extensions) -> Option<Usage> {
        Self::fact(extensions, |f| f.usage)
    }

    /// A stream's usage cell: this extension's, else a [`UsageCell`] extension.
    pub fn usage_cell(extensions: &Extensions) -> Option<UsageCell> {
        Self::fact(extensions, |f| f.usage_cell.clone())
    }

    /// The model: this extension's, else a [`ModelName`] extension.
    pub fn model(extensions: &Extensions) -> Option<ModelName> {
        Self::fact(extensions, |f| f.model.clone())
    }

    /// The upstream that answered: this extension's, else an [`UpstreamInfo`] extension.
    pub fn upstream(extensions: &Extensions) -> Option<UpstreamInfo> {
        Self::fact(extensions, |f| f.upstream.clone())
    }

    /// Time spent waiting for upstreams: this extension's, else an [`UpstreamLatency`]
    /// extension.
    pub fn upstream_latency(extensions: &Extensions) -> Option<UpstreamLatency> {
        Self::fact(extensions, |f| f.upstream_latency)
    }

    /// How a stream ended: this extension's cell, else an [`OutcomeCell`] extension.
    pub fn outcome_cell(extensions: &Extensions) -> Option<OutcomeCell> {
        Self::fact(extensions, |f| f.outcome_cell.clone())
    }

    /// A whole answer's finish reasons: this extension's, else a [`FinishReasons`]
    /// extension.
    pub fn finish_reasons(extensions: &Extensions) -> Option<FinishReasons> {
        Self::fact(extensions, |f| f.finish_reasons.clone())
    }

    /// A stream's finish reasons cell: this extension's, else a [`FinishReasonsCell`]
    /// extension.
    pub fn finish_cell(extensions: &Extensions) -> Option<FinishReasonsCell> {
        Self::fact(extensions, |f| f.finish_cell.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_fact_left_out_is_read_from_its_own_extension() {
        let mut ext = Extensions::new();
        assert_eq!(ResponseFacts::usage(&ext), None);
        ext.insert(Usage {
            prompt_tokens: 1,
            ..Usage::default()
        });
        ext.insert(UpstreamLatency(Duration::from_millis(3)));
        ResponseFacts::of(&mut ext).model = Some(ModelName("m".into()));
        // The facts' own fields win; a field left out falls back.
        assert_eq!(ResponseFacts::model(&ext), Some(ModelName("m".into())));
        assert_eq!(ResponseFacts::usage(&ext).map(|u| u.prompt_tokens), Some(1));
        ResponseFacts::of(&mut ext).usage = Some(Usage {
            prompt_tokens: 2,
            ..Usage::default()
        });
        assert_eq!(ResponseFacts::usage(&ext).map(|u| u.prompt_tokens), Some(2));
        assert_eq!(
            ResponseFacts::upstream_latency(&ext),
            Some(UpstreamLatency(Duration::from_millis(3)))
        );
        assert!(ResponseFacts::finish_cell(&ext).is_none());
    }
}
