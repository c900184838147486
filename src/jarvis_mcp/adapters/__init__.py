"""Adapters: concrete implementations of the ports in jarvis_mcp.ports."""
