"""Peer implementations for ``scripts/bench_peers.py``, one module per tool.

Only ``env`` may be imported by the parent before a subprocess starts; every ``tool_*`` module
imports its library at the top and is imported only inside a pinned peer subprocess.
"""
