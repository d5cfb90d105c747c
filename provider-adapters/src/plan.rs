//! What one client request becomes upstream: the URL, the body, and how the answer
//! is turned back. Requests in the provider's own format pass through with only
//! `model` changed (never parsed into the typed model); others are decoded into it,
//! checked against the provider's capabilities, and encoded by the provider.

use bytes::Bytes;
use limits_layer::callbacks::{FinishReason, FinishReasons};

use crate::capability::{self, Param};
use crate::formats::anthropic::stream::AnthropicEncoder;
use crate::formats::openai::stream::OpenAiEncoder;
use crate::model::ChatRequest;
use crate::providers::{self, parse_object, Embeddings, Operation};
use crate::request::{edit_top_level, json_string, Peek, CLIENT_ONLY_FIELDS};
use crate::stream::{Encoder, Framing, Mode};
use crate::{formats, Api, Endpoint, ProviderError};

/// How the upstream answer is turned back.
pub(crate) enum Reply {
    /// A whole answer, read (bounded) before it is answered.
    Whole(Whole),
    /// A stream.
    Stream { framing: Framing, mode: Mode },
}

/// What becomes of a whole answer.
pub(crate) enum Whole {
    /// Upstream speaks the client's format: body passed on untouched.
    Raw,
    /// A whole answer decoded by the provider, encoded in the client's format.
    Translate,
    /// An embeddings answer of another shape.
    Embeddings(&'static dyn Embeddings),
}

/// One planned upstream request.
pub(crate) struct Plan {
    pub(crate) body: Bytes,
    pub(crate) reply: Reply,
    /// Parameters dropped under `drop_params`.
    pub(crate) dropped: Vec<Param>,
}

/// Plans the upstream request for `body`.
pub(crate) fn plan(
    ep: &Endpoint,
    api: Api,
    body: &Bytes,
    stream: bool,
    peeked: &Peek,
) -> Result<Plan, ProviderError> {
    let adapter = providers::adapter(ep.provider);
    // Gateway-only fields a client may send (LiteLLM accepts them in bodies) never
    // travel upstream: the upstream and its key come from the config alone.
    let set_model = |body: &Bytes| {
        if peeked.model == ep.model && !peeked.client_fields {
            return Ok(body.clone());
        }
        edit_top_level(
            body,
            &[("model", &json_string(&ep.model))],
            CLIENT_ONLY_FIELDS,
        )
    };
    let plain = |body: Bytes, reply: Reply| Plan {
        body,
        reply,
        dropped: Vec::new(),
    };
    if api == Api::Embeddings {
        return Ok(match adapter.embeddings() {
            None => plain(set_model(body)?, Reply::Whole(Whole::Raw)),
            Some(e) => {
                let req = parse_object(body, "request body", false)?;
                let out = e.request(&req, ep)?;
                plain(
                    Bytes::from(out.to_string()),
                    Reply::Whole(Whole::Embeddings(e)),
                )
            }
        });
    }
    if adapter.native() == Some(api) {
        // The client's own format: sent on with only the model changed.
        let reply = if stream {
            Reply::Stream {
                framing: Framing::sse(),
                mode: Mode::Passthrough {
                    finished: false,
                    reasons: limits_layer::callbacks::FinishReasons::default(),
                    usage: None,
                },
            }
        } else {
            Reply::Whole(Whole::Raw)
        };
        return Ok(plain(set_model(body)?, reply));
    }
    let mut req: ChatRequest<'_> = match api {
        Api::Messages => formats::anthropic::request::decode(body)?,
        Api::ChatCompletions | Api::Embeddings => formats::openai::request::decode(body)?,
    };
    req.stream = stream;
    let drop = req.drop_params.unwrap_or(ep.drop_params);
    let dropped = capability::enforce(
        &mut req,
        adapter.provider().as_str(),
        &|p| adapter.support(p),
        drop,
    )?;
    let upstream = adapter.encode(&req, ep)?;
    let reply = if stream {
        let (framing, decoder) = adapter.stream(ep);
        let encoder = match api {
            Api::Messages => Encoder::Anthropic(AnthropicEncoder::new(&ep.model)),
            Api::ChatCompletions | Api::Embeddings => {
                Encoder::OpenAi(OpenAiEncoder::new(req.include_usage, &ep.model))
            }
        };
        Reply::Stream {
            framing,
            mode: Mode::Translate {
                decoder,
                encoder: Box::new(encoder),
            },
        }
    } else {
        Reply::Whole(Whole::Translate)
    };
    Ok(Plan {
        body: upstream,
        reply,
        dropped,
    })
}

/// A whole translated answer in the client's format.
pub(crate) fn translate_answer(
    ep: &Endpoint,
    api: Api,
    bytes: &[u8],
) -> Result<(Bytes, Option<crate::model::Usage>, FinishReasons), ProviderError> {
    let answer = providers::adapter(ep.provider).decode(bytes, ep)?;
    let usage = answer.usage;
    // The reasons as the client's format writes them (a Messages answer has one).
    let (encoded, reasons) = match api {
        Api::Messages => (
            formats::anthropic::response::encode(&answer, &ep.model),
            // As `encode` writes it: the first choice's, `end_turn` without one.
            FinishReasons::one(FinishReason::from_static(
                answer
                    .choices
                    .first()
                    .map(|c| c.finish)
                    .unwrap_or_default()
                    .anthropic(),
            )),
        ),
        Api::ChatCompletions | Api::Embeddings => (
            formats::openai::response::encode(&answer, &ep.model),
            answer
                .choices
                .iter()
                .map(|c| FinishReason::from_static(c.finish.openai()))
                .collect(),
        ),
    };
    Ok((encoded, usage, reasons))
}

/// The operation a call asks of the upstream.
pub(crate) fn operation(api: Api, stream: bool) -> Operation {
    match api {
        Api::Embeddings => Operation::Embeddings,
        Api::ChatCompletions | Api::Messages => Operation::Chat { stream },
    }
}
