"""Decentralised job selection: SWARM consensus and a PBFT baseline, one sans-I/O agent run
live on the bus (``live``) and in virtual time (``netsim``)."""
