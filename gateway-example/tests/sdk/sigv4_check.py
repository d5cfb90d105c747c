"""Signs requests with botocore's SigV4Auth (an implementation independent of the
gateway's) at a fixed time, and prints each signature.

Reads a JSON list of cases on stdin: method, url, headers, body, access_key,
secret_key, token (or null), region, service, timestamp (YYYYMMDDTHHMMSSZ).
Writes a JSON list of {"signature", "signed_headers", "canonical_request"}.
"""
import json
import sys

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def sign(case):
    creds = Credentials(case["access_key"], case["secret_key"], case["token"])
    auth = SigV4Auth(creds, case["service"], case["region"])
    request = AWSRequest(
        method=case["method"],
        url=case["url"],
        data=case["body"].encode(),
        headers=case["headers"],
    )
    # add_auth() reads the clock; these are its steps with the case's time instead.
    request.context["timestamp"] = case["timestamp"]
    auth._modify_request_before_signing(request)
    canonical = auth.canonical_request(request)
    string_to_sign = auth.string_to_sign(request, canonical)
    return {
        "signature": auth.signature(string_to_sign, request),
        "signed_headers": auth.signed_headers(auth.headers_to_sign(request)),
        "canonical_request": canonical,
    }


json.dump([sign(case) for case in json.load(sys.stdin)], sys.stdout)
