"""Peer implementations for ``scripts/bench_peers.py``, one module per tool.

Only ``env``, ``common`` (numpy) and ``report`` (the report's tables, standard library) may be
imported by the parent; every ``tool_*`` module imports its library at the top and is imported
only inside a pinned peer subprocess.
"""
