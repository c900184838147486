"""Training data export: the person's logged conversations as fine-tuning JSONL (CLI only, no MCP tool)."""
