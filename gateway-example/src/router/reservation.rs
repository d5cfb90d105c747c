//! Tokens reserved against a deployment's `tpm` before a request is sent, settled with
//! the usage its provider reports.

use std::sync::Arc;

use limits_layer::callbacks::{ResponseFacts, Usage, UsageCell};
use limits_layer::rate::{Store, Ticket};

/// One request's reservation in a deployment's `tpm` window (taken from `max_tokens`
/// plus an estimate of the prompt). Settled with the tokens the provider reports: at
/// once for a whole answer, when the response body is dropped for a stream (whose
/// usage comes at its end). Without a report the reservation stands, which errs on the
/// safe side. Settling never blocks (a remote store sends it in the background).
pub(crate) struct Reservation {
    store: Arc<dyn Store>,
    ticket: Ticket,
    /// Where a stream's usage will be, once the body ends.
    cell: Option<UsageCell>,
}

impl std::fmt::Debug for Reservation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reservation")
            .field("ticket", &self.ticket)
            .finish_non_exhaustive()
    }
}

impl Reservation {
    pub(crate) fn new(store: Arc<dyn Store>, ticket: Ticket) -> Self {
        Self {
            store,
            ticket,
            cell: None,
        }
    }

    /// Settles with `usage` now, or, without it, with what `cell` holds when this is
    /// dropped.
    pub(crate) fn settle(mut self, usage: Option<Usage>, cell: Option<UsageCell>) -> Option<Self> {
        match usage {
            Some(usage) => {
                self.store.reconcile(&self.ticket, total(usage));
                None
            }
            None => {
                self.cell = cell;
                self.cell.is_some().then_some(self)
            }
        }
    }

    /// The request used nothing: the provider refused it (an error answer, not a
    /// timeout, whose tokens may have been spent).
    pub(crate) fn release(self) {
        self.store.reconcile(&self.ticket, 0);
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(usage) = self.cell.as_ref().and_then(UsageCell::get) {
            self.store.reconcile(&self.ticket, total(usage));
        }
    }
}

/// The tokens a `tpm` limit counts: input and output.
fn total(usage: Usage) -> u64 {
    usage.prompt_tokens.saturating_add(usage.completion_tokens)
}

/// Settles `reservation` with the usage in a response's `extensions`: a whole answer's
/// now; a stream's (in its [`UsageCell`]) when the returned reservation is dropped
/// with the body.
pub(crate) fn settle(
    reservation: Reservation,
    extensions: &http::Extensions,
) -> Option<Reservation> {
    reservation.settle(
        ResponseFacts::usage(extensions),
        ResponseFacts::usage_cell(extensions),
    )
}
