"""The official OpenAI and Anthropic Python SDKs as real clients of a running gateway.

Run by tests/sdk.rs with GATEWAY_URL and GATEWAY_KEY set; the gateway serves its demo
config (mock provider). Exits non-zero on the first failure.
"""

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
except anthropic.AuthenticationError:
    check("anthropic wrong key", True)

print(f"sdk: {passed} passed, 0 failed")
