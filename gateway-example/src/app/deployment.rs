//! The deployments of a model group as the handlers see them: the client cache's
//! key for each, and the busy count (in the router's [`Member`]) that the least-busy
//! strategy and `max_parallel_requests` read. The choice of the deployment to try is
//! the router's ([`crate::router`]).

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use cache_layer::client::{ClientKey, NewService};
use http::HeaderValue;
use http_body_util::Full;
use pin_project_lite::pin_project;
use provider_adapters::{Endpoint, ProviderClient};

use crate::router::Member;

/// A deployment and its cache key, as seen from one worker.
#[derive(Clone)]
pub(crate) struct Target {
    pub(crate) key: ClientKey,
    pub(crate) endpoint: Arc<Endpoint>,
    /// The worker, whose shard of the shared client the provider client sends through.
    pub(crate) worker: usize,
}

impl Target {
    pub(crate) fn for_worker(&self, worker: usize) -> Self {
        Self {
            worker,
            ..self.clone()
        }
    }
}

impl PartialEq for Target {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key && self.worker == other.worker
    }
}
impl Eq for Target {}
impl Hash for Target {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key.hash(state);
        self.worker.hash(state);
    }
}

/// Builds a provider client for a target, over the one shared HTTP client (the
/// target's worker's shard of it).
#[derive(Clone)]
pub(crate) struct MakeClient {
    pub(crate) http: pool_layer::Client<Full<Bytes>>,
}

impl NewService<Target> for MakeClient {
    type Service = ProviderClient;

    fn new_service(&self, target: Target) -> ProviderClient {
        ProviderClient::new((*target.endpoint).clone(), self.http.shard(target.worker))
    }
}

pub(crate) struct DeploymentState {
    pub(crate) target: Target,
    /// The router's view: key, limits, busy count, latency.
    pub(crate) member: Member,
    /// Served by the built-in mock provider (which speaks chat completions only).
    pub(crate) mock: bool,
    /// The endpoint's model, shared by the events of every request it serves.
    pub(crate) upstream_model: Arc<str>,
    /// The deployment's name in metrics, logs and events ([`deployment_names`]).
    pub(crate) name: Arc<str>,
    /// The values of the headers naming the group and the deployment on its answers,
    /// made once (each request's copy shares their bytes).
    answer_headers: (Option<HeaderValue>, Option<HeaderValue>),
}

impl DeploymentState {
    /// A deployment of `target` in group `group` named `name`, seen by the router as
    /// `member`, its attempts counted in `metrics` (the handles resolved here, once).
    pub(crate) fn new(
        target: Target,
        member: Member,
        mock: bool,
        (group, name): (&str, Arc<str>),
        metrics: &crate::metrics::Metrics,
    ) -> Self {
        let endpoint = &target.endpoint;
        let mut named = http::HeaderMap::new();
        crate::router::name_answer(&mut named, group, Some(&member.key));
        let answer_headers = (
            named.remove(crate::router::X_MODEL_GROUP),
            named.remove(crate::router::X_DEPLOYMENT),
        );
        Self {
            upstream_model: Arc::from(endpoint.model.as_str()),
            member: member.with_attempts(metrics.attempts(group, &name)),
            name,
            target,
            mock,
            answer_headers,
        }
    }

    /// Names this deployment and its group on an answer it gave: what
    /// [`name_answer`](crate::router::name_answer) writes, without formatting anything.
    pub(crate) fn name_answer(&self, headers: &mut http::HeaderMap) {
        let (group, deployment) = &self.answer_headers;
        if let Some(value) = group {
            headers.insert(crate::router::X_MODEL_GROUP, value.clone());
        }
        if let Some(value) = deployment {
            headers.insert(crate::router::X_DEPLOYMENT, value.clone());
        }
    }
}

pub(crate) struct ModelGroup {
    /// The model name clients use, shared by every request's events.
    pub(crate) name: Arc<str>,
    pub(crate) deployments: Vec<Arc<DeploymentState>>,
    pub(crate) next: AtomicUsize,
    pub(crate) max_retries: u32,
}

/// The router's key of deployment `index` of group `group`: the same on every
/// instance with the same config, so cooldowns and rate limits shared in Redis count
/// the same deployment.
pub(crate) fn member_key(group: &str, index: usize, endpoint: &Endpoint) -> Arc<str> {
    Arc::from(format!(
        "{group}#{index}:{}/{}",
        endpoint.provider.as_str(),
        endpoint.model
    ))
}

