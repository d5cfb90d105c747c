//! The deployments of a model group as the handlers see them: the client cache's
//! key for each, the choice of the deployment to try, and the busy count that the
//! least-busy strategy reads.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use cache_layer::client::{ClientKey, NewService};
use http_body_util::Full;
use pin_project_lite::pin_project;
use provider_adapters::{Endpoint, ProviderClient};

use crate::config::Strategy;

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
    pub(crate) in_flight: AtomicUsize,
    /// Served by the built-in mock provider (which speaks chat completions only).
    pub(crate) mock: bool,
    /// The endpoint's model, shared by the events of every request it serves.
    pub(crate) upstream_model: Arc<str>,
}

impl DeploymentState {
    /// A deployment of `target`, not busy.
    pub(crate) fn new(target: Target, mock: bool) -> Self {
        Self {
            upstream_model: Arc::from(target.endpoint.model.as_str()),
            target,
            in_flight: AtomicUsize::new(0),
            mock,
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

/// The deployment to try: not yet tried if possible, then least busy or in turn.
pub(crate) fn pick(group: &ModelGroup, strategy: Strategy, tried: &[usize]) -> usize {
    let n = group.deployments.len();
    let turn = group.next.fetch_add(1, Ordering::Relaxed);
    if n == 1 {
        return 0;
    }
    // Deployments not tried yet, or all of them once every one was tried (a first
    // attempt, the usual case, allocates nothing).
    let untried = (0..n).filter(|i| !tried.contains(i)).count();
    let candidate = |k: usize| -> usize {
        if untried == 0 {
            k
        } else {
            (0..n)
                .filter(|i| !tried.contains(i))
                .nth(k)
                .unwrap_or_default()
        }
    };
    let len = if untried == 0 { n } else { untried };
    match strategy {
        Strategy::RoundRobin => candidate(turn % len),
        Strategy::LeastBusy => {
            // Ties go round robin so equal deployments share the load.
            (0..len)
                .map(|k| candidate((turn + k) % len))
                .min_by_key(|i| group.deployments[*i].in_flight.load(Ordering::Relaxed))
                .unwrap_or_else(|| candidate(0))
        }
    }
}

/// Counts a request against its deployment while it lives.
pub(crate) struct Busy(Arc<DeploymentState>);

impl Busy {
    pub(crate) fn new(d: Arc<DeploymentState>) -> Self {
        d.in_flight.fetch_add(1, Ordering::Relaxed);
        Self(d)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

pin_project! {
    /// A response body that keeps its deployment counted as busy until it is dropped.
    pub(crate) struct BusyBody<B> {
        #[pin]
        pub(crate) inner: B,
        pub(crate) _busy: Busy,
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
    use super::*;

    fn group(n: usize) -> ModelGroup {
        let endpoint = Endpoint::new("openai/gpt-4o-mini").unwrap_or_else(|e| panic!("{e}"));
        ModelGroup {
            name: Arc::from("gpt"),
            deployments: (0..n)
                .map(|_| {
                    Arc::new(DeploymentState::new(
                        Target {
                            key: endpoint.client_key(),
                            endpoint: Arc::new(endpoint.clone()),
                            worker: 0,
                        },
                        false,
                    ))
                })
                .collect(),
            next: AtomicUsize::new(0),
            max_retries: 2,
        }
    }

    #[test]
    fn round_robin_takes_turns_and_skips_what_was_tried() {
        let g = group(3);
        let first: Vec<usize> = (0..6)
            .map(|_| pick(&g, Strategy::RoundRobin, &[]))
            .collect();
        assert_eq!(first, [0, 1, 2, 0, 1, 2]);
        for _ in 0..6 {
            let i = pick(&g, Strategy::RoundRobin, &[1]);
            assert_ne!(i, 1, "a tried deployment is not picked again");
        }
        for _ in 0..6 {
            assert_eq!(pick(&g, Strategy::RoundRobin, &[0, 2]), 1);
        }
        // Every one tried: all are candidates again.
        let all: std::collections::BTreeSet<usize> = (0..6)
            .map(|_| pick(&g, Strategy::RoundRobin, &[0, 1, 2]))
            .collect();
        assert_eq!(all.len(), 3);
    }

    #[test]
    fn least_busy_picks_the_idlest_untried_deployment() {
        let g = group(3);
        g.deployments[0].in_flight.store(5, Ordering::Relaxed);
        g.deployments[1].in_flight.store(1, Ordering::Relaxed);
        g.deployments[2].in_flight.store(3, Ordering::Relaxed);
        for _ in 0..4 {
            assert_eq!(pick(&g, Strategy::LeastBusy, &[]), 1);
            assert_eq!(pick(&g, Strategy::LeastBusy, &[1]), 2);
        }
        // Ties share the load.
        g.deployments[0].in_flight.store(1, Ordering::Relaxed);
        let tied: std::collections::BTreeSet<usize> =
            (0..4).map(|_| pick(&g, Strategy::LeastBusy, &[])).collect();
        assert_eq!(tied, [0, 1].into_iter().collect());
        assert_eq!(pick(&group(1), Strategy::LeastBusy, &[0]), 0);
    }
}
