"""The heart: event kinds, hash chain, projection (apply) and invariant checks."""
