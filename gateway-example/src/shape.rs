//! The shape of the gateway's own error bodies, decided by the route: OpenAI's
//! (`{"error":{"message","type","code"}}`) everywhere, Anthropic's
//! (`{"type":"error","error":{"type","message"}}`, with Anthropic's error type names)
//! on the Messages routes, whose clients (Anthropic's SDKs) read only that one.
//! Status codes and headers (`Retry-After`) are the same in both.

use axum::body::Body;
use axum::response::Response;
use provider_adapters::{Api, ProviderError};

/// The paths of Anthropic's Messages API that the gateway serves, with and without
/// `/v1`: their errors are Anthropic-shaped.
pub const ANTHROPIC_PATHS: [&str; 4] = [
    "/v1/messages",
    "/messages",
    "/v1/messages/count_tokens",
    "/messages/count_tokens",
];

/// Which API's error shape a route answers with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ErrorShape {
    /// `{"error":{"message","type","code"}}`, OpenAI's (every route but the ones below).
    #[default]
    OpenAi,
    /// `{"type":"error","error":{"type","message"}}`, Anthropic's (the
    /// [`ANTHROPIC_PATHS`]).
    Anthropic,
}

impl ErrorShape {
    /// The shape of the route serving `api`.
    pub fn of_api(api: Api) -> Self {
        match api {
            Api::Messages => Self::Anthropic,
            _ => Self::OpenAi,
        }
    }

    /// The shape of the route at `path`: Anthropic's on the [`ANTHROPIC_PATHS`].
    pub fn of_path(path: &str) -> Self {
        // Four comparisons, each over in a length check for most paths.
        if ANTHROPIC_PATHS.contains(&path) {
            Self::Anthropic
        } else {
            Self::OpenAi
        }
    }

    /// `err` as a complete JSON response of this shape, `Retry-After` included.
    pub fn response(self, err: &ProviderError) -> Response {
        let res = match self {
            Self::OpenAi => err.to_response(),
            Self::Anthropic => err.to_anthropic_response(),
        };
        let (parts, body) = res.into_parts();
        Response::from_parts(parts, Body::from(body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_messages_paths_are_anthropic() {
        for path in ANTHROPIC_PATHS {
            assert_eq!(ErrorShape::of_path(path), ErrorShape::Anthropic, "{path}");
        }
        for path in [
            "/v1/chat/completions",
            "/chat/completions",
            "/v1/embeddings",
            "/v1/models",
            "/v1/messagess",
            "/v1/messages/",
            "/x/v1/messages",
            "/v1/responses",
            "/",
            "",
        ] {
            assert_eq!(ErrorShape::of_path(path), ErrorShape::OpenAi, "{path}");
        }
    }
}
