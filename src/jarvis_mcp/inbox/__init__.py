"""The inbox toolset: search_email, read_email, draft_email (and the reply context send_email uses)."""
