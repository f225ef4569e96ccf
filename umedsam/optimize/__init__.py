"""Automatic search for the fastest engine that passes the parity gate on this CPU (``umedsam-optimize``).

Olive-style: ``space`` (candidates as chains of passes), ``passes`` (running them, cached), ``evaluate``
(gate + timing), ``search`` (budget, Pareto frontier, the winner), ``report``.
"""
