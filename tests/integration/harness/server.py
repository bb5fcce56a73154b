"""Start, stop and administer real parleyd processes for the integration tests.

Each ParleyServer lives in its own directory (config, certificate copy,
SQLite database, control socket, parleyd.log) below the run directory
(see run_dir()).  Ports are picked free by the kernel.  stop() sends SIGTERM
and checks the contract from the issue: exit status 0 and no sanitizer
report in the captured stderr.
"""

import os
import shutil
import signal
import socket
import subprocess
import time

SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:")

_RUN_DIR = None


def build_dir():
    return os.environ.get("PARLEY_BUILD", "/work/main/build-test")


def binary(name):
    path = os.path.join(build_dir(), name)
    if not os.access(path, os.X_OK):
        raise RuntimeError("%s not found or not executable (PARLEY_BUILD=%s)"
                           % (path, build_dir()))
    return path


def run_dir():
    """The directory holding every server's files for this pytest run.

    $PARLEY_IT_DIR if set, else /tmp/parley-it/run-<time>-<pid>.  Kept after
    the run (logs are what you look at when a test fails); a short path,
    because the control socket path must fit in sun_path (108 bytes)."""
    global _RUN_DIR
    if _RUN_DIR is None:
        base = os.environ.get("PARLEY_IT_DIR")
        if not base:
            base = os.path.join("/tmp/parley-it", "%s-%d" % (
                time.strftime("%Y%m%d-%H%M%S"), os.getpid()))
        os.makedirs(base, exist_ok=True)
        _RUN_DIR = base
    return _RUN_DIR


def make_cert(directory):
    """One self-signed P-256 certificate for localhost and example.test,
    key and certificate concatenated in one PEM (certfiles format)."""
    key = os.path.join(directory, "key.pem")
    crt = os.path.join(directory, "crt.pem")
    pem = os.path.join(directory, "cert.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec",
         "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "30",
         "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,DNS:example.test",
         "-keyout", key, "-out", crt],
        check=True, capture_output=True)
    with open(pem, "w") as out:
        for f in (key, crt):
            with open(f) as inp:
                out.write(inp.read())
    return pem


# Every module, for tests of features that work together.
ALL_MODULES = ("disco", "ping", "version", "time", "roster", "blocking",
               "private", "vcard", "last", "pep", "register", "offline",
               "mam", "carbons", "push", "stream_management", "csi")


_GIVEN_PORTS = set()


