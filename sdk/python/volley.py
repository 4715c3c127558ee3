"""Write Volley scenarios in Python, k6-style.

A scenario is a class with ``options`` (TOML text, like k6's ``export const options``) and an
``iteration`` method (k6's ``default`` function); ``world(cls)`` turns it into the ``WitWorld``
class that componentize-py exports::

    from volley import Scenario, check, env, http, sleep, world

    class Hello(Scenario):
        options = 'vus = 10\\nduration = "30s"\\n'

        def iteration(self, data):
            res = http.get(f"{env('BASE_URL')}/", timeout=10)
            check(res, {"is status 200": lambda r: r.status == 200})
            sleep(0.5)

    WitWorld = world(Hello)

Module top-level code runs when the component is built (componentize-py snapshots it), so read
``env`` inside ``iteration``, never at import time.
"""

import json as _json

import wit_world
from componentize_py_types import Err
from wit_world.imports import checks as _checks
from wit_world.imports import group as _group
from wit_world.imports import http as _http
from wit_world.imports import log as _log
from wit_world.imports import metrics as _metrics
from wit_world.imports import timing as _timing
from wit_world.imports import vu as _vu

__all__ = ["Scenario", "world", "check", "sleep", "env", "group", "http", "log", "vu_id", "iteration_number"]


def env(name):
    """A test variable given with ``-e NAME=VALUE`` (k6's ``__ENV[name]``), or None."""
    return _vu.env(name)


def vu_id():
    """This VU's 1-based id (k6's ``__VU``)."""
    return _vu.id()


def iteration_number():
    """This VU's 0-based iteration number in its scenario (k6's ``__ITER``)."""
    return _vu.iteration()


def check(value, sets):
    """Runs each named predicate of ``sets`` on ``value``, records it in the ``checks`` metric,
    and returns whether all passed (k6's ``check``)."""
    ok = True
    for name, predicate in sets.items():
        passed = bool(predicate(value)) if callable(predicate) else bool(predicate)
        if not _checks.check(name, passed):
            ok = False
    return ok


def sleep(seconds):
    """Suspends this VU for ``seconds`` (fractions allowed) without blocking other VUs."""
    _timing.sleep(max(0, round(float(seconds) * 1000)))


class group:
    """``with group("name"):`` — samples inside carry the ``group`` tag (k6's ``group``)."""

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        _group.enter(self.name)
        return self

    def __exit__(self, *exc):
        _group.exit()
        return False


class log:
    """Leveled log lines, written by the host."""

    @staticmethod
    def info(message):
        _log.write(_log.Level.INFO, str(message))

    @staticmethod
    def warn(message):
        _log.write(_log.Level.WARN, str(message))

    @staticmethod
    def error(message):
        _log.write(_log.Level.ERROR, str(message))


_KINDS = {
    "counter": _metrics.Kind.COUNTER,
    "gauge": _metrics.Kind.GAUGE,
    "rate": _metrics.Kind.RATE,
    "trend": _metrics.Kind.TREND,
    "trend-time": _metrics.Kind.TREND_TIME,
}


def metric(name, kind, value, tags=None):
    """Adds ``value`` to custom metric ``name`` of ``kind`` (counter, gauge, rate, trend,
    trend-time). Raises ValueError when the host refuses it."""
    tag_list = [_http.Tag(key=k, value=str(v)) for k, v in (tags or {}).items()]
    try:
        _metrics.add(name, _KINDS[kind], float(value), tag_list)
    except Err as e:
        raise ValueError(e.value) from None


class Response:
    """A response shaped like k6's: ``status``, ``body``, ``headers``, ``timings``, ``error``,
    ``error_code``, ``json()``. A request that got no response has status 0 and an error."""

    def __init__(self, method, url, res=None, error=None):
        self.method = method
        self.url = url
        if res is not None:
            self.status = res.status
            self.proto = res.proto
            self.content = res.body
            self.headers = {h.name.title(): h.value for h in res.headers}
            t = res.timings
            self.timings = {
                "blocked": t.blocked,
                "connecting": t.connecting,
                "tls_handshaking": t.tls_handshaking,
                "sending": t.sending,
                "waiting": t.waiting,
                "receiving": t.receiving,
                "duration": t.duration,
            }
            self.error, self.error_code = "", 0
        else:
            self.status, self.proto, self.content, self.headers = 0, "", b"", {}
            self.timings = dict.fromkeys(
                ["blocked", "connecting", "tls_handshaking", "sending", "waiting", "receiving", "duration"], 0.0
            )
            self.error_code, self.error = _error_of(error)

    @property
    def body(self):
        """The body as text (UTF-8)."""
        return self.content.decode("utf-8", errors="replace")

    def json(self):
        """The body parsed as JSON."""
        return _json.loads(self.content)


