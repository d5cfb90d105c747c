use std::fmt;
use std::hash::Hash;

use tower_layer::Layer;

use super::{Acquire, Admission, Controller, KeyedController, Limits};

/// How a request finds its slot: one shared [`Controller`], or a [`KeyedController`]
/// with a function from request to key ([`ByKey`]).
pub trait Admit<Req> {
    /// Asks for a slot for `req`.
    fn admit(&self, req: &Req) -> Acquire;
}

impl<Req> Admit<Req> for Controller {
    fn admit(&self, _req: &Req) -> Acquire {
        self.acquire()
    }
}

/// Keyed admission: `key(req)` picks the key's controller.
#[derive(Clone)]
pub struct ByKey<K, F> {
    controller: KeyedController<K>,
    key: F,
}

impl<K, F> fmt::Debug for ByKey<K, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ByKey")
            .field("controller", &self.controller)
            .finish_non_exhaustive()
    }
}

impl<K, F, Req> Admit<Req> for ByKey<K, F>
where
    K: Hash + Eq + Clone,
    F: Fn(&Req) -> K,
{
    fn admit(&self, req: &Req) -> Acquire {
        self.controller.acquire(&(self.key)(req))
    }
}

/// Applies [`Admission`] to a service.
#[derive(Clone, Debug)]
pub struct AdmissionLayer<P> {
    policy: P,
}

impl AdmissionLayer<Controller> {
    /// A new controller with these limits, shared by every service this layer makes.
    pub fn new(limits: Limits) -> Self {
        Self::with_controller(Controller::new(limits))
    }

    /// Uses an existing controller (e.g. one shared with other routes).
    pub fn with_controller(controller: Controller) -> Self {
        Self { policy: controller }
    }
}

impl<K, F> AdmissionLayer<ByKey<K, F>> {
    /// Keyed admission: `key(req)` names the controller each request counts against.
    pub fn keyed(controller: KeyedController<K>, key: F) -> Self {
        Self {
            policy: ByKey { controller, key },
        }
    }
}

impl<P> AdmissionLayer<P> {
    /// The policy (the controller, for metrics).
    pub fn policy(&self) -> &P {
        &self.policy
    }
}

impl<S, P: Clone> Layer<S> for AdmissionLayer<P> {
    type Service = Admission<S, P>;

    fn layer(&self, inner: S) -> Self::Service {
        Admission::new(inner, self.policy.clone())
    }
}
