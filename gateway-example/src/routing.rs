//! Routing a requested model name to deployments: exact `model_name`s first (in
//! `AppState`, see `AppState::group`), then LiteLLM's wildcard routes, the most specific pattern first.

use std::ops::Deref;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use provider_adapters::Endpoint;

use crate::app::deployment::{DeploymentState, ModelGroup};
use crate::config::WildcardRoute;
use crate::router::{Group, HasMember, Member};

/// The deployments for one request: a configured group, or one built for a name a
/// wildcard route matched (not cached: a client picks the names, so a cache keyed by
/// them would grow without bound; the provider clients themselves are cached).
pub(crate) enum GroupRef<'a> {
    /// A `model_name` of the config.
    Fixed(&'a ModelGroup),
    /// Built for this request.
    Wild(Box<ModelGroup>),
}

impl Deref for GroupRef<'_> {
    type Target = ModelGroup;

    fn deref(&self) -> &ModelGroup {
        match self {
            GroupRef::Fixed(group) => group,
            GroupRef::Wild(group) => group,
        }
    }
}

impl Group for GroupRef<'_> {
    type Deployment = DeploymentState;

    fn name(&self) -> &Arc<str> {
        &self.name
    }

    fn deployments(&self) -> &[Arc<DeploymentState>] {
        &self.deployments
    }

    fn deployment(&self, i: usize) -> Arc<DeploymentState> {
        self.deployments[i].clone()
    }

    fn max_retries(&self) -> u32 {
        self.max_retries
    }

    fn turn(&self) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed)
    }
}

impl HasMember for DeploymentState {
    fn member(&self) -> &Member {
        &self.member
    }
}

/// The wildcard routes, most specific pattern first (config order among equals).
#[derive(Debug, Default)]
pub(crate) struct Wildcards {
    routes: Vec<WildcardRoute>,
}

impl Wildcards {
    pub(crate) fn new(routes: &[WildcardRoute]) -> Self {
        let mut routes = routes.to_vec();
        routes.sort_by_key(|r| std::cmp::Reverse(crate::config::specificity(&r.pattern)));
        Self { routes }
    }

    /// Whether any route matches `name`.
    pub(crate) fn matches(&self, name: &str) -> bool {
        self.routes
            .iter()
            .any(|r| crate::config::captures(&r.pattern, name).is_some())
    }

    /// The upstreams (with their retries) of every route sharing the most specific
    /// pattern that matches `name`; `None` if none matches; an error if one matches
    /// but cannot serve the name (no provider inferred, no key for it).
    pub(crate) fn resolve(&self, name: &str) -> Option<Result<Vec<(Endpoint, u32)>, String>> {
        let first = self
            .routes
            .iter()
            .find(|r| crate::config::captures(&r.pattern, name).is_some())?;
        let mut out = Vec::new();
        for route in self.routes.iter().filter(|r| r.pattern == first.pattern) {
            match route.endpoint_for(name)? {
                Ok(endpoint) => out.push((endpoint, route.max_retries)),
                Err(problem) => return Some(Err(problem)),
            }
        }
        Some(Ok(out))
    }
}
