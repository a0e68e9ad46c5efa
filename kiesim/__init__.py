"""The built-in kie.ai simulator (see server.py)."""
