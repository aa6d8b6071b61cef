#!/usr/bin/python3
"""Regenerate tests/fuzz/seeds/ from the repository's fixtures and unit-test strings.

Each fuzz target starts from these seeds (run.sh passes them read-only, beside a
working corpus in build-fuzz/). They are small on purpose: real inputs the code must
accept, and a few it must refuse, not a generated corpus. Fixture folders that serve
as seeds unchanged are passed by run.sh directly and are not copied here
(schemas/fixtures/tasks for python_json_fuzz, balancer/config for config_loader_fuzz).

Run from anywhere with /usr/bin/python3; it rewrites tests/fuzz/seeds/ completely.
"""
import json
import pathlib
import shutil
import zlib

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CELERY = ROOT / 'schemas' / 'fixtures' / 'celery'
SEEDS = HERE / 'seeds'


def q3_captures():
    """schemas/fixtures/celery/q3.json: a sequence of JSON objects, one per basic_get."""
    text = (CELERY / 'q3.json').read_text()
    decoder, pos, out = json.JSONDecoder(), 0, []
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return out
        capture, pos = decoder.raw_decode(text, pos)
        out.append(capture)


def write(target, name, data):
    path = SEEDS / target / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


def message(options, content_type, encoding, headers, body):
    """message_decoder_fuzz's format: options, content type, encoding, headers, body."""
    head = '\n'.join([options, content_type, encoding, json.dumps(headers)]) + '\n'
    return head.encode() + (body.encode() if isinstance(body, str) else body)


# A v1 body as Celery 5.2.6 sends it (tests/unit/celery/message_protocol_test.cc, kV1Body).
V1_BODY = ('{"task": "rapp.show_req", "id": "47a7fe45-1", "args": [1, 2], "kwargs": {"z": 3}, '
           '"group": null, "group_index": null, "retries": 0, '
           '"eta": "2026-11-23T00:10:01.171123+00:00", '
           '"expires": "2026-11-23T00:11:56.171123+00:00", "utc": true, '
           '"callbacks": [{"task": "rapp.mul", "args": [2], "kwargs": {}, "options": {}, '
           '"subtask_type": null, "immutable": false}], "errbacks": null, '
           '"timelimit": [null, null], "taskset": null, "chord": null}')
# The hybrid message of the same test file (HybridTakesArgsFromBodyAndLetsHeadersWin).
HYBRID_HEADERS = {'task': 'rapp.add', 'id': 'hid', 'retries': 2, 'x_custom': 1}
HYBRID_BODY = ('{"task": "ignored", "id": "ignored", "args": [4], "kwargs": {"k": 1}, '
               '"root_id": "root", "retries": 0, "errbacks": [{"task": "rapp.echo"}]}')
# The compressed fixtures' plain body (make_compressed_fixtures.py).
PLAIN_BODY = '[[3, 3], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]'


def message_decoder_seeds():
    seen = set()
    for i, capture in enumerate(q3_captures()):
        props = capture['properties']
        headers = props.get('application_headers', {})
        body = capture['body']
        if headers.get('compression'):
            # Captured through a utf-8 decode with replacement: use the real bytes.
            body = (CELERY / 'kombu_zlib_body.bin').read_bytes()
        key = (props.get('content_type'), json.dumps(headers, sort_keys=True), str(body))
        if key in seen:
            continue
        seen.add(key)
        opts = 'rp' if capture['delivery_info'].get('redelivered') or 'priority' in props else ''
        write('message_decoder', 'q3_%02d' % i,
              message(opts, props.get('content_type', ''), props.get('content_encoding', ''),
                      headers, body))
    v2 = {'lang': 'py', 'task': 'rapp.add', 'id': 'zid', 'retries': 0,
          'eta': '2026-11-23T00:10:01.171123+00:00', 'expires': '2026-11-23T00:11:56Z',
          'timelimit': [30, 20], 'compression': 'application/x-gzip'}
    write('message_decoder', 'gzip_framed',
          message('', 'application/json', 'utf-8', v2,
                  (CELERY / 'gzip_framed_body.bin').read_bytes()))
    write('message_decoder', 'deflated_by_target_zlib',
          message('z', 'application/json', 'utf-8', v2, PLAIN_BODY))
    write('message_decoder', 'deflated_by_target_gzip',
          message('g', 'application/json; charset=utf-8', 'utf8', v2, PLAIN_BODY))
    write('message_decoder', 'v1_body', message('', 'application/json', 'utf-8', {}, V1_BODY))
    write('message_decoder', 'hybrid',
          message('', 'application/json', 'utf-8', HYBRID_HEADERS, HYBRID_BODY))
    # Python's json.dumps of float('nan'), float('inf'), 10**400 and 1e999.
    write('message_decoder', 'python_numbers',
          message('', 'application/json', 'utf-8', {'task': 'celeriac.echo', 'id': 'n1'},
                  '[[NaN, Infinity, -Infinity, 1' + '0' * 400 + ', 1e999], {}, null]'))


