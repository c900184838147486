"""Use cases, bound to one user. No MCP imports: tested directly."""
