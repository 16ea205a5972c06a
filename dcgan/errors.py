"""The one exception type for errors a user can cause (bad path, wrong file, bad config).

The CLI prints its message and exits 2; the UI shows the message, never a traceback.
"""


class DcganError(Exception):
    """A problem the user can fix; the message says how."""
