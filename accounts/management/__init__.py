"""Management commands for accounts, quotas and usage."""
