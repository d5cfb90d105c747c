use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::mpsc;

use super::Event;

/// Default most callbacks registered at once.
pub const DEFAULT_MAX_CALLBACKS: usize = 100;
/// Default capacity of the event queue (and of each callback's own queue).
pub const DEFAULT_EVENT_QUEUE: usize = 1000;
/// Default longest time one callback invocation may take.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Settings of a [`Registry`].
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// Most callbacks registered at once. Default [`DEFAULT_MAX_CALLBACKS`].
    pub max_callbacks: usize,
    /// Capacity of the event queue and of each callback's queue. Default
    /// [`DEFAULT_EVENT_QUEUE`]. At least 1.
    pub queue: usize,
    /// Longest one invocation may run before it is cancelled. Default
    /// [`DEFAULT_CALL_TIMEOUT`].
    pub call_timeout: Duration,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            max_callbacks: DEFAULT_MAX_CALLBACKS,
            queue: DEFAULT_EVENT_QUEUE,
            call_timeout: DEFAULT_CALL_TIMEOUT,
        }
    }
}

/// Receives request events. Runs on its own task; the future it returns is bounded by
/// the registry's `call_timeout`.
pub trait Callback: Send + Sync + 'static {
    /// Handles one event.
    fn on_event(&self, event: Arc<Event>) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}

/// A [`Callback`] from a synchronous closure; see [`callback_fn`].
pub struct FnCallback<F>(F);

/// Wraps a synchronous closure as a [`Callback`]. Keep it short: it runs on the
/// callback's task, not in the request path, but a blocking closure still blocks that
/// runtime thread.
pub fn callback_fn<F>(f: F) -> FnCallback<F>
where
    F: Fn(&Event) + Send + Sync + 'static,
{
    FnCallback(f)
}

impl<F> Callback for FnCallback<F>
where
    F: Fn(&Event) + Send + Sync + 'static,
{
    fn on_event(&self, event: Arc<Event>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        (self.0)(&event);
        // A zero-sized future: boxing it allocates nothing.
        Box::pin(Done)
    }
}

/// The future of a callback that has already run.
struct Done;

impl Future for Done {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        std::task::Poll::Ready(())
    }
}

impl<F> fmt::Debug for FnCallback<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnCallback")
    }
}

/// Why a registration was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterError {
    /// The registry already has `max` callbacks.
    Full {
        /// The cap.
        max: usize,
    },
    /// A callback of this name is already registered.
    Duplicate {
        /// The name.
        name: String,
    },
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full { max } => write!(
                f,
                "callback registry is full ({max} callbacks); unregister one first"
            ),
            Self::Duplicate { name } => {
                write!(f, "a callback named `{name}` is already registered")
            }
        }
    }
}

impl std::error::Error for RegisterError {}

/// A snapshot of a registry's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallbackMetrics {
    /// Callbacks registered now.
    pub callbacks: usize,
    /// Events accepted onto the queue.
    pub emitted: u64,
    /// Events dropped because the queue was full.
    pub dropped: u64,
    /// Callback invocations that completed.
    pub delivered: u64,
    /// Events a callback missed because its own queue was full (it is too slow).
    pub dropped_slow: u64,
    /// Invocations that panicked.
    pub panicked: u64,
    /// Invocations cancelled at `call_timeout`.
    pub timed_out: u64,
}

/// The callback registry. Cloning is cheap; all clones are one registry.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    config: RegistryConfig,
    events: mpsc::Sender<Event>,
    callbacks: Arc<RwLock<Arc<[Entry]>>>,
    // Serializes registrations so the cap and the duplicate check are exact.
    registering: Mutex<()>,
    count: Arc<AtomicUsize>,
    stats: Arc<Stats>,
}

#[derive(Clone)]
struct Entry {
    name: Arc<str>,
    queue: mpsc::Sender<Arc<Event>>,
}