def python_json_seeds():
    seen = set()
    for i, capture in enumerate(q3_captures()):
        body = capture['body']
        if capture['properties'].get('content_type') == 'application/json' and body not in seen:
            seen.add(body)
            if not capture['properties'].get('application_headers', {}).get('compression'):
                write('python_json', 'q3_body_%02d' % i, body)
    statuses = set()
    for i, line in enumerate((CELERY / 'rs1.jsonl').read_text().splitlines()):
        data = json.loads(line)['data']
        status = json.loads(data)['status']
        if status not in statuses:  # one result document per state
            statuses.add(status)
            write('python_json', 'rs1_%s' % status.lower(), data)
    write('python_json', 'python_numbers',
          '[NaN, Infinity, -Infinity, 1' + '0' * 400 + ', -1' + '0' * 30 + ', 1e999, -0.0, '
          '18446744073709551615, -9223372036854775808, 1.5e-320]')
    write('python_json', 'strings', '["\\u00e9\\ud83d\\ude00", "caf\u00e9", "\\"\\\\\\/\\b\\f"]')


# Bodies from tests/unit/balancer/providers/provider_codec_test.cc and
# open_ai_embeddings_codec_test.cc, and error bodies as the providers document them.
CODEC_BODIES = {
    'openai_chat': '{"model":"gpt-4.1-2025","choices":[{"message":{"content":"hi"},'
                   '"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":3}}',
    'openai_chat_null_content': '{"choices":[{"message":{"content":null,"refusal":"no"},'
                                '"finish_reason":"stop"}]}',
    'openai_error': '{"error":{"message":"nope","type":"invalid_request_error","code":null}}',
    'anthropic_message': '{"model":"claude-sonnet-4","content":[{"type":"text","text":"a"},'
                         '{"type":"text","text":"b"}],"stop_reason":"end_turn",'
                         '"usage":{"input_tokens":7,"output_tokens":2}}',
    # The Messages API's documented shape with non-text blocks (thinking, tool_use).
    'anthropic_tool_use': '{"id":"msg_1","type":"message","role":"assistant",'
                          '"model":"claude-sonnet-4","content":[{"type":"thinking",'
                          '"thinking":"t"},{"type":"tool_use","id":"toolu_1","name":"f",'
                          '"input":{"a":1}},{"type":"text","text":"ok"}],'
                          '"stop_reason":"tool_use","usage":{"input_tokens":3,"output_tokens":4}}',
    'anthropic_error': '{"type":"error","error":{"type":"overloaded_error",'
                       '"message":"Overloaded"}}',
    'openai_embeddings': '{"object":"list","data":[{"object":"embedding","index":1,'
                         '"embedding":[0.5,-1]},{"object":"embedding","index":0,'
                         '"embedding":[0.25,2e-3]}],"model":"text-embedding-3-small",'
                         '"usage":{"prompt_tokens":8,"total_tokens":8}}',
}

# Headers from tests/unit/balancer/providers/rate_limit_info_test.cc and time_formats_test.cc.
HEADER_SETS = {
    'openai': 'x-ratelimit-limit-requests: 500\nx-ratelimit-remaining-requests: 499\n'
              'x-ratelimit-reset-requests: 120ms\nx-ratelimit-limit-tokens: 30000\n'
              'x-ratelimit-remaining-tokens: 29000\nx-ratelimit-reset-tokens: 6m0s\n',
    'anthropic': 'anthropic-ratelimit-requests-limit: 50\n'
                 'anthropic-ratelimit-requests-remaining: 0\n'
                 'anthropic-ratelimit-requests-reset: 2024-05-01T12:00:20Z\n'
                 'anthropic-ratelimit-tokens-remaining: 5000\n'
                 'anthropic-ratelimit-input-tokens-remaining: 3000\n'
                 'anthropic-ratelimit-output-tokens-reset: 2024-05-01T12:00:30.25+02:00\n'
                 'anthropic-ratelimit-tokens-reset: 2024-05-01T12:01:00Z\n',
    'retry_after': 'Retry-After: Wed, 01 May 2024 12:00:15 GMT\nretry-after-ms: 1500\n'
                   'x-ratelimit-reset-tokens: 1m30.5s\nx-ratelimit-reset-requests: 1.5\n'
                   'x-ratelimit-reset-requests: 2h3m4.5\u00b5s\n',
}


def main():
    shutil.rmtree(SEEDS, ignore_errors=True)
    message_decoder_seeds()
    python_json_seeds()
    for name, body in CODEC_BODIES.items():
        write('provider_codec', name, body)
    for name, text in HEADER_SETS.items():
        write('rate_limit', name, text)
    write('config_loader', 'env_form',
          'LLM_ENDPOINTS=http://a:8000/v1, https://b/v1/\nLLM_API_KEYS=k1,k2\n'
          'LLM_STRATEGY=round_robin\nLLM_HEALTH_CHECK=true\nLLM_TIMEOUT=30\n'
          'LLM_MODELS=gpt-4.1,*\nLLM_PROVIDER=openai\n')
    for target in sorted(p.name for p in SEEDS.iterdir()):
        print(target, len(list((SEEDS / target).iterdir())), 'seeds')


if __name__ == '__main__':
    main()
