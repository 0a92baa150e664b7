"""The domain every Sanji site runs: catalogue, cases, working days, validators, storage."""
