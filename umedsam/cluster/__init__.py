"""Scale-out on Ray: predict and parity over many cases on a local or existing Ray cluster.

The single-machine path is unchanged; Ray is an optional extra (``pip install 'umedsam[cluster]'``) and
is imported only when ``--cluster`` is given. See ``umedsam/cluster/runner.py``.
"""
