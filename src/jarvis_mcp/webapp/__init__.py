"""The person's own page at /app: what the assistant did and holds for them, live (issue 12)."""
