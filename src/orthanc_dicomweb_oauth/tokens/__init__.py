"""Keeping a server's tokens: the keeper that caches, refreshes one request at a time and
retries on a schedule, the watch on its credential files, and their assembly with the
server's source."""
