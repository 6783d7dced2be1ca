"""Worker agents, their registry and the Supervisor that runs them."""
