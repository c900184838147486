"""The actions toolset: MCP registration, service, ports and models."""