def free_port():
    """A port the kernel says is free and that this process has not handed
    out before: two calls in a row can otherwise get the same port, since
    nothing is bound to it until parleyd starts (one server's c2s and http
    listeners collided that way)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _GIVEN_PORTS:
            _GIVEN_PORTS.add(port)
            return port


def sanitizer_lines(text):
    return [l for l in text.splitlines() if any(m in l for m in SANITIZER_MARKERS)]


DEFAULT_LIMITS = {"max_stanza_size": 65536, "max_depth": 64,
                  "negotiation_timeout": 30, "max_connections_per_ip": 64}
# The per-address failure limit is high by default so that tests which fail
# logins on purpose do not lock 127.0.0.1 out of the shared server; the
# lockout test uses its own server with max_failures: 3.
DEFAULT_AUTH = {"scram_iterations": 4096, "allow_plain": "true",
                "max_failures": 1000, "failure_window": 60, "lockout": 300}


def _module_items(modules):
    """(name, options) pairs from a list of module names or a dict of
    name -> options dict (e.g. {"offline": {"max_messages": 3}})."""
    if isinstance(modules, dict):
        return [(m, opts or {}) for m, opts in modules.items()]
    return [(m, {}) for m in modules]


def _inline(opts):
    """A YAML flow mapping body: nested dicts and lists are written inline
    (values are YAML scalars as given, e.g. 3, true, 10s, or quoted by the
    caller)."""
    def val(v):
        if isinstance(v, dict):
            return "{%s}" % _inline(v)
        if isinstance(v, (list, tuple)):
            return "[%s]" % ", ".join(val(x) for x in v)
        if isinstance(v, bool):
            return "true" if v else "false"
        return str(v)
    return ", ".join("%s: %s" % (k, val(v)) for k, v in opts.items())


def render_config(*, hosts, certfile, c2s_port, tls_port, limits, auth,
                  modules, loglevel="debug", extra=""):
    """The parley.yml text (hand-written YAML so that line numbers are
    predictable for the --check-config tests)."""
    lines = [
        "loglevel: %s" % loglevel,
        "hosts: [%s]" % ", ".join(hosts),
        "certfiles: [%s]" % certfile,
        "listen:",
        "  - {module: c2s, ip: 127.0.0.1, port: %d, starttls_required: true}" % c2s_port,
        "  - {module: c2s, ip: 127.0.0.1, port: %d, tls: true}" % tls_port,
        "  - {module: control, path: parley.sock}",
        "storage: {backend: sqlite, path: parley.db}",
        "limits: {%s}" % ", ".join("%s: %s" % kv for kv in limits.items()),
        "auth: {%s}" % ", ".join("%s: %s" % kv for kv in auth.items()),
        "modules: {%s}" % ", ".join("%s: {%s}" % (m, _inline(opts))
                                    for m, opts in _module_items(modules)),
    ]
    text = "\n".join(lines) + "\n"
    if extra:
        text += extra
    return text


class ParleyServer:
    """One parleyd process.  Use start()/stop() or as a context manager."""

    def __init__(self, name, certfile, *, hosts=("localhost", "example.test"),
                 limits=None, auth=None,
                 modules=("disco", "ping", "version", "time"), extra=""):
        self.name = name
        self.dir = os.path.join(run_dir(), name)
        if os.path.exists(self.dir):
            shutil.rmtree(self.dir)
        os.makedirs(self.dir)
        shutil.copy(certfile, os.path.join(self.dir, "cert.pem"))
        self.c2s_port = free_port()
        self.tls_port = free_port()
        self.hosts = list(hosts)
        self.limits = dict(DEFAULT_LIMITS, **(limits or {}))
        self.auth = dict(DEFAULT_AUTH, **(auth or {}))
        # names, or {name: {option: value}} for module options
        self.modules = dict(modules) if isinstance(modules, dict) else list(modules)
        self.extra = extra
        self.config = os.path.join(self.dir, "parley.yml")
        self.log = os.path.join(self.dir, "parleyd.log")
        self.proc = None
        self._logf = None
        self.write_config()

    # -- configuration -------------------------------------------------------

    def config_text(self, **overrides):
        args = dict(hosts=self.hosts, certfile="cert.pem",
                    c2s_port=self.c2s_port, tls_port=self.tls_port,
                    limits=self.limits, auth=self.auth, modules=self.modules,
                    extra=self.extra)
        args.update(overrides)
        return render_config(**args)

    def write_config(self, text=None):
        with open(self.config, "w") as f:
            f.write(text if text is not None else self.config_text())

    # -- process -------------------------------------------------------------

    def env(self):
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        return env

    def start(self, timeout=10.0):
        self._logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [binary("parleyd"), "-c", self.config], cwd=self.dir,
            stdin=subprocess.DEVNULL, stdout=self._logf, stderr=self._logf,
            env=self.env())
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("parleyd exited with %s during start-up\n%s"
                                   % (self.proc.returncode, self.log_text()))
            try:
                with socket.create_connection(("127.0.0.1", self.c2s_port),
                                              timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    self.kill()
                    raise RuntimeError("parleyd did not accept on c2s port %d "
                                       "within %.0f s\n%s"
                                       % (self.c2s_port, timeout, self.log_text()))
                time.sleep(0.05)
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        if self.running():
            self.proc.kill()
            self.proc.wait()
        self._close_log()

    def _close_log(self):
        if self._logf:
            self._logf.close()
            self._logf = None

    def stop(self, timeout=20.0):
        """SIGTERM; returns a list of problems (empty when the shutdown was
        clean): the exit status must be 0 and the log free of sanitizer
        reports."""
        problems = []
        if self.proc is None:
            return problems
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                problems.append("parleyd did not exit within %.0f s of SIGTERM" % timeout)
        self._close_log()
        rc = self.proc.returncode
        if rc != 0 and not problems:
            problems.append("parleyd exited with status %s (expected 0)" % rc)
        bad = sanitizer_lines(self.log_text())
        if bad:
            problems.append("sanitizer report in parleyd.log: %s" % bad[0])
        return problems

    def check_stop(self):
        problems = self.stop()
        if problems:
            raise AssertionError("%s: %s\n--- %s ---\n%s" % (
                self.name, "; ".join(problems), self.log, self.log_tail()))

    def log_text(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n=200):
        return "\n".join(self.log_text().splitlines()[-n:])

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.check_stop()

    # -- administration ------------------------------------------------------

    def ctl(self, *args, input=None, timeout=60, config=None):
        """Runs parleyctl; returns the CompletedProcess (text).  A sanitizer
        report from parleyctl itself fails the calling test."""
        cp = subprocess.run(
            [binary("parleyctl"), "-c", config or self.config] + [str(a) for a in args],
            input=input, capture_output=True, text=True, timeout=timeout,
            env=self.env(), cwd=self.dir)
        bad = sanitizer_lines(cp.stderr)
        assert not bad, "parleyctl %s: sanitizer report:\n%s" % (args, cp.stderr)
        return cp

    def register(self, user, password, host="localhost"):
        cp = self.ctl("register", user, host, password)
        assert cp.returncode == 0, "register %s@%s failed (%d): %s%s" % (
            user, host, cp.returncode, cp.stderr,
            "" if self.running() else "\nparleyd is not running:\n" + self.log_tail(20))
        return "%s@%s" % (user, host)
