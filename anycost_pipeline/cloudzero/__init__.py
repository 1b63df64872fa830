"""CloudZero AnyCost Stream: the API client and the local sandbox that speaks the same API.

Bytes in, receipts out. No Dagster, no polars.
"""
