//! Which deployment of a group to try: those cooling, at `max_parallel_requests` or of
//! a higher `order` than an available one are left out; among the rest, the strategy
//! decides (least busy, weighted turns, least used this minute, lowest latency).

use std::sync::atomic::Ordering;
use std::time::Duration;

use smallvec::SmallVec;

use super::HasMember;
use crate::config::Strategy;

/// Candidates, best first: inline up to four, so the usual group (a few deployments)
/// allocates nothing per request.
pub(crate) type Order = SmallVec<[usize; 4]>;

/// Why no deployment could be picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unavailable {
    /// Every deployment is cooling (or busy at its cap); the soonest frees after this.
    Cooling(Duration),
}

/// The candidates, best first: every deployment available now, of the lowest `order`
/// among them, those not in `tried` first (all of them again once every one was
/// tried). `cooling[i]` is deployment `i`'s cooldown left. `turn` spreads ties.
pub(crate) fn candidates<M: HasMember>(
    members: &[M],
    cooling: &[Option<Duration>],
    tried: &[usize],
    strategy: Strategy,
    turn: usize,
) -> Result<Order, Unavailable> {
    // `cooling` may be empty: nothing cools.
    let available: Order = (0..members.len())
        .filter(|i| cooling.get(*i).copied().flatten().is_none())
        .filter(|i| {
            let m = members[*i].member();
            m.routing
                .max_parallel_requests
                .is_none_or(|cap| m.in_flight.load(Ordering::Relaxed) < cap)
        })
        .collect();
    let Some(order) = available
        .iter()
        .map(|i| members[*i].member().routing.order)
        .min()
    else {
        // The soonest cooldown to end; a deployment only busy frees "soon" (1 s).
        let soonest = cooling
            .iter()
            .map(|c| c.unwrap_or(Duration::from_secs(1)))
            .min()
            .unwrap_or(Duration::from_secs(1));
        return Err(Unavailable::Cooling(soonest));
    };
    // The lowest order's, untried ones if any (the usual case, one order and a first
    // attempt, filters nothing and allocates no more).
    let mut pool = available;
    if pool
        .iter()
        .any(|i| members[*i].member().routing.order != order)
    {
        pool.retain(|i| members[*i].member().routing.order == order);
    }
    if !tried.is_empty() && pool.iter().any(|i| !tried.contains(i)) {
        pool.retain(|i| !tried.contains(i));
    }
    rank(members, &mut pool, strategy, turn);
    Ok(pool)
}

