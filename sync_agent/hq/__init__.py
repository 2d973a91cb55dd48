"""The agent's `hq` channel: the chain link to the head office (see link.py, office.py)."""
