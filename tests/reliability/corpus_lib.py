"""The hostile input corpus (tests/reliability/corpus/*.json): loading a case, turning it
into the exact AMQP message it describes, publishing it, and judging what the worker did.

This module is the one name its users import; the work is done beside it, one job a
file: corpus_messages.py (loading cases, building their messages), corpus_publisher.py
(publishing them, dead-lettering), corpus_judge.py (reading and judging the stored
result) and corpus_values.py (decoding and comparing result values).

Used by test_corpus.py (one worker, one case at a time), fault_driver.py (a flood of
cases mixed into the load) and python_oracle.py (the same cases against Python Celery's
own worker, to say what Celery does). The file format is documented in README.md
beside this file; in short:

    {"description": "...",
     "python_celery": "what Celery 5.2.6's own worker does with it",
     "content_type": "application/json",      # default; null = property absent
     "content_encoding": "utf-8",             # default; null = property absent
     "properties": {"priority": 9},           # other AMQP properties, as given
     "headers": {"$v2": "celeriac.echo", "retries": "3", "$drop": ["eta"]},
     "body": "[[1], {}, null]",               # or body_latin1 / body_b64 / body_json / body_gen
     "result_id": "%ID%",                     # where the result is stored; default: headers.id
     "needs_llm": false,
     "expect": {"outcome": "failure", "exc_type": "DecodeError",
                "message": "not valid JSON", "dead_letter": true}}

`%ID%` anywhere (header strings, body) becomes a fresh uuid4 per publish and `%RAND%` 8
fresh hex digits, so a case can be sent many times (the driver does) and every copy has
a result of its own.
"""

from corpus_judge import (RESULT_PREFIX, exception_text, judge, read_result, result_key,
                          sent_args, wait_for)
from corpus_messages import (CORPUS_DIR, EMBED, HERE, MIB, ROOT, Built, Case, data_url,
                             generate_body, load_cases, v2_headers)
from corpus_publisher import RawPublisher, dead_letter_policy
from corpus_values import echo_of, loads, same_value

# What the users (test_corpus.py, fault_driver.py, python_oracle.py) reach through this module.
__all__ = ["CORPUS_DIR", "EMBED", "HERE", "MIB", "ROOT", "Built", "Case", "data_url",
           "generate_body", "load_cases", "v2_headers", "echo_of", "loads", "same_value",
           "RawPublisher", "dead_letter_policy", "RESULT_PREFIX", "exception_text", "judge",
           "read_result", "result_key", "sent_args", "wait_for"]
