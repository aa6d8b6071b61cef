"""Result values as Python Celery's client reads them: decoding a stored result
(json.loads with NaN/Infinity, and integers too long for int() kept as tagged strings),
comparing two decoded values the way a Python caller would notice a difference, and what
celeriac.echo gives back for its arguments. Part of corpus_lib.py (see its docstring).
"""

import json
import math
import sys

# Comparing a 500-deep echo recurses twice per level (Python's default limit is 1000).
sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))

# Python 3.11 refuses int() of more than 4300 digits (sys.int_info.default_max_str_digits);
# results are compared with longer integers kept as their digit strings.
_MAX_INT_DIGITS = 4000


def _parse_int(text):
    return int(text) if len(text.lstrip("-")) <= _MAX_INT_DIGITS else ("int:" + text)


def loads(text):
    """json.loads as Python Celery reads a result (NaN/Infinity accepted), except that an
    integer too long for Python's int() stays a tagged string instead of raising."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "surrogatepass")
    return json.loads(text, parse_int=_parse_int)


def same_value(a, b):
    """Equality of decoded JSON values where NaN equals NaN, and an integer equals only
    an integer (2**64 coming back as the float 1.8446744073709552e+19 is a change: Python
    gives back the int), never True or a float."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def echo_of(args, kwargs):
    """What celeriac.echo returns for these arguments (its single argument, the kwargs
    when only kwargs are given, else the list of arguments)."""
    if len(args) == 1:
        return args[0]
    if not args and kwargs:
        return kwargs
    return args
