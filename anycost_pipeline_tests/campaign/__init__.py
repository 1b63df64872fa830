"""A seeded fault campaign over whole months: see __main__.py."""
