"""The benchmark: `make bench` (figures printed, written as JSON and to
docs/performance.md) or `python -m local_rig.bench --smoke` (a tiny run, for the tests).
Each section measures in a module of its own; ``document`` writes docs/performance.md from
the figures, and ``--document FILE`` writes it again from a JSON file without measuring.

1. Throughput (``throughput``): STOW-RS and retrieve through the managed server and two
   static definitions of it inside one Orthanc, the arms alternating; the ratio with its
   spread.
2. Memory (``memory``): one baseline, one moment, parts that add up; each kind of identity
   and each further server on top.
3. Token keeper (``keeper``): 64 threads reading tokens across refreshes.
4. Idle cost (``idle``): CPU with 10 servers, the start time added.
5. Scale (``scale``): 100 servers on four token lifetimes, the provider's busiest second.
"""