/// Orders `pool` best first by `strategy`; ties in turn, so equals share the load.
fn rank<M: HasMember>(members: &[M], pool: &mut [usize], strategy: Strategy, turn: usize) {
    let n = pool.len();
    if n < 2 {
        return;
    }
    // Weighted turns: deployment i owns `weight` slots of the cycle; the first of the
    // ranking is the owner of slot `turn % total`, the others follow in order.
    let total: usize = pool
        .iter()
        .map(|i| members[*i].member().routing.weight as usize)
        .sum();
    let mut slot = turn % total.max(1);
    let mut first = 0;
    for (k, i) in pool.iter().enumerate() {
        let w = members[*i].member().routing.weight as usize;
        if slot < w {
            first = k;
            break;
        }
        slot -= w;
    }
    pool.rotate_left(first);
    let key = |i: &usize| -> u64 {
        let m = members[*i].member();
        match strategy {
            Strategy::RoundRobin => 0,
            Strategy::LeastBusy => m.in_flight.load(Ordering::Relaxed) as u64,
            Strategy::UsageBased => m.tokens_this_minute(),
            Strategy::LatencyBased => m.latency_micros(),
        }
    };
    // Stable: equal keys keep the weighted turn order.
    pool.sort_by_key(key);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DeploymentRouting;
    use crate::router::Member;

    fn members(routing: &[DeploymentRouting]) -> Vec<Member> {
        routing
            .iter()
            .enumerate()
            .map(|(i, r)| Member::new(format!("d{i}").into(), *r))
            .collect()
    }

    /// The order as a `Vec`, to compare.
    fn v(c: Result<Order, Unavailable>) -> Result<Vec<usize>, Unavailable> {
        c.map(|c| c.to_vec())
    }

    #[test]
    fn a_cooling_deployment_is_skipped() {
        let m = members(&[DeploymentRouting::default(); 2]);
        let cooling = [Some(Duration::from_secs(3)), None];
        for turn in 0..4 {
            let c = candidates(&m, &cooling, &[], Strategy::RoundRobin, turn);
            assert_eq!(v(c), Ok(vec![1]));
        }
    }

    #[test]
    fn all_cooling_says_when_the_soonest_frees() {
        let m = members(&[DeploymentRouting::default(); 2]);
        let cooling = [Some(Duration::from_secs(3)), Some(Duration::from_secs(9))];
        let c = candidates(&m, &cooling, &[], Strategy::LeastBusy, 0);
        assert_eq!(c, Err(Unavailable::Cooling(Duration::from_secs(3))));
    }

    #[test]
    fn a_higher_order_is_used_only_when_the_lower_is_unavailable() {
        let low = DeploymentRouting {
            order: 1,
            ..DeploymentRouting::default()
        };
        let high = DeploymentRouting {
            order: 2,
            ..DeploymentRouting::default()
        };
        let m = members(&[high, low]);
        assert_eq!(
            v(candidates(&m, &[None, None], &[], Strategy::LeastBusy, 0)),
            Ok(vec![1])
        );
        let cooling = [None, Some(Duration::from_secs(1))];
        assert_eq!(
            v(candidates(&m, &cooling, &[], Strategy::LeastBusy, 0)),
            Ok(vec![0])
        );
    }

    #[test]
    fn weights_share_the_turns() {
        let heavy = DeploymentRouting {
            weight: 3,
            ..DeploymentRouting::default()
        };
        let m = members(&[heavy, DeploymentRouting::default()]);
        let firsts: Vec<usize> = (0..8)
            .map(|turn| candidates(&m, &[None, None], &[], Strategy::RoundRobin, turn))
            .map(|c| c.map_or(9, |c| c[0]))
            .collect();
        assert_eq!(firsts, [0, 0, 0, 1, 0, 0, 0, 1]);
    }

    #[test]
    fn usage_based_picks_the_least_used_and_latency_based_the_fastest() {
        let m = members(&[DeploymentRouting::default(); 2]);
        m[0].add_tokens(500);
        m[1].add_tokens(20);
        let c = candidates(&m, &[None, None], &[], Strategy::UsageBased, 0);
        assert_eq!(c.map(|c| c[0]), Ok(1));
        m[0].observe_latency(Duration::from_millis(5));
        m[1].observe_latency(Duration::from_millis(80));
        let c = candidates(&m, &[None, None], &[], Strategy::LatencyBased, 0);
        assert_eq!(c.map(|c| c[0]), Ok(0));
    }

    #[test]
    fn a_deployment_at_max_parallel_requests_is_skipped() {
        let capped = DeploymentRouting {
            max_parallel_requests: Some(1),
            ..DeploymentRouting::default()
        };
        let m = members(&[capped, DeploymentRouting::default()]);
        m[0].in_flight.store(1, Ordering::Relaxed);
        assert_eq!(
            v(candidates(&m, &[None, None], &[], Strategy::RoundRobin, 0)),
            Ok(vec![1])
        );
    }

    #[test]
    fn tried_deployments_go_last_and_least_busy_ranks_the_rest() {
        let m = members(&[DeploymentRouting::default(); 3]);
        m[0].in_flight.store(5, Ordering::Relaxed);
        m[2].in_flight.store(1, Ordering::Relaxed);
        let c = candidates(&m, &[None; 3], &[1], Strategy::LeastBusy, 0);
        assert_eq!(v(c), Ok(vec![2, 0]));
        let c = candidates(&m, &[None; 3], &[0, 1, 2], Strategy::LeastBusy, 0);
        assert_eq!(v(c), Ok(vec![1, 2, 0]));
    }
}
