use std::fmt;
use std::time::Duration;

/// A connect waited longer than the limit's timeout for a connection permit.
///
/// No permit is held once this error is returned.
#[derive(Debug, Clone)]
pub struct LimitTimeout {
    host: super::HostKey,
    waited: Duration,
}

impl LimitTimeout {
    pub(crate) fn new(host: super::HostKey, waited: Duration) -> Self {
        Self { host, waited }
    }

    /// The host (scheme + host + port) whose connect timed out.
    pub fn host(&self) -> &super::HostKey {
        &self.host
    }
}

impl fmt::Display for LimitTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no connection slot for {} within {:?} (connection limit reached)",
            self.host, self.waited
        )
    }
}

impl std::error::Error for LimitTimeout {}

/// The URI given to the connector has no host, so it cannot be counted against a host.
#[derive(Debug, Clone)]
pub struct InvalidTarget(());

impl InvalidTarget {
    pub(super) fn new() -> Self {
        Self(())
    }
}

impl fmt::Display for InvalidTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cannot connect: the URI has no host")
    }
}

impl std::error::Error for InvalidTarget {}
