"""One module per action: ``run`` does its I/O (if any), ``report`` (pure) says what of it
users see: the status update, the Event, the log line and what the queue does next.
"""
