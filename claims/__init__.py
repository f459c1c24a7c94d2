"""Claim scrubbing: read a claims file, run the edits of a rule file over it, report one finding per problem."""
