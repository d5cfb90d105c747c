//! The error of a [`Client`](crate::Client) request.

use std::fmt;

use crate::limit::LimitTimeout;
use crate::BoxError;

/// The error of a [`Client`](crate::Client) request. Tell the cases apart with its
/// predicates; [`source`](std::error::Error::source) gives the cause.
#[derive(Debug)]
pub struct ClientError {
    pub(super) kind: Kind,
}

#[derive(Debug)]
pub(super) enum Kind {
    /// The URI has no scheme or no host.
    NotAbsolute,
    /// No connection slot at once, and no waiting place left (the budget's error).
    Overloaded(BoxError),
    /// No connection slot came free within the wait timeout (the budget's error).
    WaitTimeout(BoxError),
    /// The connector failed: DNS, TCP, TLS, or the connect timeout.
    Connect(BoxError),
    /// The HTTP handshake on a new connection failed.
    Handshake(hyper::Error),
    /// The request failed on its connection.
    Request(hyper::Error),
}

impl ClientError {
    pub(super) fn new(kind: Kind) -> Self {
        Self { kind }
    }

    /// True if the request never reached a connection: the URI was not absolute, it
    /// got no connection slot, or connecting failed. Such a request was not sent, so
    /// it is safe to retry elsewhere.
    pub fn is_connect(&self) -> bool {
        !matches!(self.kind, Kind::Request(_))
    }

    /// True if establishing a connection (TCP connect and TLS handshake) took longer
    /// than the connect timeout. Waiting for a slot is [`is_wait_timeout`](Self::is_wait_timeout).
    pub fn is_timeout(&self) -> bool {
        match &self.kind {
            Kind::Connect(err) => {
                err.is::<tower::timeout::error::Elapsed>() || err.is::<LimitTimeout>()
            }
            _ => false,
        }
    }

    /// True if the request was refused at once because it could not get a connection
    /// slot and every waiting place was taken (the queue is full): answer 429.
    pub fn is_overloaded(&self) -> bool {
        matches!(self.kind, Kind::Overloaded(_))
    }

    /// True if the request waited for a connection slot for the whole wait timeout in
    /// vain: answer 503.
    pub fn is_wait_timeout(&self) -> bool {
        matches!(self.kind, Kind::WaitTimeout(_))
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::NotAbsolute => {
                f.write_str("the request URI must be absolute (http:// or https://)")
            }
            Kind::Overloaded(_) => f.write_str("no connection slot, and the wait queue is full"),
            Kind::WaitTimeout(_) => f.write_str("waited too long for a connection slot"),
            Kind::Connect(_) => f.write_str("connect error"),
            Kind::Handshake(_) => f.write_str("HTTP handshake on a new connection failed"),
            Kind::Request(_) => f.write_str("request failed"),
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            Kind::NotAbsolute => None,
            Kind::Overloaded(err) | Kind::WaitTimeout(err) | Kind::Connect(err) => Some(&**err),
            Kind::Handshake(err) | Kind::Request(err) => Some(err),
        }
    }
}
