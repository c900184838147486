"""MCP resources and prompts. Every one reads the caller's scope; none takes a user from the client."""
