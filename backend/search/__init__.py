"""Query planning: request parameters to filters, signals to one engine query, hits to results."""
