"""trend modules."""
