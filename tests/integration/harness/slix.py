"""Shared setup for integration tests that drive slixmpp (Debian's
python3-slixmpp 1.8.3) against a real parleyd.

- Client: a ClientXMPP that accepts the test certificate, withholds the
  tls-unique channel binding (see Client.__init__), registers the plugins it
  is given, and on session start optionally fetches the roster and sends
  initial presence (in that order, as Conversations/Gajim/Dino do:
  RFC 6121 §2.2 before §4.2).  `started` resolves when the session is up,
  or fails on an authentication failure; `messages` queues every <message/>.
- connected(): makes a Client, connects it (STARTTLS or direct TLS) and
  waits for the session.
- run(): runs one scenario coroutine on a fresh asyncio loop with a hard
  deadline, then cancels whatever is left, so that no test can hang.
- wait_for(): polls a condition with a deadline (state slixmpp keeps, like
  the roster, has no event of its own for "done").
- disconnect(): closes clients and waits for the close.

Import it after pytest.importorskip("slixmpp") in the test module.
"""

import asyncio
import ssl

import slixmpp

PASSWORD = "s3cret-pass"       # conftest.PASSWORD
DEADLINE = 20


class Client(slixmpp.ClientXMPP):
    """A slixmpp client for the test server.  Create it inside the loop that
    run() made (the futures below belong to that loop)."""

    def __init__(self, jid, password=PASSWORD, sasl_mech="SCRAM-SHA-256", *,
                 plugins=(), roster=False, presence=True, **kw):
        # The mechanism is fixed: left to choose, slixmpp tries the -PLUS
        # ones first (which it cannot complete, below) and the first
        # failure fires failed_auth.
        super().__init__(jid, password, sasl_mech=sasl_mech, **kw)
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        for p in plugins:
            self.register_plugin(p)
        # slixmpp 1.8.3 knows only the tls-unique channel binding; when it
        # has TLS data but picks a non-PLUS mechanism it sends the GS2 flag
        # 'y', which a server that advertises -PLUS must refuse as a
        # downgrade (RFC 5802 §6; test_sasl checks that).  So withhold the
        # channel-binding data: slixmpp then sends 'n' like most clients.
        fm = self.plugin["feature_mechanisms"]
        orig = fm.sasl_callback

        def no_channel_binding(required, optional):
            creds = orig(required, optional)
            creds.pop("channel_binding", None)
            return creds

        fm.sasl_callback = no_channel_binding
        self.fetch_roster = roster
        self.initial_presence = presence
        self.started = asyncio.get_event_loop().create_future()
        self.messages = asyncio.Queue()
        self.add_event_handler("session_start", self._on_start)
        self.add_event_handler("failed_auth", self._on_failed)
        self.add_event_handler("message", lambda m: self.messages.put_nowait(m))

    async def _on_start(self, _):
        try:
            if self.fetch_roster:
                await self.get_roster()
            if self.initial_presence:
                self.send_presence()
        except Exception as e:          # surfaced by whoever awaits started
            if not self.started.done():
                self.started.set_exception(e)
            return
        if not self.started.done():
            self.started.set_result(True)

    def _on_failed(self, *_):
        if not self.started.done():
            self.started.set_exception(
                AssertionError("authentication failed (%s)" % self.boundjid))

    async def next_message(self, pred=lambda m: True, timeout=5):
        """The next queued <message/> matching pred (others are dropped)."""
        async def get():
            while True:
                m = await self.messages.get()
                if pred(m):
                    return m
        return await asyncio.wait_for(get(), timeout)


def connect(c, server, direct=False):
    if direct:
        c.connect(("127.0.0.1", server.tls_port), use_ssl=True)
    else:
        c.connect(("127.0.0.1", server.c2s_port))


async def connected(server, jid, *, direct=False, timeout=10, **kw):
    """A Client for jid (any Client keyword), connected and in session."""
    c = Client(jid, **kw)
    connect(c, server, direct)
    await asyncio.wait_for(asyncio.shield(c.started), timeout)
    return c


async def wait_for(cond, timeout=5, what="condition"):
    """Polls cond() until it is true; fails with `what` after timeout."""
    loop = asyncio.get_event_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError("timed out waiting for %s" % what)
        await asyncio.sleep(0.05)


async def disconnect(*cs):
    """Closes the streams (</stream:stream>, at most 2 s for the server's
    answer, then the socket is aborted) and waits for the close."""
    futs = [c.disconnect(wait=2) for c in cs]
    await asyncio.wait_for(asyncio.gather(*futs, return_exceptions=True), 5)


def run(coro, deadline=DEADLINE):
    """Runs coro on a fresh loop; fails after `deadline` seconds."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(asyncio.wait_for(coro, deadline))
    finally:
        pending = asyncio.all_tasks(loop)
        for t in pending:
            t.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()
        asyncio.set_event_loop(None)
