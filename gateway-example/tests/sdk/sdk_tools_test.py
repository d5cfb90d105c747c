"""The official SDKs reassemble streamed tool calls that the gateway translated from
other providers' streams (Anthropic, Gemini, Ollama, Bedrock's event-stream frames) into valid JSON arguments.

Run by tests/sdk.rs with GATEWAY_URL, GATEWAY_KEY and GATEWAY_TOOL_MODELS
("model=expected-locations;..."), each model routed to a fake upstream that streams
tool calls in its provider's wire format.
"""

import json
import os
import sys

import anthropic
import openai

URL = os.environ["GATEWAY_URL"]
KEY = os.environ["GATEWAY_KEY"]
MODELS = [m.split("=") for m in os.environ["GATEWAY_TOOL_MODELS"].split(";")]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}}]

passed = 0


def check(name, condition, detail=""):
    global passed
    if not condition:
        print(f"FAIL {name}: {detail}", file=sys.stderr)
        sys.exit(1)
    passed += 1
    print(f"ok {name}")


oa = openai.OpenAI(base_url=URL + "/v1", api_key=KEY, max_retries=0)
an = anthropic.Anthropic(base_url=URL, api_key=KEY, max_retries=0)

for model, expected in MODELS:
    expected = expected.split("|")
    # The SDK's own accumulator joins the argument deltas of each call by index.
    with oa.chat.completions.stream(
        model=model,
        messages=[{"role": "user", "content": "Weather?"}],
        tools=TOOLS,
    ) as s:
        for _ in s:
            pass
        final = s.get_final_completion()
    calls = final.choices[0].message.tool_calls or []
    locations = [json.loads(c.function.arguments)["location"] for c in calls]
    check(f"openai stream tool calls from {model}", locations == expected, final)
    ids = [c.id for c in calls]
    check(f"openai stream tool call ids from {model}", all(ids) and len(set(ids)) == len(ids), ids)
    check(f"openai stream finish from {model}", final.choices[0].finish_reason == "tool_calls", final)

    with an.messages.stream(
        model=model,
        max_tokens=64,
        messages=[{"role": "user", "content": "Weather?"}],
        tools=[{"name": "get_weather", "input_schema": TOOLS[0]["function"]["parameters"]}],
    ) as s:
        message = s.get_final_message()
    uses = [b for b in message.content if b.type == "tool_use"]
    check(f"anthropic stream tool_use from {model}", [u.input["location"] for u in uses] == expected, message)
    check(f"anthropic stream usage from {model}", message.usage.input_tokens > 0 and message.usage.output_tokens > 0, message.usage)

print(f"sdk tools: {passed} passed, 0 failed")
