"""What compiling costs in each cache state, measured in fresh worker processes."""
