"""HTTP API: blueprints for products, search and health, and the one error handler."""
