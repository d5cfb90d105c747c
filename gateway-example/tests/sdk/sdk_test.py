"""The official OpenAI and Anthropic Python SDKs as real clients of a running gateway.

Run by tests/sdk.rs with GATEWAY_URL and GATEWAY_KEY set; the gateway serves its demo
config (mock provider) plus `claude-fake` (a loopback fake of Anthropic's API) and
`gpt-native` (a loopback fake of OpenAI's Responses API). Exits non-zero on the first
failure.
"""

import json
import os
import sys

import anthropic
import openai

URL = os.environ["GATEWAY_URL"]
KEY = os.environ["GATEWAY_KEY"]

passed = 0


def check(name, condition, detail=""):
    global passed
    if not condition:
        print(f"FAIL {name}: {detail}", file=sys.stderr)
        sys.exit(1)
    passed += 1
    print(f"ok {name}")


oa = openai.OpenAI(base_url=URL + "/v1", api_key=KEY, max_retries=0)

chat = oa.chat.completions.create(
    model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello from the SDK"}]
)
check("openai chat", "Hello from the SDK" in chat.choices[0].message.content, chat)
check("openai chat usage", chat.usage.total_tokens > 0, chat.usage)
check("openai chat finish", chat.choices[0].finish_reason == "stop", chat)

stream = oa.chat.completions.create(
    model="gpt-4o-mini",
    messages=[{"role": "user", "content": "stream please"}],
    stream=True,
    stream_options={"include_usage": True},
)
pieces, finish, usage = [], None, None
for chunk in stream:
    if chunk.usage:
        usage = chunk.usage
    for choice in chunk.choices:
        pieces.append(choice.delta.content or "")
        finish = choice.finish_reason or finish
text = "".join(pieces)
check("openai stream text", "stream please" in text, text)
check("openai stream finish", finish == "stop", finish)
check("openai stream usage", usage is not None and usage.completion_tokens > 0, usage)

emb = oa.embeddings.create(model="text-embedding-3-small", input=["one", "two"])
check("openai embeddings", len(emb.data) == 2 and len(emb.data[0].embedding) == 8, emb)

models = [m.id for m in oa.models.list()]
check("openai models", "gpt-4o-mini" in models, models)

try:
    oa.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    check("openai unknown model", False, "no error raised")
except openai.NotFoundError as e:
    check("openai unknown model", "no-such-model" in str(e), e)

try:
    openai.OpenAI(base_url=URL + "/v1", api_key="wrong", max_retries=0).models.list()
    check("openai wrong key", False, "no error raised")
except openai.AuthenticationError:
    check("openai wrong key", True)

an = anthropic.Anthropic(base_url=URL, api_key=KEY, max_retries=0)
msg = an.messages.create(
    model="claude-3-5-haiku",
    max_tokens=64,
    system="Be brief.",
    messages=[{"role": "user", "content": "Hello Claude"}],
)
check("anthropic message", msg.type == "message" and "Hello Claude" in msg.content[0].text, msg)
check("anthropic stop reason", msg.stop_reason == "end_turn", msg.stop_reason)

with an.messages.stream(
    model="claude-3-5-haiku",
    max_tokens=64,
    messages=[{"role": "user", "content": "Stream Claude"}],
) as s:
    streamed = "".join(s.text_stream)
    final = s.get_final_message()
check("anthropic stream text", "Stream Claude" in streamed, streamed)
check("anthropic stream final", final.stop_reason == "end_turn" and final.usage.output_tokens > 0, final)

try:
    anthropic.Anthropic(base_url=URL, api_key="wrong", max_retries=0).messages.create(
        model="claude-3-5-haiku", max_tokens=5, messages=[{"role": "user", "content": "x"}]
    )
    check("anthropic wrong key", False, "no error raised")
except anthropic.AuthenticationError as e:
    check("anthropic wrong key", True)
    # The gateway's own refusal, in Anthropic's shape.
    body = e.body if isinstance(e.body, dict) else {}
    check("anthropic wrong key shape", body.get("type") == "error"
          and body.get("error", {}).get("type") == "authentication_error", e.body)

