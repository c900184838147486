"""The mail toolset: MCP registration, service, ports and models."""
