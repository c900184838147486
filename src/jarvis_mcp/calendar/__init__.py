"""The calendar toolset: MCP registration, service, ports and models."""
