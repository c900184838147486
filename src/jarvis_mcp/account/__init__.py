"""The account toolset: MCP registration, service, ports and models."""