#[derive(Default)]
struct Stats {
    emitted: AtomicU64,
    dropped: AtomicU64,
    delivered: AtomicU64,
    dropped_slow: AtomicU64,
    panicked: AtomicU64,
    timed_out: AtomicU64,
}

impl Registry {
    /// A registry and its dispatcher task.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime (the dispatcher is spawned on it), or if
    /// `config.queue` is zero.
    pub fn new(config: RegistryConfig) -> Self {
        assert!(
            config.queue > 0,
            "the event queue needs a capacity of at least 1"
        );
        let (events, rx) = mpsc::channel(config.queue);
        let callbacks: Arc<RwLock<Arc<[Entry]>>> = Arc::new(RwLock::new(Arc::from(Vec::new())));
        let stats = Arc::new(Stats::default());
        tokio::spawn(dispatch(rx, callbacks.clone(), stats.clone()));
        Self {
            inner: Arc::new(Inner {
                config,
                events,
                callbacks,
                registering: Mutex::new(()),
                count: Arc::new(AtomicUsize::new(0)),
                stats,
            }),
        }
    }

    /// Registers `callback` under `name` and starts its task.
    pub fn register(
        &self,
        name: impl Into<String>,
        callback: impl Callback,
    ) -> Result<(), RegisterError> {
        let name = name.into();
        let inner = &self.inner;
        let _registering = inner.registering.lock().unwrap_or_else(|e| e.into_inner());
        let current = inner.snapshot();
        if current.iter().any(|e| *e.name == *name) {
            return Err(RegisterError::Duplicate { name });
        }
        if current.len() >= inner.config.max_callbacks {
            return Err(RegisterError::Full {
                max: inner.config.max_callbacks,
            });
        }
        let (queue, rx) = mpsc::channel(inner.config.queue);
        tokio::spawn(run_callback(
            name.clone().into(),
            Arc::new(callback),
            rx,
            inner.config.call_timeout,
            inner.stats.clone(),
        ));
        let mut next: Vec<Entry> = current.to_vec();
        next.push(Entry {
            name: name.into(),
            queue,
        });
        inner.count.store(next.len(), Ordering::Release);
        *inner.callbacks.write().unwrap_or_else(|e| e.into_inner()) = next.into();
        Ok(())
    }

    /// Unregisters `name`; its task ends after the events already queued for it.
    /// Returns whether it was registered.
    pub fn unregister(&self, name: &str) -> bool {
        let inner = &self.inner;
        let _registering = inner.registering.lock().unwrap_or_else(|e| e.into_inner());
        let current = inner.snapshot();
        let next: Vec<Entry> = current
            .iter()
            .filter(|e| *e.name != *name)
            .cloned()
            .collect();
        let removed = next.len() != current.len();
        inner.count.store(next.len(), Ordering::Release);
        *inner.callbacks.write().unwrap_or_else(|e| e.into_inner()) = next.into();
        removed
    }

    /// True if any callback is registered. Emitters check this first to skip building
    /// events nobody will read.
    pub fn has_callbacks(&self) -> bool {
        self.inner.count.load(Ordering::Acquire) > 0
    }

