"""The contacts toolset: MCP registration, service, ports and models."""
