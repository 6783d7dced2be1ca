"""The learned router: a fine-tuned sentence encoder scoring tasks against agent skills."""
