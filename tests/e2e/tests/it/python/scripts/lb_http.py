"""A plain HTTP client (urllib, no SDK) for runpod-local's load-balancing gateway.

Usage: lb_http.py BASE_URL KEY REQUESTS_JSON
REQUESTS_JSON is a list of {"method", "path", "body"?, "affinity"?, "sse"?}; prints one JSON
list of {"status", "worker", "body"} (for "sse": "events", each with its arrival time "t").
"""
import json
import sys
import time
import urllib.error
import urllib.request


def send(base, key, spec):
    body = spec.get("body")
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + spec["path"], data=data, method=spec["method"])
    request.add_header("Authorization", "Bearer " + key)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if spec.get("affinity"):
        request.add_header("X-Runpod-Worker-Id", spec["affinity"])
    try:
        response = urllib.request.urlopen(request, timeout=30)
    except urllib.error.HTTPError as error:
        response = error
    result = {"status": response.status if hasattr(response, "status") else response.code,
              "worker": response.headers.get("X-Runpod-Worker-Id")}
    if spec.get("sse"):
        events, started, event = [], time.monotonic(), {}
        for raw in response:
            line = raw.decode().rstrip("\r\n")
            if line == "":
                if event:
                    event["t"] = time.monotonic() - started
                    events.append(event)
                event = {}
            elif ":" in line:
                field, _, value = line.partition(":")
                event[field] = value[1:] if value.startswith(" ") else value
        result["events"] = events
    else:
        raw = response.read()
        try:
            result["body"] = json.loads(raw)
        except ValueError:
            result["body"] = raw.decode(errors="replace")
    return result


def main():
    base, key, specs = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    print(json.dumps([send(base, key, spec) for spec in specs]))


if __name__ == "__main__":
    main()
