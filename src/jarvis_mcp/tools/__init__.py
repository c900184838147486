"""MCP tools, one module per toolset. Each tool validates, calls one service method, returns a model."""
