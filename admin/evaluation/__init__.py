"""The eval gate: a succeeded job's model answers held-out prompts beside the current model, and
goes live only if it scores at least as well (`gate`, carried by admin.job_stages)."""
