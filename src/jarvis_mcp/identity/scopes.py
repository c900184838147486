"""The scopes tokens of the built-in authorization server carry (checked by handlers.require_scope)."""

SCOPE_READ = "jarvis:read"  # the read-only tools, resources and prompts
SCOPE_WRITE = "jarvis:write"  # every tool (it includes reading)
SCOPES = [SCOPE_READ, SCOPE_WRITE]
