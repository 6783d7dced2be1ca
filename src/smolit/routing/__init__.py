"""Routing tasks to agents: the router network, its training, online learning, evaluation."""