    /// Queues `event` for every callback, or drops it (counted) if the queue is full.
    /// Never waits. Returns whether it was queued. The queued event owns its route (see
    /// [`Route`](super::Route)).
    pub fn emit(&self, mut event: Event) -> bool {
        event.route = event.route.detached();
        let stats = &self.inner.stats;
        match self.inner.events.try_send(event) {
            Ok(()) => {
                stats.emitted.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(_) => {
                stats.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// A snapshot of the counters.
    pub fn metrics(&self) -> CallbackMetrics {
        let s = &self.inner.stats;
        CallbackMetrics {
            callbacks: self.inner.count.load(Ordering::Acquire),
            emitted: s.emitted.load(Ordering::Relaxed),
            dropped: s.dropped.load(Ordering::Relaxed),
            delivered: s.delivered.load(Ordering::Relaxed),
            dropped_slow: s.dropped_slow.load(Ordering::Relaxed),
            panicked: s.panicked.load(Ordering::Relaxed),
            timed_out: s.timed_out.load(Ordering::Relaxed),
        }
    }

    /// The settings.
    pub fn config(&self) -> &RegistryConfig {
        &self.inner.config
    }
}

impl Inner {
    fn snapshot(&self) -> Arc<[Entry]> {
        self.callbacks
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("config", &self.inner.config)
            .field("metrics", &self.metrics())
            .finish()
    }
}

/// Hands each event to every callback's queue. Ends when every `Registry` is gone.
async fn dispatch(
    mut events: mpsc::Receiver<Event>,
    callbacks: Arc<RwLock<Arc<[Entry]>>>,
    stats: Arc<Stats>,
) {
    let mut batch = Vec::with_capacity(DISPATCH_BATCH);
    while events.recv_many(&mut batch, DISPATCH_BATCH).await > 0 {
        let current = callbacks.read().unwrap_or_else(|e| e.into_inner()).clone();
        for event in batch.drain(..) {
            let event = Arc::new(event);
            for entry in current.iter() {
                if entry.queue.try_send(event.clone()).is_err() {
                    stats.dropped_slow.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(callback = %entry.name, "callback queue full, event dropped");
                }
            }
        }
        // Let events gather before looking again. While this task is not waiting on
        // the queue, an emitter's send wakes nobody, so a busy gateway pays one
        // wakeup per interval instead of one (or more) per request.
        tokio::time::sleep(DISPATCH_INTERVAL).await;
    }
}

/// Most events handed on per dispatcher round.
const DISPATCH_BATCH: usize = 256;
/// Pause between dispatcher rounds while events keep coming: the longest an event
/// waits before its callbacks see it, when the dispatcher was busy.
const DISPATCH_INTERVAL: Duration = Duration::from_millis(1);

/// Runs one callback over its queue; ends when it is unregistered or the registry is
/// dropped.
async fn run_callback(
    name: Arc<str>,
    callback: Arc<dyn Callback>,
    mut queue: mpsc::Receiver<Arc<Event>>,
    timeout: Duration,
    stats: Arc<Stats>,
) {
    let mut batch = Vec::with_capacity(DISPATCH_BATCH);
    while queue.recv_many(&mut batch, DISPATCH_BATCH).await > 0 {
        for event in batch.drain(..) {
            run_one(&name, &*callback, event, timeout, &stats).await;
        }
    }
}

/// Runs one invocation: a panic or a timeout is counted, and the task goes on.
async fn run_one(
    name: &str,
    callback: &dyn Callback,
    event: Arc<Event>,
    timeout: Duration,
    stats: &Stats,
) {
    // Catch a panic both while building the future and while running it.
    let call = std::panic::catch_unwind(AssertUnwindSafe(|| callback.on_event(event)));
    let outcome = match call {
        Ok(future) => {
            let mut future = AssertUnwindSafe(future).catch_unwind();
            // A callback that is done at its first poll (every synchronous one) needs
            // no timer.
            let first =
                std::future::poll_fn(|cx| std::task::Poll::Ready(Pin::new(&mut future).poll(cx)))
                    .await;
            match first {
                std::task::Poll::Ready(result) => Ok(result),
                std::task::Poll::Pending => tokio::time::timeout(timeout, future).await,
            }
        }
        Err(panic) => Ok(Err(panic)),
    };
    match outcome {
        Ok(Ok(())) => {
            stats.delivered.fetch_add(1, Ordering::Relaxed);
        }
        Ok(Err(_)) => {
            stats.panicked.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(callback = %name, "callback panicked; it keeps receiving events");
        }
        Err(_) => {
            stats.timed_out.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(callback = %name, ?timeout, "callback timed out");
        }
    }
}
