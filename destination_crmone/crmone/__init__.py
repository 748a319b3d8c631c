"""CRM One's API: the HTTP client (and its one reader of batch replies), validation against the
contact schema, pacing and the call log. Knows nothing of commercetools."""
