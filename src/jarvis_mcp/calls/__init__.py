"""The calls toolset: MCP registration, service, ports and models."""
