"""The memory toolset: MCP registration, service, ports and models."""
