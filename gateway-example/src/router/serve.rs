//! The retry and fallback loop, shared by every route that calls an upstream.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use limits_layer::rate::{Decision, Limits};
use provider_adapters::ProviderError;
use tokio::time::Instant;

use super::fallback::{fallbacks, Failure};
use super::reservation::Reservation;
use super::select::{candidates, Unavailable};
use super::{HasMember, Member, Router};
use crate::config::MAX_RETRY_WAIT;

/// A model group as the router sees it.
pub(crate) trait Group {
    /// What a send gets: the app's deployment, holding its router [`Member`].
    type Deployment: HasMember;
    /// The group's name (the `model_name` clients use).
    fn name(&self) -> &Arc<str>;
    /// Its deployments (a slice the group holds: nothing is collected per request).
    fn deployments(&self) -> &[Arc<Self::Deployment>];
    /// Deployment `i`.
    fn deployment(&self, i: usize) -> Arc<Self::Deployment>;
    /// Retries after the first attempt.
    fn max_retries(&self) -> u32;
    /// A counter that advances on every pick (turns, ties).
    fn turn(&self) -> usize;
}

/// What the router did with a request.
#[derive(Debug)]
pub(crate) struct Routed<R> {
    /// The answer, or the last error.
    pub(crate) result: Result<R, ProviderError>,
    /// The group that answered (or failed last).
    pub(crate) group: Arc<str>,
    /// The deployment that answered (or failed last), by its key.
    pub(crate) deployment: Option<Arc<str>>,
    /// Time spent waiting for upstreams, over every attempt.
    pub(crate) upstream: Duration,
    /// The answering deployment's `tpm` reservation, to settle with the usage.
    pub(crate) reservation: Option<Reservation>,
}

enum Outcome<R> {
    Done(R, Arc<str>, Option<Reservation>),
    Failed(ProviderError, Failure, Option<Arc<str>>),
}

impl Router {
    /// Sends a request for `model` (reserving `tokens` against `tpm`) with `send`,
    /// retrying and falling back by the config; `lookup` finds a group by name.
    pub(crate) async fn serve<G, L, F, Fut, R>(
        &self,
        model: &str,
        tokens: u64,
        mut lookup: L,
        mut send: F,
    ) -> Routed<R>
    where
        G: Group,
        L: FnMut(&str) -> Result<G, ProviderError>,
        F: FnMut(Arc<G::Deployment>) -> Fut,
        Fut: Future<Output = Result<R, ProviderError>>,
    {
        let mut upstream = Duration::ZERO;
        // The group to look up next: the requested model, then a fallback. Nothing is
        // allocated for it, nor for `visited`, unless a group fails.
        let mut wanted: Option<String> = None;
        let mut name: Arc<str>;
        let mut visited: Vec<Arc<str>> = Vec::new();
        let mut queue: Option<VecDeque<String>> = None;
        let mut last: Option<(ProviderError, Option<Arc<str>>)> = None;
        loop {
            let looked_up = wanted.as_deref().unwrap_or(model);
            let group = match lookup(looked_up) {
                Ok(group) => Some(group),
                // The requested model itself: its error is the answer.
                Err(err) if wanted.is_none() => {
                    return routed(Err(err), Arc::from(model), None, upstream, None);
                }
                Err(err) => {
                    tracing::warn!(model = %looked_up, error = %err, "fallback group cannot serve");
                    None
                }
            };
            name = match &group {
                Some(group) => group.name().clone(),
                None => Arc::from(looked_up),
            };
            if let Some(group) = group {
                match self
                    .try_group(&group, tokens, &mut send, &mut upstream)
                    .await
                {
                    Outcome::Done(res, key, reservation) => {
                        return routed(Ok(res), name, Some(key), upstream, reservation)
                    }
                    Outcome::Failed(err, failure, key) => {
                        visited.push(name.clone());
                        // The fallbacks are those of the group the client asked for.
                        let list = queue.get_or_insert_with(|| {
                            let names = fallbacks(&self.config, &name, failure);
                            names.into_iter().map(str::to_owned).collect()
                        });
                        if failure == Failure::Final {
                            list.clear();
                        }
                        last = Some((err, key));
                    }
                }
            }
            let next = queue.as_mut().and_then(|q| {
                let fallback_budget = visited.len() <= self.config.max_fallbacks;
                std::iter::from_fn(|| q.pop_front())
                    .find(|n| !visited.iter().any(|v| &**v == n.as_str()))
                    .filter(|_| fallback_budget)
            });
            match next {
                Some(next) => {
                    self.metrics.fallbacks.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(from = %name, to = %next, "falling back to another model group");
                    wanted = Some(next);
                }
                None => {
                    let (err, key) = last.unwrap_or_else(|| {
                        (
                            ProviderError::bad_gateway("no model group could serve"),
                            None,
                        )
                    });
                    return routed(Err(err), name, key, upstream, None);
                }
            }
        }
    }