def _error_of(err):
    detail = getattr(err, "value", "")
    if isinstance(err, _http.HttpError_Timeout):
        return 1050, "request timeout"
    if isinstance(err, _http.HttpError_Connect):
        low = detail.lower()
        return (1212 if "refused" in low else 1220 if "reset" in low else 1210), detail
    if isinstance(err, _http.HttpError_Dns):
        return 1101, detail
    if isinstance(err, _http.HttpError_InvalidUrl):
        return 1020, detail
    if isinstance(err, _http.HttpError_Denied):
        return 1400, f"host not allowed by the sandbox: {detail}"
    return 1000, str(detail or err)


class http:
    """k6's ``http`` module: ``request``, ``get``, ``post``, ... returning a :class:`Response`."""

    @staticmethod
    def request(method, url, body=None, headers=None, timeout=None, tags=None, discard_body=False):
        """Sends one request. ``timeout`` is in seconds; ``body`` is str, bytes or None."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        req = _http.Request(
            method=method.upper(),
            url=str(url),
            headers=[_http.Header(name=k, value=str(v)) for k, v in (headers or {}).items()],
            body=body,
            timeout_ms=None if timeout is None else max(0, round(float(timeout) * 1000)),
            tags=[_http.Tag(key=k, value=str(v)) for k, v in (tags or {}).items()],
            body_mode=_http.BodyMode.DISCARD if discard_body else _http.BodyMode.KEEP,
        )
        try:
            return Response(req.method, req.url, res=_http.send(req))
        except Err as e:
            return Response(req.method, req.url, error=e.value)

    @staticmethod
    def get(url, **kw):
        """``GET url``."""
        return http.request("GET", url, **kw)

    @staticmethod
    def head(url, **kw):
        """``HEAD url``."""
        return http.request("HEAD", url, **kw)

    @staticmethod
    def delete(url, body=None, **kw):
        """``DELETE url``."""
        return http.request("DELETE", url, body, **kw)

    @staticmethod
    def post(url, body=None, **kw):
        """``POST url``."""
        return http.request("POST", url, body, **kw)

    @staticmethod
    def put(url, body=None, **kw):
        """``PUT url``."""
        return http.request("PUT", url, body, **kw)

    @staticmethod
    def patch(url, body=None, **kw):
        """``PATCH url``."""
        return http.request("PATCH", url, body, **kw)


class Scenario:
    """Base class of a scenario: override ``iteration``, optionally ``options``, ``setup``,
    ``teardown``, and other entry points named by a scenario's ``exec``."""

    options = ""

    def setup(self):
        """Runs once before the load; the result (JSON-serialisable) goes to every iteration."""
        return None

    def iteration(self, data):
        """One iteration of one VU (k6's ``default`` function)."""
        raise NotImplementedError("the scenario defines no iteration()")

    def teardown(self, data):
        """Runs once after the load."""


def _message(e):
    return f"{type(e).__name__}: {e}"


def world(cls):
    """The ``WitWorld`` class componentize-py exports for scenario class ``cls``."""
    scenario = cls()

    def parse(data):
        return None if data == "" else _json.loads(data)

    class WitWorld(wit_world.WitWorld):
        def options(self):
            return scenario.options

        def setup(self):
            try:
                data = scenario.setup()
            except Exception as e:
                raise Err(_message(e))
            return "" if data is None else _json.dumps(data)

        def iteration(self, data):
            name = _vu.exec()
            fn = scenario.iteration if name == "default" else getattr(scenario, name, None)
            if not callable(fn):
                raise Err(f"this scenario has no entry point '{name}'")
            try:
                fn(parse(data))
            except Exception as e:
                raise Err(_message(e))

        def teardown(self, data):
            try:
                scenario.teardown(parse(data))
            except Exception as e:
                raise Err(_message(e))

    return WitWorld
