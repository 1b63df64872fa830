"""anycost_pipeline: get any cost source into CloudZero through AnyCost Stream."""