try:
    an.messages.create(model="no-such-model", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    check("anthropic unknown model", False, "no error raised")
except anthropic.NotFoundError as e:
    body = e.body if isinstance(e.body, dict) else {}
    check("anthropic unknown model", body.get("error", {}).get("type") == "not_found_error"
          and "no-such-model" in body["error"].get("message", ""), e.body)

try:
    anthropic.Anthropic(base_url=URL, api_key="wrong", max_retries=0).messages.count_tokens(
        model="claude-3-5-haiku", messages=[{"role": "user", "content": "x"}]
    )
    check("anthropic count_tokens wrong key", False, "no error raised")
except anthropic.AuthenticationError as e:
    body = e.body if isinstance(e.body, dict) else {}
    check("anthropic count_tokens wrong key", body.get("error", {}).get("type") == "authentication_error", e.body)

# --- the Responses API: translated (mock, Anthropic) and passed through (OpenAI) ---
for model, says in [("gpt-4o-mini", "You said: "), ("claude-fake", "Claude says: "), ("gpt-native", "Native says: ")]:
    r = oa.responses.create(model=model, input="Hello responses", max_output_tokens=64)
    check(f"responses {model}", r.status == "completed" and says + "Hello responses" in r.output_text, r)
    check(f"responses usage {model}", r.usage is not None and r.usage.output_tokens > 0, r.usage)

for model, says in [("gpt-4o-mini", "You said: "), ("claude-fake", "Claude says: "), ("gpt-native", "Native says: ")]:
    types, text, final = [], "", None
    for event in oa.responses.create(model=model, input="Stream responses", stream=True):
        types.append(event.type)
        if event.type == "response.output_text.delta":
            text += event.delta
        if event.type == "response.completed":
            final = event.response
    ordered = types[:2] == ["response.created", "response.in_progress"] and types[-1] == "response.completed"
    check(f"responses stream events {model}", ordered and "response.output_text.delta" in types, types)
    check(f"responses stream text {model}", says + "Stream responses" in text and final.output_text == text, (text, final))

WEATHER = [{
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}]
for model in ["claude-fake", "gpt-native"]:
    r = oa.responses.create(model=model, input="Weather in Paris?", tools=WEATHER)
    calls = [o for o in r.output if o.type == "function_call"]
    check(f"responses tool call {model}", len(calls) == 1 and calls[0].name == "get_weather"
          and json.loads(calls[0].arguments) == {"city": "Paris"}, r.output)
    call = calls[0]
    follow = oa.responses.create(model=model, tools=WEATHER, input=[
        {"role": "user", "content": "Weather in Paris?"},
        {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21 C"},
    ])
    check(f"responses tool result {model}", "The tool said: sunny, 21 C" in follow.output_text, follow)

# --- the AzureOpenAI client: model in the path, key as `api-key` ---
az = openai.AzureOpenAI(azure_endpoint=URL, api_key=KEY, api_version="2024-10-21", max_retries=0)
chat = az.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello Azure"}])
check("azure chat", "Hello Azure" in chat.choices[0].message.content, chat)
emb = az.embeddings.create(model="text-embedding-3-small", input=["one"])
check("azure embeddings", len(emb.data) == 1, emb)

# --- models.retrieve ---
for model in ["gpt-4o-mini", "claude-fake"]:
    m = oa.models.retrieve(model)
    check(f"models retrieve {model}", m.id == model and m.object == "model", m)
try:
    oa.models.retrieve("no-such-model")
    check("models retrieve unknown", False, "no error raised")
except openai.NotFoundError:
    check("models retrieve unknown", True)

# --- count_tokens: native for Anthropic, an estimate for the mock ---
counted = an.messages.count_tokens(model="claude-fake", messages=[{"role": "user", "content": "Count me"}])
check("anthropic count_tokens native", counted.input_tokens == 42, counted)
estimate = an.messages.count_tokens(
    model="claude-3-5-haiku", system="Be brief.", messages=[{"role": "user", "content": "Count me, please"}]
)
check("anthropic count_tokens estimate", 0 < estimate.input_tokens < 20, estimate)

print(f"sdk: {passed} passed, 0 failed")
