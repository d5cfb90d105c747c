//! Google service-account credentials (Vertex AI's `vertex_credentials`): the OAuth2
//! JWT-bearer flow against the key's `token_uri`, an RS256 assertion signed with
//! `ring`, the access token cached per deployment and renewed ahead of its expiry,
//! one renewal at a time.

mod account;
mod token;

pub use self::account::ServiceAccount;
pub(crate) use self::token::TokenCache;
pub use self::token::{TOKEN_REFRESH_AHEAD, TOKEN_TIMEOUT};

/// The OAuth2 scope asked for: Vertex AI's.
pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