    /// One group: attempts on its deployments until one answers or the retries are
    /// spent.
    async fn try_group<G, F, Fut, R>(
        &self,
        group: &G,
        tokens: u64,
        send: &mut F,
        upstream: &mut Duration,
    ) -> Outcome<R>
    where
        G: Group,
        F: FnMut(Arc<G::Deployment>) -> Fut,
        Fut: Future<Output = Result<R, ProviderError>>,
    {
        let members = group.deployments();
        let attempts = group.max_retries() + 1;
        let mut tried: Vec<usize> = Vec::new();
        let mut last_key = None;
        for attempt in 1..=attempts {
            let (i, reservation) = match self.pick(members, &tried, tokens, group.turn()).await {
                Ok(picked) => picked,
                Err(err) => {
                    self.metrics.unavailable.fetch_add(1, Ordering::Relaxed);
                    return Outcome::Failed(err, Failure::Exhausted, last_key);
                }
            };
            let member = members[i].member();
            let started = Instant::now();
            let result = send(group.deployment(i)).await;
            let took = started.elapsed();
            *upstream += took;
            let err = match result {
                Ok(res) => {
                    member.attempts.succeeded();
                    member.observe_latency(took);
                    return Outcome::Done(res, member.key.clone(), reservation);
                }
                Err(err) => {
                    member.attempts.failed();
                    err
                }
            };
            last_key = Some(member.key.clone());
            // An error answer used no tokens; a timeout may have.
            if let Some(reservation) = reservation.filter(|_| !err.is_timeout()) {
                reservation.release();
            }
            let failure = if err.is_context_window_exceeded() {
                Failure::ContextWindow
            } else if err.is_content_policy_violation() {
                Failure::ContentPolicy
            } else if !err.is_retryable() {
                Failure::Final
            } else {
                self.failed(member, &err).await;
                Failure::Exhausted
            };
            if failure != Failure::Exhausted || attempt == attempts {
                return Outcome::Failed(err, failure, last_key);
            }
            tracing::info!(model = %group.name(), attempt, error = %err, "upstream failed: retrying on another deployment");
            tried.push(i);
            tokio::time::sleep(self.wait(attempt)).await;
        }
        // `attempts` is at least 1, so the loop returned.
        Outcome::Failed(
            ProviderError::bad_gateway("no attempt was made"),
            Failure::Final,
            last_key,
        )
    }

    /// The wait before retry `attempt + 1`: `retry_after` at least, else a short
    /// backoff (50 ms, doubling, at most 1 s). An upstream's own `Retry-After` is
    /// honoured by the cooldown it starts, not by waiting on it here.
    fn wait(&self, attempt: u32) -> Duration {
        let backoff = Duration::from_millis(50 * 2u64.pow(attempt.clamp(1, 6) - 1))
            .min(Duration::from_secs(1));
        self.config.retry_after.max(backoff).min(MAX_RETRY_WAIT)
    }

    /// The deployment to try: the best candidate under its `rpm`/`tpm` (reserving
    /// there), or the answer when none is available.
    async fn pick<M: HasMember>(
        &self,
        members: &[M],
        tried: &[usize],
        tokens: u64,
        turn: usize,
    ) -> Result<(usize, Option<Reservation>), ProviderError> {
        // Nothing cooling anywhere (known without I/O): no lookup, every one in rotation.
        let cooling = if self.cooldowns.none_cooling() {
            Vec::new()
        } else {
            let keys: Vec<Arc<str>> = members.iter().map(|m| m.member().key.clone()).collect();
            self.cooldowns.cooling(&keys).await
        };
        let order =
            match candidates(members, &cooling, tried, self.strategy, turn) {
                Ok(order) => order,
                Err(Unavailable::Cooling(left)) => return Err(ProviderError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "every deployment of this model is cooling down after failures; retry later",
                )
                .with_code("no_deployments_available")
                .with_retry_after(left)),
            };
        let mut soonest: Option<Duration> = None;
        for i in order {
            let m = members[i].member();
            let (rpm, tpm) = (m.routing.rpm, m.routing.tpm);
            if rpm.is_none() && tpm.is_none() {
                m.add_tokens(tokens);
                return Ok((i, None));
            }
            let mut limits = Limits::new();
            limits.rpm = rpm;
            limits.tpm = tpm;
            let reserve = limits.clamp_tokens(tokens);
            match self.limits.reserve(&m.key, reserve, limits).await {
                Ok(Decision::Limited(limited)) => {
                    self.metrics.rate_limited.fetch_add(1, Ordering::Relaxed);
                    let after = limited.retry_after();
                    soonest = Some(soonest.map_or(after, |s| s.min(after)));
                }
                Ok(Decision::Admitted(ticket)) => {
                    m.add_tokens(reserve);
                    let reservation = tpm.map(|_| Reservation::new(self.limits.clone(), ticket));
                    return Ok((i, reservation));
                }
                // A store error admits: a limit store must not stop the traffic.
                Err(_) => {
                    m.add_tokens(reserve);
                    return Ok((i, None));
                }
            }
        }
        Err(ProviderError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "every deployment of this model is at its rpm/tpm limit; retry later",
        )
        .with_code("rate_limit_exceeded")
        .with_retry_after(soonest.unwrap_or(Duration::from_secs(1))))
    }

    /// Cooldown bookkeeping for a failure worth retrying: a `429` with `Retry-After`
    /// cools the deployment for that long; anything else counts toward `allowed_fails`.
    async fn failed(&self, member: &Member, err: &ProviderError) {
        let retry_after = (err.status() == StatusCode::TOO_MANY_REQUESTS)
            .then(|| err.retry_after_duration())
            .flatten();
        let cooled = match retry_after {
            Some(after) => {
                self.cooldowns.cool(&member.key, after).await;
                Some(after)
            }
            None => self.cooldowns.failure(&member.key, self.policy).await,
        };
        if let Some(time) = cooled {
            self.metrics.cooldowns.fetch_add(1, Ordering::Relaxed);
            tracing::info!(deployment = %member.key, ?time, error = %err, "deployment cooling down");
        }
    }
}

fn routed<R>(
    result: Result<R, ProviderError>,
    group: Arc<str>,
    deployment: Option<Arc<str>>,
    upstream: Duration,
    reservation: Option<Reservation>,
) -> Routed<R> {
    Routed {
        result,
        group,
        deployment,
        upstream,
        reservation,
    }
}
