"""jarvis-mcp: a personal assistant's MCP tool server with per-user isolation."""

__version__ = "0.1.0"
