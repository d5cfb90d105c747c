//! Benchmarks of this workspace: criterion micro benchmarks (`cargo bench -p benches`)
//! and the helpers of the end-to-end load benchmark (`benches/e2e.sh`).
//!
//! The `stream-bench` binary measures streaming through the gateway: it starts a
//! loopback SSE upstream (events a few milliseconds apart) and reports time to first
//! event and total time, direct and through a gateway. The `bare-proxy` binary is the
//! floor under the gateway in the load benchmark: its server loop, workers and upstream
//! pool with none of its layers. [`stack`] is the gateway's in-process stack as the
//! `full_stack` bench runs it.
//!
//! # Example
//!
//! ```
//! // Percentiles of a sorted sample, as the stream bench reports them.
//! let sorted = [1.0, 2.0, 3.0, 4.0];
//! assert_eq!(benches::percentile(&sorted, 50.0), 2.0);
//! assert_eq!(benches::percentile(&sorted, 100.0), 4.0);
//! ```

pub mod stack;

/// The `p`-th percentile (nearest rank) of an ascending sample; 0 for an empty one.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
