"""Fixtures for Parley's black-box integration tests.

- cert:            one self-signed certificate per pytest session
- server:          one parleyd per test module with the default config
- server_factory:  dedicated servers with a different config (per test)
- clients:         RawClient factory; every client is closed after the test
- account:         registers a fresh user on the module's server

Servers are stopped with SIGTERM at teardown; a non-zero exit status or a
sanitizer report in parleyd.log fails the teardown (and prints the log).
"""

import os

import pytest

from harness import server as srv
from harness.xmpp import RawClient, unique

PASSWORD = "s3cret-pass"


@pytest.fixture(scope="session")
def cert():
    d = os.path.join(srv.run_dir(), "cert")
    os.makedirs(d, exist_ok=True)
    return srv.make_cert(d)


def _server_name(request, suffix=""):
    mod = request.module.__name__.rsplit(".", 1)[-1]
    return mod + suffix


@pytest.fixture(scope="module")
def server(request, cert):
    s = srv.ParleyServer(_server_name(request), cert)
    s.start()
    yield s
    s.check_stop()


_counter = [0]


@pytest.fixture
def server_factory(request, cert):
    made = []

    def make(suffix="", start=True, **kw):
        # Short directory names: the control socket path must fit in
        # sun_path.  The test's id is written to test.txt inside.
        _counter[0] += 1
        name = _server_name(request, "-%d%s" % (_counter[0], suffix))
        s = srv.ParleyServer(name, cert, **kw)
        with open(os.path.join(s.dir, "test.txt"), "w") as f:
            f.write(request.node.nodeid + "\n")
        made.append(s)
        if start:
            s.start()
        return s

    yield make
    problems = []
    for s in made:
        p = s.stop()
        if p:
            problems.append("%s: %s\n--- %s ---\n%s" % (s.name, "; ".join(p), s.log, s.log_tail()))
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def clients():
    made = []

    def make(port, **kw):
        c = RawClient(port, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def make_account(server, host="localhost", prefix="u", password=PASSWORD):
    user = unique(prefix)
    server.register(user, password, host)
    return user, password


@pytest.fixture
def account(server):
    return make_account(server)


@pytest.fixture
def logged_in(server, clients):
    """A factory: logged_in(user=None, resource=None, presence=None) ->
    RawClient bound on the module's server (registers a user if none)."""
    def make(user=None, password=PASSWORD, resource=None, presence=None, **kw):
        if user is None:
            user, password = make_account(server)
        c = clients(server.c2s_port)
        c.login(user, password, resource=resource, presence=presence, **kw)
        return c
    return make


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # Mention where the server logs are when a test fails.
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        rep.sections.append(("parley logs", "server logs under %s" % srv.run_dir()))
