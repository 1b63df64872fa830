"""The Common Bill Format domain: columns, mapping, validation, request bodies. No Dagster, no HTTP."""
