"""Black-box test harness for parleyd: server processes (server.py), a
raw-socket XMPP client (xmpp.py) and client-side SASL (sasl.py)."""