/// The name of each of `deployments` (config order) in metrics, logs and events,
/// unique within its group: its `model_info.id` when it has one, else `provider/model`
/// (as the answer's [`X_DEPLOYMENT`](crate::router::X_DEPLOYMENT) header names it);
/// deployments of one group that would share that name get their `api_base`'s host
/// after an `@` (`azure/gpt-4o@eastus.openai.azure.com`), and if that is shared too,
/// their place in the group after a `#`.
pub(crate) fn deployment_names(deployments: &[crate::config::Deployment]) -> Vec<Arc<str>> {
    use std::collections::HashMap;
    let plain = |d: &crate::config::Deployment| {
        format!("{}/{}", d.endpoint.provider.as_str(), d.endpoint.model)
    };
    let first: Vec<String> = deployments
        .iter()
        .map(|d| match d.info.id.as_deref().filter(|id| !id.is_empty()) {
            Some(id) => id.to_string(),
            None => plain(d),
        })
        .collect();
    let shared = |names: &[String]| {
        let mut count: HashMap<(&str, &str), usize> = HashMap::new();
        for (d, name) in deployments.iter().zip(names) {
            *count
                .entry((d.model_name.as_str(), name.as_str()))
                .or_default() += 1;
        }
        deployments
            .iter()
            .zip(names)
            .map(|(d, name)| count[&(d.model_name.as_str(), name.as_str())] > 1)
            .collect::<Vec<bool>>()
    };
    let first_shared = shared(&first);
    let second: Vec<String> = deployments
        .iter()
        .zip(first)
        .zip(first_shared)
        .map(|((d, name), taken)| {
            let host = d
                .endpoint
                .api_base
                .as_deref()
                .and_then(|b| b.parse::<http::Uri>().ok())
                .and_then(|u| u.host().map(str::to_string));
            match (taken, host) {
                (true, Some(host)) => format!("{}@{host}", plain(d)),
                (true, None) => format!("{}#", plain(d)),
                (false, _) => name,
            }
        })
        .collect();
    let second_shared = shared(&second);
    let mut index: HashMap<&str, usize> = HashMap::new();
    deployments
        .iter()
        .zip(second)
        .zip(second_shared)
        .map(|((d, name), taken)| {
            let at = index.entry(d.model_name.as_str()).or_default();
            let place = *at;
            *at += 1;
            let name = match (taken, name.strip_suffix('#')) {
                (_, Some(base)) => format!("{base}#{place}"),
                (true, None) => format!("{name}#{place}"),
                (false, None) => name,
            };
            Arc::from(name)
        })
        .collect()
}

/// Counts a request against its deployment while it lives.
pub(crate) struct Busy(Arc<DeploymentState>);

impl Busy {
    pub(crate) fn new(d: Arc<DeploymentState>) -> Self {
        d.member.in_flight.fetch_add(1, Ordering::Relaxed);
        Self(d)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.member.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

pin_project! {
    /// A response body that keeps its deployment counted as busy until it is dropped.
    pub(crate) struct BusyBody<B> {
        #[pin]
        pub(crate) inner: B,
        pub(crate) _busy: Busy,
        // Settled with a stream's usage when the body is dropped.
        pub(crate) _reservation: Option<crate::router::Reservation>,
    }
}

impl<B: http_body::Body> http_body::Body for BusyBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::deployment_names;
    use crate::config::Config;

    fn names(yaml: &str) -> Vec<String> {
        let config = Config::parse(yaml, "test.yaml").expect("the test config parses");
        deployment_names(&config.deployments)
            .iter()
            .map(|n| n.to_string())
            .collect()
    }

    #[test]
    fn a_deployment_alone_in_its_group_is_named_provider_slash_model() {
        let yaml = "model_list:\n\
            - {model_name: a, litellm_params: {model: openai/gpt-4o, api_key: k}}\n\
            - {model_name: b, litellm_params: {model: openai/gpt-4o, api_key: k}}\n";
        assert_eq!(names(yaml), ["openai/gpt-4o", "openai/gpt-4o"]);
    }

    #[test]
    fn the_same_model_on_two_api_bases_in_one_group_gets_each_host() {
        let yaml = "model_list:\n\
            - {model_name: g, litellm_params: {model: azure/gpt-4o, api_key: k, api_base: 'https://east.example.com', api_version: v}}\n\
            - {model_name: g, litellm_params: {model: azure/gpt-4o, api_key: k, api_base: 'https://west.example.com', api_version: v}}\n";
        assert_eq!(
            names(yaml),
            [
                "azure/gpt-4o@east.example.com",
                "azure/gpt-4o@west.example.com"
            ]
        );
    }

    #[test]
    fn one_model_twice_on_one_host_is_told_apart_by_its_place() {
        let yaml = "model_list:\n\
            - {model_name: g, litellm_params: {model: openai/gpt-4o, api_key: k1}}\n\
            - {model_name: g, litellm_params: {model: openai/gpt-4o, api_key: k2}}\n";
        assert_eq!(names(yaml), ["openai/gpt-4o#0", "openai/gpt-4o#1"]);
    }

    #[test]
    fn a_model_info_id_is_the_name() {
        let yaml = "model_list:\n\
            - {model_name: g, litellm_params: {model: openai/gpt-4o, api_key: k}, model_info: {id: primary}}\n\
            - {model_name: g, litellm_params: {model: openai/gpt-4o, api_key: k}, model_info: {id: backup}}\n";
        assert_eq!(names(yaml), ["primary", "backup"]);
    }
}
