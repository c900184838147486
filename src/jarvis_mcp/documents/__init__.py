"""The documents toolset: MCP registration, service, ports and models."""
